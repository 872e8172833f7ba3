package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"kubelab.io/client/freeport"
	"kubelab.io/client/kubeconfig"
)

// apiserverProc is one apiserver process on a data dir.
type apiserverProc struct {
	t        *testing.T
	dir      string
	port     int
	grpcPort int
	cmd      *exec.Cmd
	log      *os.File
	// args are more flags for bin/apiserver.
	args []string
}

// withoutControllerManager is the flag for an apiserver no controller-manager runs beside:
// nothing would create each namespace's "default" service account, so ServiceAccount
// admission is off, as in Kubernetes' own integration tests.
const withoutControllerManager = "--disable-admission-plugins=ServiceAccount"

// freePort picks a port for a child process to bind, outside the ephemeral range that
// this test's own outgoing connections draw from (see kubelab.io/client/freeport).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Pick("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func newAPIServer(t *testing.T) *apiserverProc {
	p := &apiserverProc{t: t, dir: t.TempDir(), port: freePort(t), grpcPort: freePort(t)}
	t.Cleanup(p.kill)
	return p
}

// start runs bin/apiserver --data-dir D --cert-dir D/pki and returns once /readyz answers,
// failing the test if that takes longer than within.
func (p *apiserverProc) start(within time.Duration) time.Duration {
	p.t.Helper()
	var err error
	p.log, err = os.OpenFile(filepath.Join(p.dir, "apiserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	began := time.Now()
	args := append([]string{"--data-dir", p.dir, "--cert-dir", filepath.Join(p.dir, "pki"),
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(p.port), "--grpc-port", fmt.Sprint(p.grpcPort)}, p.args...)
	p.cmd = exec.Command(filepath.Join(binDir, "apiserver"), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	for {
		if time.Since(began) > within {
			p.dump()
			p.t.Fatalf("apiserver not ready within %v", within)
		}
		if c, err := p.client(); err == nil {
			if resp, err := c.Get(p.url("/readyz")); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return time.Since(began)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *apiserverProc) dump() {
	b, _ := os.ReadFile(filepath.Join(p.dir, "apiserver.log"))
	p.t.Logf("apiserver log:\n%s", b)
}

// kill stops the process with SIGKILL: no shutdown code runs.
func (p *apiserverProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		p.cmd = nil
	}
	if p.log != nil {
		p.log.Close()
		p.log = nil
	}
}

func (p *apiserverProc) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", p.port, path)
}

// client is an HTTPS client with the admin credentials from D/pki/admin.kubeconfig.
func (p *apiserverProc) client() (*http.Client, error) {
	cfg, err := kubeconfig.Load(filepath.Join(p.dir, "pki", "admin.kubeconfig"))
	if err != nil {
		return nil, err
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		return nil, err
	}
	tc, err := rc.TLSClientConfig()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 16,
		DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}}, nil
}

func podBody(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":"nginx:1.14.2"}]}}`, name)
}

// TestApiserverBinary: the built binary serves within 2 s, embedded etcd included, and a
// restart reuses its certificates and data.
func TestApiserverBinary(t *testing.T) {
	p := newAPIServer(t)
	p.args = []string{withoutControllerManager}
	took := p.start(2 * time.Second)
	t.Logf("cold start to ready: %v", took)
	for _, f := range []string{"ca.crt", "apiserver.crt", "admin.crt", "admin.kubeconfig"} {
		if _, err := os.Stat(filepath.Join(p.dir, "pki", f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	ca1, _ := os.ReadFile(filepath.Join(p.dir, "pki", "ca.crt"))
	c, _ := p.client()
	resp, err := c.Post(p.url("/api/v1/namespaces/default/pods"), "application/json", strings.NewReader(podBody("keep")))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()
	p.kill()
	took = p.start(2 * time.Second)
	t.Logf("warm restart to ready: %v", took)
	ca2, _ := os.ReadFile(filepath.Join(p.dir, "pki", "ca.crt"))
	if string(ca1) != string(ca2) {
		t.Error("restart replaced the CA")
	}
	c, _ = p.client()
	resp, err = c.Get(p.url("/api/v1/namespaces/default/pods/keep"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("get after restart: %v %v", err, resp)
	}
	resp.Body.Close()
}

// TestApiserverCrashOnly kills the apiserver with SIGKILL while clients write, restarts it,
// and checks that every acknowledged create survived and that nothing exists that was never
// attempted: no lost and no invented objects.
func TestApiserverCrashOnly(t *testing.T) {
	p := newAPIServer(t)
	p.args = []string{withoutControllerManager}
	p.start(5 * time.Second)
	c, err := p.client()
	if err != nil {
		t.Fatal(err)
	}
	var acked sync.Map
	var attempted atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("crash-%d-%d", w, i)
				attempted.Add(1)
				req, _ := http.NewRequestWithContext(ctx, "POST", p.url("/api/v1/namespaces/default/pods"), strings.NewReader(podBody(name)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 201 {
					acked.Store(name, true)
				}
			}
		}(w)
	}
	// Let writes flow, then pull the plug mid-stream.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n := 0
		acked.Range(func(_, _ any) bool { n++; return n < 300 })
		if n >= 300 || time.Now().After(deadline) {
			break
		}
	}
	p.kill()
	cancel()
	wg.Wait()
	n := 0
	acked.Range(func(_, _ any) bool { n++; return true })
	if n == 0 {
		t.Fatal("no create was acknowledged before the kill")
	}

	p.start(5 * time.Second)
	c, _ = p.client()
	resp, err := c.Get(p.url("/api/v1/namespaces/default/pods"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	stored := map[string]bool{}
	for _, part := range strings.Split(string(body), `"name":"`)[1:] {
		name := part[:strings.IndexByte(part, '"')]
		if strings.HasPrefix(name, "crash-") {
			stored[name] = true
		}
	}
	acked.Range(func(k, _ any) bool {
		if !stored[k.(string)] {
			t.Errorf("acknowledged create of %s was lost", k)
		}
		return true
	})
	if int64(len(stored)) > attempted.Load() {
		t.Errorf("%d pods stored but only %d creates attempted", len(stored), attempted.Load())
	}
	t.Logf("%d creates acknowledged before SIGKILL, %d stored after restart", n, len(stored))
}
