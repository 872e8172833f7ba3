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
	"testing"
	"time"

	"kubelab.io/apiserver/internal/storage"
	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/runtime"
)

// debianEtcd is the etcd server from Debian's etcd-server package (hack/tools.sh installs it).
const debianEtcd = "/usr/bin/etcd"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startExternalEtcd runs Debian's etcd binary as a separate process, as a lab or CI would.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(debianEtcd); err != nil {
		t.Skipf("external etcd not installed at %s (hack/tools.sh installs it)", debianEtcd)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(debianEtcd,
		"--name", "test", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--logger", "zap", "--log-level", "error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c, err := storage.NewClient([]string{client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "external etcd to serve", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Get(ctx, "health")
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
	dir := s.cfg.DataDir
	s.Close()
	s, err := Start(context.Background(), Config{DataDir: dir, BindAddress: "127.0.0.1", UnsafeNoFsync: true, Log: s.log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
