package streamtranslator

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"kubelab.io/apiserver/internal/streamtranslator/spdytest"
)

const tunnelProtocol = "SPDY/3.1+portforward.k8s.io"

// upperListener is a "pod port": it answers each line with the line in upper case.
func upperListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					_, _ = io.WriteString(c, strings.ToUpper(sc.Text())+"\n")
				}
			}()
		}
	}()
	return l
}

// tunnelServer serves Tunnel in front of backend, at the kubelet path /portForward/default/web.
func tunnelServer(t *testing.T, backend http.Handler, onError func(http.ResponseWriter, *http.Request, error)) string {
	t.Helper()
	bs := httptest.NewServer(backend)
	t.Cleanup(bs.Close)
	loc, _ := url.Parse(bs.URL + "/portForward/default/web")
	fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Tunnel(w, r, Config{Location: loc, Transport: &http.Transport{}, Error: onError})
	}))
	t.Cleanup(fs.Close)
	return "ws" + strings.TrimPrefix(fs.URL, "http")
}

// dialTunnel is kubectl's side: a websocket offering the tunnel protocol, and SPDY in it.
func dialTunnel(t *testing.T, u string) (httpstream.Connection, *websocket.Conn) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{tunnelProtocol}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	conn, err := spdy.NewClientConnection(portforward.NewTunnelingConnection("client", ws))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, ws
}

// forwardLine sends line through a new stream pair for port and returns the answer line
// and whatever the error stream said.
func forwardLine(t *testing.T, conn httpstream.Connection, id int, port uint16, line string) (answer, errMsg string) {
	t.Helper()
	h := http.Header{}
	h.Set("streamType", "error")
	h.Set("port", strconv.Itoa(int(port)))
	h.Set("requestID", strconv.Itoa(id))
	errs, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	errs.Close() // nothing to say on it
	h.Set("streamType", "data")
	data, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(data, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := bufio.NewReader(data).ReadString('\n')
	data.Close()
	msg, _ := io.ReadAll(errs)
	return got, string(msg)
}

// TestTunnel: the websocket is accepted with the kubelet's protocol under the tunnel
// prefix, the kubelet gets an ordinary SPDY upgrade, and streams for any port go through
// as kubectl opens them; a failure on the far side comes back on the error stream.
func TestTunnel(t *testing.T) {
	l := upperListener(t)
	backend := &spdytest.Server{Dial: func(port uint16) (net.Conn, error) {
		if port != 80 {
			return nil, errors.New("connection refused")
		}
		return net.Dial("tcp", l.Addr().String())
	}}
	conn, ws := dialTunnel(t, tunnelServer(t, backend, nil))
	if ws.Subprotocol() != tunnelProtocol {
		t.Errorf("negotiated %q, want %s", ws.Subprotocol(), tunnelProtocol)
	}
	for i, line := range []string{"first", "second"} {
		if got, msg := forwardLine(t, conn, i, 80, line); got != strings.ToUpper(line)+"\n" || msg != "" {
			t.Errorf("port 80: %q, error stream %q", got, msg)
		}
	}
	if got, msg := forwardLine(t, conn, 2, 81, "nobody"); got != "" || !strings.Contains(msg, "error forwarding port 81") {
		t.Errorf("port 81: %q, error stream %q; want the refusal", got, msg)
	}
	if got := backend.Requests(); len(got) != 1 || got[0] != "POST /portForward/default/web" {
		t.Errorf("kubelet got %q, want one SPDY POST", got)
	}
}

// TestTunnelRefused: the kubelet's refusal reaches the client before any upgrade, as the
// kubelet wrote it, so that kubectl falls back or reports it; a kubelet that cannot be
// reached is cfg.Error's to word.
func TestTunnelRefused(t *testing.T) {
	refusing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Upgrade") != "SPDY/3.1" || r.Header.Get("X-Stream-Protocol-Version") != "portforward.k8s.io" {
			t.Errorf("kubelet got %s %q %q", r.Method, r.Header.Get("Upgrade"), r.Header.Values("X-Stream-Protocol-Version"))
		}
		w.Header().Set("X-Reason", "gone")
		http.Error(w, "pod not found", http.StatusInternalServerError)
	})
	u := tunnelServer(t, refusing, nil)
	d := websocket.Dialer{Subprotocols: []string{tunnelProtocol}, HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(u, nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial: %v %v, want a refused handshake", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || string(body) != "pod not found\n" || resp.Header.Get("X-Reason") != "gone" {
		t.Errorf("refusal %d %q %v", resp.StatusCode, body, resp.Header)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	loc, _ := url.Parse(down.URL + "/portForward/default/web")
	var got error
	fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Tunnel(w, r, Config{Location: loc, Transport: &http.Transport{}, Error: func(w http.ResponseWriter, _ *http.Request, err error) {
			got = err
			http.Error(w, "kubelet down", http.StatusServiceUnavailable)
		}})
	}))
	defer fs.Close()
	_, resp, err = d.Dial("ws"+strings.TrimPrefix(fs.URL, "http"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || got == nil {
		t.Errorf("unreachable kubelet: %v %v, Error got %v", err, resp, got)
	}
}

func TestWantsTunnel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		wants  bool
	}{
		{"port-forward tunnel", http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"SPDY/3.1+portforward.k8s.io"}}, true},
		{"among others", http.Header{"Upgrade": {"WebSocket"}, "Sec-Websocket-Protocol": {"v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io"}}, true},
		{"not a Kubernetes protocol", http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"SPDY/3.1+chat.example.com"}}, false},
		{"exec", http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"v5.channel.k8s.io"}}, false},
		{"SPDY", http.Header{"Upgrade": {"SPDY/3.1"}, "X-Stream-Protocol-Version": {"portforward.k8s.io"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header = tc.header
			if got := WantsTunnel(r); got != tc.wants {
				t.Errorf("WantsTunnel = %v, want %v", got, tc.wants)
			}
		})
	}
}
