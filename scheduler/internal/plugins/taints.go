package plugins

import (
	"context"
	"fmt"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/scheduling"
	"kubelab.io/scheduler/internal/framework"
)

// TaintToleration keeps pods off nodes with NoSchedule/NoExecute taints they do not
// tolerate, and prefers nodes with fewer untolerated PreferNoSchedule taints.
type TaintToleration struct{}

func (TaintToleration) Name() string { return TaintTolerationName }

func (TaintToleration) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if ni.Node() == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	tolerations := pod.GetSpec().GetTolerations()
	for _, taint := range ni.Node().GetSpec().GetTaints() {
		if e := taint.GetEffect(); e != "NoSchedule" && e != "NoExecute" {
			continue
		}
		if !scheduling.Tolerated(taint, tolerations) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf(errReasonUntoleratedFormat, taint.GetKey(), taint.GetValue()))
		}
	}
	return nil
}

const taintPreScoreKey = "PreScore" + TaintTolerationName

// PreScore keeps the tolerations that can matter for PreferNoSchedule taints.
func (TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	var ts []*corev1.Toleration
	for _, t := range pod.GetSpec().GetTolerations() {
		if e := t.GetEffect(); e == "" || e == "PreferNoSchedule" {
			ts = append(ts, t)
		}
	}
	state.Write(taintPreScoreKey, ts)
	return nil
}

// Score counts the node's untolerated PreferNoSchedule taints (fewer is better; see
// NormalizeScore).
func (TaintToleration) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	v, ok := state.Read(taintPreScoreKey)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycleState: not found", taintPreScoreKey))
	}
	tolerations := v.([]*corev1.Toleration)
	var n int64
	for _, taint := range ni.Node().GetSpec().GetTaints() {
		if taint.GetEffect() == "PreferNoSchedule" && !scheduling.Tolerated(taint, tolerations) {
			n++
		}
	}
	return n, nil
}

func (TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, scores []framework.NodeScore) *framework.Status {
	return DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
}
