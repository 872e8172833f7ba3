package rbac

import (
	"context"
	"strings"
	"testing"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/request"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

func TestCovers(t *testing.T) {
	l := func(s ...string) []string { return s }
	res := func(verbs, groups, resources []string, names ...string) *rbacv1.PolicyRule {
		return &rbacv1.PolicyRule{Verbs: verbs, ApiGroups: groups, Resources: resources, ResourceNames: names}
	}
	url := func(verbs []string, urls ...string) *rbacv1.PolicyRule {
		return &rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: urls}
	}
	rules := func(r ...*rbacv1.PolicyRule) []*rbacv1.PolicyRule { return r }
	readPods := res(l("get", "list", "watch"), l(""), l("pods"))
	for _, tc := range []struct {
		name           string
		owner, servant []*rbacv1.PolicyRule
		missing        []string // compactString of each missing permission, in order
	}{
		{"same rule", rules(readPods), rules(readPods), nil},
		{"fewer verbs", rules(readPods), rules(res(l("get"), l(""), l("pods"))), nil},
		{"split across owner rules", rules(res(l("get"), l(""), l("pods")), res(l("list"), l(""), l("pods"))),
			rules(res(l("get", "list"), l(""), l("pods"))), nil},
		{"another verb", rules(readPods), rules(res(l("get", "delete"), l(""), l("pods"))),
			l(`{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`)},
		{"another group", rules(readPods), rules(res(l("get"), l("apps"), l("pods"))),
			l(`{APIGroups:["apps"], Resources:["pods"], Verbs:["get"]}`)},
		{"nothing held", nil, rules(readPods), l(
			`{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`,
			`{APIGroups:[""], Resources:["pods"], Verbs:["list"]}`,
			`{APIGroups:[""], Resources:["pods"], Verbs:["watch"]}`)},
		{"nothing granted", nil, nil, nil},
		// Wildcards: the owner's cover anything; the servant's are covered by a wildcard only.
		{"owner * covers all", rules(res(l("*"), l("*"), l("*"))), rules(res(l("delete"), l("apps"), l("deployments", "deployments/scale"))), nil},
		{"owner * verbs", rules(res(l("*"), l(""), l("pods"))), rules(res(l("escalate", "bind"), l(""), l("pods"))), nil},
		{"servant * verb needs owner *", rules(readPods), rules(res(l("*"), l(""), l("pods"))),
			l(`{APIGroups:[""], Resources:["pods"], Verbs:["*"]}`)},
		{"servant * group needs owner *", rules(res(l("get"), l("", "apps"), l("pods"))), rules(res(l("get"), l("*"), l("pods"))),
			l(`{APIGroups:["*"], Resources:["pods"], Verbs:["get"]}`)},
		{"servant * resource needs owner *", rules(res(l("get"), l(""), l("pods", "nodes"))), rules(res(l("get"), l(""), l("*"))),
			l(`{APIGroups:[""], Resources:["*"], Verbs:["get"]}`)},
		{"servant * resource under owner *", rules(res(l("get"), l(""), l("*"))), rules(res(l("get"), l(""), l("*"))), nil},
		// Subresources.
		{"resource does not cover its subresource", rules(res(l("update"), l(""), l("pods"))), rules(res(l("update"), l(""), l("pods/status"))),
			l(`{APIGroups:[""], Resources:["pods/status"], Verbs:["update"]}`)},
		{"subresource does not cover its resource", rules(res(l("update"), l(""), l("pods/status"))), rules(res(l("update"), l(""), l("pods"))),
			l(`{APIGroups:[""], Resources:["pods"], Verbs:["update"]}`)},
		{"subresource", rules(res(l("update"), l(""), l("pods/status"))), rules(res(l("update"), l(""), l("pods/status"))), nil},
		{"*/status covers pods/status", rules(res(l("update"), l(""), l("*/status"))), rules(res(l("update"), l(""), l("pods/status"))), nil},
		{"* covers pods/status", rules(res(l("update"), l(""), l("*"))), rules(res(l("update"), l(""), l("pods/status"))), nil},
		{"pods/status does not cover */status", rules(res(l("update"), l(""), l("pods/status"))), rules(res(l("update"), l(""), l("*/status"))),
			l(`{APIGroups:[""], Resources:["*/status"], Verbs:["update"]}`)},
		// resourceNames.
		{"owner without names covers names", rules(readPods), rules(res(l("get"), l(""), l("pods"), "a")), nil},
		{"owner names cover the same names", rules(res(l("get"), l(""), l("pods"), "a", "b")), rules(res(l("get"), l(""), l("pods"), "b")), nil},
		{"owner names miss another", rules(res(l("get"), l(""), l("pods"), "a")), rules(res(l("get"), l(""), l("pods"), "a", "c")),
			l(`{APIGroups:[""], Resources:["pods"], ResourceNames:["c"], Verbs:["get"]}`)},
		{"owner names do not cover all names", rules(res(l("get"), l(""), l("pods"), "a")), rules(res(l("get"), l(""), l("pods"))),
			l(`{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`)},
		// Non-resource URLs.
		{"url exact", rules(url(l("get"), "/healthz")), rules(url(l("get"), "/healthz")), nil},
		{"url prefix covers a path", rules(url(l("get"), "/apis/*")), rules(url(l("get"), "/apis/apps/v1")), nil},
		{"url prefix covers a longer prefix", rules(url(l("get"), "/api*")), rules(url(l("get"), "/apis/*")), nil},
		{"url * covers all", rules(url(l("*"), "*")), rules(url(l("get", "post"), "/metrics", "/logs/*")), nil},
		{"url prefix does not cover *", rules(url(l("get"), "/apis/*")), rules(url(l("get"), "*")),
			l(`{NonResourceURLs:["*"], Verbs:["get"]}`)},
		{"url other verb", rules(url(l("get"), "/metrics")), rules(url(l("get", "post"), "/metrics")),
			l(`{NonResourceURLs:["/metrics"], Verbs:["post"]}`)},
		{"resource rules do not cover urls", rules(res(l("*"), l("*"), l("*"))), rules(url(l("get"), "/metrics")),
			l(`{NonResourceURLs:["/metrics"], Verbs:["get"]}`)},
		{"url rules do not cover resources", rules(url(l("*"), "*")), rules(res(l("get"), l(""), l("pods"))),
			l(`{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`)},
		{"cluster-admin covers cluster-admin", fullAuthority(), fullAuthority(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, missing := Covers(tc.owner, tc.servant)
			var got []string
			for _, m := range missing {
				got = append(got, compactString(m))
			}
			if ok != (len(tc.missing) == 0) || strings.Join(got, "\n") != strings.Join(tc.missing, "\n") {
				t.Errorf("Covers = %v, missing\n%s\nwant missing\n%s", ok, strings.Join(got, "\n"), strings.Join(tc.missing, "\n"))
			}
		})
	}
}

// The refusal reads as Kubernetes': permissions of one resource merged, lines sorted.
func TestNotHeldMessage(t *testing.T) {
	_, missing := Covers(nil, []*rbacv1.PolicyRule{
		{Verbs: []string{"get", "delete"}, ApiGroups: []string{"", "apps"}, Resources: []string{"pods"}},
		{Verbs: []string{"update"}, ApiGroups: []string{""}, Resources: []string{"pods/status"}, ResourceNames: []string{"web-0"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}},
	})
	err := notHeld(&request.User{Name: "bob", Groups: []string{"dev", "system:authenticated"}}, missing)
	want := `user "bob" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["pods"], Verbs:["get" "delete"]}
{APIGroups:[""], Resources:["pods/status"], ResourceNames:["web-0"], Verbs:["update"]}
{APIGroups:["apps"], Resources:["pods"], Verbs:["get" "delete"]}
{NonResourceURLs:["/metrics"], Verbs:["get"]}`
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
}

// Writes without a user are the server's own (the bootstrap policy): they pass without
// consulting anything, and so do updates that change only what the garbage collector changes.
func TestEscalationCheckLetsThrough(t *testing.T) {
	e := &EscalationCheck{} // nil Cache, Authorizer and Stores: any use of them panics
	role := clusterRole("r", fullAuthority()...)
	if err := e.Validate(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: "clusterroles", Name: "r", Object: role}); err != nil {
		t.Errorf("server's own create: %v", err)
	}
	next := clusterRole("r", fullAuthority()...)
	next.Metadata.Finalizers = []string{"example.com/hold"}
	bob := &request.User{Name: "bob", Groups: []string{request.GroupAuthenticated}}
	if err := e.Validate(context.Background(), &admission.Attributes{Operation: admission.Update, Resource: "clusterroles", Name: "r", Object: next, OldObject: role, User: bob}); err != nil {
		t.Errorf("finalizers-only update: %v", err)
	}
}
