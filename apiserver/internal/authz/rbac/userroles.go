package rbac

import (
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

// The user-facing roles, as kube-apiserver's bootstrap policy defines them: admin, edit and
// view are meant to be bound in a namespace (a RoleBinding to the ClusterRole) and hold no
// rules of their own. Each has an aggregationRule, and the controller-manager's
// clusterrole-aggregation controller fills its rules from every ClusterRole labelled
// aggregate-to-<role>: "true". The bootstrap policy supplies those as the
// system:aggregate-to-* roles; an operator or an add-on extends admin, edit or view by
// creating one more labelled ClusterRole. edit is labelled aggregate-to-admin and view
// aggregate-to-edit, so admin ⊇ edit ⊇ view.
//
// The rules are upstream's (v1.34) restricted to the resources kubelab serves: no
// replication controllers, workloads other than Deployments, ReplicaSets and Jobs, proxy subresources, networking
// policies or autoscaling, and no localsubjectaccessreviews. As upstream since 1.22, edit
// may not write Endpoints or EndpointSlices (they could point a service anywhere), only read
// them. Lists are sorted, as
// upstream's rule builder sorts them, so `kubectl get clusterrole -o yaml` reads the same.

// Labels that feed the user-facing roles.
const (
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

var (
	// write is upstream's Write: every change, not reading.
	write = []string{"create", "delete", "deletecollection", "patch", "update"}
	// readWrite is upstream's ReadWrite.
	readWrite = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	rbacGroup = []string{group}
)

// labelled adds labels to a bootstrap object's metadata.
func labelled(m *metav1.ObjectMeta, kv ...string) *metav1.ObjectMeta {
	for i := 0; i+1 < len(kv); i += 2 {
		m.Labels[kv[i]] = kv[i+1]
	}
	return m
}

// aggregatedRole is a bootstrap ClusterRole with no rules that gathers those of the roles
// labelled selectLabel: "true".
func aggregatedRole(name, selectLabel string, labels ...string) *rbacv1.ClusterRole {
	r := clusterRole(name)
	labelled(r.Metadata, labels...)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []*metav1.LabelSelector{
		{MatchLabels: map[string]string{selectLabel: "true"}},
	}}
	return r
}

// aggregateTo is a bootstrap ClusterRole whose rules feed the role label names.
func aggregateTo(name, label string, rules ...*rbacv1.PolicyRule) *rbacv1.ClusterRole {
	r := clusterRole(name, rules...)
	labelled(r.Metadata, label, "true")
	return r
}

// userFacingRoles are admin, edit, view and the system:aggregate-to-* roles feeding them.
func userFacingRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		aggregatedRole("admin", AggregateToAdmin),
		aggregatedRole("edit", AggregateToEdit, AggregateToAdmin, "true"),
		aggregatedRole("view", AggregateToView, AggregateToEdit, "true"),
		// What admin holds beyond edit: managing who may do what in the namespace. The
		// escalation check still keeps an admin from granting more than it holds.
		aggregateTo("system:aggregate-to-admin", AggregateToAdmin,
			rule(readWrite, rbacGroup, "rolebindings", "roles")),
		// Everything a user does with workloads in a namespace, including reading secrets
		// and running as any service account, but not the namespace's quota and limits.
		aggregateTo("system:aggregate-to-edit", AggregateToEdit,
			rule(readVerbs, core, "pods/attach", "pods/exec", "pods/portforward", "secrets"),
			rule([]string{"impersonate"}, core, "serviceaccounts"),
			rule(write, core, "pods", "pods/attach", "pods/exec", "pods/portforward"),
			rule([]string{"create"}, core, "pods/eviction"),
			rule(write, core, "configmaps", "events", "persistentvolumeclaims", "secrets", "serviceaccounts", "services"),
			rule([]string{"create"}, core, "serviceaccounts/token"),
			rule(write, apps, "daemonsets", "deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
			rule(write, batch, "cronjobs", "jobs"),
			rule(write, policy, "poddisruptionbudgets"),
			rule(readWrite, coordination, "leases")),
		// Reading what is in a namespace, except secrets (reading a secret is as good as
		// holding its credentials) and RBAC.
		aggregateTo("system:aggregate-to-view", AggregateToView,
			rule(readVerbs, core, "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "serviceaccounts", "services", "services/status"),
			rule(readVerbs, core, "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "resourcequotas", "resourcequotas/status"),
			// Reading namespaces in a namespace reads that one namespace: a hint of where one
			// has access.
			rule(readVerbs, core, "namespaces"),
			rule(readVerbs, apps, "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"),
			rule(readVerbs, batch, "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
			rule(readVerbs, discovery, "endpointslices"),
			rule(readVerbs, policy, "poddisruptionbudgets", "poddisruptionbudgets/status")),
	}
}
