// Package streamtranslator is the apiserver's end of KEP-4006 (Transition from SPDY to
// WebSockets) for pods/exec and pods/attach, as upstream's StreamTranslatorProxy: it
// accepts a client's channel.k8s.io websocket itself and carries the session to the
// kubelet over SPDY remotecommand, which every kubelet and runtime speaks. Without it a
// websocket client reaches containerd's streaming server, which refuses websockets, and
// only a client able to fall back to SPDY gets a shell. For pods/portforward it is
// upstream's TunnelingHandler instead (tunnel.go): kubectl's websocket carries SPDY, which
// is relayed to the kubelet's SPDY port-forward untouched.
//
// It is the one place where the apiserver depends on k8s.io/client-go (the SPDY executor,
// the tunneling connection) and gorilla/websocket; nothing else should import them.
package streamtranslator

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
	clientspdy "k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Options are the session's streams, as the client asked for them in its query.
type Options struct {
	Stdin, Stdout, Stderr, TTY bool
}

// Config configures one translated session or tunnel.
type Config struct {
	// Location is the kubelet's /exec, /attach or /portForward URL.
	Location *url.URL
	// Transport reaches the kubelet: an *http.Transport (its dialer and TLS
	// configuration, with the apiserver's client certificate, dial the SPDY connection).
	Transport http.RoundTripper
	// Options are an exec or attach session's streams (Serve only).
	Options Options
	// Error answers the client when the kubelet cannot be reached before the upgrade
	// (Tunnel only: Serve has upgraded by then and reports on the error channel); nil
	// answers 502 Bad Gateway with the error as text.
	Error func(w http.ResponseWriter, r *http.Request, err error)
	// Log gets one line when the session ends; Attrs (namespace, pod, container) are
	// added to it.
	Log   *slog.Logger
	Attrs []any
}

func (cfg Config) logger() *slog.Logger {
	if cfg.Log == nil {
		return slog.Default()
	}
	return cfg.Log
}

// finishTimeout bounds how long a finished session waits for the client to read the
// rest of the output and close; only a client that neither reads nor closes waits it out.
var finishTimeout = 15 * time.Minute

// spdyPingPeriod keeps the SPDY connection to the kubelet alive through idle stretches
// (a shell waiting for input), as upstream's translator pings.
const spdyPingPeriod = 5 * time.Second

// Wants reports whether r is a websocket upgrade offering a channel.k8s.io protocol the
// translator speaks. Other upgrades (SPDY, a websocket asking for something else) are
// not its business and go to the kubelet as they came.
func Wants(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, offered := range websocket.Subprotocols(r) {
		for _, p := range Protocols {
			if offered == p {
				return true
			}
		}
	}
	return false
}

// Serve accepts r's websocket, runs the session over SPDY to cfg.Location and returns
// when it is over. Every outcome after the upgrade, the kubelet's refusal included,
// reaches the client as the Status on the error channel: the upgrade has been answered,
// so there is no HTTP status left to give.
func Serve(w http.ResponseWriter, r *http.Request, cfg Config) {
	log := cfg.logger()
	up := websocket.Upgrader{
		Subprotocols: Protocols,
		// The caller has been authenticated and authorized by the apiserver's own
		// credentials (bearer tokens, client certificates), never by a cookie a browser
		// would add cross-origin; upstream checks no origin either.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil) // on failure gorilla has answered with a 4xx
	if err != nil {
		log.Info("stream translator: websocket upgrade failed", append(cfg.Attrs, "err", err)...)
		return
	}
	start := time.Now()
	c := newWSConn(ws, cfg.Options.Stdin)
	go c.run()

	// A hijacked connection's request context outlives the client; end the SPDY side
	// when the client goes away.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	err = hello(c, cfg.Options)
	if err == nil {
		err = stream(ctx, cfg, c)
	}
	st := statusOf(err)
	c.finish(statusJSON(st), finishTimeout)
	attrs := append(cfg.Attrs, "backend", cfg.Location.Scheme+"://"+cfg.Location.Host, "protocol", ws.Subprotocol(),
		"duration", time.Since(start).Round(time.Millisecond).String(), "status", st.Status)
	if code := exitCodeOf(st); code != "" {
		attrs = append(attrs, "exitCode", code)
	} else if st.Status != metav1.StatusSuccess {
		attrs = append(attrs, "reason", string(st.Reason), "err", st.Message)
	}
	log.Info("stream translator: session closed", attrs...)
}

// hello sends an empty message on the lowest channel the client reads, so that it knows
// the session is open before any output, as upstream's translator does.
func hello(c *wsConn, o Options) error {
	ch := ChannelError
	switch {
	case o.Stdout:
		ch = ChannelStdout
	case o.Stderr:
		ch = ChannelStderr
	}
	return c.write(ch, nil, statusWriteTimeout)
}

// stream runs the session's SPDY side with client-go's executor, which negotiates the
// newest remotecommand version the kubelet (and behind it the runtime) speaks.
func stream(ctx context.Context, cfg Config, c *wsConn) error {
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{UpgradeTransport: cfg.Transport, PingPeriod: spdyPingPeriod})
	if err != nil {
		return err
	}
	// A kubelet redirecting the apiserver elsewhere would take its client certificate
	// along; upstream's translator refuses redirects too.
	exec, err := remotecommand.NewSPDYExecutorRejectRedirects(rt, clientspdy.NewUpgraderForStreaming(rt), http.MethodPost, cfg.Location)
	if err != nil {
		return err
	}
	opts := remotecommand.StreamOptions{Tty: cfg.Options.TTY}
	if cfg.Options.Stdin {
		opts.Stdin = c.stdinR
	}
	if cfg.Options.Stdout {
		opts.Stdout = channelWriter{c, ChannelStdout}
	}
	if cfg.Options.Stderr && !cfg.Options.TTY {
		opts.Stderr = channelWriter{c, ChannelStderr}
	}
	sizes := c.sizes()
	if cfg.Options.TTY {
		opts.TerminalSizeQueue = sizeQueue(sizes)
	} else {
		go func() {
			for range sizes { // without a terminal a resize means nothing
			}
		}()
	}
	err = exec.StreamWithContext(ctx, opts)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		select {
		case <-c.done:
			return errClientGone
		default:
		}
	}
	return err
}

var errClientGone = errors.New("the client closed the connection")

// sizeQueue hands the client's resizes to the SPDY executor (a
// remotecommand.TerminalSizeQueue).
type sizeQueue <-chan TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &remotecommand.TerminalSize{Width: s.Width, Height: s.Height}
}
