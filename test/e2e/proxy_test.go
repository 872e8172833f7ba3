package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proxyNetnsEnv marks the copy of this test binary that runs inside its own network
// namespace.
const proxyNetnsEnv = "KUBELAB_E2E_PROXY_NETNS"

// proxyBinEnv names the proxy binary to the child.
const proxyBinEnv = "KUBELAB_E2E_PROXY_BIN"

// The node of TestProxyServiceOnContainerd, inside its network namespace.
const (
	proxyNode        = "proxy-e2e"
	proxyNodeIP      = "172.30.0.2"
	proxyClusterCIDR = "10.247.0.0/16"
	proxyDir         = "/var/lib/kubelab/proxy-e2e"
	proxyState       = "/run/kubelab/proxy-e2e"
)

// TestProxyServiceOnContainerd: a one-node cluster of the built binaries (apiserver,
// controller-manager with the endpointslice controller, scheduler, kubelet on a private
// containerd, and the proxy beside the kubelet with the node's credentials), all in a
// network namespace of their own, so the proxy's and the CNI bridge's iptables rules never
// touch the host's. The seed Deployment and a NodePort Service selecting it: the
// Service's cluster IP answers nginx's page from the node and from inside a pod (through
// the bridge, hairpin included), and its node port from the node; kill -9 of the proxy
// while a pod is replaced, then a restart, converges on the new endpoints; scaled to 0,
// the cluster IP refuses connections.
//
// It needs root, containerd, iptables and the offline images (make images); it says why
// when it skips.
func TestProxyServiceOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("proxy e2e: -short")
	}
	if os.Getenv(proxyNetnsEnv) != "1" {
		runInNetns(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := startProxyCluster(t)

	manifest, err := os.ReadFile(filepath.Join(repoRoot, "deploy/examples/nginx-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	service := "apiVersion: v1\nkind: Service\nmetadata:\n  name: example\nspec:\n  type: NodePort\n  selector:\n    app: example\n  ports:\n  - port: 80\n    targetPort: 80\n"
	if out, err := c.kubectlIn(string(manifest)+"\n---\n"+service, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	clusterIP := c.mustKubectl(t, "get", "service", "example", "-o", "jsonpath={.spec.clusterIP}")
	nodePort := c.mustKubectl(t, "get", "service", "example", "-o", "jsonpath={.spec.ports[0].nodePort}")
	t.Logf("service example: cluster IP %s, node port %s", clusterIP, nodePort)

	podIPs := c.waitEndpoints(t, 3, 4*time.Minute)
	t.Logf("3 pods Ready, the endpointslice controller lists them: %v", podIPs)

	// From the node: the cluster IP and the node port.
	waitHTTP(t, ctx, "http://"+clusterIP+"/", 30*time.Second)
	for i := 0; i < 6; i++ {
		waitHTTP(t, ctx, "http://"+clusterIP+"/", 5*time.Second)
	}
	waitHTTP(t, ctx, "http://"+proxyNodeIP+":"+nodePort+"/", 10*time.Second)
	t.Logf("from the node: http://%s/ and http://%s:%s/ answer nginx's page", clusterIP, proxyNodeIP, nodePort)

	// From inside a pod: through the CNI bridge and PREROUTING; with three endpoints,
	// some of the twelve requests go back to the asking pod itself (hairpin).
	pid := c.podPID(t)
	for i := 0; i < 12; i++ {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "http://"+clusterIP+"/").CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Fatalf("curl http://%s/ in the network namespace of a pod (pid %d): %v: %s\n%s", clusterIP, pid, err, out, c.iptablesSave(t))
		}
	}
	t.Logf("from a pod's network namespace: 12 of 12 GETs of http://%s/ answered 200", clusterIP)

	// /healthz and /metrics.
	if body := httpBody(t, "http://127.0.0.1:10256/healthz"); !strings.Contains(body, "lastUpdated") {
		t.Errorf("proxy /healthz: %s", body)
	}
	if body := httpBody(t, "http://127.0.0.1:10249/metrics"); !strings.Contains(body, `kubeproxy_sync_proxy_rules_iptables_total{table="nat"}`) {
		t.Errorf("proxy /metrics lacks the rules count:\n%s", tail(body, 20))
	}

	// kill -9 the proxy; replace a pod meanwhile; restart: the rules follow the API.
	c.kill(t, "proxy", syscall.SIGKILL)
	victim := c.mustKubectl(t, "get", "pods", "-l", "app=example", "-o", "jsonpath={.items[0].metadata.name}")
	if out, err := c.kubectl("delete", "pod", victim, "--wait=true", "--timeout=90s"); err != nil {
		t.Fatalf("kubectl delete pod: %v\n%s", err, out)
	}
	podIPs = c.waitEndpoints(t, 3, 2*time.Minute)
	c.startProxy(t)
	waitFor(t, 30*time.Second, "the restarted proxy's rules to DNAT to exactly the current pods", func() bool {
		return slices.Equal(dnatTargets(c.iptablesSave(t)), podIPs)
	})
	waitHTTP(t, ctx, "http://"+clusterIP+"/", 10*time.Second)
	t.Logf("kill -9 proxy, pod %s replaced meanwhile, restart: rules DNAT to %v, the cluster IP answers", victim, podIPs)

	// Scale to 0: no endpoints, the cluster IP is rejected.
	if out, err := c.kubectl("scale", "deployment", "example-deployment", "--replicas=0"); err != nil {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	// The pods' own refusals while they terminate also answer "refused": wait for the
	// proxy's REJECT rule first, then for the refusal it gives.
	waitFor(t, 90*time.Second, "a REJECT rule for the service without endpoints", func() bool {
		return strings.Contains(c.iptablesSave(t), `"default/example has no endpoints"`)
	})
	waitFor(t, 30*time.Second, "the cluster IP to refuse connections", func() bool {
		out, _ := exec.Command("curl", "-sS", "-o", "/dev/null", "--max-time", "2", "http://"+clusterIP+"/").CombinedOutput()
		return strings.Contains(string(out), "Connection refused") || strings.Contains(string(out), "Couldn't connect")
	})
	t.Logf("scaled to 0: http://%s/ is refused (REJECT in filter KUBE-SERVICES)", clusterIP)

	// proxy --cleanup: every rule and chain of the proxy goes; the CNI plugin's stay.
	c.kill(t, "proxy", syscall.SIGTERM)
	if out, err := exec.Command(c.bin("proxy"), "--cleanup").CombinedOutput(); err != nil {
		t.Fatalf("proxy --cleanup: %v\n%s", err, out)
	}
	if save := c.iptablesSave(t); strings.Contains(save, "KUBE-") || !strings.Contains(save, "CNI-") {
		t.Errorf("after proxy --cleanup: want no KUBE- chain or rule, and the CNI plugin's left:\n%s", save)
	}
	t.Logf("proxy --cleanup: no KUBE- chain or rule left")
}

// runInNetns re-runs this test under `unshare -n` after checking what it needs, and
// reports the child's output.
func runInNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("proxy e2e: needs root (network namespace, containerd, iptables); sudo go test ./test/e2e -run ProxyService")
	}
	for _, c := range []string{"unshare", "nsenter", "ip", "iptables", "iptables-save", "containerd", "runc", "ctr", "curl", "openssl"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("proxy e2e: %s is missing (make node-deps)", c)
		}
	}
	if tars, _ := filepath.Glob(filepath.Join(repoRoot, ".local/images/*.tar")); len(tars) == 0 {
		t.Skip("proxy e2e: no offline images in .local/images (make images)")
	}
	proxy := filepath.Join(binDir, "proxy")
	if _, err := os.Stat(proxy); err != nil {
		// TestMain builds the four binaries of the other suites; build the proxy here.
		proxy = filepath.Join(t.TempDir(), "proxy")
		build := exec.Command("go", "build", "-o", proxy, "./proxy/cmd/proxy")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./proxy/cmd/proxy: %v\n%s", err, out)
		}
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=9m")
	cmd.Env = append(os.Environ(), proxyNetnsEnv+"=1", "KUBELAB_BIN="+binDir, proxyBinEnv+"="+proxy)
	out, err := cmd.CombinedOutput()
	// The failures first (the log dumps that follow them would push them out of the tail).
	var failures []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "proxy_test.go:") && !strings.Contains(line, "---- ") {
			failures = append(failures, line)
		}
	}
	t.Logf("in a network namespace of its own (unshare -n):\n%s\n...\n%s", strings.Join(failures, "\n"), tail(string(out), 80))
	if err != nil {
		t.Fatalf("unshare -n %s: %v", t.Name(), err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped inside the network namespace")
	}
}

// proxyCluster is the one-node cluster of TestProxyServiceOnContainerd.
type proxyCluster struct {
	dir, pki, sock, tool string
	procs                map[string]*exec.Cmd
}

func (c *proxyCluster) bin(name string) string {
	if p := os.Getenv(proxyBinEnv); name == "proxy" && p != "" {
		return p
	}
	if name == "kubelab-cri" && toolDir != "" {
		return filepath.Join(toolDir, name)
	}
	return filepath.Join(binDir, name)
}

// startProxyCluster brings up the namespace's network (lo, and a veth kpe0 with the node
// IP and the default route), the PKI, a containerd, and every component.
func startProxyCluster(t *testing.T) *proxyCluster {
	t.Helper()
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "kpe0", "type", "veth", "peer", "name", "kpe1"},
		{"addr", "add", proxyNodeIP + "/24", "dev", "kpe0"},
		{"link", "set", "kpe0", "up"},
		{"link", "set", "kpe1", "up"},
		{"route", "add", "default", "dev", "kpe0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	c := &proxyCluster{dir: proxyDir, pki: filepath.Join(proxyDir, "pki"), sock: proxyState + "/containerd/containerd.sock", procs: map[string]*exec.Cmd{}}
	_ = os.RemoveAll(proxyDir)
	_ = os.RemoveAll(proxyState)
	for _, d := range []string{filepath.Join(c.dir, "logs"), filepath.Join(c.dir, "net.d"), filepath.Join(c.dir, "pods"), proxyState + "/containerd"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.stop(t) })

	pki := exec.Command(filepath.Join(repoRoot, "hack/pki.sh"), c.pki, "https://127.0.0.1:6443", proxyNode+"="+proxyNodeIP)
	pki.Env = append(os.Environ(), "PKI_HOST_IP="+proxyNodeIP)
	if out, err := pki.CombinedOutput(); err != nil {
		t.Fatalf("hack/pki.sh: %v\n%s", err, out)
	}

	// containerd: the node's config, with its paths moved under proxyDir and proxyState.
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, "deploy/node/containerd-config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"/var/lib/kubelab/containerd", c.dir+"/containerd",
		"/run/kubelab/containerd", proxyState+"/containerd",
		"/etc/cni/net.d", c.dir+"/net.d",
		"/etc/kubelab/containerd/certs.d", c.dir+"/certs.d",
	).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(c.dir, "containerd.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c.start(t, "containerd", "containerd", "--config", filepath.Join(c.dir, "containerd.toml"))
	waitFor(t, 20*time.Second, "containerd to answer", func() bool {
		return exec.Command("ctr", "--address", c.sock, "version").Run() == nil
	})

	c.start(t, "apiserver", c.bin("apiserver"), "--data-dir", c.dir, "--cert-dir", c.pki+"/apiserver",
		"--secure-port", "6443", "--grpc-port", "6444", "--advertise-address", proxyNodeIP)
	waitFor(t, 60*time.Second, "the apiserver's /readyz", func() bool {
		_, err := c.kubectl("get", "--raw", "/readyz")
		return err == nil
	})
	kc := c.pki + "/kubeconfigs/"
	c.start(t, "controller-manager", c.bin("controller-manager"), "--kubeconfig", kc+"controller-manager.kubeconfig",
		"--grpc-address", "127.0.0.1:6444", "--cluster-cidr", proxyClusterCIDR, "--bind-address", "127.0.0.1", "--secure-port", "10257")
	c.start(t, "scheduler", c.bin("scheduler"), "--kubeconfig", kc+"scheduler.kubeconfig",
		"--grpc-address", "127.0.0.1:6444", "--bind-address", "127.0.0.1", "--secure-port", "10259")
	c.start(t, "kubelet", c.bin("kubelet"), "--kubeconfig", kc+"kubelet-"+proxyNode+".kubeconfig", "--grpc-address", "127.0.0.1:6444",
		"--hostname-override", proxyNode, "--node-ip", proxyNodeIP, "--container-runtime-endpoint", "unix://"+c.sock,
		"--cni-bridge", "klproxy0", "--cni-conf-dir", c.dir+"/net.d", "--root-dir", c.dir+"/kubelet", "--pod-log-dir", c.dir+"/pods",
		"--port", "10250", "--healthz-port", "10248", "--preload-images", filepath.Join(repoRoot, ".local/images"),
		"--tls-cert-file", c.pki+"/certs/kubelet-"+proxyNode+"-serving.crt", "--tls-private-key-file", c.pki+"/certs/kubelet-"+proxyNode+"-serving.key",
		"--client-ca-file", c.pki+"/ca.crt")
	c.startProxy(t)
	waitFor(t, 90*time.Second, "node "+proxyNode+" Ready", func() bool {
		out, err := c.kubectl("get", "node", proxyNode, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && out == "True"
	})
	return c
}

// startProxy runs the proxy as a node runs it: with the kubelet's credentials.
func (c *proxyCluster) startProxy(t *testing.T) {
	c.start(t, "proxy", c.bin("proxy"), "--kubeconfig", c.pki+"/kubeconfigs/kubelet-"+proxyNode+".kubeconfig",
		"--grpc-address", "127.0.0.1:6444", "--hostname-override", proxyNode, "--cluster-cidr", proxyClusterCIDR,
		"--min-sync-period", "200ms", "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249")
}

func (c *proxyCluster) start(t *testing.T, name, path string, args ...string) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	logf.Close()
	c.procs[name] = cmd
}

func (c *proxyCluster) kill(t *testing.T, name string, sig syscall.Signal) {
	t.Helper()
	cmd := c.procs[name]
	if cmd == nil {
		return
	}
	delete(c.procs, name)
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// stop removes the pods through CRI (their network namespaces are bind mounts on the
// host's /run/netns until their sandboxes go), then stops every process and removes the
// directories. The network namespace, bridge and iptables rules go with this process.
func (c *proxyCluster) stop(t *testing.T) {
	if t.Failed() {
		for _, name := range []string{"apiserver", "controller-manager", "kubelet", "proxy"} {
			b, _ := os.ReadFile(filepath.Join(c.dir, "logs", name+".log"))
			t.Logf("---- %s.log (last lines)\n%s", name, tail(string(b), 25))
		}
	}
	for _, name := range []string{"proxy", "kubelet", "scheduler", "controller-manager"} {
		c.kill(t, name, syscall.SIGTERM)
	}
	if out, err := exec.Command(c.bin("kubelab-cri"), "-endpoint", "unix://"+c.sock, "-log-root", c.dir+"/pods", "rm").CombinedOutput(); err != nil {
		t.Errorf("kubelab-cri rm: %v\n%s", err, out)
	}
	c.kill(t, "apiserver", syscall.SIGTERM)
	c.kill(t, "containerd", syscall.SIGTERM)
	if os.Getenv("KUBELAB_E2E_KEEP") == "" {
		// containerd's snapshots may still be mounted for a moment after it exits.
		_ = exec.Command("sh", "-c", "grep -o ' "+c.dir+"/containerd[^ ]*' /proc/mounts | xargs -r -n1 umount -l").Run()
		_ = os.RemoveAll(c.dir)
		_ = os.RemoveAll(proxyState)
		_ = os.RemoveAll("/var/lib/cni/networks/klproxy0") // host-local IPAM's reservations
	}
}

func (c *proxyCluster) kubectl(args ...string) (string, error) { return c.kubectlIn("", args...) }

func (c *proxyCluster) kubectlIn(stdin string, args ...string) (string, error) {
	cmd := exec.Command(stockKubectl, append([]string{"--kubeconfig", c.pki + "/admin.kubeconfig"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func (c *proxyCluster) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectl(args...)
	if err != nil || out == "" {
		t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// waitEndpoints waits until n pods are Ready and the Service's EndpointSlices list exactly
// their IPs as ready, and returns them sorted.
func (c *proxyCluster) waitEndpoints(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	var pods, eps []string
	waitFor(t, within, fmt.Sprintf("%d Ready pods, and the service's EndpointSlices listing them", n), func() bool {
		out, err := c.kubectl("get", "pods", "-l", "app=example", "-o",
			`jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}/{.status.podIP}/{.metadata.deletionTimestamp}{"\n"}{end}`)
		if err != nil {
			return false
		}
		pods = nil
		for _, l := range strings.Fields(out) {
			if f := strings.Split(l, "/"); len(f) == 3 && f[0] == "True" && f[1] != "" && f[2] == "" {
				pods = append(pods, f[1])
			}
		}
		out, err = c.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=example", "-o",
			`jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}`)
		if err != nil {
			return false
		}
		eps = strings.Fields(out)
		slices.Sort(pods)
		slices.Sort(eps)
		return len(pods) == n && slices.Equal(pods, eps)
	})
	return eps
}

// podPID is the pid of a running container of a pod, to enter its network namespace.
func (c *proxyCluster) podPID(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ctr", "--address", c.sock, "-n", "k8s.io", "tasks", "ls").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "RUNNING" {
			if pid, err := strconv.Atoi(f[1]); err == nil && pid > 0 {
				return pid
			}
		}
	}
	t.Fatalf("no running task in containerd:\n%s", out)
	return 0
}

func (c *proxyCluster) iptablesSave(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v\n%s", err, out)
	}
	return string(out)
}

var dnatRE = regexp.MustCompile(`comment "default/example" -m tcp -j DNAT --to-destination ([0-9.]+):80`)

// dnatTargets are the pod IPs the rules send the example service to, sorted.
func dnatTargets(save string) []string {
	var ips []string
	for _, m := range dnatRE.FindAllStringSubmatch(save, -1) {
		ips = append(ips, m[1])
	}
	slices.Sort(ips)
	return ips
}

// waitHTTP GETs url until it answers 200 with nginx's page.
func waitHTTP(t *testing.T, ctx context.Context, url string, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	var last string
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), "Welcome to nginx!") {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, tail(string(b), 3))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
			t.Fatalf("GET %s: no nginx page within %v; last: %s\n%s", url, within, last, out)
		}
	}
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
