package upgradeproxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"kubelab.io/proto/upgradeproxy/upgradeproxytest"
)

// startProxy serves Serve in front of backendURL; errFn is Config.Error.
func startProxy(t *testing.T, backendURL string, errFn func(http.ResponseWriter, *http.Request, error)) string {
	t.Helper()
	loc, err := url.Parse(backendURL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, Config{Location: loc, Error: errFn, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}))
	t.Cleanup(front.Close)
	return strings.TrimPrefix(front.URL, "http://")
}

// execRequest is an exec upgrade for protocol, with a client's credentials on it.
func execRequest(protocol string) upgradeproxytest.Request {
	return upgradeproxytest.Request{
		Method: http.MethodPost, Path: "/api/v1/namespaces/default/pods/web/exec?command=sh", Protocol: protocol,
		Header: http.Header{
			"X-Stream-Protocol-Version": {"v4.channel.k8s.io", "v3.channel.k8s.io"},
			"Sec-Websocket-Protocol":    {"v5.channel.k8s.io"},
			"Authorization":             {"Bearer client-secret"},
			"Impersonate-User":          {"bob"},
		},
	}
}

func TestUpgradePassesThroughAndCopiesBothWays(t *testing.T) {
	echo := &upgradeproxytest.Echo{}
	backend := httptest.NewServer(echo)
	defer backend.Close()
	addr := startProxy(t, backend.URL+"/exec/default/web/nginx?command=sh&input=1", nil)

	c := upgradeproxytest.Dial(t, addr, execRequest(upgradeproxytest.Protocol))
	if c.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", c.Resp.StatusCode)
	}
	if got := c.Resp.Header.Get("Upgrade"); got != upgradeproxytest.Protocol {
		t.Errorf("Upgrade %q reached the client, want %s", got, upgradeproxytest.Protocol)
	}
	if got := c.Resp.Header.Get("X-Stream-Protocol-Version"); got != "v4.channel.k8s.io" {
		t.Errorf("negotiated protocol %q reached the client, want v4.channel.k8s.io", got)
	}

	got := echo.Requests()[0]
	if got.URL.Path != "/exec/default/web/nginx" || got.URL.RawQuery != "command=sh&input=1" {
		t.Errorf("backend got %s, want the configured location", got.URL)
	}
	if v := got.Header.Values("X-Stream-Protocol-Version"); len(v) != 2 || v[0] != "v4.channel.k8s.io" {
		t.Errorf("backend got protocol offer %q", v)
	}
	if v := got.Header.Get("Sec-WebSocket-Protocol"); v != "v5.channel.k8s.io" {
		t.Errorf("backend got Sec-WebSocket-Protocol %q", v)
	}
	if !IsUpgradeRequest(got) {
		t.Errorf("backend got no upgrade request: Connection %q Upgrade %q", got.Header.Get("Connection"), got.Header.Get("Upgrade"))
	}
	for _, h := range []string{"Authorization", "Impersonate-User"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("the client's %s %q reached the backend", h, v)
		}
	}

	c.Echo(t, "hello")
	c.Echo(t, "second")
	c.Finish(t)
}

func TestRefusedUpgradeComesBackAsItWas(t *testing.T) {
	backend := httptest.NewServer(&upgradeproxytest.Echo{})
	defer backend.Close()
	addr := startProxy(t, backend.URL+"/exec/default/web/nginx", nil)

	c := upgradeproxytest.Dial(t, addr, execRequest("websocket"))
	if c.Resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want the backend's 403", c.Resp.StatusCode)
	}
	if body := c.Body(t); !strings.Contains(body, "requested protocol(s) are not supported") {
		t.Errorf("body %q, want the backend's reason", body)
	}
}

func TestUnreachableBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	t.Run("default answer", func(t *testing.T) {
		c := upgradeproxytest.Dial(t, startProxy(t, dead+"/exec/x", nil), execRequest(upgradeproxytest.Protocol))
		if c.Resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502", c.Resp.StatusCode)
		}
	})
	t.Run("caller's answer", func(t *testing.T) {
		var seen error
		addr := startProxy(t, dead+"/exec/x", func(w http.ResponseWriter, _ *http.Request, err error) {
			seen = err
			http.Error(w, "kubelet unreachable", http.StatusServiceUnavailable)
		})
		c := upgradeproxytest.Dial(t, addr, execRequest(upgradeproxytest.Protocol))
		if c.Resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want the Error func's 503", c.Resp.StatusCode)
		}
		var op *net.OpError
		if !errors.As(seen, &op) {
			t.Errorf("Error func got %v, want the dial error", seen)
		}
	})
}

func TestIsUpgradeRequest(t *testing.T) {
	for _, tt := range []struct {
		connection, upgrade string
		want                bool
	}{
		{"Upgrade", "SPDY/3.1", true},
		{"keep-alive, upgrade", "websocket", true},
		{"Upgrade", "", false},
		{"keep-alive", "websocket", false},
		{"", "", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/exec", nil)
		if tt.connection != "" {
			r.Header.Set("Connection", tt.connection)
		}
		if tt.upgrade != "" {
			r.Header.Set("Upgrade", tt.upgrade)
		}
		if got := IsUpgradeRequest(r); got != tt.want {
			t.Errorf("Connection %q Upgrade %q: %v, want %v", tt.connection, tt.upgrade, got, tt.want)
		}
	}
}
