package defaults_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/defaults"
)

func TestPriorityClassDefaults(t *testing.T) {
	pc := &schedulingv1.PriorityClass{}
	defaults.Default(pc)
	if got := pc.GetPreemptionPolicy(); got != "PreemptLowerPriority" {
		t.Errorf("preemptionPolicy = %q, want PreemptLowerPriority", got)
	}
	never := &schedulingv1.PriorityClass{PreemptionPolicy: proto.String("Never")}
	defaults.Default(never)
	if got := never.GetPreemptionPolicy(); got != "Never" {
		t.Errorf("preemptionPolicy = %q, want Never kept", got)
	}
}
