package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRBACEscalation: writing Roles and RoleBindings grants nothing their author does not
// hold, unless they may "escalate" or "bind" (RBAC's escalation check).
func TestRBACEscalation(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	admin.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"dev"}}`).must(t, 201)
	const (
		roles        = rbacAPI + "/namespaces/dev/roles"
		rolebindings = rbacAPI + "/namespaces/dev/rolebindings"
		clusterroles = rbacAPI + "/clusterroles"
		rbacGroup    = `"apiGroups":["rbac.authorization.k8s.io"]`
	)
	// An edit-like ClusterRole.
	admin.post(clusterroles, roleJSON("ClusterRole", "editor", `{"verbs":["*"],"apiGroups":["","apps"],"resources":["pods","deployments","deployments/scale"]}`)).must(t, 201)
	// carol may create RoleBindings in dev, and nothing else.
	grant(t, admin, "carol", "binder", `{"verbs":["create"],`+rbacGroup+`,"resources":["rolebindings"]}`)
	// dave reads pods in dev and writes Roles there.
	grant(t, admin, "dave", "pod-reader", `{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}`)
	grant(t, admin, "dave", "role-writer", `{"verbs":["create","update","patch","get"],`+rbacGroup+`,"resources":["roles"]}`)
	// erin may create ClusterRoles, cluster-wide.
	admin.post(clusterroles, roleJSON("ClusterRole", "clusterrole-writer", `{"verbs":["create"],`+rbacGroup+`,"resources":["clusterroles"]}`)).must(t, 201)
	admin.post(rbacAPI+"/clusterrolebindings", bindingJSON("ClusterRoleBinding", "erin", "ClusterRole", "clusterrole-writer", "erin")).must(t, 201)

	carol, dave, erin := userClient(t, s, "carol"), userClient(t, s, "dave"), userClient(t, s, "erin")
	root := userClient(t, s, "root", "system:masters")
	waitCan(t, carol, "create", "rolebindings", "")
	waitCan(t, dave, "create", "roles", "")
	waitCan(t, dave, "list", "pods", "")
	waitCan(t, erin, "create", "clusterroles", "")

	refused := func(t *testing.T, r response, want string) {
		t.Helper()
		r.must(t, http.StatusForbidden)
		v := r.json(t)
		if msg := str(v["message"]); msg != want {
			t.Errorf("message:\n%s\nwant:\n%s", msg, want)
		}
		if v["reason"] != "Forbidden" {
			t.Errorf("reason = %v, want Forbidden", v["reason"])
		}
	}
	notHeld := func(user, missing string) string {
		return fmt.Sprintf("user %q (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n%s", user, missing)
	}

	t.Run("carol may not bind cluster-admin or editor", func(t *testing.T) {
		refused(t, carol.post(rolebindings, bindingJSON("RoleBinding", "carol-admin", "ClusterRole", "cluster-admin", "carol")),
			`rolebindings.rbac.authorization.k8s.io "carol-admin" is forbidden: `+notHeld("carol",
				`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`+"\n"+`{NonResourceURLs:["*"], Verbs:["*"]}`))
		refused(t, carol.post(rolebindings, bindingJSON("RoleBinding", "carol-edit", "ClusterRole", "editor", "carol")),
			`rolebindings.rbac.authorization.k8s.io "carol-edit" is forbidden: `+notHeld("carol", strings.Join([]string{
				`{APIGroups:[""], Resources:["deployments"], Verbs:["*"]}`,
				`{APIGroups:[""], Resources:["deployments/scale"], Verbs:["*"]}`,
				`{APIGroups:[""], Resources:["pods"], Verbs:["*"]}`,
				`{APIGroups:["apps"], Resources:["deployments"], Verbs:["*"]}`,
				`{APIGroups:["apps"], Resources:["deployments/scale"], Verbs:["*"]}`,
				`{APIGroups:["apps"], Resources:["pods"], Verbs:["*"]}`,
			}, "\n")))
		refused(t, carol.post(rolebindings, bindingJSON("RoleBinding", "carol-read", "Role", "pod-reader", "carol")),
			`rolebindings.rbac.authorization.k8s.io "carol-read" is forbidden: `+notHeld("carol",
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`))
		refused(t, carol.post(rolebindings, bindingJSON("RoleBinding", "carol-none", "ClusterRole", "no-such-role", "carol")),
			`rolebindings.rbac.authorization.k8s.io "carol-none" is forbidden: clusterroles.rbac.authorization.k8s.io "no-such-role" not found`)
		admin.get(rolebindings+"/carol-admin").must(t, 404)
	})

	t.Run("bind on one ClusterRole lets carol bind that one only", func(t *testing.T) {
		grant(t, admin, "carol", "bind-editor", `{"verbs":["bind"],`+rbacGroup+`,"resources":["clusterroles"],"resourceNames":["editor"]}`)
		waitCan(t, carol, "bind", "clusterroles", "editor")
		carol.post(rolebindings, bindingJSON("RoleBinding", "carol-edit", "ClusterRole", "editor", "carol")).must(t, 201)
		carol.post(rolebindings, bindingJSON("RoleBinding", "carol-admin", "ClusterRole", "cluster-admin", "carol")).must(t, 403)
		// Now holding editor in dev, carol may bind what it covers without bind on it.
		waitCan(t, carol, "delete", "pods", "")
		carol.post(rolebindings, bindingJSON("RoleBinding", "frank-read", "Role", "pod-reader", "frank")).must(t, 201)
	})

	t.Run("dave may grant what he holds and no more", func(t *testing.T) {
		dave.post(roles, roleJSON("Role", "readers", `{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}`)).must(t, 201)
		dave.post(roles, roleJSON("Role", "getter", `{"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["web-0"]}`)).must(t, 201)
		deleters := roleJSON("Role", "deleters", `{"verbs":["get","delete"],"apiGroups":[""],"resources":["pods"]}`)
		refused(t, dave.post(roles, deleters), `roles.rbac.authorization.k8s.io "deleters" is forbidden: `+
			notHeld("dave", `{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`))
		refused(t, dave.post(roles, roleJSON("Role", "status", `{"verbs":["get"],"apiGroups":[""],"resources":["pods/status"]}`)),
			`roles.rbac.authorization.k8s.io "status" is forbidden: `+notHeld("dave", `{APIGroups:[""], Resources:["pods/status"], Verbs:["get"]}`))
		refused(t, dave.post(roles, roleJSON("Role", "all-pods", `{"verbs":["get"],"apiGroups":[""],"resources":["*"]}`)),
			`roles.rbac.authorization.k8s.io "all-pods" is forbidden: `+notHeld("dave", `{APIGroups:[""], Resources:["*"], Verbs:["get"]}`))
		// Updates and patches are held to the same rule; ones that grant nothing new pass.
		dave.put(roles+"/readers", roleJSON("Role", "readers", `{"verbs":["get","list","delete"],"apiGroups":[""],"resources":["pods"]}`)).must(t, 403)
		dave.do("PATCH", roles+"/readers", "application/merge-patch+json", `{"rules":[{"verbs":["delete"],"apiGroups":[""],"resources":["pods"]}]}`).must(t, 403)
		dave.do("PATCH", roles+"/readers", "application/merge-patch+json", `{"metadata":{"labels":{"team":"dev"}}}`).must(t, 200)
		// Nothing dave holds in dev counts in another namespace.
		admin.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}}`).must(t, 201)
		admin.post(rbacAPI+"/namespaces/prod/roles", roleJSON("Role", "role-writer", `{"verbs":["create"],`+rbacGroup+`,"resources":["roles"]}`)).must(t, 201)
		admin.post(rbacAPI+"/namespaces/prod/rolebindings", bindingJSON("RoleBinding", "dave", "Role", "role-writer", "dave")).must(t, 201)
		waitCanIn(t, dave, "create", "roles", "prod", "")
		dave.post(rbacAPI+"/namespaces/prod/roles", roleJSON("Role", "readers", `{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}`)).must(t, 403)
	})

	t.Run("escalate lets dave grant more", func(t *testing.T) {
		grant(t, admin, "dave", "escalator", `{"verbs":["escalate"],`+rbacGroup+`,"resources":["roles"]}`)
		waitCan(t, dave, "escalate", "roles", "")
		dave.post(roles, roleJSON("Role", "deleters", `{"verbs":["get","delete"],"apiGroups":[""],"resources":["pods"]}`)).must(t, 201)
		dave.put(roles+"/readers", roleJSON("Role", "readers", `{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}`)).must(t, 200)
	})

	t.Run("ClusterRoles are judged on cluster-wide rules", func(t *testing.T) {
		erin.post(clusterroles, roleJSON("ClusterRole", "writer-copy", `{"verbs":["create"],`+rbacGroup+`,"resources":["clusterroles"]}`)).must(t, 201)
		refused(t, erin.post(clusterroles, roleJSON("ClusterRole", "pod-getter", `{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}`)),
			`clusterroles.rbac.authorization.k8s.io "pod-getter" is forbidden: `+notHeld("erin", `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`))
		refused(t, erin.post(clusterroles, `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"gatherer"},
			"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"gather":"me"}}]},"rules":[]}`),
			`clusterroles.rbac.authorization.k8s.io "gatherer" is forbidden: must have cluster-admin privileges to use the aggregationRule`)
	})

	t.Run("system:masters may do all", func(t *testing.T) {
		root.post(rbacAPI+"/clusterrolebindings", bindingJSON("ClusterRoleBinding", "ops-admin", "ClusterRole", "cluster-admin", "ops")).must(t, 201)
		root.post(rolebindings, bindingJSON("RoleBinding", "ops-admin", "ClusterRole", "cluster-admin", "ops")).must(t, 201)
		root.post(clusterroles, roleJSON("ClusterRole", "everything", `{"verbs":["*"],"apiGroups":["*"],"resources":["*"]},{"verbs":["*"],"nonResourceURLs":["*"]}`)).must(t, 201)
		root.post(clusterroles, `{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"gatherer"},
			"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"gather":"me"}}]},"rules":[]}`).must(t, 201)
	})
}

func roleJSON(kind, name, rules string) string {
	return `{"kind":"` + kind + `","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"` + name + `"},"rules":[` + rules + `]}`
}

func bindingJSON(kind, name, roleKind, role, user string) string {
	return `{"kind":"` + kind + `","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"` + name + `"},` +
		`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"` + roleKind + `","name":"` + role + `"},` +
		`"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"` + user + `"}]}`
}

// grant gives user the rules in namespace dev: a Role named role and a RoleBinding of it.
func grant(t *testing.T, admin *apiClient, user, role, rules string) {
	t.Helper()
	admin.post(rbacAPI+"/namespaces/dev/roles", roleJSON("Role", role, rules)).must(t, 201)
	admin.post(rbacAPI+"/namespaces/dev/rolebindings", bindingJSON("RoleBinding", user+"-"+role, "Role", role, user)).must(t, 201)
}

// waitCan waits until the RBAC cache lets c do verb on resource (named name) in dev.
func waitCan(t *testing.T, c *apiClient, verb, resource, name string) {
	t.Helper()
	waitCanIn(t, c, verb, resource, "dev", name)
}

// waitCanIn waits until a SelfSubjectAccessReview says c may do verb on resource (in rbac's
// group when it names roles or bindings, else the core group) in namespace.
func waitCanIn(t *testing.T, c *apiClient, verb, resource, namespace, name string) {
	t.Helper()
	group := ""
	if strings.Contains(resource, "role") {
		group = "rbac.authorization.k8s.io"
	}
	review := fmt.Sprintf(`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":%q,"group":%q,"resource":%q,"namespace":%q,"name":%q}}}`,
		verb, group, resource, namespace, name)
	eventually(t, fmt.Sprintf("%s %s %s in %s", verb, resource, name, namespace), func() bool {
		r := c.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
		return r.code == 201 && dig(r.json(t), "status", "allowed") == true
	})
}
