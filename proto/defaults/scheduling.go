package defaults

import (
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
)

// PriorityClass defaults preemptionPolicy to PreemptLowerPriority, as SetDefaults_PriorityClass.
func PriorityClass(pc *schedulingv1.PriorityClass) {
	setString(&pc.PreemptionPolicy, schedulingv1.PreemptLowerPriority)
}
