package rbac

import (
	"context"
	"slices"
	"testing"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/request"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/runtime"
)

func TestRuleAllows(t *testing.T) {
	res := func(verb, group, resource, sub, name string) *request.Info {
		return &request.Info{IsResourceRequest: true, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name}
	}
	path := func(verb, p string) *request.Info { return &request.Info{Verb: verb, Path: p} }
	rule := func(verbs, groups, resources, names, urls []string) *rbacv1.PolicyRule {
		return &rbacv1.PolicyRule{Verbs: verbs, ApiGroups: groups, Resources: resources, ResourceNames: names, NonResourceURLs: urls}
	}
	l := func(s ...string) []string { return s }
	for _, tc := range []struct {
		name string
		rule *rbacv1.PolicyRule
		info *request.Info
		want bool
	}{
		{"exact", rule(l("get"), l(""), l("pods"), nil, nil), res("get", "", "pods", "", "a"), true},
		{"other verb", rule(l("get"), l(""), l("pods"), nil, nil), res("list", "", "pods", "", ""), false},
		{"other group", rule(l("get"), l(""), l("deployments"), nil, nil), res("get", "apps", "deployments", "", "a"), false},
		{"star verbs groups resources", rule(l("*"), l("*"), l("*"), nil, nil), res("delete", "apps", "deployments", "", "a"), true},
		{"star resources covers subresources", rule(l("*"), l("*"), l("*"), nil, nil), res("update", "", "pods", "status", "a"), true},
		{"resource does not cover subresource", rule(l("update"), l(""), l("pods"), nil, nil), res("update", "", "pods", "status", "a"), false},
		{"subresource", rule(l("update"), l(""), l("pods/status"), nil, nil), res("update", "", "pods", "status", "a"), true},
		{"subresource does not cover resource", rule(l("update"), l(""), l("pods/status"), nil, nil), res("update", "", "pods", "", "a"), false},
		{"*/subresource", rule(l("get"), l("*"), l("*/scale"), nil, nil), res("get", "apps", "deployments", "scale", "a"), true},
		{"resourceNames match", rule(l("get"), l(""), l("pods"), l("a", "b"), nil), res("get", "", "pods", "", "b"), true},
		{"resourceNames miss", rule(l("get"), l(""), l("pods"), l("a"), nil), res("get", "", "pods", "", "c"), false},
		{"resourceNames never match a list", rule(l("list"), l(""), l("pods"), l("a"), nil), res("list", "", "pods", "", ""), false},
		{"url exact", rule(l("get"), nil, nil, nil, l("/healthz")), path("get", "/healthz"), true},
		{"url prefix", rule(l("get"), nil, nil, nil, l("/apis/*")), path("get", "/apis/apps/v1"), true},
		{"url miss", rule(l("get"), nil, nil, nil, l("/apis/*")), path("get", "/api"), false},
		{"url rule is not a resource rule", rule(l("get"), nil, nil, nil, l("*")), res("get", "", "pods", "", "a"), false},
		{"resource rule is not a url rule", rule(l("*"), l("*"), l("*"), nil, nil), path("get", "/metrics"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RuleAllows(tc.info, tc.rule); got != tc.want {
				t.Errorf("RuleAllows = %v, want %v", got, tc.want)
			}
		})
	}
}

// The controller-manager's role must allow every call its controllers make; this lists
// the resource quota controller's.
func TestControllerManagerRoleAllowsTheQuotaController(t *testing.T) {
	var role *rbacv1.ClusterRole
	for _, r := range ClusterRoles() {
		if r.GetMetadata().GetName() == UserKubeControllerManager {
			role = r
		}
	}
	if role == nil {
		t.Fatalf("no bootstrap ClusterRole %s", UserKubeControllerManager)
	}
	res := func(verb, resource, sub, name string) *request.Info {
		return &request.Info{IsResourceRequest: true, Verb: verb, Resource: resource, Subresource: sub, Namespace: "team", Name: name}
	}
	for _, info := range []*request.Info{
		res("list", "pods", "", ""),
		res("watch", "pods", "", ""),
		res("get", "resourcequotas", "", "compute"),
		res("list", "resourcequotas", "", ""),
		res("watch", "resourcequotas", "", ""),
		res("update", "resourcequotas", "status", "compute"),
	} {
		if !RulesAllow(info, role.GetRules()) {
			t.Errorf("%s refuses %s %s/%s", UserKubeControllerManager, info.Verb, info.Resource, info.Subresource)
		}
	}
}

// TestRulesFor lists what a user holds in a namespace: the ClusterRoles bound cluster-wide to
// one of its identities, plus the Roles and ClusterRoles bound by RoleBindings of that
// namespace — the rules a SelfSubjectRulesReview answers with and Authorize decides by.
func TestRulesFor(t *testing.T) {
	c := &Cache{
		roles: map[string]*rbacv1.Role{}, clusterRoles: map[string]*rbacv1.ClusterRole{},
		roleBindings: map[string]map[string]*rbacv1.RoleBinding{}, clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
	}
	pods := rule(readVerbs, core, "pods")
	nodes := rule([]string{"list"}, core, "nodes")
	secrets := rule([]string{"get"}, core, "secrets")
	leases := rule([]string{"get"}, coordination, "leases")
	binding := func(ns, name, kind, role string, subjects ...*rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns}, RoleRef: &rbacv1.RoleRef{Kind: kind, Name: role}, Subjects: subjects}
	}
	for _, obj := range []runtime.Object{
		&rbacv1.Role{Metadata: &metav1.ObjectMeta{Name: "pod-reader", Namespace: "team"}, Rules: []*rbacv1.PolicyRule{pods}},
		&rbacv1.Role{Metadata: &metav1.ObjectMeta{Name: "pod-reader", Namespace: "other"}, Rules: []*rbacv1.PolicyRule{secrets}},
		clusterRole("node-lister", nodes),
		clusterRole("lease-reader", leases),
		clusterRoleBinding("devs", "node-lister", groupSubject("devs")),
		binding("team", "bob", "Role", "pod-reader", userSubject("bob")),
		binding("team", "leases", "ClusterRole", "lease-reader", &rbacv1.Subject{Kind: "ServiceAccount", Name: "robot"}),
		binding("other", "carol", "Role", "pod-reader", userSubject("carol")),
		binding("team", "missing", "Role", "no-such-role", userSubject("bob")),
	} {
		c.put(obj)
	}
	bob := &request.User{Name: "bob", Groups: []string{"devs"}}
	robot := &request.User{Name: "system:serviceaccount:team:robot"}
	for _, tc := range []struct {
		name      string
		u         *request.User
		namespace string
		want      []*rbacv1.PolicyRule
	}{
		{"role and group in its namespace", bob, "team", []*rbacv1.PolicyRule{nodes, pods}},
		{"only the group elsewhere", bob, "other", []*rbacv1.PolicyRule{nodes}},
		{"cluster-wide only", bob, "", []*rbacv1.PolicyRule{nodes}},
		{"service account in its namespace", robot, "team", []*rbacv1.PolicyRule{leases}},
		{"nothing for others", &request.User{Name: "dave"}, "team", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, incomplete, err := (&Authorizer{Cache: c}).RulesFor(context.Background(), tc.u, tc.namespace)
			if incomplete || err != nil {
				t.Fatalf("incomplete %v, err %v", incomplete, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("rules = %v, want %v", got, tc.want)
			}
			// Bindings are visited in map order: compare as sets.
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("rules = %v, lack %v", got, w)
				}
			}
			// Authorize agrees: each rule's first verb on its resource is allowed.
			for _, r := range got {
				info := &request.Info{IsResourceRequest: true, Verb: r.GetVerbs()[0], APIGroup: r.GetApiGroups()[0], Resource: r.GetResources()[0], Namespace: tc.namespace}
				if d, _, _ := (&Authorizer{Cache: c}).Authorize(context.Background(), authz.Attributes{User: tc.u, Info: info}); d != authz.Allow {
					t.Errorf("Authorize(%s %s) = %v, RulesFor lists it", info.Verb, info.Resource, d)
				}
			}
		})
	}
}
