package app

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/apierrors"
)

// TestEditAggregatesAndAuthorizes runs the controller-manager with the
// clusterrole-aggregation controller, as its own identity (whose bootstrap role must let it
// write aggregated rules past the escalation check), against a real apiserver. A user bound
// to edit in one namespace may, once edit is aggregated, create a Deployment there, but not
// a RoleBinding (edit is not admin) nor, until a ClusterRole labelled aggregate-to-edit
// grants it, a ResourceQuota. That ClusterRole's rule also reaches admin, which aggregates
// edit. A hand edit of edit's rules is undone.
func TestEditAggregatesAndAuthorizes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	startInstance(t, srv, "cm", "--kubeconfig", srv.UserKubeconfig("system:kube-controller-manager"),
		"--controllers", "clusterrole-aggregation", "--leader-elect=false")
	alice, err := kube.NewForConfigFile(srv.UserKubeconfig("alice"), kube.Options{QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = alice.Close() })

	bg := context.Background()
	if _, err := admin.Namespaces().Create(bg, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	bindEdit := &rbacv1.RoleBinding{
		Metadata: &metav1.ObjectMeta{Name: "alice-edit", Namespace: "team"},
		RoleRef:  &rbacv1.RoleRef{ApiGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"},
		Subjects: []*rbacv1.Subject{{Kind: "User", ApiGroup: "rbac.authorization.k8s.io", Name: "alice"}},
	}
	if _, err := roleBindings(admin, "team").Create(bg, bindEdit); err != nil {
		t.Fatal(err)
	}

	// Edit holds nothing until the controller aggregated system:aggregate-to-edit into it.
	controllertest.Eventually(t, "alice creates a deployment through edit", func() (bool, string) {
		_, err := alice.Deployments("team").Create(bg, newDeployment("web"))
		return err == nil, errString(err)
	})
	if _, err := roleBindings(alice, "team").Create(bg, proto.Clone(bindEdit).(*rbacv1.RoleBinding)); !apierrors.IsForbidden(err) {
		t.Fatalf("alice created a rolebinding through edit: %v, want 403 Forbidden", err)
	}
	quota := func(name string) error {
		_, err := alice.ResourceQuotas("team").Create(bg, &corev1.ResourceQuota{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "team"}})
		return err
	}
	if err := quota("before"); !apierrors.IsForbidden(err) {
		t.Fatalf("alice created a resourcequota before any role granted it: %v, want 403 Forbidden", err)
	}

	grant := &rbacv1.PolicyRule{Verbs: []string{"create"}, ApiGroups: []string{""}, Resources: []string{"resourcequotas"}}
	if _, err := admin.ClusterRoles().Create(bg, &rbacv1.ClusterRole{
		Metadata: &metav1.ObjectMeta{Name: "quota-editor", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
		Rules:    []*rbacv1.PolicyRule{grant},
	}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "alice creates a resourcequota once quota-editor aggregates into edit", func() (bool, string) {
		err := quota("after")
		return err == nil, errString(err)
	})
	hasGrant := func(name string) (bool, string) {
		r, err := admin.ClusterRoles().Get(bg, name)
		if err != nil {
			return false, err.Error()
		}
		return slices.ContainsFunc(r.GetRules(), func(p *rbacv1.PolicyRule) bool { return proto.Equal(p, grant) }), fmt.Sprintf("%d rules", len(r.GetRules()))
	}
	controllertest.Eventually(t, "admin aggregates edit's new rule", func() (bool, string) { return hasGrant("admin") })

	edit, err := admin.ClusterRoles().Get(bg, "edit")
	if err != nil {
		t.Fatal(err)
	}
	aggregatedRules := edit.GetRules()
	edit.Rules = edit.Rules[:1]
	if _, err := admin.ClusterRoles().Update(bg, edit); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the hand edit of edit undone", func() (bool, string) {
		r, err := admin.ClusterRoles().Get(bg, "edit")
		if err != nil {
			return false, err.Error()
		}
		return slices.EqualFunc(r.GetRules(), aggregatedRules, func(a, b *rbacv1.PolicyRule) bool { return proto.Equal(a, b) }),
			fmt.Sprintf("%d rules, want %d", len(r.GetRules()), len(aggregatedRules))
	})
}

func roleBindings(cs *kube.Clientset, ns string) *kube.Resource[*rbacv1.RoleBinding, *rbacv1.RoleBindingList] {
	return kube.NewResource[*rbacv1.RoleBinding, *rbacv1.RoleBindingList](cs.Transport(), ns)
}

func newDeployment(name string) *appsv1.Deployment {
	rs := newRS(name, 1)
	return &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "team"},
		Spec:     &appsv1.DeploymentSpec{Replicas: rs.Spec.Replicas, Selector: rs.Spec.Selector, Template: rs.Spec.Template},
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
