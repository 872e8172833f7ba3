// Package rbac is the RBAC authorizer (--authorization-mode=RBAC): a request is allowed
// when a ClusterRoleBinding, or a RoleBinding in the request's namespace, grants one of the
// user's identities a rule that matches it. RBAC only allows; a request no rule matches gets
// no opinion, and the chain forbids it when nobody else allows it.
package rbac

import (
	"context"
	"strings"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/serviceaccount"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

// Authorizer decides from a Cache.
type Authorizer struct {
	Cache *Cache
}

func (a *Authorizer) Authorize(_ context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	u, info := attrs.User, attrs.Info
	if u == nil || info == nil {
		return authz.NoOpinion, "", nil
	}
	var reason string
	a.Cache.visit(info.Namespace, func(source string, subjects []*rbacv1.Subject, bindingNS string, rules []*rbacv1.PolicyRule) bool {
		subject, ok := appliesTo(u, subjects, bindingNS)
		if !ok || !RulesAllow(info, rules) {
			return true
		}
		reason = "RBAC: allowed by " + source + " to " + subject
		return false
	})
	if reason != "" {
		return authz.Allow, reason, nil
	}
	return authz.NoOpinion, "", nil
}

// RulesFor lists what u holds in namespace, for a SelfSubjectRulesReview: RBAC can always
// write its grants as rules.
func (a *Authorizer) RulesFor(_ context.Context, u *request.User, namespace string) ([]*rbacv1.PolicyRule, bool, error) {
	return a.Cache.RulesFor(u, namespace), false, nil
}

// RulesFor returns every rule granted to u in namespace ("" for cluster-wide rules only) by
// the bindings that name one of u's identities: what u holds there, as Authorize sees it.
// The escalation check compares these with the rules a write would grant, and a
// SelfSubjectRulesReview lists them. The rules are the cache's: read-only.
func (c *Cache) RulesFor(u *request.User, namespace string) []*rbacv1.PolicyRule {
	var rules []*rbacv1.PolicyRule
	c.visit(namespace, func(_ string, subjects []*rbacv1.Subject, bindingNS string, rs []*rbacv1.PolicyRule) bool {
		if _, ok := appliesTo(u, subjects, bindingNS); ok {
			rules = append(rules, rs...)
		}
		return true
	})
	return rules
}

// appliesTo reports whether one of subjects is u, and which (for the reason).
func appliesTo(u *request.User, subjects []*rbacv1.Subject, bindingNS string) (string, bool) {
	for _, s := range subjects {
		switch s.GetKind() {
		case "User":
			if s.GetName() == u.Name {
				return `User "` + s.GetName() + `"`, true
			}
		case "Group":
			if u.InGroup(s.GetName()) {
				return `Group "` + s.GetName() + `"`, true
			}
		case "ServiceAccount":
			ns := s.GetNamespace()
			if ns == "" {
				ns = bindingNS
			}
			if u.Name == serviceaccount.Username(ns, s.GetName()) {
				return `ServiceAccount "` + s.GetName() + `/` + ns + `"`, true
			}
		}
	}
	return "", false
}

// RulesAllow reports whether any rule matches the request.
func RulesAllow(info *request.Info, rules []*rbacv1.PolicyRule) bool {
	for _, r := range rules {
		if RuleAllows(info, r) {
			return true
		}
	}
	return false
}

// RuleAllows matches one rule as Kubernetes' rbac/v1 helpers do: "*" matches any verb,
// group or resource; "pods/status" names a subresource and "*/status" that subresource of
// any resource; resourceNames, when set, must contain the request's name; non-resource URLs
// match exactly or by a prefix ending in "*".
func RuleAllows(info *request.Info, r *rbacv1.PolicyRule) bool {
	if !matches(r.GetVerbs(), info.Verb) {
		return false
	}
	if !info.IsResourceRequest {
		for _, u := range r.GetNonResourceURLs() {
			if u == "*" || u == info.Path || (strings.HasSuffix(u, "*") && strings.HasPrefix(info.Path, strings.TrimSuffix(u, "*"))) {
				return true
			}
		}
		return false
	}
	if !matches(r.GetApiGroups(), info.APIGroup) {
		return false
	}
	resource := info.Resource
	if info.Subresource != "" {
		resource += "/" + info.Subresource
	}
	ok := false
	for _, rr := range r.GetResources() {
		if rr == "*" || rr == resource || (info.Subresource != "" && rr == "*/"+info.Subresource) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	if len(r.GetResourceNames()) == 0 {
		return true
	}
	for _, n := range r.GetResourceNames() {
		if n == info.Name {
			return true
		}
	}
	return false
}

func matches(list []string, s string) bool {
	for _, x := range list {
		if x == "*" || x == s {
			return true
		}
	}
	return false
}
