package server

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/authz/rbac"
	metav1 "kubelab.io/proto/api/meta/v1"
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

// TestBootstrapUserFacingRoles: admin, edit and view start as upstream's, with no rules and
// an aggregationRule each, edit feeding admin and view feeding edit; the
// system:aggregate-to-* roles carry the labels that feed them and name only resources this
// server serves (discovery lists them). A restart gives an aggregated role back the
// selectors and labels it lost, leaves its rules (the aggregation controller's) alone, and
// takes an aggregationRule off a bootstrap role that should not aggregate.
func TestBootstrapUserFacingRoles(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	const roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
	role := func(name string) *rbacv1.ClusterRole {
		t.Helper()
		r := &rbacv1.ClusterRole{}
		if _, err := runtime.UnmarshalJSON(c.get(roles+name).must(t, http.StatusOK).body, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	selects := func(r *rbacv1.ClusterRole, label string) bool {
		for _, sel := range r.GetAggregationRule().GetClusterRoleSelectors() {
			if len(sel.GetMatchExpressions()) == 0 && maps.Equal(sel.GetMatchLabels(), map[string]string{label: "true"}) {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct{ name, selects, feeds string }{
		{"admin", rbac.AggregateToAdmin, ""},
		{"edit", rbac.AggregateToEdit, rbac.AggregateToAdmin},
		{"view", rbac.AggregateToView, rbac.AggregateToEdit},
		{"system:aggregate-to-admin", "", rbac.AggregateToAdmin},
		{"system:aggregate-to-edit", "", rbac.AggregateToEdit},
		{"system:aggregate-to-view", "", rbac.AggregateToView},
	} {
		r := role(tc.name)
		m := r.GetMetadata()
		if m.GetLabels()["kubernetes.io/bootstrapping"] != "rbac-defaults" || m.GetAnnotations()[rbac.AutoUpdateAnnotation] != "true" {
			t.Errorf("%s: labels %v, annotations %v: want upstream's bootstrap ones", tc.name, m.GetLabels(), m.GetAnnotations())
		}
		if tc.feeds != "" && m.GetLabels()[tc.feeds] != "true" {
			t.Errorf("%s: labels %v, want %s", tc.name, m.GetLabels(), tc.feeds)
		}
		switch {
		case tc.selects != "" && (!selects(r, tc.selects) || len(r.GetAggregationRule().GetClusterRoleSelectors()) != 1 || len(r.GetRules()) != 0):
			t.Errorf("%s: aggregationRule %v, rules %v; want one selector of %s and no rules", tc.name, r.GetAggregationRule(), r.GetRules(), tc.selects)
		case tc.selects == "" && (r.GetAggregationRule() != nil || len(r.GetRules()) == 0):
			t.Errorf("%s: aggregationRule %v, rules %v; want rules and no aggregationRule", tc.name, r.GetAggregationRule(), r.GetRules())
		}
		for _, rule := range r.GetRules() {
			for _, g := range rule.GetApiGroups() {
				for _, res := range rule.GetResources() {
					if !served(t, c, g, res) {
						t.Errorf("%s grants %q in group %q, which this server does not serve", tc.name, res, g)
					}
				}
			}
		}
	}
	if r := role("system:aggregate-to-view"); slices.ContainsFunc(r.GetRules(), func(p *rbacv1.PolicyRule) bool { return slices.Contains(p.GetResources(), "secrets") }) {
		t.Errorf("view may read secrets: %v", r.GetRules())
	}

	// An operator strips edit of its selector and label and writes rules by hand, and makes
	// system:discovery aggregate.
	edit := role("edit")
	edit.AggregationRule.ClusterRoleSelectors = []*metav1.LabelSelector{{MatchLabels: map[string]string{"mine": "true"}}}
	delete(edit.Metadata.Labels, rbac.AggregateToAdmin)
	edit.Metadata.Labels["mine"] = "kept"
	edit.Rules = []*rbacv1.PolicyRule{{Verbs: []string{"get"}, ApiGroups: []string{""}, Resources: []string{"pods"}}}
	put := func(r *rbacv1.ClusterRole) {
		t.Helper()
		body, err := runtime.MarshalJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		c.put(roles+r.GetMetadata().GetName(), string(body)).must(t, http.StatusOK)
	}
	put(edit)
	discovery := role("system:discovery")
	discovery.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []*metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}
	put(discovery)

	s = restart(t, s)
	c = adminClient(t, s)
	edit = role("edit")
	if !selects(edit, rbac.AggregateToEdit) || !selects(edit, "mine") {
		t.Errorf("edit's aggregationRule after a restart: %v; want the bootstrap selector back and the operator's kept", edit.GetAggregationRule())
	}
	if l := edit.GetMetadata().GetLabels(); l[rbac.AggregateToAdmin] != "true" || l["mine"] != "kept" {
		t.Errorf("edit's labels after a restart: %v; want %s back and mine kept", l, rbac.AggregateToAdmin)
	}
	if len(edit.GetRules()) != 1 {
		t.Errorf("edit's rules after a restart: %v; want the hand-written one left to the aggregation controller", edit.GetRules())
	}
	if ar := role("system:discovery").GetAggregationRule(); ar != nil {
		t.Errorf("system:discovery still aggregates after a restart: %v", ar)
	}
}

// served reports whether discovery lists resource (a "pods/log" subresource too) in the
// RBAC group g, at v1.
func served(t *testing.T, c *apiClient, g, resource string) bool {
	t.Helper()
	path := "/apis/" + g + "/v1"
	if g == "" {
		path = "/api/v1"
	}
	resp := c.get(path)
	if resp.code != http.StatusOK {
		return false
	}
	var list struct {
		Resources []struct{ Name string } `json:"resources"`
	}
	if err := json.Unmarshal(resp.body, &list); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(list.Resources, func(r struct{ Name string }) bool { return r.Name == resource })
}
