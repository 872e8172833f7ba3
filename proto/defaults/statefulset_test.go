package defaults_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
)

func TestStatefulSetDefaults(t *testing.T) {
	ss := &appsv1.StatefulSet{}
	defaults.StatefulSet(ss)
	s := ss.Spec
	if s.GetReplicas() != 1 || s.GetRevisionHistoryLimit() != 10 || s.PodManagementPolicy != "OrderedReady" ||
		s.UpdateStrategy.Type != "RollingUpdate" || s.UpdateStrategy.RollingUpdate.Partition == nil || s.UpdateStrategy.RollingUpdate.GetPartition() != 0 ||
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != "Retain" || s.PersistentVolumeClaimRetentionPolicy.WhenScaled != "Retain" ||
		s.Template.Spec.RestartPolicy != "Always" {
		t.Errorf("defaults = %v", s)
	}
	// OnDelete gets no rollingUpdate, as upstream.
	ss = &appsv1.StatefulSet{Spec: &appsv1.StatefulSetSpec{UpdateStrategy: &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"}}}
	defaults.StatefulSet(ss)
	if ss.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("OnDelete defaulted to %v", ss.Spec.UpdateStrategy)
	}

	// maxUnavailable (an alpha field, gate off) is dropped unless the stored object has it.
	mu := func() *appsv1.StatefulSet {
		return &appsv1.StatefulSet{Spec: &appsv1.StatefulSetSpec{UpdateStrategy: &appsv1.StatefulSetUpdateStrategy{
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: proto.Int32(1), MaxUnavailable: &metav1.IntOrString{IntVal: 2}}}}}
	}
	ss = mu()
	defaults.StatefulSetDropDisabledFields(ss, nil)
	if ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil || ss.Spec.UpdateStrategy.RollingUpdate.GetPartition() != 1 {
		t.Errorf("create kept %v", ss.Spec.UpdateStrategy)
	}
	ss = mu()
	defaults.StatefulSetDropDisabledFields(ss, mu())
	if ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
		t.Error("an update dropped the maxUnavailable the stored object has")
	}
}
