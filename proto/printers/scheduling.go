package printers

import (
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/runtime"
)

// priorityClassRow is kubectl's priorityclass row: NAME VALUE GLOBAL-DEFAULT AGE
// PREEMPTIONPOLICY, the policy PreemptLowerPriority when unset.
func priorityClassRow(obj runtime.Object, o *Options) []any {
	pc, ok := obj.(*schedulingv1.PriorityClass)
	if !ok {
		return nil
	}
	policy := schedulingv1.PreemptLowerPriority
	if pc.PreemptionPolicy != nil {
		policy = pc.GetPreemptionPolicy()
	}
	return []any{pc.GetMetadata().GetName(), int64(pc.GetValue()), pc.GetGlobalDefault(), age(pc, o), policy}
}
