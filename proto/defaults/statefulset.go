package defaults

import (
	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

// StatefulSet defaults a StatefulSet as apps/v1's SetDefaults_StatefulSet does in Kubernetes
// 1.32 (StatefulSetAutoDeletePVC on, MaxUnavailableStatefulSet off): podManagementPolicy
// OrderedReady; an unset updateStrategy becomes RollingUpdate with a rollingUpdate whose
// partition is 0 (a rollingUpdate given without partition gets 0 too); the claim retention
// policy Retain for both cases; replicas 1; revisionHistoryLimit 10; and the pod template's
// own defaults.
func StatefulSet(ss *appsv1.StatefulSet) {
	if ss.Spec == nil {
		ss.Spec = &appsv1.StatefulSetSpec{}
	}
	spec := ss.Spec
	for _, pvc := range spec.VolumeClaimTemplates {
		PersistentVolumeClaim(pvc)
	}
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy == nil {
		spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{}
	}
	us := spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if us.Type == appsv1.RollingUpdateStatefulSetStrategyType && us.RollingUpdate != nil && us.RollingUpdate.Partition == nil {
		us.RollingUpdate.Partition = proto.Int32(0)
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	rp := spec.PersistentVolumeClaimRetentionPolicy
	if rp.WhenDeleted == "" {
		rp.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if rp.WhenScaled == "" {
		rp.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.Replicas == nil {
		spec.Replicas = proto.Int32(1)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = proto.Int32(DefaultRevisionHistoryLimit)
	}
	if spec.Template == nil {
		spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(spec.Template)
}

// StatefulSetDropDisabledFields is the strategy's dropStatefulSetDisabledFields with
// Kubernetes' default gates: rollingUpdate.maxUnavailable (alpha MaxUnavailableStatefulSet)
// is dropped unless old, the stored object of an update (nil on create), already has it.
func StatefulSetDropDisabledFields(ss, old *appsv1.StatefulSet) {
	if old.GetSpec().GetUpdateStrategy().GetRollingUpdate().GetMaxUnavailable() != nil {
		return
	}
	if ru := ss.GetSpec().GetUpdateStrategy().GetRollingUpdate(); ru != nil {
		ru.MaxUnavailable = nil
	}
}
