package storageprotection

import (
	"context"
	"slices"
	"testing"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

func TestAdmit(t *testing.T) {
	for _, c := range []struct {
		name     string
		obj      runtime.Object
		resource string
		sub      string
		want     []string
	}{
		{"claim", &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "c"}}, "persistentvolumeclaims", "", []string{corev1.PVCProtectionFinalizer}},
		{"volume", &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "v"}}, "persistentvolumes", "", []string{corev1.PVProtectionFinalizer}},
		{"claim already protected", &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "c", Finalizers: []string{"x", corev1.PVCProtectionFinalizer}}},
			"persistentvolumeclaims", "", []string{"x", corev1.PVCProtectionFinalizer}},
		{"status subresource", &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "v"}}, "persistentvolumes", "status", nil},
		{"pod", &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}}, "pods", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: admission.Create, Resource: c.resource, Subresource: c.sub, Object: c.obj}
			if err := New().Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if got := c.obj.GetMetadata().GetFinalizers(); !slices.Equal(got, c.want) {
				t.Errorf("finalizers = %v, want %v", got, c.want)
			}
		})
	}
}
