package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/pki"
	"kubelab.io/client/freeport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/runtime"
)

// debianEtcd is the etcd server from Debian's etcd-server package (hack/tools.sh installs it).
const debianEtcd = "/usr/bin/etcd"

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

// startExternalEtcd runs Debian's etcd binary as a separate process, as a lab or CI would.
func startExternalEtcd(t *testing.T) string {
	return startExternalEtcdWith(t, "http", nil)
}

// startExternalEtcdWith starts etcd with extra flags; scheme "https" serves clients over TLS.
func startExternalEtcdWith(t *testing.T, scheme string, extra []string) string {
	t.Helper()
	if _, err := os.Stat(debianEtcd); err != nil {
		t.Skipf("external etcd not installed at %s (hack/tools.sh installs it)", debianEtcd)
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(debianEtcd,
		"--name", "test", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--logger", "zap", "--log-level", "error")
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "external etcd to serve", func() bool {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimPrefix(client, "http://"), "https://"), time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return client
}

func TestExternalEtcd(t *testing.T) {
	endpoint := startExternalEtcd(t)
	certs := t.TempDir()
	start := func() *Server {
		s, err := Start(context.Background(), Config{
			EtcdServers: []string{endpoint}, CertDir: certs, BindAddress: "127.0.0.1",
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatalf("start apiserver on external etcd: %v", err)
		}
		return s
	}
	s := start()
	c := adminClient(t, s)
	created := c.post(deployments, seedDeployment).must(t, http.StatusCreated).json(t)

	// The object is in etcd under Kubernetes' key layout, as protobuf, with the etcd
	// revision as its resourceVersion.
	resp, err := s.EtcdClient().Get(context.Background(), "/registry/deployments/default/example-deployment")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd get: %v %v", err, resp)
	}
	var stored appsv1.Deployment
	if err := runtime.UnmarshalProto(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatalf("stored value is not protobuf: %v", err)
	}
	if stored.GetSpec().GetReplicas() != 3 || stored.GetMetadata().GetResourceVersion() != "" {
		t.Errorf("stored = %v", &stored)
	}
	if rv := str(dig(created, "metadata", "resourceVersion")); rv != strconv.FormatInt(resp.Kvs[0].ModRevision, 10) {
		t.Errorf("resourceVersion %s, etcd mod revision %d", rv, resp.Kvs[0].ModRevision)
	}

	// A restarted apiserver finds everything, and the same certificates.
	s.Close()
	s2 := start()
	defer s2.Close()
	c2 := adminClient(t, s2)
	c2.get(deployments+"/example-deployment").must(t, http.StatusOK)
}

func TestGone(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	first := c.post(pods, podJSON("a", "")).must(t, http.StatusCreated).json(t)
	rv, _ := strconv.ParseInt(str(dig(first, "metadata", "resourceVersion")), 10, 64)
	for i := 0; i < 3; i++ {
		c.post(pods, podJSON(fmt.Sprintf("b%d", i), "")).must(t, http.StatusCreated)
	}
	if _, err := s.EtcdClient().Compact(context.Background(), rv+2); err != nil {
		t.Fatal(err)
	}
	// A list at a compacted revision is 410 Gone (reason Expired).
	st := c.get(pods+"?resourceVersion="+strconv.FormatInt(rv, 10)+"&resourceVersionMatch=Exact").must(t, http.StatusGone).json(t)
	if st["reason"] != "Expired" {
		t.Errorf("list at compacted rv: %v", st)
	}
	// A watch from before what the server's watch cache holds (here: from before a restart)
	// gets a 200, then one ERROR event with a 410, as Kubernetes answers.
	s = restart(t, s)
	c = adminClient(t, s)
	req, _ := http.NewRequest("GET", c.base+pods+"?watch=1&resourceVersion="+strconv.FormatInt(rv, 10), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatal("watch ended without an event")
	}
	var ev map[string]any
	if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["type"] != "ERROR" || dig(ev, "object", "code") != float64(410) {
		t.Errorf("event = %s", sc.Bytes())
	}
}

// TestExternalEtcdTLS: the apiserver reaches an etcd that serves clients over TLS and
// requires client certificates (--etcd-cafile, --etcd-certfile, --etcd-keyfile).
func TestExternalEtcdTLS(t *testing.T) {
	if _, err := os.Stat(debianEtcd); err != nil {
		t.Skipf("external etcd not installed at %s", debianEtcd)
	}
	// Borrow a CA, a serving certificate for 127.0.0.1 and a client certificate from the
	// apiserver's own PKI bootstrap.
	dir := t.TempDir()
	b, err := pki.Ensure(pki.Config{Dir: dir, AdvertiseURL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := b.IssueClientCert("kube-apiserver-etcd-client", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey := filepath.Join(dir, "etcd-client.crt"), filepath.Join(dir, "etcd-client.key")
	os.WriteFile(clientCert, certPEM, 0o600)
	os.WriteFile(clientKey, keyPEM, 0o600)
	endpoint := startExternalEtcdWith(t, "https", []string{
		"--cert-file", b.Paths.ServingCert, "--key-file", b.Paths.ServingKey,
		"--trusted-ca-file", b.Paths.CACert, "--client-cert-auth",
	})
	start := func(withCert bool) (*Server, error) {
		cfg := Config{
			EtcdServers: []string{endpoint}, CertDir: t.TempDir(), BindAddress: "127.0.0.1",
			EtcdCAFile: b.Paths.CACert,
			Log:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		}
		if withCert {
			cfg.EtcdCertFile, cfg.EtcdKeyFile = clientCert, clientKey
		}
		// Without a client certificate etcd refuses every connection; give up sooner.
		timeout := 10 * time.Second
		if !withCert {
			timeout = 2 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return Start(ctx, cfg)
	}
	if s, err := start(false); err == nil {
		s.Close()
		t.Fatal("apiserver started on a client-cert etcd without a client certificate")
	}
	s, err := start(true)
	if err != nil {
		t.Fatalf("start with etcd client TLS: %v", err)
	}
	defer s.Close()
	adminClient(t, s).post(deployments, seedDeployment).must(t, http.StatusCreated)
}
