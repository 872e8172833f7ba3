// Package upgradeproxytest holds what tests of the streaming hops share: a backend that
// speaks a trivial upgraded protocol, and a client that sends an upgrade request over a
// raw connection. Real SPDY and websocket are tested against real containerd and kubectl;
// these stand-ins check that each hop relays a protocol switch without knowing which.
package upgradeproxytest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Protocol is what Echo accepts in the Upgrade header.
const Protocol = "echo/1"

// Echo is a streaming server for the "echo/1" protocol: after its 101 (which names the
// first X-Stream-Protocol-Version offered) it answers each chunk it reads in upper case,
// and when the client half-closes it writes "bye" and closes. Asked for any other
// protocol it refuses with 403 and a reason, as a runtime's streaming server refuses a
// websocket subprotocol it does not speak. It records the requests it got.
type Echo struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (e *Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.reqs = append(e.reqs, r.Clone(r.Context()))
	e.mu.Unlock()
	if r.Header.Get("Upgrade") != Protocol {
		http.Error(w, "requested protocol(s) are not supported", http.StatusForbidden)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+Protocol+"\r\n"+
		"X-Stream-Protocol-Version: "+r.Header.Get("X-Stream-Protocol-Version")+"\r\n\r\n")
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

// Requests are the requests Echo got, oldest first.
func (e *Echo) Requests() []*http.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*http.Request(nil), e.reqs...)
}

// Request describes an upgrade request for Dial.
type Request struct {
	Method, Path string
	// Protocol goes in the Upgrade header (with Connection: Upgrade).
	Protocol string
	// Header is added as given (X-Stream-Protocol-Version, Authorization, …).
	Header http.Header
	// TLS, when set, wraps the connection (the apiserver's and kubelet's HTTPS).
	TLS *tls.Config
}

// Conn is the client side of an upgraded (or refused) exchange.
type Conn struct {
	net.Conn
	R    *bufio.Reader
	Resp *http.Response
}

// Dial sends req to addr over a fresh connection and reads the answer's head. The
// connection has a deadline of 10 s, so a hop that hangs fails the test rather than
// stalling it.
func Dial(t testing.TB, addr string, req Request) *Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if req.TLS != nil {
		cfg := req.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		c = tls.Client(c, cfg)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(req.Method + " " + req.Path + " HTTP/1.1\r\nHost: " + addr + "\r\n")
	b.WriteString("Connection: Upgrade\r\nUpgrade: " + req.Protocol + "\r\nContent-Length: 0\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", req.Method, req.Path, err)
	}
	return &Conn{Conn: c, R: br, Resp: resp}
}

// Body reads the answer's body (of a refused upgrade).
func (c *Conn) Body(t testing.TB) string {
	t.Helper()
	b, err := io.ReadAll(io.LimitReader(c.Resp.Body, 64<<10))
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// Echo writes msg on an established Echo stream and checks that it comes back in upper
// case.
func (c *Conn) Echo(t testing.TB, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c.R, buf); err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	if want := strings.ToUpper(msg); string(buf) != want {
		t.Errorf("echo %q, want %q", buf, want)
	}
}

// Finish half-closes the client's side and checks that Echo's last word, "bye", and its
// close come back through every hop.
func (c *Conn) Finish(t testing.TB) {
	t.Helper()
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.Conn.(closeWriter)
	if !ok {
		t.Fatalf("%T cannot half-close", c.Conn)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(c.R)
	if err != nil {
		t.Fatalf("read to the end: %v", err)
	}
	if string(rest) != "bye" {
		t.Errorf("after half-close got %q, want bye then EOF", rest)
	}
}
