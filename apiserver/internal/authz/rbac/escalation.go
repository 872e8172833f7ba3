package rbac

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/request"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// EscalationCheck keeps RBAC from being a way around RBAC, as kube-apiserver's policy-based
// storage for the four rbac kinds does (pkg/registry/rbac/…/policybased): whoever may write
// Roles or RoleBindings could otherwise grant themselves anything.
//
//   - A Role or ClusterRole may be created or updated (patches are updates) only by a user who
//     already holds every permission it grants — in its namespace for a Role, cluster-wide for
//     a ClusterRole — or who may "escalate" roles (clusterroles) there. A ClusterRole with an
//     aggregationRule needs every permission there is, since aggregation may gather anything.
//   - A RoleBinding or ClusterRoleBinding may be created or updated only by a user who holds
//     every permission of the role it refers to (in the binding's namespace; cluster-wide for
//     a ClusterRoleBinding), or who may "bind" that role there (resourceNames may name it).
//
// Members of system:masters pass because the authorizer chain allows them everything,
// "escalate" and "bind" included. Writes with no user on the context are the server's own
// (the bootstrap policy) and pass. An update that changes nothing but ownerReferences and
// finalizers passes, so the garbage collector can always let go of an object.
//
// It runs as a validating admission step, after mutating admission (it judges the object as
// it will be stored) and before the other validators, so nothing refused here has been
// charged to a quota. It is not one of the plugins --enable-admission-plugins chooses: it is
// on whenever RBAC authorizes.
type EscalationCheck struct {
	// Cache tells what a user holds: the rules the RBAC authorizer itself would apply.
	Cache *Cache
	// Authorizer is the whole authorization chain, asked about "escalate" and "bind".
	Authorizer authz.Authorizer
	// Stores are read for the role a binding refers to. Storage, not the Cache: a Role created
	// a moment ago, then bound (one `kubectl apply` of both), must be found.
	Stores Stores
}

// EscalationCheckName names the step in admission errors and logs.
const EscalationCheckName = "RBACEscalation"

func (e *EscalationCheck) Name() string { return EscalationCheckName }

func (e *EscalationCheck) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

// Validate refuses a write that grants more than its author holds, with 403 Forbidden.
func (e *EscalationCheck) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.User == nil || a.Subresource != "" {
		return nil
	}
	if a.Operation == admission.Update && onlyGCFields(a.Object, a.OldObject) {
		return nil
	}
	switch o := a.Object.(type) {
	case *rbacv1.Role:
		return e.checkRole(ctx, a, o.GetRules(), false)
	case *rbacv1.ClusterRole:
		return e.checkRole(ctx, a, o.GetRules(), o.GetAggregationRule() != nil)
	case *rbacv1.RoleBinding:
		return e.checkBinding(ctx, a, o.GetRoleRef())
	case *rbacv1.ClusterRoleBinding:
		return e.checkBinding(ctx, a, o.GetRoleRef())
	}
	return nil
}

func (e *EscalationCheck) checkRole(ctx context.Context, a *admission.Attributes, rules []*rbacv1.PolicyRule, aggregates bool) error {
	// As in Kubernetes, a create is authorized without a name (none is on its URL), so
	// "escalate" limited by resourceNames helps only with updates.
	name := a.Name
	if a.Operation == admission.Create {
		name = ""
	}
	if e.authorized(ctx, a.User, "escalate", group, a.Resource, a.Namespace, name) {
		return nil
	}
	gr := apierrors.GroupResource{Group: group, Resource: a.Resource}
	held := e.Cache.RulesFor(a.User, a.Namespace)
	if _, missing := Covers(held, rules); len(missing) > 0 {
		return apierrors.NewForbidden(gr, a.Name, notHeld(a.User, missing))
	}
	if aggregates {
		if ok, _ := Covers(held, fullAuthority()); !ok {
			return apierrors.NewForbidden(gr, a.Name, fmt.Errorf("must have cluster-admin privileges to use the aggregationRule"))
		}
	}
	return nil
}

func (e *EscalationCheck) checkBinding(ctx context.Context, a *admission.Attributes, ref *rbacv1.RoleRef) error {
	var roles *registry.Store
	switch ref.GetKind() {
	case "Role":
		roles = e.Stores.Roles
	case "ClusterRole":
		roles = e.Stores.ClusterRoles
	default:
		return nil // validation refuses it before this runs
	}
	if e.authorized(ctx, a.User, "bind", ref.GetApiGroup(), roles.Resource.Plural, a.Namespace, ref.GetName()) {
		return nil
	}
	gr := apierrors.GroupResource{Group: group, Resource: a.Resource}
	roleNS := a.Namespace
	if !roles.Resource.Namespaced {
		roleNS = ""
	}
	role, err := roles.Get(ctx, roleNS, ref.GetName())
	if apierrors.IsNotFound(err) {
		return apierrors.NewForbidden(gr, a.Name, err)
	}
	if err != nil {
		return err
	}
	var rules []*rbacv1.PolicyRule
	switch r := role.(type) {
	case *rbacv1.Role:
		rules = r.GetRules()
	case *rbacv1.ClusterRole:
		rules = r.GetRules()
	}
	if _, missing := Covers(e.Cache.RulesFor(a.User, a.Namespace), rules); len(missing) > 0 {
		return apierrors.NewForbidden(gr, a.Name, notHeld(a.User, missing))
	}
	return nil
}

// authorized asks the authorizer chain whether u may use verb ("escalate", "bind") on the
// named role resource; an authorizer error counts as no.
func (e *EscalationCheck) authorized(ctx context.Context, u *request.User, verb, apiGroup, resource, namespace, name string) bool {
	d, _, err := e.Authorizer.Authorize(ctx, authz.Attributes{User: u, Info: &request.Info{
		IsResourceRequest: true, Verb: verb, APIGroup: apiGroup, Resource: resource, Namespace: namespace, Name: name,
	}})
	return err == nil && d == authz.Allow
}

// onlyGCFields reports whether next differs from old in ownerReferences and finalizers only.
func onlyGCFields(next, old runtime.Object) bool {
	if next == nil || old == nil {
		return false
	}
	c := proto.Clone(next).(runtime.Object)
	m := runtime.Meta(c)
	m.OwnerReferences = old.GetMetadata().GetOwnerReferences()
	m.Finalizers = old.GetMetadata().GetFinalizers()
	return proto.Equal(c, old)
}

// Covers reports whether the owner's rules allow everything the servant's rules do, and the
// servant's permissions they do not allow, one verb, group, resource and name (or one verb
// and URL) each. Each such permission is put to the owner's rules as a request (RuleAllows):
// a "*" in it is then matched literally, so only a "*" covers it; "pods/status" is the
// status subresource of pods, which "*/status" covers too; a permission without
// resourceNames is covered only by rules without them; "/apis/*" is covered by itself or by
// a shorter prefix ("/api*", "*").
func Covers(owner, servant []*rbacv1.PolicyRule) (bool, []*rbacv1.PolicyRule) {
	var missing []*rbacv1.PolicyRule
	for _, r := range servant {
		for _, p := range breakdown(r) {
			if !RulesAllow(asRequest(p), owner) {
				missing = append(missing, p)
			}
		}
	}
	return len(missing) == 0, missing
}

// breakdown splits a rule into single permissions, as Kubernetes' BreakdownRule does.
func breakdown(r *rbacv1.PolicyRule) []*rbacv1.PolicyRule {
	var out []*rbacv1.PolicyRule
	for _, g := range r.GetApiGroups() {
		for _, res := range r.GetResources() {
			for _, v := range r.GetVerbs() {
				if len(r.GetResourceNames()) == 0 {
					out = append(out, &rbacv1.PolicyRule{ApiGroups: []string{g}, Resources: []string{res}, Verbs: []string{v}})
				}
				for _, n := range r.GetResourceNames() {
					out = append(out, &rbacv1.PolicyRule{ApiGroups: []string{g}, Resources: []string{res}, Verbs: []string{v}, ResourceNames: []string{n}})
				}
			}
		}
	}
	for _, u := range r.GetNonResourceURLs() {
		for _, v := range r.GetVerbs() {
			out = append(out, &rbacv1.PolicyRule{NonResourceURLs: []string{u}, Verbs: []string{v}})
		}
	}
	return out
}

// asRequest is the request a single permission (from breakdown) allows.
func asRequest(p *rbacv1.PolicyRule) *request.Info {
	info := &request.Info{Verb: p.GetVerbs()[0]}
	if urls := p.GetNonResourceURLs(); len(urls) > 0 {
		info.Path = urls[0]
		return info
	}
	info.IsResourceRequest = true
	info.APIGroup = p.GetApiGroups()[0]
	info.Resource, info.Subresource, _ = strings.Cut(p.GetResources()[0], "/")
	if names := p.GetResourceNames(); len(names) > 0 {
		info.Name = names[0]
	}
	return info
}

// notHeld is Kubernetes' refusal, word for word: the user, their groups, and the missing
// permissions, those of one group and resource merged into one line, lines sorted.
func notHeld(u *request.User, missing []*rbacv1.PolicyRule) error {
	seen := map[string]bool{}
	var lines []string
	for _, r := range compact(missing) {
		if s := compactString(r); !seen[s] {
			seen[s] = true
			lines = append(lines, s)
		}
	}
	sort.Strings(lines)
	return fmt.Errorf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.Name, u.Groups, strings.Join(lines, "\n"))
}

// compact merges the verbs of single permissions on the same group and resource that name
// no resources (Kubernetes' CompactRules); others stay as they are.
func compact(perms []*rbacv1.PolicyRule) []*rbacv1.PolicyRule {
	var out []*rbacv1.PolicyRule
	merged := map[[2]string]*rbacv1.PolicyRule{}
	for _, p := range perms {
		if len(p.GetResourceNames()) > 0 || len(p.GetNonResourceURLs()) > 0 || len(p.GetApiGroups()) != 1 || len(p.GetResources()) != 1 {
			out = append(out, p)
			continue
		}
		key := [2]string{p.GetApiGroups()[0], p.GetResources()[0]}
		if m, ok := merged[key]; ok {
			m.Verbs = append(m.Verbs, p.GetVerbs()...)
			continue
		}
		m := proto.Clone(p).(*rbacv1.PolicyRule)
		merged[key] = m
		out = append(out, m)
	}
	return out
}

// compactString prints a rule as Kubernetes' escalation errors do:
// {APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}.
func compactString(r *rbacv1.PolicyRule) string {
	var parts []string
	for _, f := range []struct {
		name   string
		values []string
	}{
		{"APIGroups", r.GetApiGroups()}, {"Resources", r.GetResources()}, {"NonResourceURLs", r.GetNonResourceURLs()},
		{"ResourceNames", r.GetResourceNames()}, {"Verbs", r.GetVerbs()},
	} {
		if len(f.values) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", f.name, f.values))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
