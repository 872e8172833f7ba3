package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects a background process's output while the test reads it.
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

// startKubectlBin runs the kubectl at bin (the stock one, or kubelab's) as the cluster
// admin in the background, for commands that stream until stopped (port-forward, attach).
// The process is killed when the returned stop is called, at the latest after two
// minutes, and at the test's end.
func (c *localCluster) startKubectlBin(t *testing.T, bin string, args ...string) (out *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", filepath.Join(c.dir, "pki", "admin.kubeconfig")}, args...)...)
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("kubectl %v: %v", args, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return out, stop
}

// expectPortForwardAndAttach runs the kubectl at bin (the stock one, or kubelab's)
// port-forward to p's port 80 through apiserver (pods/portforward) → kubelet
// (/portForward) → containerd's streaming server, which dials nginx inside the pod's
// network namespace. Both kubectls offer a websocket tunnel (SPDY inside), which the
// apiserver accepts once the kubelet and containerd have switched to SPDY. A GET to the
// local port must answer nginx's page. While it runs, kubectl attach (pods/attach →
// /attach → CRI Attach) joins nginx's output and must show the access-log line of a
// request made through the forward.
func (c *localCluster) expectPortForwardAndAttach(t *testing.T, bin string, p pod) {
	t.Helper()
	name := p.Metadata.Name
	port := freePort(t)
	pfOut, stopPF := c.startKubectlBin(t, bin, "port-forward", "pod/"+name, fmt.Sprintf("%d:80", port))
	defer stopPF()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	var code int
	var body string
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err = get("/")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || code != http.StatusOK || !strings.Contains(body, "Welcome to nginx!") {
		t.Fatalf("GET %s/ through kubectl port-forward %s: %d %v; kubectl said:\n%s", base, name, code, err, pfOut)
	}
	if !strings.Contains(pfOut.String(), fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 80", port)) ||
		!strings.Contains(pfOut.String(), fmt.Sprintf("Handling connection for %d", port)) {
		t.Errorf("kubectl port-forward said %q, want upstream's Forwarding and Handling lines", pfOut)
	}
	t.Logf("%s port-forward pod/%s %d:80: GET / answers nginx's page", bin, name, port)

	attachOut, stopAttach := c.startKubectlBin(t, bin, "attach", "pod/"+name)
	defer stopAttach()
	// The attach starts streaming some time after kubectl starts, and only output written
	// after that reaches it: request until a line shows up.
	path := "/kubelab-attach-check"
	waitFor(t, 30*time.Second, "kubectl attach to show the access-log line of "+path, func() bool {
		_, _, _ = get(path)
		return strings.Contains(attachOut.String(), `"GET `+path+` HTTP/1.1" 404`)
	})
	t.Logf("%s attach pod/%s shows nginx's access-log line for a request through the forward", bin, name)
}
