// Package plugins holds kubelab's in-tree scheduler plugins, each after its kube-scheduler
// namesake (pkg/scheduler/framework/plugins/*), with the same failure messages so the
// "0/N nodes are available: …" summaries read the same.
package plugins

import (
	"kubelab.io/scheduler/internal/framework"
)

// Plugin names, as in kube-scheduler's configuration.
const (
	NodeNameName                        = "NodeName"
	NodeUnschedulableName               = "NodeUnschedulable"
	TaintTolerationName                 = "TaintToleration"
	NodeAffinityName                    = "NodeAffinity"
	NodeResourcesFitName                = "NodeResourcesFit"
	NodePortsName                       = "NodePorts"
	ImageLocalityName                   = "ImageLocality"
	NodeResourcesLeastAllocatedName     = "NodeResourcesLeastAllocated"
	NodeResourcesBalancedAllocationName = "NodeResourcesBalancedAllocation"
	InterPodAffinityName                = "InterPodAffinity"
	PodTopologySpreadName               = "PodTopologySpread"
	DefaultBinderName                   = "DefaultBinder"
	DefaultPreemptionName               = "DefaultPreemption"
)

// Registry of every in-tree plugin.
func Registry() framework.Registry {
	return framework.Registry{
		NodeNameName:                        func(framework.Handle) (framework.Plugin, error) { return NodeName{}, nil },
		NodeUnschedulableName:               func(framework.Handle) (framework.Plugin, error) { return NodeUnschedulable{}, nil },
		TaintTolerationName:                 func(framework.Handle) (framework.Plugin, error) { return TaintToleration{}, nil },
		NodeAffinityName:                    func(framework.Handle) (framework.Plugin, error) { return NodeAffinity{}, nil },
		NodeResourcesFitName:                func(framework.Handle) (framework.Plugin, error) { return NodeResourcesFit{}, nil },
		NodePortsName:                       func(framework.Handle) (framework.Plugin, error) { return NodePorts{}, nil },
		ImageLocalityName:                   func(framework.Handle) (framework.Plugin, error) { return ImageLocality{}, nil },
		NodeResourcesLeastAllocatedName:     func(framework.Handle) (framework.Plugin, error) { return LeastAllocated{}, nil },
		NodeResourcesBalancedAllocationName: func(framework.Handle) (framework.Plugin, error) { return BalancedAllocation{}, nil },
		InterPodAffinityName:                func(framework.Handle) (framework.Plugin, error) { return InterPodAffinity{}, nil },
		PodTopologySpreadName:               NewPodTopologySpread,
		DefaultBinderName:                   NewDefaultBinder,
		DefaultPreemptionName:               NewDefaultPreemption,
		VolumeBindingName:                   NewVolumeBinding,
	}
}

// DefaultNormalizeScore scales scores so the highest becomes maxPriority (and, when
// reverse, flips them so the lowest raw score ranks best), as kube-scheduler's helper does.
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores []framework.NodeScore) *framework.Status {
	var maxCount int64
	for _, s := range scores {
		maxCount = max(maxCount, s.Score)
	}
	if maxCount == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return nil
	}
	for i := range scores {
		s := maxPriority * scores[i].Score / maxCount
		if reverse {
			s = maxPriority - s
		}
		scores[i].Score = s
	}
	return nil
}
