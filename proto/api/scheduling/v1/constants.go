package schedulingv1

import (
	"fmt"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// Priorities and the names of the classes the apiserver keeps, as Kubernetes'
// pkg/apis/scheduling.
const (
	// HighestUserDefinablePriority is the largest value a class not named system-* may have.
	HighestUserDefinablePriority int32 = 1000000000
	// SystemCriticalPriority is the priority of system-cluster-critical; system-node-critical
	// is 1000 above it.
	SystemCriticalPriority int32 = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix starts the names reserved for the system classes.
	SystemPriorityClassPrefix = "system-"
	// SystemClusterCritical is for pods the cluster needs that may move to another node
	// (cluster DNS).
	SystemClusterCritical = "system-cluster-critical"
	// SystemNodeCritical is for pods a node needs where they are (a node's proxy).
	SystemNodeCritical = "system-node-critical"
	// DefaultPriorityWhenNoDefaultClassExists is the priority of a pod that names no class
	// when no class is the global default.
	DefaultPriorityWhenNoDefaultClassExists int32 = 0
)

// Preemption policies of a class (and of a pod, copied from its class).
const (
	PreemptLowerPriority = "PreemptLowerPriority"
	PreemptNever         = "Never"
)

// SystemPriorityClasses returns new copies of the classes every cluster has, which the
// apiserver creates at start-up and refuses to delete.
func SystemPriorityClasses() []*PriorityClass {
	class := func(name string, value int32, description string) *PriorityClass {
		return &PriorityClass{Kind: "PriorityClass", ApiVersion: "scheduling.k8s.io/v1",
			Metadata: &metav1.ObjectMeta{Name: name}, Value: value, Description: description}
	}
	return []*PriorityClass{
		class(SystemNodeCritical, SystemCriticalPriority+1000, "Used for system critical pods that must not be moved from their current node."),
		class(SystemClusterCritical, SystemCriticalPriority, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
	}
}

// IsSystemPriorityClass reports whether name is one of the system classes.
func IsSystemPriorityClass(name string) bool {
	return name == SystemNodeCritical || name == SystemClusterCritical
}

// IsKnownSystemPriorityClass reports whether a class of this name, value and globalDefault
// is one of the system classes as defined, and if not, why not (upstream's messages).
func IsKnownSystemPriorityClass(name string, value int32, globalDefault bool) (bool, error) {
	for _, spc := range SystemPriorityClasses() {
		if spc.GetMetadata().GetName() != name {
			continue
		}
		if spc.Value != value {
			return false, fmt.Errorf("value of %v PriorityClass must be %v", name, spc.Value)
		}
		if spc.GlobalDefault != globalDefault {
			return false, fmt.Errorf("globalDefault of %v PriorityClass must be %v", name, spc.GlobalDefault)
		}
		return true, nil
	}
	return false, fmt.Errorf("%v is not a known system priority class", name)
}
