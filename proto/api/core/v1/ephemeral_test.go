package corev1_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestEphemeralClaim(t *testing.T) {
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Uid: "u1"}}
	if got := corev1.EphemeralClaimName(pod, &corev1.Volume{Name: "scratch"}); got != "web-scratch" {
		t.Errorf("claim name %q, want web-scratch", got)
	}
	claim := func(ns string, refs ...*metav1.OwnerReference) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "web-scratch", Namespace: ns, OwnerReferences: refs}}
	}
	ref := func(uid string, controller bool) *metav1.OwnerReference {
		return &metav1.OwnerReference{ApiVersion: "v1", Kind: "Pod", Name: "web", Uid: uid, Controller: proto.Bool(controller)}
	}
	for _, c := range []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		ok   bool
	}{
		{"controlled by the pod", claim("default", ref("u1", true)), true},
		{"no owner", claim("default"), false},
		{"owner, not controller", claim("default", ref("u1", false)), false},
		{"an earlier pod of that name", claim("default", ref("u0", true)), false},
		{"other namespace", claim("other", ref("u1", true)), false},
	} {
		err := corev1.EphemeralClaimIsForPod(pod, c.pvc)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
	want := "PVC default/web-scratch was not created for pod default/web (pod is not owner)"
	if err := corev1.EphemeralClaimIsForPod(pod, claim("default")); err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
