package rbac

import (
	"testing"

	"kubelab.io/apiserver/internal/request"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

// TestStorageRoles: the bootstrap roles give the storage API to those upstream gives it to:
// the binder and protection controllers (controller-manager), the scheduler's VolumeBinding
// (kube-scheduler and volume-scheduler), and the namespace users (edit writes claims, view reads them). Aggregated rules are
// checked on the system:aggregate-to-* roles that feed admin, edit and view.
func TestStorageRoles(t *testing.T) {
	roles := map[string]*rbacv1.ClusterRole{}
	for _, r := range ClusterRoles() {
		roles[r.GetMetadata().GetName()] = r
	}
	res := func(verb, group, resource, sub string) *request.Info {
		return &request.Info{IsResourceRequest: true, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: "team", Name: "x"}
	}
	for _, c := range []struct {
		role  string
		info  *request.Info
		allow bool
	}{
		{UserKubeControllerManager, res("create", "", "persistentvolumes", ""), true},
		{UserKubeControllerManager, res("update", "", "persistentvolumes", "status"), true},
		{UserKubeControllerManager, res("update", "", "persistentvolumeclaims", ""), true},
		{UserKubeControllerManager, res("update", "", "persistentvolumeclaims", "status"), true},
		{UserKubeControllerManager, res("watch", "storage.k8s.io", "storageclasses", ""), true},
		{UserKubeScheduler, res("list", "", "persistentvolumeclaims", ""), true},
		{UserKubeScheduler, res("watch", "storage.k8s.io", "storageclasses", ""), true},
		{UserKubeScheduler, res("update", "", "persistentvolumes", ""), false},
		{"system:volume-scheduler", res("update", "", "persistentvolumes", ""), true},
		{"system:volume-scheduler", res("patch", "", "persistentvolumeclaims", ""), true},
		// Kubelets read their pods' claims and volumes through the Node authorizer only:
		// system:node is bound to every node, so a rule here would open every claim to each.
		{"system:node", res("get", "", "persistentvolumeclaims", ""), false},
		{"system:node", res("get", "", "persistentvolumes", ""), false},
		{"system:node", res("patch", "", "persistentvolumeclaims", "status"), false},
		{"system:aggregate-to-edit", res("create", "", "persistentvolumeclaims", ""), true},
		{"system:aggregate-to-view", res("list", "", "persistentvolumeclaims", ""), true},
		{"system:aggregate-to-view", res("get", "", "persistentvolumeclaims", "status"), true},
		{"system:aggregate-to-view", res("list", "", "persistentvolumes", ""), false},
	} {
		role := roles[c.role]
		if role == nil {
			t.Fatalf("no bootstrap ClusterRole %s", c.role)
		}
		if got := RulesAllow(c.info, role.GetRules()); got != c.allow {
			t.Errorf("%s: %s %s/%s allowed = %v, want %v", c.role, c.info.Verb, c.info.Resource, c.info.Subresource, got, c.allow)
		}
	}
	var bound bool
	for _, b := range ClusterRoleBindings() {
		if b.GetRoleRef().GetName() == "system:volume-scheduler" && b.GetSubjects()[0].GetName() == UserKubeScheduler {
			bound = true
		}
	}
	if !bound {
		t.Error("system:volume-scheduler is not bound to the scheduler")
	}
}
