package framework

import (
	"context"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	tu "kubelab.io/scheduler/internal/testutil"
)

// nominated is a PodNominator holding fixed nominations.
type nominated map[string][]*corev1.Pod

func (n nominated) NominatedPodsForNode(node string) []*PodInfo {
	var out []*PodInfo
	for _, p := range n[node] {
		out = append(out, NewPodInfo(p))
	}
	return out
}

func (n nominated) NominatedNodeName(*corev1.Pod) string { return "" }

// cpuFit is a filter on cpu alone (the plugins package cannot be imported here).
type cpuFit struct{}

func (cpuFit) Name() string { return "Fit" }
func (cpuFit) Filter(_ context.Context, state *CycleState, pod *corev1.Pod, ni *NodeInfo) *Status {
	if state.PodInfo(pod).Requests.MilliCPU > ni.Allocatable.MilliCPU-ni.Requested.MilliCPU {
		return NewStatus(Unschedulable, "Insufficient cpu")
	}
	return nil
}

// TestNominatedPodsHoldRoom: a nominated pod of equal or higher priority is counted on
// its node; one of lower priority, or the pod itself, is not.
func TestNominatedPodsHoldRoom(t *testing.T) {
	reg := Registry{
		"Fit":  func(Handle) (Plugin, error) { return cpuFit{}, nil },
		"Bind": func(Handle) (Plugin, error) { return binder{}, nil },
	}
	nom := nominated{"n1": {tu.Pod("nom").Req("cpu", "2").Priority(10).Obj()}}
	f, err := New(Profile{Filter: []string{"Fit"}, Bind: []string{"Bind"}}, reg, Handle{Nominator: nom})
	if err != nil {
		t.Fatal(err)
	}
	ni := NewNodeInfo(tu.Node("n1").Alloc("cpu", "3").Obj())
	for _, tc := range []struct {
		pod  *corev1.Pod
		fits bool
	}{
		{tu.Pod("lower").Req("cpu", "2").Priority(5).Obj(), false},
		{tu.Pod("equal").Req("cpu", "2").Priority(10).Obj(), false},
		{tu.Pod("small").Req("cpu", "1").Priority(5).Obj(), true},
		{tu.Pod("higher").Req("cpu", "2").Priority(11).Obj(), true},
		{tu.Pod("nom").Req("cpu", "2").Priority(10).Obj(), true},
	} {
		s := f.RunFilterPluginsWithNominatedPods(t.Context(), NewCycleState(), tc.pod, ni)
		if s.IsSuccess() != tc.fits {
			t.Errorf("%s: %v, want fits=%v", tc.pod.GetMetadata().GetName(), s, tc.fits)
		}
	}
	if len(ni.Pods) != 0 {
		t.Error("the node info was changed")
	}
}
