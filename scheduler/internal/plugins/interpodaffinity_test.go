package plugins

import (
	"context"
	"maps"
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

const (
	zoneKey     = "topology.kubernetes.io/zone"
	hostnameKey = "kubernetes.io/hostname"
)

// affinityCluster is n1 and n2 in zone a, n3 in zone b, n4 with no zone, with pods placed
// by node name.
func affinityCluster(pods map[string][]*corev1.Pod) []*framework.NodeInfo {
	nodes := []*corev1.Node{
		tu.Node("n1").Label(zoneKey, "a").Label(hostnameKey, "n1").Obj(),
		tu.Node("n2").Label(zoneKey, "a").Label(hostnameKey, "n2").Obj(),
		tu.Node("n3").Label(zoneKey, "b").Label(hostnameKey, "n3").Obj(),
		tu.Node("n4").Label(hostnameKey, "n4").Obj(),
	}
	out := make([]*framework.NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = framework.NewNodeInfo(n, pods[n.GetMetadata().GetName()]...)
	}
	return out
}

// filterNodes runs PreFilter and Filter over every node and returns each node's outcome:
// "" when it passes, else the first reason.
func filterNodes(t *testing.T, pod *corev1.Pod, nodes []*framework.NodeInfo) map[string]string {
	t.Helper()
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	pl := InterPodAffinity{}
	out := map[string]string{}
	s := pl.PreFilter(context.Background(), state, pod)
	for _, ni := range nodes {
		switch {
		case s.IsSkip():
			out[ni.Name()] = ""
		case !s.IsSuccess():
			out[ni.Name()] = "prefilter: " + s.Message()
		default:
			out[ni.Name()] = pl.Filter(context.Background(), state, pod, ni).Message()
		}
	}
	return out
}

func TestInterPodAffinityFilter(t *testing.T) {
	web := func(name string) *corev1.Pod { return tu.Pod(name).Label("app", "web").Obj() }
	db := func(name string) *corev1.Pod { return tu.Pod(name).Label("app", "db").Obj() }
	cases := []struct {
		name     string
		pod      *corev1.Pod
		existing map[string][]*corev1.Pod
		want     map[string]string
	}{
		{
			name: "no terms anywhere: skipped",
			pod:  web("p"), existing: map[string][]*corev1.Pod{"n1": {db("d1")}},
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": ""},
		},
		{
			name:     "affinity to db by zone: both nodes of db's zone, not the node without a zone",
			pod:      tu.Pod("p").PodAffinity(tu.PodAffinityTerm(zoneKey, "app", "db")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {db("d1")}},
			want:     map[string]string{"n1": "", "n2": "", "n3": ErrReasonAffinityRulesNotMatch, "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:     "affinity by hostname: only db's node",
			pod:      tu.Pod("p").PodAffinity(tu.PodAffinityTerm(hostnameKey, "app", "db")).Obj(),
			existing: map[string][]*corev1.Pod{"n3": {db("d1")}},
			want:     map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n2": ErrReasonAffinityRulesNotMatch, "n3": "", "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:     "affinity looks only in the pod's namespace unless the term names others",
			pod:      tu.Pod("p").PodAffinity(tu.PodAffinityTerm(hostnameKey, "app", "db")).Obj(),
			existing: map[string][]*corev1.Pod{"n3": {tu.Pod("d1").Namespace("other").Label("app", "db").Obj()}, "n1": {web("w")}},
			// No db pod in default: but the pod does not match its own term either.
			want: map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n2": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch, "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name: "a term naming the namespace finds the pod there",
			pod: func() *corev1.Pod {
				term := tu.PodAffinityTerm(hostnameKey, "app", "db")
				term.Namespaces = []string{"other"}
				return tu.Pod("p").PodAffinity(term).Obj()
			}(),
			existing: map[string][]*corev1.Pod{"n3": {tu.Pod("d1").Namespace("other").Label("app", "db").Obj()}},
			want:     map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n2": ErrReasonAffinityRulesNotMatch, "n3": "", "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name: "the first of a group with affinity to itself goes anywhere with the label",
			pod:  tu.Pod("p").Label("app", "web").PodAffinity(tu.PodAffinityTerm(zoneKey, "app", "web")).Obj(),
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:     "the second of that group joins the first's zone",
			pod:      tu.Pod("p").Label("app", "web").PodAffinity(tu.PodAffinityTerm(zoneKey, "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n3": {web("w1")}},
			want:     map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n2": ErrReasonAffinityRulesNotMatch, "n3": "", "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:     "two affinity terms: one existing pod must match both",
			pod:      tu.Pod("p").PodAffinity(tu.PodAffinityTerm(zoneKey, "app", "db"), tu.PodAffinityTerm(zoneKey, "tier", "cache")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {db("d1")}, "n3": {tu.Pod("d2").Label("app", "db").Label("tier", "cache").Obj()}},
			want:     map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n2": ErrReasonAffinityRulesNotMatch, "n3": "", "n4": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:     "anti-affinity by hostname: one web per node; a node without the label passes",
			pod:      tu.Pod("p").Label("app", "web").PodAntiAffinity(tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}, "n2": {db("d1")}},
			want:     map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": "", "n3": "", "n4": ""},
		},
		{
			name:     "anti-affinity by zone keeps the whole zone free; no zone label passes",
			pod:      tu.Pod("p").PodAntiAffinity(tu.PodAffinityTerm(zoneKey, "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n2": {web("w1")}},
			want:     map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": ErrReasonAntiAffinityRulesNotMatch, "n3": "", "n4": ""},
		},
		{
			name:     "an existing pod's anti-affinity keeps the pod out of its domain",
			pod:      web("p"),
			existing: map[string][]*corev1.Pod{"n3": {tu.Pod("loner").PodAntiAffinity(tu.PodAffinityTerm(zoneKey, "app", "web")).Obj()}},
			want:     map[string]string{"n1": "", "n2": "", "n3": ErrReasonExistingAntiAffinityRulesNotMatch, "n4": ""},
		},
		{
			name:     "an existing pod's anti-affinity that does not match the pod is no bar",
			pod:      db("p"),
			existing: map[string][]*corev1.Pod{"n3": {tu.Pod("loner").PodAntiAffinity(tu.PodAffinityTerm(zoneKey, "app", "web")).Obj()}},
			want:     map[string]string{"n1": "", "n2": "", "n3": "", "n4": ""},
		},
		{
			name: "affinity is checked before anti-affinity",
			pod: tu.Pod("p").PodAffinity(tu.PodAffinityTerm(hostnameKey, "app", "db")).
				PodAntiAffinity(tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {db("d1"), web("w1")}, "n2": {db("d2")}},
			want:     map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": "", "n3": ErrReasonAffinityRulesNotMatch, "n4": ErrReasonAffinityRulesNotMatch},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := filterNodes(t, tc.pod, affinityCluster(tc.existing))
			if !maps.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// A term whose selector does not parse makes the pod unschedulable, not the cycle fail.
func TestInterPodAffinityBadSelector(t *testing.T) {
	term := tu.PodAffinityTerm(hostnameKey, "app", "db")
	term.LabelSelector.MatchExpressions[0].Operator = "Near"
	got := filterNodes(t, tu.Pod("p").PodAffinity(term).Obj(), affinityCluster(nil))
	for n, r := range got {
		if r == "" || r[:len("prefilter: ")] != "prefilter: " {
			t.Errorf("%s: %q, want a PreFilter rejection", n, r)
		}
	}
}

// Filter handed a node whose pods differ from the snapshot's (preemption removed a
// victim, or a nominated pod was added) counts the node as it is handed.
func TestInterPodAffinityFilterSeesChangedNode(t *testing.T) {
	victim := tu.Pod("w1").Label("app", "web").Obj()
	nodes := affinityCluster(map[string][]*corev1.Pod{"n1": {victim}})
	pod := tu.Pod("p").PodAntiAffinity(tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj()
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	pl := InterPodAffinity{}
	if s := pl.PreFilter(context.Background(), state, pod); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s := pl.Filter(context.Background(), state, pod, nodes[0]); s.Message() != ErrReasonAntiAffinityRulesNotMatch {
		t.Fatalf("with the web pod: %v", s)
	}
	without := nodes[0].Clone()
	without.RemovePod(framework.PodKey(victim))
	if s := pl.Filter(context.Background(), state, pod, without); !s.IsSuccess() {
		t.Errorf("without the web pod: %v", s)
	}
	with := nodes[1].Clone()
	with.AddPodInfo(framework.NewPodInfo(tu.Pod("w2").Label("app", "web").Obj()))
	if s := pl.Filter(context.Background(), state, pod, with); s.Message() != ErrReasonAntiAffinityRulesNotMatch {
		t.Errorf("with a nominated web pod added: %v", s)
	}
	// The shared counts are untouched by either call.
	if s := pl.Filter(context.Background(), state, pod, nodes[1]); !s.IsSuccess() {
		t.Errorf("n2 as in the snapshot: %v", s)
	}
}

func TestInterPodAffinityScore(t *testing.T) {
	web := func(name string) *corev1.Pod { return tu.Pod(name).Label("app", "web").Obj() }
	cases := []struct {
		name     string
		pod      *corev1.Pod
		existing map[string][]*corev1.Pod
		want     []int64 // n1..n4
	}{
		{
			name: "nothing to prefer", pod: web("p"),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     []int64{0, 0, 0, 0},
		},
		{
			name:     "preferred affinity by zone: the zone with the pods wins",
			pod:      tu.Pod("p").PreferredPodAffinity(5, tu.PodAffinityTerm(zoneKey, "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     []int64{100, 100, 0, 0},
		},
		{
			name:     "preferred anti-affinity by hostname: the nodes with web pods lose, more pods lose more",
			pod:      tu.Pod("p").PreferredPodAntiAffinity(10, tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1"), web("w2")}, "n2": {web("w3")}},
			want:     []int64{0, 50, 100, 100},
		},
		{
			name:     "an existing pod's required affinity to the pod draws it (hard weight)",
			pod:      web("p"),
			existing: map[string][]*corev1.Pod{"n3": {tu.Pod("fan").PodAffinity(tu.PodAffinityTerm(zoneKey, "app", "web")).Obj()}},
			want:     []int64{0, 0, 100, 0},
		},
		{
			// 100 * (29/50) is 57.99... in floating point, so 57 as kube-scheduler scores
			// it, where (100*29)/50 gave 58: a point that can decide between two nodes.
			name: "normalized as kube-scheduler rounds",
			pod: tu.Pod("p").PreferredPodAffinity(29, tu.PodAffinityTerm(hostnameKey, "app", "web")).
				PreferredPodAffinity(50, tu.PodAffinityTerm(hostnameKey, "app", "db")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}, "n2": {tu.Pod("d1").Label("app", "db").Obj()}},
			want:     []int64{57, 100, 0, 0},
		},
		{
			name:     "an existing pod's preferred anti-affinity pushes the pod away",
			pod:      web("p"),
			existing: map[string][]*corev1.Pod{"n2": {tu.Pod("shy").PreferredPodAntiAffinity(3, tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj()}},
			want:     []int64{100, 0, 100, 100},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scoreAll(t, InterPodAffinity{}, tc.pod, affinityCluster(tc.existing)...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("scores %v, want %v", got, tc.want)
			}
		})
	}
}

// A pod nominated to a node is not there yet and may end up elsewhere: it must not be
// what satisfies another pod's required affinity (kube-scheduler runs the filters with
// and without the nominated pods, and both must pass).
func TestInterPodAffinityNominatedPodDoesNotSatisfyAffinity(t *testing.T) {
	nom := fakeNominator{"n3": {tu.Pod("nom").Label("app", "db").Priority(10).Obj()}}
	fwk, err := framework.New(framework.Profile{Filter: []string{InterPodAffinityName}, Bind: []string{DefaultBinderName}},
		Registry(), framework.Handle{Binder: &fakeBinder{}, Nominator: nom})
	if err != nil {
		t.Fatal(err)
	}
	nodes := affinityCluster(nil)
	pod := tu.Pod("p").PodAffinity(tu.PodAffinityTerm(hostnameKey, "app", "db")).Obj()
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	if s := fwk.RunPreFilterPlugins(context.Background(), state, pod); !s.IsSuccess() {
		t.Fatal(s)
	}
	for _, ni := range nodes {
		if s := fwk.RunFilterPluginsWithNominatedPods(context.Background(), state, pod, ni); s.IsSuccess() {
			t.Errorf("%s passes, want %q: no db pod runs anywhere", ni.Name(), ErrReasonAffinityRulesNotMatch)
		}
	}
}
