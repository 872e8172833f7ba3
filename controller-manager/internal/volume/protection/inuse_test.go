package protection

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestEphemeralClaimInUse: a scheduled pod uses the claim of its ephemeral volume, but not
// a namesake it does not control.
func TestEphemeralClaimInUse(t *testing.T) {
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Uid: "u1"}, Spec: &corev1.PodSpec{
		NodeName: "node-1",
		Volumes:  []*corev1.Volume{{Name: "scratch", Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}},
	}}
	claim := func(name, ownerUID string) *corev1.PersistentVolumeClaim {
		m := &metav1.ObjectMeta{Name: name, Namespace: "default"}
		if ownerUID != "" {
			m.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "Pod", Name: "web", Uid: ownerUID, Controller: proto.Bool(true)}}
		}
		return &corev1.PersistentVolumeClaim{Metadata: m}
	}
	for _, c := range []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want string
	}{
		{"its claim", claim("web-scratch", "u1"), "web"},
		{"a namesake it does not own", claim("web-scratch", ""), ""},
		{"an earlier pod's", claim("web-scratch", "u0"), ""},
		{"another claim", claim("other", "u1"), ""},
	} {
		if got := podUsing([]*corev1.Pod{pod}, c.pvc); got != c.want {
			t.Errorf("%s: podUsing = %q, want %q", c.name, got, c.want)
		}
	}
	if got := claimNames(pod); len(got) != 1 || got[0] != "web-scratch" {
		t.Errorf("claimNames = %v, want [web-scratch]", got)
	}
}
