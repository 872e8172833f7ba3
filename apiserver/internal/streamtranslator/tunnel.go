package streamtranslator

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/tools/portforward"
)

// The port-forward tunnel of KEP-4006, as upstream's apiserver serves it (its
// TunnelingHandler): kubectl ≥ 1.31 offers a websocket whose subprotocol is a SPDY one
// with the "SPDY/3.1+" prefix ("SPDY/3.1+portforward.k8s.io") and then speaks plain SPDY
// inside the websocket's binary messages. The apiserver does not terminate that SPDY: it
// asks the kubelet for the same protocol as an ordinary SPDY upgrade and, once the
// kubelet (and the runtime behind it) has switched, relays bytes between the two, so
// kubectl and the runtime's streaming server negotiate streams and ports end to end.
const (
	tunnelPrefix = "SPDY/3.1+"
	spdyUpgrade  = "SPDY/3.1"
	// Only Kubernetes' own protocols are tunneled, as upstream filters them.
	tunnelSuffix = ".k8s.io"
)

// WantsTunnel reports whether r is a websocket upgrade offering a SPDY protocol to be
// tunneled (pods/portforward's websocket). Other websockets are not its business.
func WantsTunnel(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && len(tunneledProtocols(r)) > 0
}

// tunneledProtocols are the SPDY protocols r's websocket offers, without the prefix.
func tunneledProtocols(r *http.Request) []string {
	var ps []string
	for _, p := range websocket.Subprotocols(r) {
		if strings.HasPrefix(p, tunnelPrefix) && strings.HasSuffix(p, tunnelSuffix) {
			ps = append(ps, strings.TrimPrefix(p, tunnelPrefix))
		}
	}
	return ps
}

// hopHeaders are the kubelet answer's headers that describe its connection to the
// apiserver rather than the answer, and so are not relayed to the client.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer"}

// Tunnel serves r, a websocket upgrade for which WantsTunnel holds, and returns when the
// tunnel is closed. The kubelet is asked first: its refusal (a runtime that does not speak
// the protocol, a pod that is gone) reaches the client as it came, status and body, before
// any upgrade, so that kubectl falls back to SPDY or reports the reason; cfg.Error words a
// kubelet that cannot be reached. Only a kubelet that switched to SPDY makes the apiserver
// accept the websocket, with the kubelet's chosen protocol under the tunnel prefix.
func Tunnel(w http.ResponseWriter, r *http.Request, cfg Config) {
	log := cfg.logger()
	start := time.Now()
	fail := cfg.Error
	if fail == nil {
		fail = func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}
	attrs := append(cfg.Attrs, "backend", cfg.Location.Scheme+"://"+cfg.Location.Host)

	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, cfg.Location.String(), nil)
	if err != nil {
		fail(w, r, err)
		return
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", spdyUpgrade)
	for _, p := range tunneledProtocols(r) {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	if ua := r.UserAgent(); ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := cfg.Transport.RoundTrip(req)
	if err != nil {
		log.Info("stream translator: tunnel backend failed", append(attrs, "err", err)...)
		fail(w, r, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		log.Info("stream translator: backend refused the tunnel", append(attrs, "code", resp.StatusCode)...)
		relayRefusal(w, resp)
		return
	}
	// A 101's body is the switched connection (net/http's protocol-switch response).
	backend, ok := resp.Body.(io.ReadWriteCloser)
	if !ok || !strings.EqualFold(resp.Header.Get("Upgrade"), spdyUpgrade) {
		resp.Body.Close()
		fail(w, r, fmt.Errorf("unable to upgrade: the kubelet switched to %q, not %s", resp.Header.Get("Upgrade"), spdyUpgrade))
		return
	}
	defer backend.Close()

	var chosen []string // none when the kubelet names no protocol, as upstream does
	if p := strings.TrimSpace(resp.Header.Get("X-Stream-Protocol-Version")); p != "" {
		chosen = []string{tunnelPrefix + p}
	}
	up := websocket.Upgrader{
		Subprotocols: chosen,
		// As for exec: the caller was authenticated by its credentials, never by a cookie.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil) // on failure gorilla has answered
	if err != nil {
		log.Info("stream translator: websocket upgrade failed", append(attrs, "err", err)...)
		return
	}
	// client-go's tunneling connection is the net.Conn kubectl itself wraps the websocket
	// in: one binary message per write, a normal close read as EOF.
	tunnel := portforward.NewTunnelingConnection("server", ws)
	defer tunnel.Close()
	up1, down := relay(tunnel, backend)
	log.Info("stream translator: tunnel closed", append(attrs, "protocol", ws.Subprotocol(),
		"duration", time.Since(start).Round(time.Millisecond).String(), "bytesUp", up1, "bytesDown", down)...)
}

// relay copies between the client's tunnel and the kubelet's connection until either side
// ends, then closes both so that the other copy ends too. SPDY has no half-close of the
// connection: each side's end is the session's.
func relay(client, backend io.ReadWriteCloser) (up, down int64) {
	done := make(chan struct{}, 2)
	go func() {
		up, _ = io.Copy(backend, client)
		done <- struct{}{}
	}()
	go func() {
		down, _ = io.Copy(client, backend)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	backend.Close()
	<-done
	return up, down
}

// relayRefusal hands the kubelet's non-101 answer to the client as it came.
func relayRefusal(w http.ResponseWriter, resp *http.Response) {
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	// The client is told the status either way; a body cut short is all that is lost.
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxRefusalBody))
}

// maxRefusalBody bounds the refusal body relayed: a reason, never a stream.
const maxRefusalBody = 1 << 20
