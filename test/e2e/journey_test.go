package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJourney runs the whole journey on this machine, as `make up` does, with the same
// script (hack/local-up.sh): registry, a containerd of its own, per-component PKI, apiserver
// on embedded etcd, controller-manager, scheduler and kubelet as separate processes on free
// ports, and the seed Deployment. Then: every pod IP answers the nginx page; kill -9 of the
// kubelet loses and duplicates nothing; a deleted pod is replaced; scale to 0 leaves
// containerd empty. hack/local-down.sh tears it all down, also on failure.
//
// It needs root and a working containerd; it says why when it skips.
func TestJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("journey: -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("journey: needs root (containerd, CNI bridge, iptables); run `sudo make test` or `sudo go test ./test/e2e -run Journey`")
	}
	for _, c := range []string{"containerd", "runc", "ctr", "iptables", "skopeo", "openssl", "curl"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("journey: %s is missing; run hack/install-deps.sh (or make node-deps)", c)
		}
	}
	if _, err := os.Stat("/usr/bin/docker-registry"); err != nil {
		t.Skip("journey: /usr/bin/docker-registry is missing; run hack/install-deps.sh")
	}
	began := time.Now()
	c := newLocalCluster(t)

	// 1. local-up: everything up, node Ready, the seed Deployment rolled out (the script
	// itself checks 3 Ready pods answering 200; the test checks again below).
	t0 := time.Now()
	if out, err := c.script("local-up.sh", nil); err != nil {
		if strings.Contains(out, "containerd: did not come up") {
			t.Skipf("journey: containerd cannot start on this machine:\n%s", tail(out, 30))
		}
		t.Fatalf("local-up.sh: %v\n%s", err, tail(out, 60))
	}
	t.Logf("local-up.sh: %v (cluster up, seed Deployment rolled out, pods answered)", time.Since(t0).Round(time.Millisecond))

	pods := c.waitPods(t, 3, 60*time.Second)
	for _, p := range pods {
		c.expectNginx(t, p)
	}
	t.Logf("3 pods Running and Ready, each answering 200 with the nginx page: %s", podIPs(pods))

	// kubectl logs goes apiserver → kubelet (verified HTTPS, client certificates both
	// ways) and shows nginx's access-log line for the request just made.
	waitFor(t, 20*time.Second, "kubectl logs to show the access-log line", func() bool {
		out, err := c.kubectl("logs", pods[0].Metadata.Name)
		return err == nil && strings.Contains(out, `"GET / HTTP/1.1" 200`)
	})
	t.Logf("kubectl logs %s shows the request's access-log line", pods[0].Metadata.Name)

	// kubectl exec (the stock one, then kubelab's) goes the same way and on to
	// containerd's streaming server, with stdout, stderr, stdin and the exit code: a
	// websocket to the apiserver, SPDY from there on.
	c.expectExec(t, stockKubectl, pods[0])
	c.expectExec(t, filepath.Join(c.bin, "kubectl"), pods[0])
	t.Logf("kubectl exec %s (stock and kubelab's): stdout, stderr, stdin (-i) and exit code through apiserver, kubelet and containerd", pods[0].Metadata.Name)

	// kubectl port-forward and attach (the stock ones, then kubelab's) go the same way: a
	// GET through the forward answers nginx's page, and the attached output shows its
	// access-log line.
	c.expectPortForwardAndAttach(t, stockKubectl, pods[0])
	c.expectPortForwardAndAttach(t, filepath.Join(c.bin, "kubectl"), pods[0])

	// The kubelet filled each pod's kube-api-access volume (ServiceAccount admission added
	// it): a token the apiserver accepts as the pod's account, the cluster CA, the namespace.
	c.expectServiceAccountVolume(t, pods[0])

	// 2. kill -9 of the kubelet, restart: nothing lost, nothing duplicated, statuses converge.
	before := c.containersByPod(t)
	checkOnePerPod(t, before, pods)
	t0 = time.Now()
	c.killKubelet(t)
	if out, err := c.script("local-up.sh", map[string]string{"KUBELAB_APPLY": "0"}); err != nil {
		t.Fatalf("local-up.sh (restart the kubelet): %v\n%s", err, tail(out, 40))
	}
	time.Sleep(3 * time.Second) // a few PLEG relists and syncs of the restarted kubelet
	after := c.waitPods(t, 3, 60*time.Second)
	now := c.containersByPod(t)
	checkOnePerPod(t, now, after)
	for uid, ids := range before {
		if !equal(ids, now[uid]) {
			t.Errorf("pod %s: containers %v before the kubelet restart, %v after", uid, ids, now[uid])
		}
	}
	for _, p := range after {
		if p.restarts() != 0 {
			t.Errorf("pod %s: restartCount %d after a kubelet restart, want 0", p.Metadata.Name, p.restarts())
		}
		c.expectNginx(t, p)
	}
	t.Logf("kill -9 kubelet + restart: same %d containers, one per pod, all Ready again (%v)", len(now), time.Since(t0).Round(time.Millisecond))

	// 3. kubectl delete pod: the ReplicaSet replaces it, and its containers go.
	t0 = time.Now()
	victim := after[0]
	if out, err := c.kubectl("delete", "pod", victim.Metadata.Name, "--wait=true", "--timeout=60s"); err != nil {
		t.Fatalf("kubectl delete pod: %v\n%s", err, out)
	}
	replaced := c.waitPods(t, 3, 60*time.Second)
	for _, p := range replaced {
		if p.Metadata.UID == victim.Metadata.UID {
			t.Fatalf("deleted pod %s still listed", victim.Metadata.Name)
		}
	}
	waitFor(t, 30*time.Second, "the deleted pod's containers to go", func() bool {
		return len(c.containersByPod(t)[victim.Metadata.UID]) == 0
	})
	for _, p := range replaced {
		c.expectNginx(t, p)
	}
	t.Logf("kubectl delete pod %s: replaced by the ReplicaSet, 3 Ready again, its container removed (%v)", victim.Metadata.Name, time.Since(t0).Round(time.Millisecond))

	// 4. scale to 0: no pods, and no sandboxes or containers in containerd.
	t0 = time.Now()
	if out, err := c.kubectl("scale", "deployment", "example-deployment", "--replicas=0"); err != nil {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	waitFor(t, 60*time.Second, "no pods, and no sandboxes or containers in containerd", func() bool {
		return len(c.pods(t)) == 0 && c.criCount(t) == 0 && c.ctrContainers(t) == 0
	})
	t.Logf("scale to 0: no pods; CRI lists no sandboxes or containers, ctr no containers (%v)", time.Since(t0).Round(time.Millisecond))
	t.Logf("journey: %v in all (teardown follows)", time.Since(began).Round(time.Millisecond))
}

// localCluster is one hack/local-up.sh cluster in a temp dir.
type localCluster struct {
	dir, bin string
	env      []string
	sock     string
}

func newLocalCluster(t *testing.T) *localCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "kubelab-journey")
	if err != nil {
		t.Fatal(err)
	}
	c := &localCluster{dir: dir, bin: filepath.Join(dir, "bin"), sock: filepath.Join(dir, "containerd", "state", "containerd.sock")}
	// One bin dir with the binaries under test and kubelab-cri.
	if err := os.MkdirAll(c.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"apiserver", "controller-manager", "scheduler", "kubelet", "kubelab-cri", "kubectl"} {
		src := filepath.Join(binDir, name)
		if name == "kubelab-cri" && toolDir != "" {
			src = filepath.Join(toolDir, name)
		}
		if _, err := os.Stat(src); err != nil {
			continue // kubectl is optional: the scripts fall back to the stock one
		}
		if err := os.Symlink(src, filepath.Join(c.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Was the shared registry up before? local-up starts it; stop it again if it was not.
	registryUp := exec.Command(filepath.Join(repoRoot, "hack/node/registry.sh"), "status").Run() == nil
	c.env = append(os.Environ(),
		"KUBELAB_DIR="+dir,
		"KUBELAB_BIN="+c.bin,
		"KUBELAB_CONTAINERD=private", // its own containerd: never touches `make up`'s pods
		"KUBELAB_NODE_NAME=journey-node",
		"KUBELAB_CNI_BRIDGE=kljourney0",
		"KUBELAB_CLUSTER_CIDR=10.246.0.0/16",
		"KUBELAB_TIMEOUT=90",
		fmt.Sprintf("KUBELAB_API_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBELAB_GRPC_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBELAB_KUBELET_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBELAB_KUBELET_HEALTHZ_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBELAB_CM_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBELAB_SCHEDULER_PORT=%d", freePort(t)),
	)
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"apiserver", "controller-manager", "scheduler", "kubelet", "containerd"} {
				b, _ := os.ReadFile(filepath.Join(dir, "logs", name+".log"))
				t.Logf("---- %s.log (last lines)\n%s", name, tail(string(b), 25))
			}
			// Why the kubelet stopped or replaced anything, over the whole run: the last lines
			// rarely reach back to it.
			b, _ := os.ReadFile(filepath.Join(dir, "logs", "kubelet.log"))
			var why []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") ||
					strings.Contains(l, "reason=Killing") || strings.Contains(l, "reason=SandboxChanged") || strings.Contains(l, "kill") {
					why = append(why, l)
				}
			}
			t.Logf("---- kubelet.log: warnings, errors and kills\n%s", tail(strings.Join(why, "\n"), 40))
		}
		t0 := time.Now()
		out, err := c.script("local-down.sh", nil)
		if err != nil {
			t.Errorf("local-down.sh: %v\n%s", err, out)
		} else {
			t.Logf("local-down.sh: %v", time.Since(t0).Round(time.Millisecond))
		}
		if !registryUp {
			_ = exec.Command(filepath.Join(repoRoot, "hack/node/registry.sh"), "stop").Run()
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", "kljourney0")); err == nil {
			t.Errorf("local-down.sh left the bridge kljourney0")
		}
		if os.Getenv("KUBELAB_E2E_KEEP") == "" {
			if err := os.RemoveAll(dir); err != nil {
				t.Logf("remove %s: %v", dir, err)
			}
		}
	})
	return c
}

// script runs hack/NAME with the cluster's environment plus extra.
func (c *localCluster) script(name string, extra map[string]string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "hack", name))
	cmd.Dir = repoRoot
	cmd.Env = append([]string{}, c.env...)
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *localCluster) kubectl(args ...string) (string, error) {
	kubectl := filepath.Join(c.bin, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		kubectl = "kubectl"
	}
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", filepath.Join(c.dir, "pki", "admin.kubeconfig")}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// expectServiceAccountVolume reads p's kube-api-access projected volume on the node and
// checks its files: ca.crt is the cluster CA, namespace is "default", and the stock kubectl
// authenticates with token, and nothing else, as system:serviceaccount:default:default.
func (c *localCluster) expectServiceAccountVolume(t *testing.T, p pod) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(c.dir, "kubelet", "pods", p.Metadata.UID, "volumes", "kubernetes.io~projected", "kube-api-access-*"))
	if len(dirs) != 1 {
		t.Fatalf("pod %s: %d kube-api-access volumes on the node, want 1", p.Metadata.Name, len(dirs))
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatalf("pod %s: %v", p.Metadata.Name, err)
		}
		return string(b)
	}
	caPath := filepath.Join(c.dir, "pki", "ca.crt")
	ca, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	if read("ca.crt") != string(ca) {
		t.Errorf("pod %s: ca.crt is not the cluster CA", p.Metadata.Name)
	}
	if ns := read("namespace"); ns != "default" {
		t.Errorf("pod %s: namespace file = %q", p.Metadata.Name, ns)
	}
	server, err := c.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	if err != nil {
		t.Fatalf("kubectl config view: %v: %s", err, server)
	}
	cmd := exec.Command("/usr/bin/kubectl", "--server", strings.TrimSpace(server), "--certificate-authority", caPath,
		"--token", read("token"), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "system:serviceaccount:default:default" {
		t.Errorf("kubectl --token (pod %s's token) auth whoami: %v: %s", p.Metadata.Name, err, out)
	}
	t.Logf("pod %s's kube-api-access volume: the cluster CA, its namespace, and a token the apiserver takes as %s", p.Metadata.Name, out)
}

// pod is the part of a Pod the test reads.
type pod struct {
	Metadata struct {
		Name              string  `json:"name"`
		UID               string  `json:"uid"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			Ready        bool `json:"ready"`
			RestartCount int  `json:"restartCount"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (p pod) ready() bool {
	if p.Status.Phase != "Running" || p.Metadata.DeletionTimestamp != nil || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func (p pod) restarts() int {
	n := 0
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func (c *localCluster) pods(t *testing.T) []pod {
	t.Helper()
	out, err := c.kubectl("get", "pods", "-l", "app=example", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get pods: %v\n%s", err, out)
	}
	var list struct {
		Items []pod `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubectl get pods -o json: %v\n%s", err, out)
	}
	return list.Items
}

// waitPods waits until exactly n pods exist and all are Running and Ready.
func (c *localCluster) waitPods(t *testing.T, n int, within time.Duration) []pod {
	t.Helper()
	var last []pod
	waitFor(t, within, fmt.Sprintf("%d pods Running and Ready", n), func() bool {
		last = c.pods(t)
		if len(last) != n {
			return false
		}
		for _, p := range last {
			if !p.ready() {
				return false
			}
		}
		return true
	})
	return last
}

// expectNginx checks that pod p answers GET / with nginx's page. A pod without a
// readiness probe is Ready once its container has started, which can be
// a moment before nginx listens: a refused connection is retried for a few seconds, as any
// client of a fresh pod would.
func (c *localCluster) expectNginx(t *testing.T, p pod) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + p.Status.PodIP + "/")
	for deadline := time.Now().Add(5 * time.Second); err != nil && errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		resp, err = client.Get("http://" + p.Status.PodIP + "/")
	}
	if err != nil {
		t.Fatalf("GET pod %s at %s: %v", p.Metadata.Name, p.Status.PodIP, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Welcome to nginx!") {
		t.Fatalf("GET pod %s at %s: %d\n%s", p.Metadata.Name, p.Status.PodIP, resp.StatusCode, tail(string(body), 5))
	}
}

// containersByPod lists, through CRI (kubelab-cri ls), the kubelet's containers per pod uid.
func (c *localCluster) containersByPod(t *testing.T) map[string][]string {
	t.Helper()
	byPod := map[string][]string{}
	for _, f := range c.criList(t) {
		if f[0] == "container" {
			byPod[f[2]] = append(byPod[f[2]], f[1]+" "+f[4]) // id state
		}
	}
	for _, ids := range byPod {
		sort.Strings(ids)
	}
	return byPod
}

func (c *localCluster) criList(t *testing.T) [][]string {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "kubelab-cri"), "-endpoint", "unix://"+c.sock, "ls")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubelab-cri ls: %v\n%s", err, out)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) >= 5 {
			rows = append(rows, f)
		}
	}
	return rows
}

func (c *localCluster) criCount(t *testing.T) int { return len(c.criList(t)) }

// ctrContainers counts containers in containerd's k8s.io namespace, asked with ctr.
func (c *localCluster) ctrContainers(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ctr", "--address", c.sock, "-n", "k8s.io", "containers", "ls", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr containers ls: %v\n%s", err, out)
	}
	return len(strings.Fields(string(out)))
}

func (c *localCluster) killKubelet(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "run", "kubelet.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 kubelet (pid %d): %v", pid, err)
	}
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOnePerPod: every pod has exactly one container, running, on its first attempt.
func checkOnePerPod(t *testing.T, byPod map[string][]string, pods []pod) {
	t.Helper()
	if len(byPod) != len(pods) {
		t.Errorf("containers belong to %d pod uids, want %d: %v", len(byPod), len(pods), byPod)
	}
	for _, p := range pods {
		ids := byPod[p.Metadata.UID]
		if len(ids) != 1 || !strings.HasSuffix(ids[0], "CONTAINER_RUNNING") {
			t.Errorf("pod %s: containers %v, want exactly one running", p.Metadata.Name, ids)
		}
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func podIPs(pods []pod) string {
	var ips []string
	for _, p := range pods {
		ips = append(ips, p.Status.PodIP)
	}
	return strings.Join(ips, " ")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
