package defaults_test

import (
	"testing"

	appsv1 "kubelab.io/proto/api/apps/v1"
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
