package plugins

import (
	"context"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/scheduling"
	"kubelab.io/scheduler/internal/framework"
)

// NodeAffinity keeps a pod on nodes matching its nodeSelector and its required node
// affinity, and prefers nodes matching its preferred terms (sum of their weights).
type NodeAffinity struct{}

func (NodeAffinity) Name() string { return NodeAffinityName }

func (NodeAffinity) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if ni.Node() == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	if !scheduling.RequiredNodeAffinityMatches(pod, ni.Node()) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeAffinity)
	}
	return nil
}

// PreScore skips scoring for pods without preferred terms.
func (NodeAffinity) PreScore(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	if len(pod.GetSpec().GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution()) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (NodeAffinity) Score(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var sum int64
	for _, t := range pod.GetSpec().GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		if t.GetWeight() != 0 && scheduling.NodeSelectorTermMatches(t.GetPreference(), ni.Node()) {
			sum += int64(t.GetWeight())
		}
	}
	return sum, nil
}

func (NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, scores []framework.NodeScore) *framework.Status {
	return DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}
