// Package upgradeproxy is the upgrade-aware reverse proxy that carries Kubernetes'
// streaming calls (pods/exec, attach, portforward) hop by hop: kubectl → apiserver →
// kubelet → the container runtime's streaming server. It is what apimachinery's
// UpgradeAwareHandler is to Kubernetes, built on net/http/httputil's ReverseProxy, which
// already knows how to pass a protocol switch through.
//
// Each hop forwards the client's Connection/Upgrade headers and its subprotocol offer
// (X-Stream-Protocol-Version for SPDY, Sec-WebSocket-Protocol for websockets) unchanged,
// so the client and the last server negotiate end to end: no hop speaks the streaming
// protocol itself. After the backend's 101 Switching Protocols reaches the client, bytes
// are copied both ways until either side closes. An answer other than 101 (a refused
// websocket, a missing container) is passed back as it came, status and body, so the
// client sees the real reason and a websocket client can fall back to SPDY.
package upgradeproxy

import (
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Config configures one proxied request.
type Config struct {
	// Location is where the request goes; its scheme, host, path and query replace the
	// incoming request's.
	Location *url.URL
	// Transport carries the request (the apiserver's kubelet client with its client
	// certificate; plain HTTP to a runtime's streaming server). http.DefaultTransport when
	// nil. It must speak HTTP/1.1 to the backend: a protocol switch has no HTTP/2 form.
	Transport http.RoundTripper
	// Error answers the client when the backend cannot be reached or its answer cannot be
	// relayed (nil: 502 Bad Gateway with the error as text).
	Error func(w http.ResponseWriter, r *http.Request, err error)
	// Log gets one line when the stream ends or the backend refuses it; Attrs (namespace,
	// pod, container) are added to it.
	Log   *slog.Logger
	Attrs []any
}

// IsUpgradeRequest reports whether r asks to switch protocols (a Connection header naming
// "upgrade" and an Upgrade header), as every streaming client (SPDY, websocket) does.
func IsUpgradeRequest(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// credentialHeaders are meant for the first hop only: the apiserver authenticates to the
// kubelet with its own certificate, and must never hand the client's token on.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// Serve proxies r to cfg.Location and returns when the exchange is over: at once for a
// refused upgrade, when either side closes for an established stream.
func Serve(w http.ResponseWriter, r *http.Request, cfg Config) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	status := 0
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			loc := *cfg.Location
			pr.Out.URL = &loc
			pr.Out.Host = loc.Host
			for _, h := range credentialHeaders {
				pr.Out.Header.Del(h)
			}
			for h := range pr.Out.Header {
				if strings.HasPrefix(h, "Impersonate-") {
					pr.Out.Header.Del(h)
				}
			}
		},
		Transport: cfg.Transport,
		// A streamed answer (an error body of a long-running backend) reaches the
		// client as it comes.
		FlushInterval: -1,
		ModifyResponse: func(res *http.Response) error {
			status = res.StatusCode
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Info("stream proxy: backend failed", append(cfg.Attrs, "backend", redacted(cfg.Location), "err", err)...)
			if cfg.Error != nil {
				cfg.Error(w, r, err)
				return
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	rp.ServeHTTP(w, r)
	switch {
	case status == http.StatusSwitchingProtocols:
		log.Info("stream proxy: stream closed", append(cfg.Attrs, "backend", redacted(cfg.Location),
			"protocol", r.Header.Get("Upgrade"), "duration", time.Since(start).Round(time.Millisecond).String())...)
	case status != 0:
		log.Info("stream proxy: backend refused the upgrade", append(cfg.Attrs, "backend", redacted(cfg.Location),
			"protocol", r.Header.Get("Upgrade"), "code", status)...)
	}
}

// redacted is the backend's address without its path and query: a runtime's streaming
// URL carries a one-time token, which must not end up in logs.
func redacted(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}
