package server

import (
	"encoding/json"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/authz/rbac"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/runtime"
)

// TestBootstrapPolicyReconciledOnStart: a restart gives bootstrap ClusterRoles the rules
// they lost and bindings the subjects they lost, recreates a binding that names another
// role, keeps what an operator added, and leaves alone an object annotated
// autoupdate "false", as kube-apiserver's reconciler does.
func TestBootstrapPolicyReconciledOnStart(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	const (
		roles    = "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
		bindings = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/"
	)
	// edit reads an object, changes it and writes it back.
	edit := func(path string, change func(obj map[string]any)) {
		t.Helper()
		obj := c.get(path).must(t, http.StatusOK).json(t)
		change(obj)
		body, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		c.put(path, string(body)).must(t, http.StatusOK)
	}
	edit(roles+"system:basic-user", func(o map[string]any) { o["rules"] = []any{} })
	edit(roles+"system:discovery", func(o map[string]any) {
		o["rules"] = append(o["rules"].([]any), map[string]any{"verbs": []any{"get"}, "nonResourceURLs": []any{"/extra"}})
	})
	edit(roles+"system:public-info-viewer", func(o map[string]any) {
		o["rules"] = []any{}
		o["metadata"].(map[string]any)["annotations"] = map[string]any{rbac.AutoUpdateAnnotation: "false"}
	})
	edit(bindings+"system:public-info-viewer", func(o map[string]any) { o["subjects"] = o["subjects"].([]any)[:1] })
	c.del(bindings+"system:basic-user").must(t, http.StatusOK)
	c.post(bindings, `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"system:basic-user"},
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:discovery"},
		"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:authenticated"}]}`).must(t, http.StatusCreated)

	s = restart(t, s)
	c = adminClient(t, s)

	bootstrapRole := func(name string) *rbacv1.ClusterRole {
		for _, r := range rbac.ClusterRoles() {
			if r.GetMetadata().GetName() == name {
				return r
			}
		}
		t.Fatalf("no bootstrap ClusterRole %s", name)
		return nil
	}
	// read decodes the object at path into obj and returns it.
	read := func(path string, obj proto.Message) proto.Message {
		t.Helper()
		if _, err := runtime.UnmarshalJSON(c.get(path).must(t, http.StatusOK).body, obj); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	role := func(name string) *rbacv1.ClusterRole {
		return read(roles+name, &rbacv1.ClusterRole{}).(*rbacv1.ClusterRole)
	}
	binding := func(name string) *rbacv1.ClusterRoleBinding {
		return read(bindings+name, &rbacv1.ClusterRoleBinding{}).(*rbacv1.ClusterRoleBinding)
	}

	if ok, missing := rbac.Covers(role("system:basic-user").GetRules(), bootstrapRole("system:basic-user").GetRules()); !ok {
		t.Errorf("system:basic-user still lacks %v after a restart", missing)
	}
	discovery := role("system:discovery")
	if ok, missing := rbac.Covers(discovery.GetRules(), bootstrapRole("system:discovery").GetRules()); !ok {
		t.Errorf("system:discovery lacks %v", missing)
	}
	if ok, _ := rbac.Covers(discovery.GetRules(), []*rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/extra"}}}); !ok {
		t.Errorf("the operator's extra rule on system:discovery was removed: %v", discovery.GetRules())
	}
	if rules := role("system:public-info-viewer").GetRules(); len(rules) != 0 {
		t.Errorf("system:public-info-viewer is annotated autoupdate=false but got rules %v", rules)
	}
	if n := len(binding("system:public-info-viewer").GetSubjects()); n != 2 {
		t.Errorf("system:public-info-viewer binding has %d subjects after a restart, want its 2 back", n)
	}
	if ref := binding("system:basic-user").GetRoleRef().GetName(); ref != "system:basic-user" {
		t.Errorf("system:basic-user binding binds %s after a restart, want it recreated for system:basic-user", ref)
	}
}
