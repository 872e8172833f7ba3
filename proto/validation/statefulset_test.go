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

// newStatefulSet is a defaulted StatefulSet "web" of one container, selecting app=web.
func newStatefulSet() *appsv1.StatefulSet {
	ss := &appsv1.StatefulSet{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &appsv1.StatefulSetSpec{
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx"}}},
			},
		},
	}
	defaults.StatefulSet(ss)
	return ss
}

// claimTemplate is a ReadWriteOnce claim template of storage (none when "").
func claimTemplate(name, storage string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: name},
		Spec:     &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}},
	}
	if storage != "" {
		c.Spec.Resources = &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: storage}}}
	}
	defaults.PersistentVolumeClaim(c)
	return c
}

func TestStatefulSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(ss *appsv1.StatefulSet)
		want   want
	}{
		{"valid", func(*appsv1.StatefulSet) {}, want{}},
		{"Parallel OnDelete", func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = "Parallel"
			ss.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"}
		}, want{}},
		{"no serviceName", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "" }, want{}},
		{"bad policy", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Burst" },
			want{"spec.podManagementPolicy", invalid, "must be 'OrderedReady' or 'Parallel'"}},
		{"OnDelete with rollingUpdate", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = "OnDelete" },
			want{"spec.updateStrategy.rollingUpdate", invalid, "only allowed for updateStrategy 'RollingUpdate'"}},
		{"unknown strategy", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = "Recreate" },
			want{"spec.updateStrategy", invalid, `apps.StatefulSetUpdateStrategy{Type:"Recreate", RollingUpdate:&apps.RollingUpdateStatefulSetStrategy{Partition:0, MaxUnavailable:(*intstr.IntOrString)(nil)}}: must be 'RollingUpdate' or 'OnDelete'`}},
		{"negative partition", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(-1) },
			want{"spec.updateStrategy.rollingUpdate.partition", invalid, "must be greater than or equal to 0"}},
		{"zero maxUnavailable", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &metav1.IntOrString{}
		}, want{"spec.updateStrategy.rollingUpdate.maxUnavailable", invalid, "cannot be 0"}},
		{"retention policy", func(ss *appsv1.StatefulSet) { ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			want{"spec.persistentVolumeClaimRetentionPolicy.whenScaled", notSupported, `supported values: "Retain", "Delete"`}},
		{"claim templates", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "1Gi"), claimTemplate("logs", "10Mi")}
		}, want{}},
		{"claim template without storage", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "1Gi"), claimTemplate("logs", "")}
		}, want{"spec.volumeClaimTemplates[1].spec.resources[storage]", required, ""}},
		{"claim template of zero storage", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "0")}
		}, want{"spec.volumeClaimTemplates[0].spec.resources[storage]", invalid, "must be greater than zero"}},
		{"claim template without access modes", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "1Gi")}
			ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
		}, want{"spec.volumeClaimTemplates[0].spec.accessModes", required, "at least 1 access mode is required"}},
		{"claim template of an unknown access mode", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "1Gi")}
			ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []string{"ReadWriteSometimes"}
		}, want{"spec.volumeClaimTemplates[0].spec.accessModes", notSupported, `supported values: "ReadOnlyMany"`}},
		{"negative ordinals", func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			want{"spec.ordinals.start", invalid, "must be greater than or equal to 0"}},
		{"negative replicas", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = proto.Int32(-1) },
			want{"spec.replicas", invalid, "must be greater than or equal to 0"}},
		{"no selector", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = nil },
			want{"spec.selector", required, ""}},
		{"empty selector", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = &metav1.LabelSelector{} },
			want{"spec.selector", invalid, "empty selector is invalid for statefulset"}},
		{"selector not matching", func(ss *appsv1.StatefulSet) { ss.Spec.Selector.MatchLabels["app"] = "other" },
			want{"spec.template.metadata.labels", invalid, "`selector` does not match template `labels`"}},
		{"restartPolicy Never", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.RestartPolicy = "Never" },
			want{"spec.template.spec.restartPolicy", notSupported, `supported values: "Always"`}},
		{"activeDeadlineSeconds", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.ActiveDeadlineSeconds = proto.Int64(5) },
			want{"spec.template.spec.activeDeadlineSeconds", forbidden, "activeDeadlineSeconds in StatefulSet is not Supported"}},
		{"status above replicas", func(ss *appsv1.StatefulSet) {
			ss.Status = &appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2, AvailableReplicas: 1}
		}, want{"status.readyReplicas", invalid, "cannot be greater than status.replicas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := newStatefulSet()
			tc.mutate(ss)
			expect(t, validation.ValidateStatefulSet(ss), tc.want)
		})
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	old := newStatefulSet()
	ss := proto.Clone(old).(*appsv1.StatefulSet)
	ss.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	ss.Spec.Replicas = proto.Int32(5)
	ss.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(2)
	ss.Spec.MinReadySeconds = 3
	ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1}
	expect(t, validation.ValidateStatefulSetUpdate(ss, old), want{})
	const forbiddenMsg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
	for name, mutate := range map[string]func(*appsv1.StatefulSet){
		"serviceName": func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "other" },
		"selector": func(ss *appsv1.StatefulSet) {
			ss.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Exists"}}
		},
		"podManagementPolicy": func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Parallel" },
		"volumeClaimTemplates": func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "1Gi")}
		},
	} {
		t.Run(name, func(t *testing.T) {
			ss := proto.Clone(old).(*appsv1.StatefulSet)
			mutate(ss)
			expect(t, validation.ValidateStatefulSetUpdate(ss, old), want{"spec", forbidden, forbiddenMsg})
		})
	}
	// A set stored with a template that validation now refuses can still be scaled: an
	// update leaves the (immutable) templates alone, as upstream.
	stored := proto.Clone(old).(*appsv1.StatefulSet)
	stored.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{claimTemplate("www", "")}
	scaled := proto.Clone(stored).(*appsv1.StatefulSet)
	scaled.Spec.Replicas = proto.Int32(0)
	expect(t, validation.ValidateStatefulSetUpdate(scaled, stored), want{})

	old.Status = &appsv1.StatefulSetStatus{CollisionCount: proto.Int32(2)}
	ss = proto.Clone(old).(*appsv1.StatefulSet)
	ss.Status.CollisionCount = proto.Int32(1)
	expect(t, validation.ValidateStatefulSetUpdate(ss, old), want{"status.collisionCount", invalid, "cannot be decremented"})
}
