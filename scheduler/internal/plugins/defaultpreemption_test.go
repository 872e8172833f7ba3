package plugins

import (
	"context"
	"math"
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

type preemptCall struct {
	preemptor, node string
	victims         []string
}

type fakePreempter struct{ calls []preemptCall }

func (f *fakePreempter) PreemptVictims(_ context.Context, preemptor *corev1.Pod, node string, victims []*corev1.Pod) error {
	f.calls = append(f.calls, preemptCall{preemptor.GetMetadata().GetName(), node, podNames(victims)})
	return nil
}

type fakeNominator map[string][]*corev1.Pod

func (f fakeNominator) NominatedPodsForNode(node string) []*framework.PodInfo {
	var out []*framework.PodInfo
	for _, p := range f[node] {
		out = append(out, framework.NewPodInfo(p))
	}
	return out
}

func (f fakeNominator) NominatedNodeName(pod *corev1.Pod) string {
	for node, pods := range f {
		for _, p := range pods {
			if framework.PodKey(p) == framework.PodKey(pod) {
				return node
			}
		}
	}
	return ""
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.GetMetadata().GetName())
	}
	return out
}

// fakePDBs is a PDBLister over a fixed list.
type fakePDBs []*policyv1.PodDisruptionBudget

func (f fakePDBs) List(labels.Selector) ([]*policyv1.PodDisruptionBudget, error) { return f, nil }

// newPreemption builds DefaultPreemption on a framework with kubelab's default filters,
// knowing of the budgets pdbs.
func newPreemption(t *testing.T, nominator framework.PodNominator, pdbs ...*policyv1.PodDisruptionBudget) (*DefaultPreemption, *framework.Framework, *fakePreempter) {
	t.Helper()
	fp := &fakePreempter{}
	profile := framework.Profile{
		Filter:     []string{NodeUnschedulableName, NodeNameName, TaintTolerationName, NodeAffinityName, NodePortsName, NodeResourcesFitName, InterPodAffinityName},
		PostFilter: []string{DefaultPreemptionName},
		Bind:       []string{DefaultBinderName},
	}
	h := framework.Handle{Binder: &fakeBinder{}, Preempter: fp}
	if nominator != nil {
		h.Nominator = nominator
	}
	fwk, err := framework.New(profile, Registry(), h)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewDefaultPreemption(framework.Handle{Framework: fwk, Preempter: fp, Nominator: h.Nominator, PDBLister: fakePDBs(pdbs)})
	if err != nil {
		t.Fatal(err)
	}
	return pl.(*DefaultPreemption), fwk, fp
}

// cycle runs PreFilter and Filter on every node, as the core does, and returns the state
// and the statuses PostFilter gets.
func cycle(t *testing.T, fwk *framework.Framework, snap *framework.Snapshot, pod *corev1.Pod) (*framework.CycleState, map[string]*framework.Status) {
	t.Helper()
	state := framework.NewCycleState()
	state.SetSnapshot(snap)
	if s := fwk.RunPreFilterPlugins(context.Background(), state, pod); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	statuses := map[string]*framework.Status{}
	for _, ni := range snap.List {
		if s := fwk.RunFilterPluginsWithNominatedPods(context.Background(), state, pod, ni); !s.IsSuccess() {
			statuses[ni.Name()] = s
		}
	}
	return state, statuses
}

func TestSelectVictimsOnNode(t *testing.T) {
	node := tu.Node("n1").Alloc("cpu", "4").Obj()
	low := func(name string, prio int32, cpu string) *corev1.Pod {
		return tu.Pod(name).Req("cpu", cpu).Priority(prio).NodeName("n1").Obj()
	}
	cases := []struct {
		name      string
		node      *corev1.Node
		existing  []*corev1.Pod
		nominated []*corev1.Pod
		pod       *corev1.Pod
		want      []string
		wantCode  framework.Code
		wantMsg   string
	}{
		{name: "one lower pod is enough: the less important one goes",
			existing: []*corev1.Pod{low("p1", 1, "2"), low("p2", 2, "2")},
			pod:      tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"p1"}},
		{name: "the most important are kept, even if evicting one bigger pod would do",
			existing: []*corev1.Pod{low("p1", 1, "1"), low("p2", 2, "1"), low("p3", 3, "2")},
			pod:      tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"p2", "p1"}},
		{name: "equal priority is never a victim",
			existing: []*corev1.Pod{low("eq", 10, "4")},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantMsg: ErrReasonNoVictims},
		{name: "does not fit even with every lower pod gone",
			existing: []*corev1.Pod{low("big", 100, "3"), low("p1", 1, "1")},
			pod:      tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(),
			wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu"},
		{name: "same priority: the one that started later goes",
			existing: []*corev1.Pod{
				tu.Pod("old").Req("cpu", "2").Priority(1).NodeName("n1").StartTime(100).Obj(),
				tu.Pod("new").Req("cpu", "2").Priority(1).NodeName("n1").StartTime(200).Obj()},
			pod: tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"new"}},
		{name: "a pod that has not started counts as the newest",
			existing: []*corev1.Pod{
				tu.Pod("pending").Req("cpu", "2").Priority(1).NodeName("n1").Obj(),
				tu.Pod("running").Req("cpu", "2").Priority(1).NodeName("n1").StartTime(200).Obj()},
			pod: tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"pending"}},
		{name: "pod count",
			node:     tu.Node("n1").Alloc("pods", "2").Obj(),
			existing: []*corev1.Pod{low("p1", 1, "0"), low("p2", 2, "0")},
			pod:      tu.Pod("hi").Priority(10).Obj(), want: []string{"p1"}},
		{name: "host port",
			existing: []*corev1.Pod{tu.Pod("port").HostPort(80, "TCP", "").Priority(1).NodeName("n1").Obj(), low("other", 0, "1")},
			pod:      tu.Pod("hi").HostPort(80, "TCP", "").Priority(10).Obj(), want: []string{"port"}},
		{name: "room held for a nominated pod of higher priority counts",
			existing:  []*corev1.Pod{low("p1", 1, "1"), low("p2", 2, "1")},
			nominated: []*corev1.Pod{tu.Pod("nom").Req("cpu", "2").Priority(20).Obj()},
			pod:       tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"p2", "p1"}},
		{name: "room held for a nominated pod of lower priority does not",
			existing:  []*corev1.Pod{low("p1", 1, "1"), low("p2", 2, "1")},
			nominated: []*corev1.Pod{tu.Pod("nom").Req("cpu", "2").Priority(5).Obj()},
			pod:       tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := node
			if tc.node != nil {
				n = tc.node
			}
			pl, fwk, _ := newPreemption(t, fakeNominator{"n1": tc.nominated})
			ni := framework.NewNodeInfo(n, tc.existing...)
			snap := framework.NewSnapshot(ni)
			state, _ := cycle(t, fwk, snap, tc.pod)
			before := len(ni.Pods)
			victims, _, s := pl.SelectVictimsOnNode(context.Background(), state, tc.pod, ni.Clone(), nil)
			if s.Code() != tc.wantCode || s.Message() != tc.wantMsg {
				t.Fatalf("status %v, want %v %q", s, tc.wantCode, tc.wantMsg)
			}
			if got := podNames(victims); !slices.Equal(got, tc.want) {
				t.Errorf("victims %v, want %v", got, tc.want)
			}
			if len(ni.Pods) != before {
				t.Errorf("the snapshot's node info changed: %d pods, had %d", len(ni.Pods), before)
			}
		})
	}
}

func TestPickOneNodeForPreemption(t *testing.T) {
	v := func(name string, prio int32, start int64) *corev1.Pod {
		w := tu.Pod(name).Priority(prio)
		if start > 0 {
			w = w.StartTime(start)
		}
		return w.Obj()
	}
	cases := []struct {
		name       string
		candidates []Candidate
		want       string
	}{
		{name: "fewest budget violations before anything else", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 1, 0)}, NumPDBViolations: 1},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 5, 0), v("b2", 5, 0)}, NumPDBViolations: 0},
			{Node: "c", Victims: []*corev1.Pod{v("c1", 2, 0)}, NumPDBViolations: 2},
		}, want: "b"},
		{name: "equal violations: then the lowest most important victim", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 5, 0)}, NumPDBViolations: 1},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 3, 0)}, NumPDBViolations: 1},
		}, want: "b"},
		{name: "lowest most important victim", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 5, 0)}},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 3, 0), v("b2", 3, 0), v("b3", 3, 0)}},
		}, want: "b"},
		{name: "then smallest sum of priorities", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 5, 0), v("a2", 4, 0)}},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 5, 0), v("b2", 1, 0)}},
		}, want: "b"},
		{name: "negative priorities do not make more victims sum to less", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", -5, 0), v("a2", -5, 0)}},
			{Node: "b", Victims: []*corev1.Pod{v("b1", -5, 0)}},
		}, want: "b"},
		{name: "then fewest victims", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 5, 0), v("a2", math.MinInt32, 0)}},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 5, 0)}},
		}, want: "b"},
		{name: "then latest start of the most important victims", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 5, 300), v("a2", 5, 100)}},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 5, 200), v("b2", 5, 250)}},
			{Node: "c", Victims: []*corev1.Pod{v("c1", 5, 150), v("c2", 5, 400)}},
		}, want: "b"},
		{name: "then the first", candidates: []Candidate{
			{Node: "a", Victims: []*corev1.Pod{v("a1", 5, 100)}},
			{Node: "b", Victims: []*corev1.Pod{v("b1", 5, 100)}},
		}, want: "a"},
		{name: "one candidate", candidates: []Candidate{{Node: "only", Victims: []*corev1.Pod{v("x", 1, 0)}}}, want: "only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := PickOneNodeForPreemption(tc.candidates); got.Node != tc.want {
				t.Errorf("picked %q, want %q", got.Node, tc.want)
			}
		})
	}
}

func TestPodEligibleToPreemptOthers(t *testing.T) {
	n1 := framework.NewNodeInfo(tu.Node("n1").Obj(),
		tu.Pod("low-terminating").Priority(1).NodeName("n1").Terminating().Obj(),
		tu.Pod("running").Priority(1).NodeName("n1").Obj())
	n2 := framework.NewNodeInfo(tu.Node("n2").Obj(),
		tu.Pod("high-terminating").Priority(100).NodeName("n2").Terminating().Obj())
	snap := framework.NewSnapshot(n1, n2)
	hi := tu.Pod("hi").Priority(10).Obj()
	cases := []struct {
		name      string
		pod       *corev1.Pod
		nominated string
		statuses  map[string]*framework.Status
		want      bool
		wantMsg   string
	}{
		{name: "not nominated", pod: hi, want: true},
		{name: "preemptionPolicy Never", pod: tu.Pod("never").Priority(10).PreemptionPolicy(PreemptNever).Obj(), wantMsg: msgNotEligiblePreemptNever},
		{name: "PreemptLowerPriority", pod: tu.Pod("lower").Priority(10).PreemptionPolicy("PreemptLowerPriority").Obj(), want: true},
		{name: "its victims are still terminating", pod: hi, nominated: "n1", wantMsg: msgNotEligibleTerminatingVictm},
		{name: "its nominated node can no longer take it", pod: hi, nominated: "n1",
			statuses: map[string]*framework.Status{"n1": framework.NewStatus(framework.UnschedulableAndUnresolvable, "gone")}, want: true},
		{name: "a terminating pod of higher priority is not its victim", pod: hi, nominated: "n2", want: true},
		{name: "nominated node gone", pod: hi, nominated: "n9", want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := PodEligibleToPreemptOthers(tc.pod, tc.nominated, snap, tc.statuses)
			if ok != tc.want || msg != tc.wantMsg {
				t.Errorf("got %v %q, want %v %q", ok, msg, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestPostFilter(t *testing.T) {
	full := func(node string, pods ...*corev1.Pod) *framework.NodeInfo {
		return framework.NewNodeInfo(tu.Node(node).Alloc("cpu", "2").Label("zone", node).Obj(), pods...)
	}
	on := func(name, node string, prio int32) *corev1.Pod {
		return tu.Pod(name).Req("cpu", "1").Priority(prio).NodeName(node).Obj()
	}
	cases := []struct {
		name     string
		nodes    []*framework.NodeInfo
		pod      *corev1.Pod
		wantNode string
		wantCall []preemptCall
		wantCode framework.Code
		wantMsg  string
	}{
		{name: "picks the node whose victims matter least",
			nodes:    []*framework.NodeInfo{full("a", on("a1", "a", 5), on("a2", "a", 5)), full("b", on("b1", "b", 3), on("b2", "b", 7))},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).Obj(),
			wantNode: "b", wantCall: []preemptCall{{"hi", "b", []string{"b1"}}}},
		{name: "nodes that fail for other reasons are not candidates",
			nodes:    []*framework.NodeInfo{full("a", on("a1", "a", 5), on("a2", "a", 5)), full("b", on("b1", "b", 3), on("b2", "b", 3))},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).Required("zone", "In", "a").Obj(),
			wantNode: "a", wantCall: []preemptCall{{"hi", "a", []string{"a2"}}}},
		{name: "equal priority: no victims anywhere",
			nodes:    []*framework.NodeInfo{full("a", on("a1", "a", 10), on("a2", "a", 10)), full("b", on("b1", "b", 10), on("b2", "b", 10))},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).Required("zone", "In", "a").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable,
			wantMsg:  "preemption: 0/2 nodes are available: 1 " + ErrReasonNoVictims + ", 1 " + ErrReasonPreemptionNotHelpful},
		{name: "anti-affinity: the pod it refuses to share a zone with is the victim, the other is spared",
			nodes: []*framework.NodeInfo{full("a",
				tu.Pod("web").Label("app", "web").Priority(5).NodeName("a").Obj(),
				tu.Pod("db").Req("cpu", "1").Priority(5).NodeName("a").Obj())},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).PodAntiAffinity(tu.PodAffinityTerm("zone", "app", "web")).Obj(),
			wantNode: "a", wantCall: []preemptCall{{"hi", "a", []string{"web"}}}},
		{name: "anti-affinity: the pod it refuses to share a zone with is the victim, the other is spared",
			nodes: []*framework.NodeInfo{full("a",
				tu.Pod("web").Label("app", "web").Priority(5).NodeName("a").Obj(),
				tu.Pod("db").Req("cpu", "1").Priority(5).NodeName("a").Obj())},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).PodAntiAffinity(tu.PodAffinityTerm("zone", "app", "web")).Obj(),
			wantNode: "a", wantCall: []preemptCall{{"hi", "a", []string{"web"}}}},
		{name: "preemptionPolicy Never",
			nodes:    []*framework.NodeInfo{full("a", on("a1", "a", 1), on("a2", "a", 1))},
			pod:      tu.Pod("hi").Req("cpu", "1").Priority(10).PreemptionPolicy(PreemptNever).Obj(),
			wantCode: framework.Unschedulable, wantMsg: "preemption: not eligible due to preemptionPolicy=Never"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl, fwk, fp := newPreemption(t, nil)
			snap := framework.NewSnapshot(tc.nodes...)
			state, statuses := cycle(t, fwk, snap, tc.pod)
			if len(statuses) != len(tc.nodes) {
				t.Fatalf("the pod fits somewhere: %v", statuses)
			}
			node, s := pl.PostFilter(context.Background(), state, tc.pod, statuses)
			if node != tc.wantNode || s.Code() != tc.wantCode || s.Message() != tc.wantMsg {
				t.Errorf("got %q %v, want %q %v %q", node, s, tc.wantNode, tc.wantCode, tc.wantMsg)
			}
			if !slices.EqualFunc(fp.calls, tc.wantCall, func(a, b preemptCall) bool {
				return a.preemptor == b.preemptor && a.node == b.node && slices.Equal(a.victims, b.victims)
			}) {
				t.Errorf("preempted %+v, want %+v", fp.calls, tc.wantCall)
			}
		})
	}
}

func TestVictimCondition(t *testing.T) {
	preemptor := &corev1.Pod{Spec: &corev1.PodSpec{SchedulerName: "my-scheduler"}}
	c := VictimCondition(preemptor)
	if c.GetType() != "DisruptionTarget" || c.GetStatus() != "True" || c.GetReason() != "PreemptionByScheduler" ||
		c.GetMessage() != "my-scheduler: preempting to accommodate a higher priority pod" {
		t.Errorf("condition %v", c)
	}
}
