package server

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stockKubectl is the upstream kubectl every machine of this kind has; kubelab must serve it.
const stockKubectl = "/usr/bin/kubectl"

func kubectl(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	out, err := kubectlErr(t, s, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func kubectlErr(t *testing.T, s *Server, args ...string) (string, error) {
	t.Helper()
	return kubectlAs(t, s.AdminKubeconfig(), args...)
}

// kubectlAs runs the stock kubectl as the user of kubeconfig.
func kubectlAs(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, stockKubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(t.TempDir(), "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// seedServer starts a server for the stock kubectl (skipping the test where there is none)
// and returns the path of the seed manifest, the Deployment kubelab's journey starts from.
func seedServer(t *testing.T) (*Server, string) {
	t.Helper()
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	seed, err := filepath.Abs("../../../deploy/examples/nginx-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return testServer(t), seed
}

func TestStockKubectl(t *testing.T) {
	s, seed := seedServer(t)

	out := kubectl(t, s, "create", "-f", seed)
	if !strings.Contains(out, "deployment.apps/example-deployment created") {
		t.Errorf("create: %s", out)
	}
	c := adminClient(t, s)
	c.post(pods, podJSON("web-0", "")).must(t, 201)

	out = kubectl(t, s, "get", "deployments,pods", "-A")
	for _, want := range []string{"example-deployment", "web-0", "default"} {
		if !strings.Contains(out, want) {
			t.Errorf("get -A lacks %q:\n%s", want, out)
		}
	}
	out = kubectl(t, s, "get", "deployment", "example-deployment", "-o", "yaml")
	for _, want := range []string{"apiVersion: apps/v1", "kind: Deployment", "image: nginx:1.14.2", "replicas: 3", "uid:"} {
		if !strings.Contains(out, want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, out)
		}
	}

	// get -w prints the pods there are, then new ones as they come.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, stockKubectl, "--kubeconfig", s.AdminKubeconfig(), "--cache-dir", filepath.Join(t.TempDir(), "cache"), "get", "pods", "-w", "--no-headers")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expectLine(t, lines, "web-0")
	c.post(pods, podJSON("web-1", "")).must(t, 201)
	expectLine(t, lines, "web-1")
	cancel()
	_ = cmd.Wait()

	out = kubectl(t, s, "get", "--raw", "/apis/apps/v1/namespaces/default/deployments/example-deployment")
	if !strings.Contains(out, `"name":"example-deployment"`) {
		t.Errorf("get --raw: %s", out)
	}
	ns := filepath.Join(t.TempDir(), "ns.json")
	os.WriteFile(ns, []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"raw"}}`), 0o644)
	out = kubectl(t, s, "create", "--raw", "/api/v1/namespaces", "-f", ns)
	if !strings.Contains(out, `"name":"raw"`) {
		t.Errorf("create --raw: %s", out)
	}

	out = kubectl(t, s, "delete", "deployment", "example-deployment")
	if !strings.Contains(out, `deployment.apps "example-deployment" deleted`) {
		t.Errorf("delete: %s", out)
	}
	out, err := kubectlErr(t, s, "get", "deployment", "example-deployment")
	if err == nil || !strings.Contains(out, `Error from server (NotFound): deployments.apps "example-deployment" not found`) {
		t.Errorf("get after delete: %v %s", err, out)
	}
}

func expectLine(t *testing.T, lines <-chan string, word string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl get -w ended before printing %s", word)
			}
			if strings.HasPrefix(l, word+" ") {
				return
			}
		case <-timeout:
			t.Fatalf("kubectl get -w did not print %s", word)
		}
	}
}

// TestStockKubectlDrain drains a node with the stock kubectl, which finds pods/eviction in
// discovery and evicts through it (not by deleting) before it waits for the pods to go.
func TestStockKubectlDrain(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"}}`).must(t, 201)
	for _, name := range []string{"web-0", "web-1"} {
		c.post(pods, podJSON(name, "")).must(t, 201)
		c.post(pods+"/"+name+"/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"`+name+`"},"target":{"kind":"Node","name":"node-1"}}`).must(t, 201)
	}
	kubectlDrainDryRun(t, s, c)
	// No kubelet confirms graceful deletions here, so the drain asks for grace period 0.
	out := kubectl(t, s, "drain", "node-1", "--force", "--grace-period=0", "--timeout=30s")
	for _, want := range []string{"node/node-1 cordoned", "evicting pod default/web-0", "pod/web-1 evicted", "node/node-1 drained"} {
		if !strings.Contains(out, want) {
			t.Errorf("drain output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"web-0", "web-1"} {
		c.get(pods+"/"+name).must(t, 404)
	}
	if n := c.get("/api/v1/nodes/node-1").json(t); dig(n, "spec", "unschedulable") != true {
		t.Errorf("node not cordoned: %v", n["spec"])
	}

	// --disable-eviction deletes, sending its DeleteOptions in Kubernetes' protobuf.
	c.post(pods, podJSON("web-2", "")).must(t, 201)
	c.post(pods+"/web-2/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-2"},"target":{"kind":"Node","name":"node-1"}}`).must(t, 201)
	out = kubectl(t, s, "drain", "node-1", "--force", "--disable-eviction", "--grace-period=0", "--timeout=30s")
	if !strings.Contains(out, "pod/web-2 deleted") || !strings.Contains(out, "node/node-1 drained") {
		t.Errorf("drain --disable-eviction output:\n%s", out)
	}
	c.get(pods+"/web-2").must(t, 404)
}

// TestStockKubectlTypedCreates runs the stock kubectl's typed create commands, which send
// their bodies only in Kubernetes' protobuf (kubeproto translates them), and checks that
// what was stored is what each command means.
func TestStockKubectlTypedCreates(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s := testServer(t)
	c := adminClient(t, s)
	for _, tc := range []struct {
		args []string
		out  string
		path string
		want map[string]any // dig path (dot-separated) → value
	}{
		{[]string{"create", "namespace", "team-a"}, "namespace/team-a created", "/api/v1/namespaces/team-a",
			map[string]any{"status.phase": "Active"}},
		{[]string{"create", "deployment", "web", "--image=nginx:1.14.2", "--replicas=0", "--port=80"}, "deployment.apps/web created",
			"/apis/apps/v1/namespaces/default/deployments/web",
			map[string]any{"spec.replicas": float64(0), "spec.selector.matchLabels.app": "web",
				"spec.template.spec.containers.0.image": "nginx:1.14.2", "spec.template.spec.containers.0.ports.0.containerPort": float64(80)}},
		{[]string{"create", "role", "reader", "--verb=get,list", "--resource=pods"}, "role.rbac.authorization.k8s.io/reader created",
			"/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/reader",
			map[string]any{"rules.0.apiGroups.0": "", "rules.0.resources.0": "pods", "rules.0.verbs.1": "list"}},
		{[]string{"create", "clusterrole", "deployer", "--verb=*", "--resource=deployments.apps"}, "clusterrole.rbac.authorization.k8s.io/deployer created",
			"/apis/rbac.authorization.k8s.io/v1/clusterroles/deployer",
			map[string]any{"rules.0.apiGroups.0": "apps", "rules.0.verbs.0": "*"}},
		{[]string{"create", "rolebinding", "bob-reads", "--role=reader", "--user=bob"}, "rolebinding.rbac.authorization.k8s.io/bob-reads created",
			"/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/bob-reads",
			map[string]any{"roleRef.kind": "Role", "roleRef.name": "reader", "subjects.0.name": "bob"}},
		{[]string{"create", "clusterrolebinding", "devs-deploy", "--clusterrole=deployer", "--group=devs"}, "clusterrolebinding.rbac.authorization.k8s.io/devs-deploy created",
			"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/devs-deploy",
			map[string]any{"roleRef.kind": "ClusterRole", "subjects.0.kind": "Group", "subjects.0.name": "devs"}},
		{[]string{"create", "quota", "small", "--hard=pods=10,cpu=2"}, "resourcequota/small created",
			"/api/v1/namespaces/default/resourcequotas/small",
			map[string]any{"spec.hard.pods": "10", "spec.hard.cpu": "2"}},
		{[]string{"create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=1"}, "poddisruptionbudget.policy/web created",
			"/apis/policy/v1/namespaces/default/poddisruptionbudgets/web",
			map[string]any{"spec.minAvailable": float64(1), "spec.selector.matchLabels.app": "web", "spec.maxUnavailable": nil}},
		{[]string{"create", "pdb", "half", "--selector=app=web", "--max-unavailable=50%"}, "poddisruptionbudget.policy/half created",
			"/apis/policy/v1/namespaces/default/poddisruptionbudgets/half",
			map[string]any{"spec.maxUnavailable": "50%", "status.disruptionsAllowed": float64(0)}},
	} {
		out := kubectl(t, s, tc.args...)
		if !strings.Contains(out, tc.out) {
			t.Errorf("kubectl %s: %s", strings.Join(tc.args, " "), out)
			continue
		}
		obj := c.get(tc.path).must(t, 200).json(t)
		for path, want := range tc.want {
			var keys []any
			for _, k := range strings.Split(path, ".") {
				if i, err := strconv.Atoi(k); err == nil {
					keys = append(keys, i)
				} else {
					keys = append(keys, k)
				}
			}
			if got := dig(obj, keys...); got != want {
				t.Errorf("%s: %s = %#v, want %#v", tc.path, path, got, want)
			}
		}
	}
	// A refusal comes back as Kubernetes words it, the field named once.
	out, err := kubectlErr(t, s, "create", "deployment", "bad", "--image=nginx:1.14.2", "--replicas=-1")
	if err == nil || !strings.Contains(out, `Deployment.apps "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`) {
		t.Errorf("invalid create: %v\n%s", err, out)
	}
	if out := kubectl(t, s, "auth", "can-i", "create", "deployments"); strings.TrimSpace(out) != "yes" {
		t.Errorf("auth can-i: %s", out)
	}
}

// TestStockKubectlOpenAPI runs the stock kubectl with its default --validate=strict. It
// downloads /openapi/v3, finds that every PATCH operation takes fieldValidation, and so
// sends fieldValidation=Strict and leaves validation to kubelab, whose refusal of an
// unknown field reads as Kubernetes'.
func TestStockKubectlOpenAPI(t *testing.T) {
	s, seed := seedServer(t)

	out := kubectl(t, s, "apply", "-f", seed)
	if !strings.Contains(out, "deployment.apps/example-deployment created") {
		t.Errorf("apply: %s", out)
	}
	if out := kubectl(t, s, "apply", "-f", seed); !strings.Contains(out, "deployment.apps/example-deployment unchanged") {
		t.Errorf("apply again: %s", out)
	}
	raw, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	// A changed manifest is applied as a strategic merge patch, which kubectl computes from
	// its compiled-in merge keys (the PATCH operations do not list that patch type).
	newer := filepath.Join(t.TempDir(), "newer.yaml")
	if err := os.WriteFile(newer, []byte(strings.Replace(string(raw), "nginx:1.14.2", "nginx:1.16.1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := kubectl(t, s, "apply", "-f", newer); !strings.Contains(out, "deployment.apps/example-deployment configured") {
		t.Errorf("apply a change: %s", out)
	}
	dep := adminClient(t, s).get("/apis/apps/v1/namespaces/default/deployments/example-deployment").must(t, 200).json(t)
	if got := dig(dep, "spec", "template", "spec", "containers", 0, "image"); got != "nginx:1.16.1" || dig(dep, "spec", "template", "spec", "containers", 1) != nil {
		t.Errorf("after apply, containers = %v", dig(dep, "spec", "template", "spec", "containers"))
	}
	if out := kubectl(t, s, "replace", "-f", seed); !strings.Contains(out, "deployment.apps/example-deployment replaced") {
		t.Errorf("replace: %s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	body := strings.Replace(strings.Replace(string(raw), "example-deployment", "typo", 1), "replicas: 3", "replicaz: 3", 1)
	if err := os.WriteFile(bad, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"apply", "create"} {
		out, err := kubectlErr(t, s, verb, "-f", bad)
		want := `Error from server (BadRequest): error when creating "` + bad + `": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"`
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s -f with an unknown field: %v\n%s\nwant %s", verb, err, out, want)
		}
	}
	adminClient(t, s).get("/apis/apps/v1/namespaces/default/deployments/typo").must(t, 404)

	out = kubectl(t, s, "explain", "deployment.spec.replicas")
	for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "FIELD: replicas <integer>"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	out = kubectl(t, s, "explain", "deployment.spec.strategy.rollingUpdate")
	if !strings.Contains(out, "maxSurge\t<IntOrString>") {
		t.Errorf("explain rollingUpdate:\n%s", out)
	}
	// Descriptions are the proto comments (kubelab.io/proto/apidocs): a message's under
	// DESCRIPTION, a field's beside it under FIELDS.
	out = kubectl(t, s, "explain", "deployment.spec")
	if !strings.Contains(out, "DESCRIPTION:\n    DeploymentSpec is the desired state of a Deployment.") {
		t.Errorf("explain spec lacks the DeploymentSpec comment:\n%s", out)
	}
	out = kubectl(t, s, "explain", "deployment.spec.strategy")
	if !strings.Contains(out, "type\t<string>\n    type is Recreate or RollingUpdate.") {
		t.Errorf("explain strategy lacks the type field's comment:\n%s", out)
	}
}

// kubectlDrainDryRun drains node-1 (running web-0 and web-1) with --dry-run=server: each
// write is a dryRun=All request, so the node stays schedulable and the pods stay put.
// Evicting, kubectl trusts the 201s and is done. Deleting (--disable-eviction), kubectl up
// to v1.36 then waits for the pods to go, which in a dry run they never do (kubectl issue
// 1830, fixed by kubernetes PR 137543): against a real cluster, too, it polls until its
// --timeout. Either end is accepted here; the dry-run deletes must answer 200 with each
// pod as the delete would leave it, graceful, not gone.
func kubectlDrainDryRun(t *testing.T, s *Server, c *apiClient) {
	t.Helper()
	out := kubectl(t, s, "drain", "node-1", "--force", "--dry-run=server", "--timeout=10s")
	for _, want := range []string{"node/node-1 cordoned (server dry run)", "evicting pod default/web-0 (server dry run)", "node/node-1 drained (server dry run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("drain --dry-run=server output lacks %q:\n%s", want, out)
		}
	}

	start := time.Now()
	out, err := kubectlErr(t, s, "drain", "node-1", "--force", "--disable-eviction", "--dry-run=server", "--timeout=2s")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("drain --dry-run=server --disable-eviction took %v despite --timeout=2s", took)
	}
	if !strings.Contains(out, "node/node-1 cordoned (server dry run)") ||
		(err != nil && !strings.Contains(out, "context deadline exceeded")) {
		t.Errorf("drain --dry-run=server --disable-eviction: %v\n%s", err, out)
	}

	for _, name := range []string{"web-0", "web-1"} {
		p := c.get(pods+"/"+name).must(t, 200).json(t)
		if ts := dig(p, "metadata", "deletionTimestamp"); ts != nil {
			t.Errorf("%s got deletionTimestamp %v from a dry run", name, ts)
		}
		p = c.do("DELETE", pods+"/"+name+"?dryRun=All", "", "").must(t, 200).json(t)
		if dig(p, "metadata", "deletionTimestamp") == nil || dig(p, "metadata", "deletionGracePeriodSeconds") != float64(30) {
			t.Errorf("dry-run delete of %s answered %v, want it with its deletionTimestamp", name, p["metadata"])
		}
	}
	if n := c.get("/api/v1/nodes/node-1").json(t); dig(n, "spec", "unschedulable") != nil {
		t.Errorf("node cordoned by a dry run: %v", n["spec"])
	}
}
