package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

// newDaemonSet is a defaulted DaemonSet of one container, selecting app=agent.
func newDaemonSet() *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		Metadata: &metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: &appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "agent", Image: "nginx"}}},
			},
		},
	}
	defaults.DaemonSet(ds)
	return ds
}

func TestDaemonSet(t *testing.T) {
	pct := func(s string) *metav1.IntOrString { return &metav1.IntOrString{Type: 1, StrVal: s} }
	for _, tc := range []struct {
		name   string
		mutate func(ds *appsv1.DaemonSet)
		want   want
	}{
		{"valid", func(*appsv1.DaemonSet) {}, want{}},
		{"OnDelete", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: "OnDelete"}
		}, want{}},
		{"surge instead", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &metav1.IntOrString{}, MaxSurge: pct("10%")}
		}, want{}},
		{"no selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil },
			want{"spec.template.metadata.labels", invalid, "`selector` does not match template `labels`"}},
		{"empty selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			want{"spec.selector", invalid, "empty selector is invalid for daemonset"}},
		{"selector not matching", func(ds *appsv1.DaemonSet) { ds.Spec.Selector.MatchLabels["app"] = "other" },
			want{"spec.template.metadata.labels", invalid, "`selector` does not match template `labels`"}},
		{"restartPolicy Never", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = "Never" },
			want{"spec.template.spec.restartPolicy", notSupported, `supported values: "Always"`}},
		{"activeDeadlineSeconds", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ActiveDeadlineSeconds = proto.Int64(5) },
			want{"spec.template.spec.activeDeadlineSeconds", invalid, "activeDeadlineSeconds must be nil for daemonset"}},
		{"both zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &metav1.IntOrString{}
		},
			want{"spec.updateStrategy.rollingUpdate.maxUnavailable", required, "cannot be 0 when maxSurge is 0"}},
		{"both set", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &metav1.IntOrString{IntVal: 1}
		},
			want{"spec.updateStrategy.rollingUpdate.maxSurge", invalid, "may not be set when maxUnavailable is non-zero"}},
		{"over 100%", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = pct("150%") },
			want{"spec.updateStrategy.rollingUpdate.maxUnavailable", invalid, "must not be greater than 100%"}},
		{"unknown strategy", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Recreate" },
			want{"spec.updateStrategy", notSupported, `supported values: "RollingUpdate", "OnDelete"`}},
		{"negative history", func(ds *appsv1.DaemonSet) { ds.Spec.RevisionHistoryLimit = proto.Int32(-1) },
			want{"spec.revisionHistoryLimit", invalid, "must be greater than or equal to 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDaemonSet()
			tc.mutate(ds)
			expect(t, validation.ValidateDaemonSet(ds), tc.want)
		})
	}
}

func TestDaemonSetUpdate(t *testing.T) {
	old := newDaemonSet()
	ds := proto.Clone(old).(*appsv1.DaemonSet)
	ds.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	expect(t, validation.ValidateDaemonSetUpdate(ds, old), want{})
	ds.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Exists"}}
	expect(t, validation.ValidateDaemonSetUpdate(ds, old), want{"spec.selector", invalid, "field is immutable"})
}

func TestControllerRevision(t *testing.T) {
	cr := &appsv1.ControllerRevision{Metadata: &metav1.ObjectMeta{Name: "agent-5d4b9c"}, Revision: 1,
		Data: &metav1.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace"}}}`)}}
	expect(t, validation.ValidateControllerRevision(cr), want{})
	expect(t, validation.ValidateControllerRevision(&appsv1.ControllerRevision{Revision: 1}), want{"data", required, "data is mandatory"})
	expect(t, validation.ValidateControllerRevision(&appsv1.ControllerRevision{Data: &metav1.RawExtension{Raw: []byte("{")}}),
		want{"data", invalid, "must be a JSON document"})

	bumped := proto.Clone(cr).(*appsv1.ControllerRevision)
	bumped.Revision = 3
	expect(t, validation.ValidateControllerRevisionUpdate(bumped, cr), want{})
	bumped.Data.Raw = []byte(`{}`)
	expect(t, validation.ValidateControllerRevisionUpdate(bumped, cr), want{"data", invalid, "field is immutable"})
}
