package binder

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func volume(name, size, class string, modes ...string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"size": size}},
		Spec: &corev1.PersistentVolumeSpec{Capacity: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: size}},
			AccessModes: modes, StorageClassName: class, HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain},
		Status: &corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
}

func claim(name, size string, class *string, modes ...string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: modes, StorageClassName: class,
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: size}}}},
	}
}

func TestFindBestMatch(t *testing.T) {
	rwo, rwx := corev1.ReadWriteOnce, corev1.ReadWriteMany
	none := proto.String("")
	prebound := volume("prebound", "5Gi", "", rwo)
	prebound.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
	taken := volume("taken", "1Gi", "", rwo)
	taken.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "other", Uid: "x"}
	pending := volume("pending", "1Gi", "", rwo)
	pending.Status.Phase = corev1.VolumePending
	block := volume("block", "1Gi", "", rwo)
	block.Spec.VolumeMode = proto.String(corev1.PersistentVolumeBlock)
	selecting := claim("data", "1Gi", none, rwo)
	selecting.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"size": "3Gi"}}
	for _, tc := range []struct {
		name    string
		pvc     *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		delay   bool
		want    string
	}{
		{"smallest that fits", claim("data", "2Gi", none, rwo),
			[]*corev1.PersistentVolume{volume("big", "10Gi", "", rwo), volume("small", "1Gi", "", rwo), volume("fits", "3Gi", "", rwo)}, false, "fits"},
		{"access modes must be offered", claim("data", "1Gi", none, rwx),
			[]*corev1.PersistentVolume{volume("rwo", "1Gi", "", rwo), volume("rwx", "5Gi", "", rwo, rwx)}, false, "rwx"},
		{"fewest modes before smallest", claim("data", "1Gi", none, rwo),
			[]*corev1.PersistentVolume{volume("both", "1Gi", "", rwo, rwx), volume("one", "5Gi", "", rwo)}, false, "one"},
		{"class must match", claim("data", "1Gi", proto.String("fast"), rwo),
			[]*corev1.PersistentVolume{volume("classless", "1Gi", "", rwo), volume("fast", "2Gi", "fast", rwo)}, false, "fast"},
		{"class \"\" takes only classless volumes", claim("data", "1Gi", none, rwo),
			[]*corev1.PersistentVolume{volume("fast", "1Gi", "fast", rwo)}, false, ""},
		{"pre-bound volume wins", claim("data", "1Gi", none, rwo),
			[]*corev1.PersistentVolume{volume("small", "1Gi", "", rwo), prebound}, false, "prebound"},
		{"taken, pending and other-mode volumes are skipped", claim("data", "1Gi", none, rwo),
			[]*corev1.PersistentVolume{taken, pending, block}, false, ""},
		{"selector", selecting,
			[]*corev1.PersistentVolume{volume("a", "1Gi", "", rwo), volume("b", "3Gi", "", rwo)}, false, "b"},
		{"delayed binding takes only pre-bound volumes", claim("data", "1Gi", none, rwo),
			[]*corev1.PersistentVolume{volume("small", "1Gi", "", rwo)}, true, ""},
		{"delayed binding takes a pre-bound volume", claim("data", "1Gi", none, rwo),
			[]*corev1.PersistentVolume{volume("small", "1Gi", "", rwo), prebound}, true, "prebound"},
		{"too small", claim("data", "2Gi", none, rwo), []*corev1.PersistentVolume{volume("small", "1Gi", "", rwo)}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FindBestMatch(tc.pvc, tc.volumes, tc.delay)
			if got.GetMetadata().GetName() != tc.want {
				t.Errorf("FindBestMatch = %q, want %q", got.GetMetadata().GetName(), tc.want)
			}
		})
	}
}
