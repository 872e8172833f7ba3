package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClusterDNSOnContainerd brings a cluster up with hack/local-up.sh as `make up` does,
// the cluster DNS addon included (deploy/addons/dns.yaml: two coredns pods of the
// kubelab/dns image, reaching the apiserver from inside their pods, and the kube-dns
// Service at 10.96.0.10), and the kubelet's --cluster-dns. From inside a seed nginx pod, with
// its resolv.conf and Go's resolver (kubelab-tool lookup): kubernetes.default.svc.cluster.local
// is 10.96.0.1, and a Service of the seed Deployment resolves by its full name and by its
// short name through the pod's search path. A DNS pod deleted is replaced, and the new one
// answers from a fresh watch.
//
// local-up runs no node proxy yet, so nothing carries 10.96.0.10 to the DNS pods: the
// lookups ask each DNS pod's own IP, with the pod's search path and ndots; when a proxy runs
// (run/proxy.pid alive) they also go through the pod's own nameserver, 10.96.0.10.
//
// It needs root, containerd and the tools the journey needs; it says why when it skips.
func TestClusterDNSOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("dns e2e: -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("dns e2e: needs root (containerd, CNI bridge, iptables); run `sudo go test ./test/e2e -run ClusterDNS`")
	}
	for _, c := range []string{"containerd", "runc", "ctr", "iptables", "skopeo", "openssl", "curl"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("dns e2e: %s is missing; run hack/install-deps.sh (or make node-deps)", c)
		}
	}
	if _, err := os.Stat("/usr/bin/docker-registry"); err != nil {
		t.Skip("dns e2e: /usr/bin/docker-registry is missing; run hack/install-deps.sh")
	}
	c := newLocalCluster(t)
	c.env = append(c.env, "KUBELAB_DNS=1")
	if err := os.Symlink(dnsBinary(t), filepath.Join(c.bin, "dns")); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	if out, err := c.script("local-up.sh", nil); err != nil {
		if strings.Contains(out, "containerd: did not come up") {
			t.Skipf("dns e2e: containerd cannot start on this machine:\n%s", tail(out, 30))
		}
		t.Fatalf("local-up.sh: %v\n%s", err, tail(out, 60))
	}
	t.Logf("local-up.sh: %v (cluster, DNS addon rolled out, seed Deployment)", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.kubectl("-n", "kube-system", "logs", "-l", "k8s-app=kube-dns", "--tail", "20")
			t.Logf("---- DNS pods' logs\n%s", out)
		}
	})

	service := filepath.Join(t.TempDir(), "service.yaml")
	if err := os.WriteFile(service, []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: example\nspec:\n  selector:\n    app: example\n  ports:\n  - name: http\n    port: 80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.kubectl("apply", "-f", service); err != nil {
		t.Fatalf("kubectl apply service: %v\n%s", err, out)
	}
	exampleIP := c.mustGet(t, "get", "service", "example", "-o", "jsonpath={.spec.clusterIP}")
	if ip := c.mustGet(t, "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"); ip != "10.96.0.10" {
		t.Fatalf("kube-dns at %q, want 10.96.0.10", ip)
	}
	pods := c.waitPods(t, 3, 60*time.Second)
	client := pods[0].Metadata.Name

	// The kubelet wrote the pod's resolv.conf for ClusterFirst.
	resolv := c.mustGet(t, "exec", client, "--", "/usr/local/bin/kubelab-tool", "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.96.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local", "ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("pod %s's resolv.conf lacks %q:\n%s", client, want, resolv)
		}
	}

	dnsIPs := c.dnsPodIPs(t, 2)
	for _, ip := range dnsIPs {
		c.expectLookup(t, client, ip+":53", "kubernetes.default.svc.cluster.local", "10.96.0.1")
		c.expectLookup(t, client, ip+":53", "example.default.svc.cluster.local", exampleIP)
		c.expectLookup(t, client, ip+":53", "example", exampleIP)              // search path: example.default.svc.cluster.local
		c.expectLookup(t, client, ip+":53", "kubernetes.default", "10.96.0.1") // search path: kubernetes.default.svc.cluster.local
	}
	t.Logf("from pod %s, through each DNS pod (%v): kubernetes.default.svc.cluster.local = 10.96.0.1, example (short and full) = %s", client, dnsIPs, exampleIP)
	if pidAlive(filepath.Join(c.dir, "run", "proxy.pid")) {
		c.expectLookup(t, client, "", "example", exampleIP)
		t.Logf("through the pod's own nameserver 10.96.0.10 (a node proxy runs): example = %s", exampleIP)
	} else {
		t.Logf("no node proxy runs in local-up: the lookups asked the DNS pods' own IPs, not 10.96.0.10")
	}

	// Crash-only: a deleted DNS pod is replaced; the new one lists and watches afresh.
	victim := c.mustGet(t, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[0].metadata.name}")
	if out, err := c.kubectl("-n", "kube-system", "delete", "pod", victim, "--wait=true", "--timeout=60s"); err != nil {
		t.Fatalf("kubectl delete pod %s: %v\n%s", victim, err, out)
	}
	if out, err := c.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=90s"); err != nil {
		t.Fatalf("rollout status coredns: %v\n%s", err, out)
	}
	after := c.dnsPodIPs(t, 2)
	for _, ip := range after {
		if !slices.Contains(dnsIPs, ip) {
			c.expectLookup(t, client, ip+":53", "example", exampleIP)
			t.Logf("DNS pod %s deleted: its replacement at %s answers", victim, ip)
		}
	}
}

// dnsBinary is the dns command under test: $KUBELAB_BIN's, else a fresh build.
func dnsBinary(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(binDir, "dns"); exec.Command("test", "-x", p).Run() == nil {
		return p
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./dns/cmd/dns")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./dns/cmd/dns: %v\n%s", err, out)
	}
	return filepath.Join(dir, "dns")
}

// pidAlive reports whether the pid file names a live process.
func pidAlive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	return exec.Command("kill", "-0", strings.TrimSpace(string(b))).Run() == nil
}

func (c *localCluster) mustGet(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// dnsPodIPs waits until n DNS pods are Ready and returns their IPs.
func (c *localCluster) dnsPodIPs(t *testing.T, n int) []string {
	t.Helper()
	var ips []string
	waitFor(t, 90*time.Second, "the DNS pods to be Ready", func() bool {
		out, err := c.kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o",
			`jsonpath={range .items[*]}{.status.podIP}/{.status.conditions[?(@.type=="Ready")].status}/{.metadata.deletionTimestamp}{" "}{end}`)
		if err != nil {
			return false
		}
		ips = nil
		for _, f := range strings.Fields(out) {
			p := strings.Split(f, "/")
			if len(p) == 3 && p[0] != "" && p[1] == "True" && p[2] == "" {
				ips = append(ips, p[0])
			}
		}
		return len(ips) == n
	})
	return ips
}

// expectLookup runs kubelab-tool lookup in pod (asking server, or the pod's resolv.conf
// nameservers when empty) and wants exactly the address want. A fresh Service may take a
// watch event to reach the DNS pod: a few seconds of retries.
func (c *localCluster) expectLookup(t *testing.T, pod, server, name, want string) {
	t.Helper()
	args := []string{"exec", pod, "--", "/usr/local/bin/kubelab-tool", "lookup"}
	if server != "" {
		args = append(args, "-server", server)
	}
	args = append(args, name)
	var out string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, err = c.kubectl(args...)
		if err == nil && strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("in pod %s: lookup %s (server %q): %v %q, want %s", pod, name, server, err, strings.TrimSpace(out), want)
}
