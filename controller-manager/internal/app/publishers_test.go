package app

import (
	"context"
	"fmt"
	"testing"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestServiceAccountAndRootCAPublished runs the controller-manager with the serviceaccount
// and root-ca-cert-publisher controllers, as its own identity, against a real apiserver: a
// new namespace gets the "default" service account and kube-root-ca.crt holding the CA of
// the controller-manager's kubeconfig; deleting either brings it back, and an edit of the
// ConfigMap is undone. The apiserver runs the ServiceAccount admission plugin, so a pod in
// the new namespace is admitted only thanks to them, with the token volume that mounts the
// published CA.
func TestServiceAccountAndRootCAPublished(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := apiservertest.StartWithServiceAccounts(t)
	admin := srv.Clientset(true)
	kc := srv.UserKubeconfig("system:kube-controller-manager")
	in := startInstance(t, srv, "cm", "--kubeconfig", kc, "--controllers", "serviceaccount,root-ca-cert-publisher", "--leader-elect=false")
	cfg, _, err := kubeconfig.LoadDefault(kc)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	wantCA := string(rc.TLS.CAData)

	bg := context.Background()
	if _, err := admin.Namespaces().Create(bg, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team-a"}}); err != nil {
		t.Fatal(err)
	}
	// published waits for both objects in ns and returns their uids.
	published := func(what, ns string) (saUID, cmUID string) {
		t.Helper()
		controllertest.Eventually(t, what, func() (bool, string) {
			sa, err := admin.ServiceAccounts(ns).Get(bg, "default")
			if err != nil {
				return false, err.Error()
			}
			cm, err := admin.ConfigMaps(ns).Get(bg, "kube-root-ca.crt")
			if err != nil {
				return false, err.Error()
			}
			if cm.GetData()["ca.crt"] != wantCA || len(cm.GetData()) != 1 {
				return false, fmt.Sprintf("kube-root-ca.crt data %q", cm.GetData())
			}
			if d := cm.GetMetadata().GetAnnotations()["kubernetes.io/description"]; d == "" {
				return false, "no description"
			}
			saUID, cmUID = sa.GetMetadata().GetUid(), cm.GetMetadata().GetUid()
			return true, ""
		})
		return saUID, cmUID
	}
	published("the default namespace filled", "default")
	saUID, cmUID := published("a new namespace filled", "team-a")

	if _, err := admin.ServiceAccounts("team-a").Delete(bg, "default", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ConfigMaps("team-a").Delete(bg, "kube-root-ca.crt", nil); err != nil {
		t.Fatal(err)
	}
	newSA, newCM := published("both re-created", "team-a")
	if newSA == saUID || newCM == cmUID {
		t.Fatalf("uids %s %s unchanged: not re-created", newSA, newCM)
	}

	cm, err := admin.ConfigMaps("team-a").Get(bg, "kube-root-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"ca.crt": "tampered", "extra": "x"}
	if _, err := admin.ConfigMaps("team-a").Update(bg, cm); err != nil {
		t.Fatal(err)
	}
	if _, cmUID := published("the edit undone", "team-a"); cmUID != newCM {
		t.Fatalf("the ConfigMap was replaced (uid %s, was %s), not updated", cmUID, newCM)
	}
	pod, err := admin.Pods("team-a").Create(bg, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web"},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}}})
	if err != nil {
		t.Fatalf("a pod in a namespace with its default service account: %v", err)
	}
	if sa := pod.GetSpec().GetServiceAccountName(); sa != "default" {
		t.Errorf("serviceAccountName %q, want default", sa)
	}
	mountsCA := false
	for _, v := range pod.GetSpec().GetVolumes() {
		for _, src := range v.GetProjected().GetSources() {
			mountsCA = mountsCA || src.GetConfigMap().GetName() == "kube-root-ca.crt"
		}
	}
	if !mountsCA {
		t.Errorf("no volume projects kube-root-ca.crt: %v", pod.GetSpec().GetVolumes())
	}
	if !in.isStarted() {
		t.Fatal("the controller-manager never said it started")
	}
}
