package defaults

import (
	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// DaemonSet defaults a DaemonSet as apps/v1's SetDefaults_DaemonSet: updateStrategy
// RollingUpdate with maxUnavailable 1 and maxSurge 0 (both written, as Kubernetes stores
// them), revisionHistoryLimit 10, and the pod template's own defaults.
func DaemonSet(ds *appsv1.DaemonSet) {
	if ds.Spec == nil {
		ds.Spec = &appsv1.DaemonSetSpec{}
	}
	spec := ds.Spec
	if spec.UpdateStrategy == nil {
		spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{}
	}
	us := spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			us.RollingUpdate.MaxUnavailable = &metav1.IntOrString{IntVal: 1}
		}
		if us.RollingUpdate.MaxSurge == nil {
			us.RollingUpdate.MaxSurge = &metav1.IntOrString{IntVal: 0}
		}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = proto.Int32(DefaultRevisionHistoryLimit)
	}
	if spec.Template == nil {
		spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(spec.Template)
}
