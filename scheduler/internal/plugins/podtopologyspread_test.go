package plugins

import (
	"context"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

// spreadFilterNodes runs PodTopologySpread's PreFilter and Filter over every node and
// returns each node's outcome: "" when it passes, else the reason.
func spreadFilterNodes(t *testing.T, pod *corev1.Pod, nodes []*framework.NodeInfo) map[string]string {
	t.Helper()
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	pl := PodTopologySpread{}
	out := map[string]string{}
	s := pl.PreFilter(context.Background(), state, pod)
	for _, ni := range nodes {
		switch {
		case s.IsSkip():
			out[ni.Name()] = ""
		case !s.IsSuccess():
			out[ni.Name()] = "prefilter: " + s.Message()
		default:
			fs := pl.Filter(context.Background(), state, pod, ni)
			out[ni.Name()] = fs.Message()
			if want := map[string]framework.Code{
				ErrReasonConstraintsNotMatch: framework.Unschedulable, ErrReasonNodeLabelNotMatch: framework.UnschedulableAndUnresolvable,
			}[fs.Message()]; !fs.IsSuccess() && fs.Code() != want {
				t.Errorf("%s: code %v for %q, want %v", ni.Name(), fs.Code(), fs.Message(), want)
			}
		}
	}
	return out
}

func TestPodTopologySpreadFilter(t *testing.T) {
	web := func(name string) *corev1.Pod { return tu.Pod(name).Label("app", "web").Obj() }
	byZone := func(maxSkew int32) *corev1.TopologySpreadConstraint {
		return tu.SpreadConstraint(maxSkew, zoneKey, "DoNotSchedule", "app", "web")
	}
	with := func(c *corev1.TopologySpreadConstraint, f func(c *corev1.TopologySpreadConstraint)) *corev1.TopologySpreadConstraint {
		f(c)
		return c
	}
	const (
		skew    = ErrReasonConstraintsNotMatch
		noLabel = ErrReasonNodeLabelNotMatch
	)
	cases := []struct {
		name     string
		pod      *corev1.Pod
		existing map[string][]*corev1.Pod
		taintN3  bool
		want     map[string]string
	}{
		{
			name: "no constraints: skipped",
			pod:  web("p"), existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": ""},
		},
		{
			name: "ScheduleAnyway only: skipped",
			pod:  tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, zoneKey, "ScheduleAnyway", "app", "web")).Obj(),
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": ""},
		},
		{
			name:     "zone a has one, b none: a second in a would skew 2",
			pod:      tu.Pod("p").Label("app", "web").Spread(byZone(1)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     map[string]string{"n1": skew, "n2": skew, "n3": "", "n4": noLabel},
		},
		{
			name:     "a pod its own selector does not match adds nothing to the skew",
			pod:      tu.Pod("p").Label("app", "db").Spread(byZone(1)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name:     "maxSkew 2 allows it",
			pod:      tu.Pod("p").Label("app", "web").Spread(byZone(2)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name:     "balanced zones take one more anywhere",
			pod:      tu.Pod("p").Label("app", "web").Spread(byZone(1)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}, "n3": {web("w2")}},
			want:     map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name: "fewer domains than minDomains: the minimum counts as 0",
			pod: tu.Pod("p").Label("app", "web").Spread(with(byZone(1), func(c *corev1.TopologySpreadConstraint) {
				c.MinDomains = proto.Int32(3)
			})).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}, "n3": {web("w2")}},
			want:     map[string]string{"n1": skew, "n2": skew, "n3": skew, "n4": noLabel},
		},
		{
			name:     "by hostname: the empty nodes",
			pod:      tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, hostnameKey, "DoNotSchedule", "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}, "n2": {web("w2")}},
			want:     map[string]string{"n1": skew, "n2": skew, "n3": "", "n4": ""},
		},
		{
			name: "pods of other namespaces and terminating pods do not count",
			pod:  tu.Pod("p").Label("app", "web").Spread(byZone(1)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {
				tu.Pod("o").Namespace("other").Label("app", "web").Obj(), tu.Pod("t").Label("app", "web").Terminating().Obj(),
			}},
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name:     "nodeAffinityPolicy Honor (default): a zone the pod may not go to is no domain",
			pod:      tu.Pod("p").Label("app", "web").Required(zoneKey, "In", "a").Spread(byZone(1)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			// n3 passes here; NodeAffinity's filter keeps the pod off it.
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name: "nodeAffinityPolicy Ignore: zone b counts, at 0",
			pod: tu.Pod("p").Label("app", "web").Required(zoneKey, "In", "a").Spread(with(byZone(1), func(c *corev1.TopologySpreadConstraint) {
				c.NodeAffinityPolicy = proto.String("Ignore")
			})).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     map[string]string{"n1": skew, "n2": skew, "n3": "", "n4": noLabel},
		},
		{
			name:     "nodeTaintsPolicy Ignore (default): the tainted zone b counts, at 0",
			pod:      tu.Pod("p").Label("app", "web").Spread(byZone(1)).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}}, taintN3: true,
			want: map[string]string{"n1": skew, "n2": skew, "n3": "", "n4": noLabel},
		},
		{
			name: "nodeTaintsPolicy Honor: the untolerated tainted zone is no domain",
			pod: tu.Pod("p").Label("app", "web").Spread(with(byZone(1), func(c *corev1.TopologySpreadConstraint) {
				c.NodeTaintsPolicy = proto.String("Honor")
			})).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}}, taintN3: true,
			want: map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name: "nodeTaintsPolicy Honor with a toleration: zone b counts again",
			pod: tu.Pod("p").Label("app", "web").Toleration("dedicated", "Exists", "", "NoSchedule").Spread(with(byZone(1), func(c *corev1.TopologySpreadConstraint) {
				c.NodeTaintsPolicy = proto.String("Honor")
			})).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}}, taintN3: true,
			want: map[string]string{"n1": skew, "n2": skew, "n3": "", "n4": noLabel},
		},
		{
			name: "matchLabelKeys: only pods of the pod's own revision count",
			pod: tu.Pod("p").Label("app", "web").Label("rev", "2").Spread(with(byZone(1), func(c *corev1.TopologySpreadConstraint) {
				c.MatchLabelKeys = []string{"rev"}
			})).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {tu.Pod("old").Label("app", "web").Label("rev", "1").Obj()}},
			want:     map[string]string{"n1": "", "n2": "", "n3": "", "n4": noLabel},
		},
		{
			name: "two constraints: a node must pass both",
			pod: tu.Pod("p").Label("app", "web").Spread(byZone(1),
				tu.SpreadConstraint(1, hostnameKey, "DoNotSchedule", "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}, "n3": {web("w2")}},
			// Zones are balanced (1, 1); hostnames n1 and n3 hold one, n2 and n4 none. n4 is
			// no domain (no zone), so the hostname minimum is n2's 0.
			want: map[string]string{"n1": skew, "n2": "", "n3": skew, "n4": noLabel},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nodes := affinityCluster(tc.existing)
			if tc.taintN3 {
				nodes[2] = framework.NewNodeInfo(tu.Node("n3").Label(zoneKey, "b").Label(hostnameKey, "n3").
					Taint("dedicated", "x", "NoSchedule").Obj(), tc.existing["n3"]...)
			}
			got := spreadFilterNodes(t, tc.pod, nodes)
			if !maps.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// A constraint whose selector does not parse makes the pod unschedulable, not the cycle fail.
func TestPodTopologySpreadBadSelector(t *testing.T) {
	c := tu.SpreadConstraint(1, zoneKey, "DoNotSchedule", "app", "web")
	c.LabelSelector.MatchLabels["app"] = "not a value"
	for n, r := range spreadFilterNodes(t, tu.Pod("p").Spread(c).Obj(), affinityCluster(nil)) {
		if len(r) < len("prefilter: ") || r[:len("prefilter: ")] != "prefilter: " {
			t.Errorf("%s: %q, want a PreFilter rejection", n, r)
		}
	}
}

// Filter handed a node whose pods differ from the snapshot's (preemption removed a
// victim, or a nominated pod was added) counts the node as it is handed.
func TestPodTopologySpreadFilterSeesChangedNode(t *testing.T) {
	victim := tu.Pod("w1").Label("app", "web").Obj()
	nodes := affinityCluster(map[string][]*corev1.Pod{"n1": {victim}})
	pod := tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, zoneKey, "DoNotSchedule", "app", "web")).Obj()
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	pl := PodTopologySpread{}
	if s := pl.PreFilter(context.Background(), state, pod); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s := pl.Filter(context.Background(), state, pod, nodes[0]); s.Message() != ErrReasonConstraintsNotMatch {
		t.Fatalf("with the web pod: %v", s)
	}
	without := nodes[0].Clone()
	without.RemovePod(framework.PodKey(victim))
	if s := pl.Filter(context.Background(), state, pod, without); !s.IsSuccess() {
		t.Errorf("without the web pod: %v", s)
	}
	// Two nominated web pods in zone b: b would hold 3 against a's 1.
	with := nodes[2].Clone()
	with.AddPodInfo(framework.NewPodInfo(tu.Pod("w2").Label("app", "web").Obj()))
	with.AddPodInfo(framework.NewPodInfo(tu.Pod("w3").Label("app", "web").Obj()))
	if s := pl.Filter(context.Background(), state, pod, with); s.Message() != ErrReasonConstraintsNotMatch {
		t.Errorf("zone b with two nominated web pods added: %v", s)
	}
	// The shared counts are untouched by those calls.
	if s := pl.Filter(context.Background(), state, pod, nodes[2]); !s.IsSuccess() {
		t.Errorf("n3 as in the snapshot: %v", s)
	}
	if s := pl.Filter(context.Background(), state, pod, nodes[1]); s.Message() != ErrReasonConstraintsNotMatch {
		t.Errorf("n2 as in the snapshot: %v", s)
	}
}

func TestPodTopologySpreadScore(t *testing.T) {
	web := func(name string) *corev1.Pod { return tu.Pod(name).Label("app", "web").Obj() }
	soft := func(maxSkew int32, key string) *corev1.Pod {
		return tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(maxSkew, key, "ScheduleAnyway", "app", "web")).Obj()
	}
	cases := []struct {
		name     string
		pod      *corev1.Pod
		existing map[string][]*corev1.Pod
		want     []int64 // n1..n4
	}{
		{
			name:     "no ScheduleAnyway constraint: skipped",
			pod:      tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, zoneKey, "DoNotSchedule", "app", "web")).Obj(),
			existing: map[string][]*corev1.Pod{"n1": {web("w1")}},
			want:     []int64{0, 0, 0, 0},
		},
		{
			name: "nothing placed yet: every zoned node best, the node without a zone 0",
			pod:  soft(1, zoneKey),
			want: []int64{100, 100, 100, 0},
		},
		{
			// weight log(2 zones + 2); a: 2*1.386 → 3, b: 0; (3+0-s)*100/3.
			name:     "by zone: the empty zone wins",
			pod:      soft(1, zoneKey),
			existing: map[string][]*corev1.Pod{"n1": {web("w1"), web("w2")}},
			want:     []int64{0, 0, 100, 0},
		},
		{
			// weight log(4 nodes + 2) = 1.79; n1: 2 pods → 4, n2: 1 → 2.
			name:     "by hostname: fewer pods score higher",
			pod:      soft(1, hostnameKey),
			existing: map[string][]*corev1.Pod{"n1": {web("w1"), web("w2")}, "n2": {web("w3")}, "n3": {tu.Pod("d").Label("app", "db").Obj()}},
			want:     []int64{0, 50, 100, 100},
		},
		{
			// maxSkew-1 = 4 is added everywhere: n1 4+4=8 → 8, n2 2+4 → 6, others 4;
			// (8+4-s)*100/8.
			name:     "a larger maxSkew waters the differences down",
			pod:      soft(5, hostnameKey),
			existing: map[string][]*corev1.Pod{"n1": {web("w1"), web("w2")}, "n2": {web("w3")}},
			want:     []int64{50, 75, 100, 100},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scoreAll(t, PodTopologySpread{}, tc.pod, affinityCluster(tc.existing)...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("scores %v, want %v", got, tc.want)
			}
		})
	}
}
