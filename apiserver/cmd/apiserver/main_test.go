package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestServesWhileStderrIsNotRead starts the apiserver with stderr on a pipe that is read
// only up to "apiserver serving", as a harness that waits for readiness and then forgets
// the pipe does. Each request logs a line; written straight to the pipe, the lines filled
// its 64 KiB within a few hundred requests and from then on every request hung on the
// logger's lock, while connections and TLS handshakes still succeeded. The server must go
// on answering.
func TestServesWhileStderrIsNotRead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver with an embedded etcd")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", dir, "--bind-address", "127.0.0.1", "--secure-port", "0", "--grpc-port", "0",
			"--disable-admission-plugins=ServiceAccount"}, w)
	}()
	stopped := false
	defer func() {
		go io.Copy(io.Discard, r) // let a blocked logger, if any, finish so the server can stop
		cancel()
		if !stopped {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("apiserver did not stop")
			}
		}
	}()

	serving := regexp.MustCompile(`msg="apiserver serving" .*address=(\S+)`)
	sc := bufio.NewScanner(r)
	addr := ""
	for addr == "" && sc.Scan() {
		if m := serving.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		stopped = true
		t.Fatalf("apiserver did not start: %v", <-done)
	}
	// From here on nobody reads the pipe.
	c := adminClient(t, filepath.Join(dir, "pki"))
	for i := 0; i < 1500; i++ { // ~200 bytes of log each: several times the pipe's buffer
		resp, err := c.Get("https://" + addr + "/api/v1/namespaces/default/pods/web-0")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("request %d: HTTP %d, want 404", i, resp.StatusCode)
		}
	}
}

func adminClient(t *testing.T, pki string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}},
	}
}
