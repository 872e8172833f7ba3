package upgradeproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoBackend speaks a trivial upgraded protocol, "echo/1": after its 101 it answers each
// chunk it reads in upper case, and when the client half-closes it writes "bye" and
// closes. It records the request it got. Asked for anything but echo/1 it refuses with
// 403, as a runtime's streaming server refuses a websocket subprotocol it lacks.
type echoBackend struct {
	mu  sync.Mutex
	got *http.Request
}

func (b *echoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.got = r.Clone(r.Context())
	b.mu.Unlock()
	if r.Header.Get("Upgrade") != "echo/1" {
		http.Error(w, "requested protocol(s) are not supported", http.StatusForbidden)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n"+
		"X-Stream-Protocol-Version: "+r.Header.Values("X-Stream-Protocol-Version")[0]+"\r\n\r\n")
	_ = brw.Flush()
	buf := make([]byte, 1024)
	for {
		n, err := brw.Read(buf)
		if n > 0 {
			_, _ = conn.Write(bytes.ToUpper(buf[:n]))
		}
		if err != nil {
			_, _ = io.WriteString(conn, "bye")
			return
		}
	}
}

func (b *echoBackend) request() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got
}

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

// dial sends an upgrade request for protocol to addr over a raw connection and reads the
// answer's head.
func dial(t *testing.T, addr, protocol string) (*net.TCPConn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*net.TCPConn)
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test, not the run
	req := "POST /api/v1/namespaces/default/pods/web/exec?command=sh HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Connection: Upgrade\r\nUpgrade: " + protocol + "\r\n" +
		"X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n" +
		"Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n" +
		"Authorization: Bearer client-secret\r\nImpersonate-User: bob\r\nContent-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return conn, br, resp
}

func TestUpgradePassesThroughAndCopiesBothWays(t *testing.T) {
	be := &echoBackend{}
	backend := httptest.NewServer(be)
	defer backend.Close()
	addr := startProxy(t, backend.URL+"/exec/default/web/nginx?command=sh&stdin=true", nil)

	conn, br, resp := dial(t, addr, "echo/1")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Upgrade"); got != "echo/1" {
		t.Errorf("Upgrade %q reached the client, want echo/1", got)
	}
	if got := resp.Header.Get("X-Stream-Protocol-Version"); got != "v4.channel.k8s.io" {
		t.Errorf("negotiated protocol %q reached the client, want v4.channel.k8s.io", got)
	}

	got := be.request()
	if got.URL.Path != "/exec/default/web/nginx" || got.URL.RawQuery != "command=sh&stdin=true" {
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

	for _, msg := range []string{"hello", "second"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatalf("read echo of %q: %v", msg, err)
		}
		if string(buf) != strings.ToUpper(msg) {
			t.Errorf("echo %q, want %q", buf, strings.ToUpper(msg))
		}
	}
	// The client's half-close reaches the backend, whose last words and close come back.
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("read to the end: %v", err)
	}
	if string(rest) != "bye" {
		t.Errorf("after half-close got %q, want bye then EOF", rest)
	}
}

func TestRefusedUpgradeComesBackAsItWas(t *testing.T) {
	be := &echoBackend{}
	backend := httptest.NewServer(be)
	defer backend.Close()
	addr := startProxy(t, backend.URL+"/exec/default/web/nginx", nil)

	_, _, resp := dial(t, addr, "websocket")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want the backend's 403", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "requested protocol(s) are not supported") {
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
		_, _, resp := dial(t, startProxy(t, dead+"/exec/x", nil), "echo/1")
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502", resp.StatusCode)
		}
	})
	t.Run("caller's answer", func(t *testing.T) {
		var seen error
		addr := startProxy(t, dead+"/exec/x", func(w http.ResponseWriter, _ *http.Request, err error) {
			seen = err
			http.Error(w, "kubelet unreachable", http.StatusServiceUnavailable)
		})
		_, _, resp := dial(t, addr, "echo/1")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want the Error func's 503", resp.StatusCode)
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
