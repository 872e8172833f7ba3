package proxier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proxy/internal/iptables"
	"kubelab.io/proxy/internal/proxier"
	"kubelab.io/proxy/internal/proxytest"
	"kubelab.io/proxy/internal/rules"
)

// TestIntegrationNetns runs the proxier against a real apiserver and the real iptables
// tools in a network namespace of its own, with an HTTP server as the endpoint: the
// service answers on its cluster IP and node port through the kernel's NAT; an endpoint
// that goes is rejected; a proxier that starts over (kill -9 and restart) on a table
// someone changed meanwhile converges; Cleanup removes everything.
func TestIntegrationNetns(t *testing.T) {
	if !inNetns(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The endpoint: an HTTP server on 10.244.0.5:8080.
	ln, err := net.Listen("tcp", "10.244.0.5:8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "endpoint 10.244.0.5 saw %s", r.RemoteAddr)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	api := apiservertest.Start(t)
	cs := api.Clientset(true)
	svc := proxytest.Service("default", "web", "10.96.0.10", []proxytest.Port{{Port: 80, Target: 8080, NodePort: 30080}},
		proxytest.NodePort(corev1.ServiceTrafficPolicyCluster))
	if _, err := cs.Services("default").Create(ctx, svc); err != nil {
		t.Fatalf("create service: %v", err)
	}
	slice := proxytest.Slice("default", "web", "web-1", []proxytest.SlicePort{{Port: 8080}}, proxytest.Endpoint{IP: "10.244.0.5", Node: "node-a"})
	if _, err := cs.EndpointSlices("default").Create(ctx, slice); err != nil {
		t.Fatalf("create endpointslice: %v", err)
	}

	ipt := iptables.NewExec()
	stop := runProxier(t, ctx, cs, ipt)

	clusterIP, nodePort := "http://10.96.0.10/", "http://172.18.0.2:30080/"
	waitGet(t, clusterIP, "endpoint 10.244.0.5 saw")
	body := waitGet(t, nodePort, "endpoint 10.244.0.5 saw")
	t.Logf("cluster IP and node port answer through the rules: %q", body)
	save := iptablesSave(t)
	for _, want := range []string{
		"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
		"-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
		"-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
		"-j DNAT --to-destination 10.244.0.5:8080",
		"-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web\" -m tcp --dport 30080 -j " + rules.ExternalChain("default/web", "tcp"),
	} {
		if !strings.Contains(save, want) {
			t.Errorf("iptables-save lacks %q:\n%s", want, save)
		}
	}

	// The endpoint goes: the cluster IP is rejected (connection refused, not a timeout)
	// and its endpoint chain is deleted. (The apiserver's own "kubernetes" service has
	// rules too: only web's are looked at.)
	if _, err := cs.EndpointSlices("default").Delete(ctx, "web-1", nil); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, "10.96.0.10:80")
	save = iptablesSave(t)
	if !strings.Contains(save, `"default/web has no endpoints"`) || strings.Contains(save, "10.244.0.5:8080") {
		t.Errorf("after the endpoint went: want a REJECT and no KUBE-SEP chain:\n%s", save)
	}

	// kill -9: the proxier stops mid-life; meanwhile the endpoint is back, someone
	// removes a jump and a chain of a service deleted long ago lingers. A new proxier,
	// knowing nothing but the API, converges.
	stop()
	if _, err := cs.EndpointSlices("default").Create(ctx, slice); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-t", "nat", "-D", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		{"-t", "nat", "-N", "KUBE-SVC-STALESTALESTALE"},
		{"-t", "nat", "-A", "KUBE-SVC-STALESTALESTALE", "-j", "RETURN"},
	} {
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %v: %v: %s", args, err, out)
		}
	}
	stop = runProxier(t, ctx, cs, ipt)
	converged := func(save string) bool {
		return !strings.Contains(save, "KUBE-SVC-STALESTALESTALE") && strings.Contains(save, "10.244.0.5:8080") &&
			strings.Count(save, "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES") == 1
	}
	for deadline := time.Now().Add(20 * time.Second); !converged(save); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after a restart: want the stale chain gone, the endpoint back and one nat OUTPUT jump:\n%s", save)
		}
		save = iptablesSave(t)
	}
	waitGet(t, clusterIP, "endpoint 10.244.0.5 saw")

	// Someone flushes iptables: the canary (one in each of mangle, nat and filter) is
	// gone at the next check, and the rules come back at once.
	if save = iptablesSave(t); strings.Count(save, ":KUBE-PROXY-CANARY - [0:0]") != 3 {
		t.Fatalf("want KUBE-PROXY-CANARY in mangle, nat and filter:\n%s", save)
	}
	for _, table := range []string{"mangle", "nat", "filter"} {
		for _, op := range []string{"-F", "-X"} {
			if out, err := exec.Command("iptables", "-t", table, op).CombinedOutput(); err != nil {
				t.Fatalf("iptables -t %s %s: %v: %s", table, op, err, out)
			}
		}
	}
	waitGet(t, clusterIP, "endpoint 10.244.0.5 saw")
	for deadline := time.Now().Add(20 * time.Second); strings.Count(save, ":KUBE-PROXY-CANARY - [0:0]") != 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("canaries not set up again after the flush:\n%s", save)
		}
		save = iptablesSave(t)
	}
	stop()

	// --cleanup: nothing of the proxy's is left.
	if err := proxier.Cleanup(ctx, ipt); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if save = iptablesSave(t); strings.Contains(save, "KUBE-") {
		t.Errorf("after Cleanup:\n%s", save)
	}
	// A second cleanup finds nothing to do.
	if err := proxier.Cleanup(ctx, ipt); err != nil {
		t.Fatalf("Cleanup again: %v", err)
	}
}

// runProxier starts a proxier (node-a, pods in 10.244.0.0/16) with its own informers and
// returns what stops it.
func runProxier(t *testing.T, ctx context.Context, cs *kube.Clientset, ipt iptables.Interface) (stop func()) {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("KUBELAB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	p, err := proxier.New(proxier.Config{
		NodeName: "node-a", Rules: rules.Config{ClusterCIDR: "10.244.0.0/16"},
		MinSyncPeriod: 50 * time.Millisecond, SyncPeriod: 5 * time.Second, IPTables: ipt, Log: log,
	}, factory)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once bool
	return func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxier: %v", err)
		}
		factory.Shutdown()
	}
}

func iptablesSave(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	return string(out)
}

// waitGet GETs url until the body contains want (the rules may not be there yet).
func waitGet(t *testing.T, url, want string) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(b); strings.Contains(last, want) {
			return last
		}
	}
	t.Fatalf("GET %s: never answered %q; last: %s\n%s", url, want, last, iptablesSave(t))
	return ""
}

// waitRefused dials addr until the connection is refused (the REJECT rule).
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if last = err; errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
	}
	t.Fatalf("dial %s: never refused; last: %v\n%s", addr, last, iptablesSave(t))
}
