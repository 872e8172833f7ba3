package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/streamtranslator/spdytest"
)

// TestPodPortForwardTunnel: the stock kubectl's port-forward goes through the websocket
// tunnel, not the SPDY fallback: the apiserver saw one websocket GET (switched, 101) and no
// SPDY POST, the kubelet one SPDY POST, and a GET through the forward reaches the "pod".
func TestPodPortForwardTunnel(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "pod answered "+r.URL.Path)
	}))
	defer web.Close()
	backend := &spdytest.Server{Dial: func(port uint16) (net.Conn, error) {
		if port != 80 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrNotExist}
		}
		return net.Dial("tcp", web.Listener.Addr().String())
	}}
	s, _ := translateServerWith(t, backend)
	c := adminClient(t, s)
	c.do("PATCH", pods+"/web/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`).must(t, http.StatusOK)

	out, stop := startKubectl(t, s, "port-forward", "pod/web", ":80")
	local := forwardedPort(t, out)
	for _, path := range []string{"/one", "/two"} {
		resp, err := http.Get("http://127.0.0.1:" + local + path)
		if err != nil {
			t.Fatalf("GET through the forward: %v; kubectl said:\n%s", err, out)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "pod answered "+path {
			t.Errorf("GET %s through the forward: %q", path, body)
		}
	}
	stop()
	if !strings.Contains(out.String(), "Handling connection for "+local) {
		t.Errorf("kubectl said %q", out)
	}
	if got := backend.Requests(); len(got) != 1 || got[0] != "POST /portForward/default/web" {
		t.Errorf("kubelet got %q, want one SPDY POST", got)
	}
	checkPortForwardUpgrades(t, c, map[string]int{`code="101",verb="get"`: 1})
}

// checkPortForwardUpgrades: the apiserver's pods/portforward requests, by code and verb (a
// websocket's GET is "get", a SPDY POST "create"), are exactly want, once the streams have
// ended (a request is counted when it is over).
func checkPortForwardUpgrades(t *testing.T, c *apiClient, want map[string]int) {
	t.Helper()
	line := regexp.MustCompile(`(?m)^apiserver_request_total\{code="(\d+)",group="",resource="pods",subresource="portforward",verb="(\w+)"\} (\d+)$`)
	var got map[string]int
	ok := func() bool {
		got = map[string]int{}
		for _, m := range line.FindAllStringSubmatch(string(c.get("/metrics").must(t, http.StatusOK).body), -1) {
			n := 0
			for _, d := range m[3] {
				n = n*10 + int(d-'0')
			}
			got[`code="`+m[1]+`",verb="`+m[2]+`"`] = n
		}
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Errorf("pods/portforward requests %v, want %v", got, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects a background process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startKubectl runs the stock kubectl as the admin in the background, for commands that
// stream until stopped; stop (also called at the test's end) kills it and waits.
func startKubectl(t *testing.T, s *Server, args ...string) (*lockedBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, stockKubectl, append([]string{"--kubeconfig", s.AdminKubeconfig(), "--cache-dir", filepath.Join(t.TempDir(), "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	return out, stop
}

// forwardedPort waits for kubectl's "Forwarding from 127.0.0.1:PORT -> …" and returns PORT.
func forwardedPort(t *testing.T, out *lockedBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> `)
	var port string
	eventually(t, "kubectl to listen", func() bool {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			port = m[1]
		}
		return port != ""
	})
	return port
}
