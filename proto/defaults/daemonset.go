package defaults

import (
	"strconv"

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

// DaemonSetTemplateGenerationAnnotation is how apps/v1 shows a DaemonSet's template
// generation (the internal spec.templateGeneration): the pods' pod-template-generation label.
const DaemonSetTemplateGenerationAnnotation = "deprecated.daemonset.template.generation"

// DaemonSetTemplateGeneration keeps the annotation as Kubernetes' DaemonSet strategy keeps
// templateGeneration: 1 on create (old is nil), then the stored value, plus one when the pod
// template changed. What a client writes there is ignored, as upstream.
func DaemonSetTemplateGeneration(ds, old *appsv1.DaemonSet) {
	var gen int64 = 1
	if old != nil {
		gen, _ = strconv.ParseInt(old.GetMetadata().GetAnnotations()[DaemonSetTemplateGenerationAnnotation], 10, 64)
		if !proto.Equal(old.GetSpec().GetTemplate(), ds.GetSpec().GetTemplate()) {
			gen++
		}
	}
	if ds.Metadata == nil {
		ds.Metadata = &metav1.ObjectMeta{}
	}
	if gen == 0 { // stored before kubelab kept it, and the template is unchanged
		delete(ds.Metadata.Annotations, DaemonSetTemplateGenerationAnnotation)
		return
	}
	if ds.Metadata.Annotations == nil {
		ds.Metadata.Annotations = map[string]string{}
	}
	ds.Metadata.Annotations[DaemonSetTemplateGenerationAnnotation] = strconv.FormatInt(gen, 10)
}
