package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/rest"
)

// streamCluster is a test apiserver with a streaming kubelet on node-1 and pod "web"
// there, Running, whose port 80 (named "http") is an HTTP server of the test's.
type streamCluster struct {
	s       *apiservertest.Server
	kubelet *apiservertest.StreamingKubelet
}

func newStreamCluster(t *testing.T) *streamCluster {
	t.Helper()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "pod answered "+r.URL.Path)
	}))
	t.Cleanup(web.Close)
	s := apiservertest.Start(t)
	k := s.StartStreamingKubelet("node-1", func(port uint16) (net.Conn, error) {
		if port != 80 {
			return nil, fmt.Errorf("dial tcp4 127.0.0.1:%d: connect: connection refused", port)
		}
		return net.Dial("tcp", web.Listener.Addr().String())
	})
	sc := &streamCluster{s: s, kubelet: k}
	sc.request(t, "POST", "/api/v1/namespaces/default/pods", "application/json", `{"apiVersion":"v1","kind":"Pod",
"metadata":{"name":"web","labels":{"app":"web"}},"spec":{"nodeName":"node-1","containers":[{"name":"nginx","image":"nginx:1.14.2",
"ports":[{"name":"http","containerPort":80},{"name":"dns","containerPort":53,"protocol":"UDP"}]}]}}`)
	sc.request(t, "PATCH", "/api/v1/namespaces/default/pods/web/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`)
	return sc
}

func (sc *streamCluster) request(t *testing.T, method, path, contentType, body string) {
	t.Helper()
	cfg, err := kubeconfig.Load(sc.s.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := rest.New(rc, rest.Options{QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(context.Background(), method, path, []byte(body), contentType); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// syncBuffer collects output that kubectl's goroutines write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// kubectl runs our kubectl in-process with kubeconfig and stdin until it ends or ctx does.
func runKubectl(ctx context.Context, t *testing.T, kubeconfig, stdin string, args ...string) (stdout, stderr *syncBuffer, err error) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	args = append([]string{"--kubeconfig", kubeconfig, "--cache-dir", t.TempDir()}, args...)
	err = Run(ctx, args, Streams{In: strings.NewReader(stdin), Out: stdout, ErrOut: stderr})
	return stdout, stderr, err
}

// recordingProxy sits between kubectl and the apiserver as the admin, and records the
// streaming upgrades it passes ("METHOD Upgrade code"); with refuseWebsocket it answers
// every websocket 400, as an apiserver without the tunnel (or a proxy) would.
type recordingProxy struct {
	refuseWebsocket bool
	mu              sync.Mutex
	upgrades        []string
}

func (p *recordingProxy) start(t *testing.T, s *apiservertest.Server) (kubeconfigPath string) {
	t.Helper()
	cfg, err := kubeconfig.Load(s.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := rc.TLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(rc.Host)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: tlsCfg}
	rp.ModifyResponse = func(resp *http.Response) error {
		if up := resp.Request.Header.Get("Upgrade"); up != "" {
			p.record(resp.Request.Method + " " + up + " " + fmt.Sprint(resp.StatusCode))
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.refuseWebsocket && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			p.record(r.Method + " websocket 400")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"websockets are not proxied here","reason":"BadRequest","code":400}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: %q}}]
users: [{name: admin, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: admin, namespace: default}}]
current-context: proxy
`, srv.URL)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *recordingProxy) record(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upgrades = append(p.upgrades, s)
}

func (p *recordingProxy) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.upgrades...)
}

// TestPortForwardIntegration: our kubectl's port-forward reaches the pod's port through
// the apiserver's websocket tunnel, and through plain SPDY where websockets are refused;
// named ports, a Deployment-style selector and upstream's output lines are checked.
func TestPortForwardIntegration(t *testing.T) {
	sc := newStreamCluster(t)
	for _, tc := range []struct {
		name            string
		refuseWebsocket bool
		arg, port       string
		wantUpgrades    []string
	}{
		{"websocket tunnel", false, "pod/web", ":http", []string{"GET websocket 101"}},
		{"SPDY fallback", true, "web", ":80", []string{"GET websocket 400", "POST SPDY/3.1 101"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &recordingProxy{refuseWebsocket: tc.refuseWebsocket}
			kc := p.start(t, sc.s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, []string{"--kubeconfig", kc, "--cache-dir", t.TempDir(), "port-forward", tc.arg, tc.port},
					Streams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr})
			}()
			local := waitForwarding(t, stdout, stderr)
			for _, path := range []string{"/a", "/b"} {
				if body := httpGet(t, "http://127.0.0.1:"+local+path); body != "pod answered "+path {
					t.Errorf("GET %s: %q", path, body)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("port-forward ended with %v; stderr %q", err, stderr)
			}
			want := fmt.Sprintf("Forwarding from 127.0.0.1:%s -> 80\nForwarding from [::1]:%s -> 80\nHandling connection for %s\nHandling connection for %s\n", local, local, local, local)
			if got := stdout.String(); got != want && !strings.HasPrefix(got, "Forwarding from 127.0.0.1:"+local+" -> 80\nHandling") {
				t.Errorf("stdout %q, want %q", got, want)
			}
			if got := p.got(); fmt.Sprint(got) != fmt.Sprint(tc.wantUpgrades) {
				t.Errorf("upgrades through the proxy %q, want %q", got, tc.wantUpgrades)
			}
		})
	}
}

// TestPortForwardErrors: what upstream refuses before forwarding, and a remote port
// nothing listens on, which ends the session as upstream's kubectl does.
func TestPortForwardErrors(t *testing.T) {
	sc := newStreamCluster(t)
	kc := sc.s.Kubeconfig()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"web"}, "error: TYPE/NAME and list of ports are required for port-forward\nSee 'kubectl port-forward -h' for help and examples\n"},
		{[]string{"web", "8080:https"}, "error: Pod 'web' does not have a named port 'https'\n"},
		{[]string{"web", "dns"}, "error: UDP protocol is not supported for dns\n"},
		{[]string{"web", "70000"}, "error: error parsing local port '70000': strconv.ParseUint: parsing \"70000\": value out of range\n"},
		{[]string{"web", "80", "--address", "example.com"}, "error: example.com is not a valid IP\n"},
		{[]string{"nope", "80"}, "Error from server (NotFound): pods \"nope\" not found\n"},
		{[]string{"configmap/x", "80"}, "Error from server (NotFound): configmaps \"x\" not found\n"},
	} {
		_, errOut, err := runKubectl(context.Background(), t, kc, "", append([]string{"port-forward"}, tc.args...)...)
		if err == nil || errOut.String() != tc.want {
			t.Errorf("port-forward %v: %v, stderr %q, want %q", tc.args, err, errOut, tc.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--kubeconfig", kc, "--cache-dir", t.TempDir(), "port-forward", "web", ":81"},
			Streams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr})
	}()
	local := waitForwarding(t, stdout, stderr)
	if c, err := net.Dial("tcp", "127.0.0.1:"+local); err == nil {
		_, _ = io.ReadAll(c)
		c.Close()
	}
	if err := <-done; err == nil || err.Error() != "lost connection to pod" {
		t.Errorf("port-forward to a closed port ended with %v, want lost connection", err)
	}
	if want := "an error occurred forwarding " + local + " -> 81: error forwarding port 81 to pod test, uid : dial tcp4 127.0.0.1:81: connect: connection refused\n"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

var forwardingLine = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> \d+`)

// waitForwarding waits for port-forward's first listener and returns its port.
func waitForwarding(t *testing.T, stdout, stderr *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := forwardingLine.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("port-forward did not listen; stdout %q, stderr %q", stdout, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
