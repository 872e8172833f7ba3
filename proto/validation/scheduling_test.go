package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	metav1 "kubelab.io/proto/api/meta/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

func priorityClass(name string, value int32) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{Kind: "PriorityClass", ApiVersion: "scheduling.k8s.io/v1",
		Metadata: &metav1.ObjectMeta{Name: name}, Value: value}
	defaults.Default(pc)
	return pc
}

func TestValidatePriorityClass(t *testing.T) {
	for _, c := range []struct {
		name string
		pc   *schedulingv1.PriorityClass
		want want
	}{
		{"user class", priorityClass("high", 1000), want{}},
		{"highest user value", priorityClass("high", schedulingv1.HighestUserDefinablePriority), want{}},
		{"negative value", priorityClass("low", -5), want{}},
		{"above user range", priorityClass("high", schedulingv1.HighestUserDefinablePriority+1),
			want{"value", forbidden, "maximum allowed value of a user defined priority is 1000000000"}},
		{"system node critical", schedulingv1.SystemPriorityClasses()[0], want{}},
		{"system cluster critical", priorityClass("system-cluster-critical", 2000000000), want{}},
		{"system class, wrong value", priorityClass("system-cluster-critical", 5),
			want{"metadata.name", forbidden, "priority class names with 'system-' prefix are reserved for system use only. error: value of system-cluster-critical PriorityClass must be 2000000000"}},
		{"system class as default", func() *schedulingv1.PriorityClass {
			pc := priorityClass("system-node-critical", 2000001000)
			pc.GlobalDefault = true
			return pc
		}(), want{"metadata.name", forbidden, "globalDefault of system-node-critical PriorityClass must be false"}},
		{"unknown system name", priorityClass("system-mine", 5),
			want{"metadata.name", forbidden, "error: system-mine is not a known system priority class"}},
		{"policy Never", func() *schedulingv1.PriorityClass {
			pc := priorityClass("x", 1)
			pc.PreemptionPolicy = proto.String("Never")
			return pc
		}(), want{}},
		{"policy unknown", func() *schedulingv1.PriorityClass {
			pc := priorityClass("x", 1)
			pc.PreemptionPolicy = proto.String("Sometimes")
			return pc
		}(), want{"preemptionPolicy", notSupported, `supported values: "PreemptLowerPriority", "Never"`}},
		{"policy empty", func() *schedulingv1.PriorityClass {
			pc := priorityClass("x", 1)
			pc.PreemptionPolicy = proto.String("")
			return pc
		}(), want{"preemptionPolicy", required, ""}},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, validation.Validate(c.pc), c.want) })
	}
}

func TestValidatePriorityClassUpdate(t *testing.T) {
	old := priorityClass("high", 1000)
	desc := proto.Clone(old).(*schedulingv1.PriorityClass)
	desc.Description, desc.GlobalDefault = "now the default", true
	expect(t, validation.ValidateUpdate(desc, old), want{})

	value := proto.Clone(old).(*schedulingv1.PriorityClass)
	value.Value = 999
	expect(t, validation.ValidateUpdate(value, old), want{"value", forbidden, "may not be changed in an update."})

	policy := proto.Clone(old).(*schedulingv1.PriorityClass)
	policy.PreemptionPolicy = proto.String("Never")
	expect(t, validation.ValidateUpdate(policy, old), want{"preemptionPolicy", invalid, "field is immutable"})

	// A system class keeps its value and globalDefault through any update.
	sys := priorityClass("system-node-critical", 2000001000)
	sysDefault := proto.Clone(sys).(*schedulingv1.PriorityClass)
	sysDefault.GlobalDefault = true
	expect(t, validation.ValidateUpdate(sysDefault, sys), want{"metadata.name", forbidden, "globalDefault of system-node-critical PriorityClass must be false"})
}
