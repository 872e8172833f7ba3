package rbac

import (
	"testing"

	"kubelab.io/apiserver/internal/request"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
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
