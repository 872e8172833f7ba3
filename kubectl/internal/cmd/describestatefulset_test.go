package cmd

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestDescribeStatefulSetVolumeClaims: describe sts lists the volumeClaimTemplates as the
// stock kubectl does (compared with it where it is installed): name, class (the beta
// annotation winning over storageClassName), labels, annotations, capacity and access modes.
func TestDescribeStatefulSetVolumeClaims(t *testing.T) {
	h := newRolloutHarness(t)
	storage := func(q string) *corev1.VolumeResourceRequirements {
		return &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: q}}}
	}
	_, err := h.cs.StatefulSets("default").Create(h.ctx, &appsv1.StatefulSet{
		Metadata: &metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: &appsv1.StatefulSetSpec{Replicas: proto.Int32(0), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Template: podTemplate("db", "postgres"),
			VolumeClaimTemplates: []*corev1.PersistentVolumeClaim{
				{Metadata: &metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db", "disk": "ssd"}},
					Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, StorageClassName: proto.String("standard"), Resources: storage("1Gi")}},
				{Metadata: &metav1.ObjectMeta{Name: "logs", Annotations: map[string]string{"volume.beta.kubernetes.io/storage-class": "slow"}},
					Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce, corev1.ReadOnlyMany}, Resources: storage("500Mi")}},
			}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := h.sameAsStock("describe", "sts", "db")
	for _, want := range []string{
		"\nVolume Claims:\n  Name:          data\n  StorageClass:  standard\n  Labels:        disk=ssd\n                 tier=db\n  Annotations:   <none>\n  Capacity:      1Gi\n  Access Modes:  [ReadWriteOnce]\n",
		"\n  Name:          logs\n  StorageClass:  slow\n  Labels:        <none>\n  Annotations:   volume.beta.kubernetes.io/storage-class=slow\n  Capacity:      500Mi\n  Access Modes:  [ReadWriteOnce ReadOnlyMany]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("describe sts: no %q in\n%s", want, got)
		}
	}
}
