package server

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const rbacAPI = "/apis/rbac.authorization.k8s.io/v1"

// TestAuthorizationTable drives requests of several identities through RBAC (Role vs
// ClusterRole, verbs, subresources, resourceNames, non-resource URLs) and the Node
// authorizer, and checks each answer's code.
func TestAuthorizationTable(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	admin.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}`).must(t, 201)
	for _, n := range []string{"node-1", "node-2"} {
		admin.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"`+n+`"}}`).must(t, 201)
	}
	admin.post(pods, boundPodJSON("on-1", "node-1")).must(t, 201)
	admin.post(pods, boundPodJSON("on-2", "node-2")).must(t, 201)
	admin.post(pods, podJSON("web-0", "")).must(t, 201)
	admin.post("/api/v1/namespaces/team/pods", podJSON("team-0", "")).must(t, 201)

	// alice: a Role in default that reads pods and updates pods/status of web-0 only.
	admin.post(rbacAPI+"/namespaces/default/roles", `{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"pods"},
		"rules":[{"verbs":["get","list","watch"],"apiGroups":[""],"resources":["pods"]},
		         {"verbs":["update","patch","get"],"apiGroups":[""],"resources":["pods/status"],"resourceNames":["web-0"]}]}`).must(t, 201)
	admin.post(rbacAPI+"/namespaces/default/rolebindings", `{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"alice"},
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pods"},"subjects":[{"kind":"User","name":"alice","apiGroup":"rbac.authorization.k8s.io"}]}`).must(t, 201)
	// bob: a ClusterRole with "*" verbs on deployments, granted in team only by a RoleBinding,
	// plus a cluster-wide read of nodes and /metrics through a ClusterRoleBinding to his group.
	admin.post(rbacAPI+"/clusterroles", `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"deployer"},
		"rules":[{"verbs":["*"],"apiGroups":["apps"],"resources":["deployments","deployments/scale"]}]}`).must(t, 201)
	admin.post(rbacAPI+"/namespaces/team/rolebindings", `{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"bob"},
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"deployer"},"subjects":[{"kind":"User","name":"bob"}]}`).must(t, 201)
	admin.post(rbacAPI+"/clusterroles", `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"node-viewer"},
		"rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["nodes"]},{"verbs":["get"],"nonResourceURLs":["/metrics*"]}]}`).must(t, 201)
	admin.post(rbacAPI+"/clusterrolebindings", `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"viewers"},
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"node-viewer"},"subjects":[{"kind":"Group","name":"viewers"}]}`).must(t, 201)

	alice := userClient(t, s, "alice")
	bob := userClient(t, s, "bob", "viewers")
	eve := userClient(t, s, "eve")
	node1 := userClient(t, s, "system:node:node-1", "system:nodes")
	node1NoGroup := userClient(t, s, "system:node:node-1")
	sched := userClient(t, s, "system:kube-scheduler")
	kcm := userClient(t, s, "system:kube-controller-manager")
	master := userClient(t, s, "someone", "system:masters")
	// The cache catches up with the bindings just written.
	eventually(t, "bindings to take effect", func() bool {
		return alice.get(pods).code == 200 && bob.get("/api/v1/nodes").code == 200 &&
			bob.get("/apis/apps/v1/namespaces/team/deployments").code == 200
	})

	status := func(name, node string) string {
		body := boundPodJSON(name, node)
		if node == "" {
			body = podJSON(name, "")
		}
		return strings.Replace(body, `"spec"`, `"status":{"phase":"Running"},"spec"`, 1)
	}
	teamDeploy := strings.Replace(seedDeployment, `"name":"example-deployment"`, `"name":"d1","namespace":"team"`, 1)
	type req struct {
		name         string
		c            *apiClient
		method, path string
		body         string
		want         int
	}
	table := []req{
		{"alice lists pods in default (Role)", alice, "GET", pods, "", 200},
		{"alice gets a pod", alice, "GET", pods + "/web-0", "", 200},
		{"alice watches pods", alice, "GET", pods + "?watch=1&timeoutSeconds=1", "", 200},
		{"alice may not list pods in team", alice, "GET", "/api/v1/namespaces/team/pods", "", 403},
		{"alice may not list pods cluster-wide", alice, "GET", "/api/v1/pods", "", 403},
		{"alice may not create pods", alice, "POST", pods, podJSON("x", ""), 403},
		{"alice may not delete pods", alice, "DELETE", pods + "/web-0", "", 403},
		{"alice updates web-0 status (resourceNames)", alice, "PUT", pods + "/web-0/status", status("web-0", ""), 200},
		{"alice may not update on-1 status (resourceNames)", alice, "PUT", pods + "/on-1/status", status("on-1", "node-1"), 403},
		{"alice may not update web-0 itself (subresource only)", alice, "PUT", pods + "/web-0", podJSON("web-0", ""), 403},
		{"alice may not read nodes", alice, "GET", "/api/v1/nodes", "", 403},
		{"alice may read discovery", alice, "GET", "/apis", "", 200},
		{"alice may not read /metrics", alice, "GET", "/metrics", "", 403},
		{"bob creates deployments in team (ClusterRole via RoleBinding)", bob, "POST", "/apis/apps/v1/namespaces/team/deployments", teamDeploy, 201},
		{"bob scales them", bob, "GET", "/apis/apps/v1/namespaces/team/deployments/d1/scale", "", 200},
		{"bob may not create deployments in default", bob, "POST", deployments, seedDeployment, 403},
		{"bob may not touch replicasets in team", bob, "GET", "/apis/apps/v1/namespaces/team/replicasets", "", 403},
		{"bob reads nodes (ClusterRoleBinding to his group)", bob, "GET", "/api/v1/nodes/node-1", "", 200},
		{"bob may not delete nodes", bob, "DELETE", "/api/v1/nodes/node-1", "", 403},
		{"bob reads /metrics (nonResourceURL with *)", bob, "GET", "/metrics", "", 200},
		{"eve may not list pods", eve, "GET", pods, "", 403},
		{"eve may not list namespaces", eve, "GET", "/api/v1/namespaces", "", 403},
		{"eve may not read roles", eve, "GET", rbacAPI + "/namespaces/default/roles", "", 403},
		{"node-1 gets its pod", node1, "GET", pods + "/on-1", "", 200},
		{"node-1 may not get node-2's pod", node1, "GET", pods + "/on-2", "", 403},
		{"node-1 lists its pods", node1, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1", "", 200},
		{"node-1 may not list node-2's pods", node1, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2", "", 403},
		{"node-1 may not list all pods", node1, "GET", "/api/v1/pods", "", 403},
		{"node-1 updates its pod's status", node1, "PUT", pods + "/on-1/status", status("on-1", "node-1"), 200},
		{"node-1 may not update node-2's pod status", node1, "PUT", pods + "/on-2/status", status("on-2", "node-2"), 403},
		{"node-1 may not update its pod's spec", node1, "PUT", pods + "/on-1", boundPodJSON("on-1", "node-1"), 403},
		{"node-1 gets its node", node1, "GET", "/api/v1/nodes/node-1", "", 200},
		{"node-1 updates its node status", node1, "PATCH", "/api/v1/nodes/node-1/status", `{"status":{"phase":"Running"}}`, 200},
		{"node-1 may not update node-2's status", node1, "PATCH", "/api/v1/nodes/node-2/status", `{"status":{"phase":"Running"}}`, 403},
		{"node-1 may not create node-2 (NodeRestriction)", node1, "POST", "/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-3"}}`, 403},
		{"node-1 may not label itself into the control plane", node1, "PATCH", "/api/v1/nodes/node-1", `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`, 403},
		{"node-1 may set kubelet labels", node1, "PATCH", "/api/v1/nodes/node-1", `{"metadata":{"labels":{"kubernetes.io/os":"linux","team":"a"}}}`, 200},
		{"node-1 creates its lease", node1, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"node-1"},"spec":{"holderIdentity":"node-1"}}`, 201},
		{"node-1 may not create node-2's lease", node1, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"node-2"}}`, 403},
		{"node-1 creates events", node1, "POST", "/api/v1/namespaces/default/events", `{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1"},"involvedObject":{"kind":"Pod","name":"on-1","namespace":"default"},"reason":"Started","message":"m"}`, 201},
		{"node-1 deletes its pod", node1, "DELETE", pods + "/on-1", "", 200},
		{"node-1 may not delete node-2's pod", node1, "DELETE", pods + "/on-2", "", 403},
		{"a node name without system:nodes is nobody", node1NoGroup, "GET", "/api/v1/nodes/node-1", "", 403},
		{"scheduler lists pods", sched, "GET", "/api/v1/pods", "", 200},
		{"scheduler binds a pod", sched, "POST", pods + "/web-0/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-0"},"target":{"kind":"Node","name":"node-2"}}`, 201},
		{"scheduler may not delete deployments", sched, "DELETE", "/apis/apps/v1/namespaces/team/deployments/d1", "", 403},
		{"scheduler may not create pods", sched, "POST", pods, podJSON("x", ""), 403},
		{"scheduler deletes a preemption victim", sched, "DELETE", pods + "/on-2", "", 200},
		{"scheduler lists budgets (preemption spares what they protect)", sched, "GET", "/apis/policy/v1/poddisruptionbudgets", "", 200},
		{"scheduler may not change budgets", sched, "DELETE", "/apis/policy/v1/namespaces/team/poddisruptionbudgets/b", "", 403},
		{"scheduler may not read roles", sched, "GET", rbacAPI + "/clusterroles", "", 403},
		{"controller-manager creates replicasets", kcm, "POST", "/apis/apps/v1/namespaces/team/replicasets", strings.Replace(strings.Replace(teamDeploy, `"Deployment"`, `"ReplicaSet"`, 1), `"d1"`, `"rs1"`, 1), 201},
		{"controller-manager lists everything (GC)", kcm, "GET", rbacAPI + "/clusterroles", "", 200},
		{"controller-manager may not create cluster roles", kcm, "POST", rbacAPI + "/clusterroles", `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"evil"},"rules":[]}`, 403},
		{"controller-manager deletes deployments", kcm, "DELETE", "/apis/apps/v1/namespaces/team/deployments/d1", "", 200},
		{"system:masters may do anything", master, "DELETE", rbacAPI + "/clusterroles/deployer", "", 200},
	}
	for _, tc := range table {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.method == "PATCH" {
				r = tc.c.do("PATCH", tc.path, "application/merge-patch+json", tc.body)
			} else {
				r = tc.c.do(tc.method, tc.path, "application/json", tc.body)
			}
			if r.code != tc.want {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, r.code, tc.want, r.body)
			}
		})
	}
	if len(table) < 30 {
		t.Fatalf("only %d requests", len(table))
	}
	// Forbidden messages read as Kubernetes'.
	r := node1.get(pods+"/on-2").must(t, http.StatusForbidden)
	if msg := str(r.json(t)["message"]); !strings.HasPrefix(msg, `pods "on-2" is forbidden: User "system:node:node-1" cannot get resource "pods" in API group "" in the namespace "default"`) {
		t.Errorf("message = %q", msg)
	}
}

// TestSelfSubjectAccessReview asks "may I?" through the API and through the stock
// kubectl's `auth can-i`.
func TestSelfSubjectAccessReview(t *testing.T) {
	s := testServer(t)
	sched := userClient(t, s, "system:kube-scheduler")
	r := sched.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"create","resource":"pods","subresource":"binding","namespace":"default"}}}`).must(t, 201)
	v := r.json(t)
	if dig(v, "status", "allowed") != true || !strings.Contains(str(dig(v, "status", "reason")), `ClusterRoleBinding "system:kube-scheduler"`) {
		t.Errorf("review = %s", r.body)
	}
	r = sched.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"delete","group":"apps","resource":"deployments","namespace":"default"}}}`).must(t, 201)
	if dig(r.json(t), "status", "allowed") != false {
		t.Errorf("review = %s", r.body)
	}
	sched.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").must(t, http.StatusMethodNotAllowed)
	sched.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}`).must(t, 422)

	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	canI := func(kubeconfig string, args ...string) (string, error) {
		cmd := exec.Command(stockKubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(t.TempDir(), "cache"), "auth", "can-i"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	schedKC := userKubeconfig(t, s, "system:kube-scheduler")
	for _, tc := range []struct {
		kubeconfig string
		args       []string
		want       string
	}{
		{s.AdminKubeconfig(), []string{"create", "deployments"}, "yes"},
		{schedKC, []string{"create", "pods", "--subresource=binding"}, "yes"},
		{schedKC, []string{"update", "pods", "--subresource=status"}, "yes"},
		{schedKC, []string{"delete", "deployments"}, "no"},
		{schedKC, []string{"list", "nodes", "--all-namespaces"}, "yes"},
	} {
		out, err := canI(tc.kubeconfig, tc.args...)
		if out != tc.want || (err != nil) != (tc.want == "no") {
			t.Errorf("kubectl auth can-i %v = %q (%v), want %q", tc.args, out, err, tc.want)
		}
	}
}
