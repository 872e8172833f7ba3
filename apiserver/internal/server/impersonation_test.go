package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	servicev1 "kubelab.io/proto/api/service/v1"
)

// impersonating is c sending the given Impersonate-* headers on every request.
func impersonating(c *apiClient, h http.Header) *apiClient {
	return &apiClient{t: c.t, base: c.base, http: &http.Client{Transport: headerTransport{h, c.http.Transport}}}
}

type headerTransport struct {
	h    http.Header
	next http.RoundTripper
}

func (a headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range a.h {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return a.next.RoundTrip(r)
}

func asUser(name string, groups ...string) http.Header {
	return http.Header{"Impersonate-User": {name}, "Impersonate-Group": groups}
}

// impersonationServer is a server with an audit log, where
//   - bob may read pods in default (a RoleBinding) and nothing else;
//   - the group devs may list nodes;
//   - alice may impersonate the user bob, and nothing else;
//   - dave may impersonate the user bob and the group devs.
func impersonationServer(t *testing.T) (s *Server, auditPath string) {
	t.Helper()
	auditPath = filepath.Join(t.TempDir(), "audit.log")
	s, err := Start(context.Background(), Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", UnsafeNoFsync: true, AuditLogPath: auditPath,
		DisableAdmissionPlugins: withoutControllerManager,
		Log:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	admin := adminClient(t, s)
	admin.post(pods, podJSON("web-0", "")).must(t, 201)
	for _, o := range []struct{ path, body string }{
		{rbacAPI + "/namespaces/default/roles", `{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"pod-reader"},
			"rules":[{"verbs":["get","list","watch"],"apiGroups":[""],"resources":["pods"]}]}`},
		{rbacAPI + "/namespaces/default/rolebindings", `{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"bob"},
			"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},"subjects":[{"kind":"User","name":"bob"}]}`},
		{rbacAPI + "/clusterroles", `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"node-lister"},
			"rules":[{"verbs":["list"],"apiGroups":[""],"resources":["nodes"]}]}`},
		{rbacAPI + "/clusterrolebindings", `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"devs"},
			"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"node-lister"},"subjects":[{"kind":"Group","name":"devs"}]}`},
		{rbacAPI + "/clusterroles", `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"impersonate-bob"},
			"rules":[{"verbs":["impersonate"],"apiGroups":[""],"resources":["users"],"resourceNames":["bob"]}]}`},
		{rbacAPI + "/clusterroles", `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"impersonate-devs"},
			"rules":[{"verbs":["impersonate"],"apiGroups":[""],"resources":["groups"],"resourceNames":["devs"]}]}`},
		{rbacAPI + "/clusterrolebindings", `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"dave-as-devs"},
			"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"impersonate-devs"},"subjects":[{"kind":"User","name":"dave"}]}`},
		{rbacAPI + "/clusterrolebindings", `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"dave-as-bob"},
			"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"impersonate-bob"},"subjects":[{"kind":"User","name":"dave"}]}`},
	} {
		admin.post(o.path, o.body).must(t, 201)
	}
	return s, auditPath
}

// grantAliceBob binds impersonate-bob to alice and waits for it to take effect.
func grantAliceBob(t *testing.T, s *Server) {
	t.Helper()
	adminClient(t, s).post(rbacAPI+"/clusterrolebindings", `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"alice-as-bob"},
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"impersonate-bob"},"subjects":[{"kind":"User","name":"alice"}]}`).must(t, 201)
	aliceAsBob := impersonating(userClient(t, s, "alice"), asUser("bob"))
	eventually(t, "alice's grant to take effect", func() bool { return aliceAsBob.get(pods).code == 200 })
}

// TestImpersonation: a user acts as another only where RBAC grants `impersonate` on each
// part of the identity, and is then held to that identity's rights.
func TestImpersonation(t *testing.T) {
	s, auditPath := impersonationServer(t)
	alice := userClient(t, s, "alice")
	dave := userClient(t, s, "dave")
	eventually(t, "dave's grants to take effect", func() bool {
		return impersonating(dave, asUser("bob", "devs")).get("/api/v1/nodes").code == 200
	})

	type want struct {
		code int
		msg  string // the Status message, when given
	}
	check := func(name string, c *apiClient, method, path, body string, w want) {
		t.Helper()
		r := c.do(method, path, "application/json", body)
		if r.code != w.code {
			t.Errorf("%s: HTTP %d, want %d: %s", name, r.code, w.code, r.body)
			return
		}
		if w.msg != "" {
			if got := str(dig(r.json(t), "message")); got != w.msg {
				t.Errorf("%s: message\n got %q\nwant %q", name, got, w.msg)
			}
		}
	}

	// Before any grant: alice may not impersonate bob, and the refusal says so as Kubernetes does.
	check("alice without the grant", impersonating(alice, asUser("bob")), "GET", pods, "",
		want{403, `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`})
	grantAliceBob(t, s)

	aliceAsBob := impersonating(alice, asUser("bob"))
	for _, c := range []struct {
		name               string
		c                  *apiClient
		method, path, body string
		w                  want
	}{
		{"alice herself may not list pods", alice, "GET", pods, "",
			want{403, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`}},
		{"alice as bob lists pods in default", aliceAsBob, "GET", pods, "", want{200, ""}},
		{"alice as bob gets a pod", aliceAsBob, "GET", pods + "/web-0", "", want{200, ""}},
		{"alice as bob is refused where bob is", aliceAsBob, "GET", "/api/v1/namespaces/kube-system/pods", "",
			want{403, `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "kube-system"`}},
		{"alice as bob may not delete", aliceAsBob, "DELETE", pods + "/web-0", "",
			want{403, `pods "web-0" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "default"`}},
		{"alice may not impersonate carol", impersonating(alice, asUser("carol")), "GET", pods + "/web-0", "",
			want{403, `users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`}},
		{"groups need their own grant", impersonating(alice, asUser("bob", "devs")), "GET", "/api/v1/nodes", "",
			want{403, `groups "devs" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope`}},
		{"so does a uid", impersonating(alice, http.Header{"Impersonate-User": {"bob"}, "Impersonate-Uid": {"u-1"}}), "GET", pods, "",
			want{403, `uids.authentication.k8s.io "u-1" is forbidden: User "alice" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope`}},
		{"and an extra", impersonating(alice, http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-Scopes": {"view"}}), "GET", pods, "",
			want{403, `userextras.authentication.k8s.io "view" is forbidden: User "alice" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope`}},
		{"a group without a user", impersonating(alice, http.Header{"Impersonate-Group": {"devs"}}), "GET", pods, "",
			want{500, `Internal error occurred: requested [{Group  devs    }] without impersonating a user`}},
		{"bob alone may not list nodes", impersonating(dave, asUser("bob")), "GET", "/api/v1/nodes", "",
			want{403, `nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope`}},
		{"dave as bob in devs lists nodes", impersonating(dave, asUser("bob", "devs")), "GET", "/api/v1/nodes", "", want{200, ""}},
		{"named groups replace bob's: no pods for devs alone", impersonating(dave, asUser("bob", "devs")), "GET", "/api/v1/namespaces/kube-system/pods", "",
			want{403, `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "kube-system"`}},
		{"system:masters impersonates anyone", impersonating(adminClient(t, s), asUser("carol")), "GET", pods, "",
			want{403, `pods is forbidden: User "carol" cannot list resource "pods" in API group "" in the namespace "default"`}},
		{"system:masters grants system:masters", impersonating(adminClient(t, s), asUser("carol", "system:masters")), "GET", "/api/v1/namespaces/kube-system/pods", "", want{200, ""}},
		{"non-resource paths are served as bob too", aliceAsBob, "GET", "/metrics", "",
			want{403, `forbidden: User "bob" cannot get path "/metrics"`}},
	} {
		check(c.name, c.c, c.method, c.path, c.body, c.w)
	}

	// SelfSubjectAccessReview reviews the impersonated user.
	review := func(c *apiClient, verb, ns string) any {
		r := c.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
			`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"`+verb+`","resource":"pods","namespace":"`+ns+`"}}}`).must(t, 201)
		return dig(r.json(t), "status", "allowed")
	}
	if got := review(aliceAsBob, "list", "default"); got != true {
		t.Errorf("alice as bob: may I list pods in default = %v, want true", got)
	}
	if got := review(aliceAsBob, "list", "kube-system"); got != false {
		t.Errorf("alice as bob: may I list pods in kube-system = %v, want false", got)
	}
	if got := review(alice, "list", "default"); got != false {
		t.Errorf("alice: may I list pods in default = %v, want false", got)
	}

	// gRPC takes the same metadata keys, lower case.
	g := grpcClient(t, s, false) // test-user in system:masters
	ctx := metadata.AppendToOutgoingContext(context.Background(), "impersonate-user", "bob")
	if _, err := g.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web-0")}); err != nil {
		t.Errorf("gRPC get as bob: %v", err)
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "impersonate-user", "carol")
	if st := wantCode(t, func() error { _, err := g.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web-0")}); return err }(), codes.PermissionDenied); !strings.Contains(st.GetMessage(), `User "carol" cannot get resource "pods"`) {
		t.Errorf("gRPC get as carol: %s", st.GetMessage())
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "impersonate-group", "devs")
	wantCode(t, func() error { _, err := g.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web-0")}); return err }(), codes.Internal)

	// The audit log names both: the requester as user, the other as impersonatedUser.
	s.Close()
	b, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		FrontDoor, User, Verb, Namespace string
		Code                             int
		Impersonated                     *struct {
			Username string
			Groups   []string
		} `json:"impersonatedUser"`
	}
	found := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if ev.Impersonated == nil {
			// A refused impersonation ran as no one else: its event names only the requester.
			if ev.User == "alice" && ev.Code == http.StatusForbidden && ev.Verb == "get" { // as carol: alice gets nothing herself
				found["rest alice refused"] = true
			}
			continue
		}
		key := ev.FrontDoor + " " + ev.User + " as " + ev.Impersonated.Username + " [" + strings.Join(ev.Impersonated.Groups, ",") + "] " + ev.Verb + " " + ev.Namespace + " " + http.StatusText(ev.Code)
		found[key] = true
	}
	for _, w := range []string{
		"rest alice as bob [system:authenticated] list default OK",
		"rest alice as bob [system:authenticated] list kube-system Forbidden",
		"rest dave as bob [devs,system:authenticated] list  OK",
		"grpc test-user as bob [system:authenticated] get default OK",
		"grpc test-user as carol [system:authenticated] get default Forbidden",
		"rest alice refused",
	} {
		if !found[w] {
			t.Errorf("no audit event %q in:\n%s", w, b)
		}
	}
}

// TestImpersonationStockKubectl: the stock kubectl's --as sends the headers and
// `auth can-i --as` answers for the impersonated user.
func TestImpersonationStockKubectl(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s, _ := impersonationServer(t)
	grantAliceBob(t, s)
	kc := userKubeconfig(t, s, "alice")
	// One discovery cache for every run, filled by alice's own first command: a refused
	// impersonation fails discovery too, and client-go reads that 403's body raw, so with an
	// empty cache kubectl prints "Error from server (Forbidden): unknown" instead of the
	// message (the client's doing: the body is the same Status).
	cache := filepath.Join(t.TempDir(), "cache")
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, stockKubectl, append([]string{"--kubeconfig", kc, "--cache-dir", cache}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, tc := range []struct {
		args    []string
		want    string // the whole output, or its first line for tables
		wantErr bool
	}{
		{[]string{"get", "pods"}, `Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`, true},
		{[]string{"auth", "can-i", "list", "pods"}, "no", true},
		{[]string{"auth", "can-i", "list", "pods", "--as=bob"}, "yes", false},
		{[]string{"auth", "can-i", "delete", "pods", "--as=bob"}, "no", true},
		{[]string{"auth", "can-i", "list", "pods", "-n", "kube-system", "--as=bob"}, "no", true},
		{[]string{"auth", "can-i", "impersonate", "users/bob"}, "yes", false},
		{[]string{"auth", "can-i", "impersonate", "users/carol"}, "no", true},
		{[]string{"auth", "can-i", "get", "foos", "--as=bob"}, "Warning: the server doesn't have a resource type 'foos'\n\nno", true},
		{[]string{"auth", "can-i", "list", "nodes", "--as=bob", "--as-group=devs"}, `Error from server (Forbidden): groups "devs" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope`, true},
		{[]string{"get", "pods", "--as=bob", "-o", "name"}, "pod/web-0", false},
		{[]string{"get", "pods", "--as=carol"}, `Error from server (Forbidden): users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`, true},
		{[]string{"get", "pods", "-n", "kube-system", "--as=bob"}, `Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "kube-system"`, true},
		{[]string{"get", "pods", "--as=bob", "--as-group=devs"}, `Error from server (Forbidden): groups "devs" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope`, true},
	} {
		out, err := run(tc.args...)
		if out != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("kubectl %s = %q (%v), want %q", strings.Join(tc.args, " "), out, err, tc.want)
		}
	}
}
