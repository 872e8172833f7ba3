package defaults_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
)

func TestDaemonSetDefaults(t *testing.T) {
	ds := &appsv1.DaemonSet{}
	defaults.DaemonSet(ds)
	ru := ds.Spec.UpdateStrategy.GetRollingUpdate()
	if ds.Spec.UpdateStrategy.Type != "RollingUpdate" || ru.MaxUnavailable.GetIntVal() != 1 || ru.MaxSurge == nil || ru.MaxSurge.GetIntVal() != 0 ||
		ds.Spec.GetRevisionHistoryLimit() != 10 {
		t.Errorf("defaults = %v", ds.Spec)
	}
}

func TestDaemonSetTemplateGeneration(t *testing.T) {
	gen := func(ds *appsv1.DaemonSet) string {
		return ds.GetMetadata().GetAnnotations()[defaults.DaemonSetTemplateGenerationAnnotation]
	}
	ds := &appsv1.DaemonSet{Metadata: &metav1.ObjectMeta{Annotations: map[string]string{defaults.DaemonSetTemplateGenerationAnnotation: "7"}}}
	defaults.DaemonSet(ds)
	defaults.DaemonSetTemplateGeneration(ds, nil)
	if gen(ds) != "1" {
		t.Fatalf("on create: %q, want 1 whatever the client wrote", gen(ds))
	}
	next := proto.Clone(ds).(*appsv1.DaemonSet)
	next.Spec.MinReadySeconds = 5
	next.Metadata.Annotations[defaults.DaemonSetTemplateGenerationAnnotation] = "9"
	defaults.DaemonSetTemplateGeneration(next, ds)
	if gen(next) != "1" {
		t.Errorf("a spec change outside the template: %q, want 1", gen(next))
	}
	changed := proto.Clone(next).(*appsv1.DaemonSet)
	changed.Spec.Template.Spec.Containers = []*corev1.Container{{Name: "agent", Image: "agent:2"}}
	defaults.DaemonSetTemplateGeneration(changed, next)
	if gen(changed) != "2" {
		t.Errorf("a template change: %q, want 2", gen(changed))
	}
}
