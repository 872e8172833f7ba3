package defaultstorageclass

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
)

func class(name string, created int64, isDefault bool) *storagev1.StorageClass {
	m := &metav1.ObjectMeta{Name: name, CreationTimestamp: &metav1.Time{Seconds: created}}
	if isDefault {
		m.Annotations = map[string]string{storagev1.IsDefaultStorageClassAnnotation: "true"}
	}
	return &storagev1.StorageClass{Metadata: m, Provisioner: "example.com/p"}
}

func TestAdmit(t *testing.T) {
	for _, c := range []struct {
		name    string
		classes []*storagev1.StorageClass
		claim   *string
		beta    bool
		want    *string
	}{
		{"no classes", nil, nil, false, nil},
		{"no default", []*storagev1.StorageClass{class("a", 1, false)}, nil, false, nil},
		{"one default", []*storagev1.StorageClass{class("a", 1, false), class("b", 2, true)}, nil, false, proto.String("b")},
		{"newest default", []*storagev1.StorageClass{class("old", 1, true), class("new", 5, true), class("z", 5, true)}, nil, false, proto.String("new")},
		{"empty class kept", []*storagev1.StorageClass{class("b", 2, true)}, proto.String(""), false, proto.String("")},
		{"named class kept", []*storagev1.StorageClass{class("b", 2, true)}, proto.String("fast"), false, proto.String("fast")},
		{"beta annotation kept", []*storagev1.StorageClass{class("b", 2, true)}, nil, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "data", Namespace: "default"},
				Spec: &corev1.PersistentVolumeClaimSpec{StorageClassName: c.claim}}
			if c.beta {
				pvc.Metadata.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "slow"}
			}
			p := New(func(context.Context) ([]*storagev1.StorageClass, error) { return c.classes, nil }, nil)
			a := &admission.Attributes{Operation: admission.Create, Resource: "persistentvolumeclaims", Namespace: "default", Name: "data", Object: pvc}
			if err := p.Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if got := pvc.Spec.StorageClassName; (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
				t.Errorf("storageClassName = %v, want %v", got, c.want)
			}
		})
	}
	if New(nil, nil).Handles(admission.Update) {
		t.Error("the plugin handles updates; upstream's only creates")
	}
}
