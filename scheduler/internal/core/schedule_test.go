package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/config"
	"kubelab.io/scheduler/internal/framework"
	"kubelab.io/scheduler/internal/plugins"
	tu "kubelab.io/scheduler/internal/testutil"
)

type nopBinder struct{}

func (nopBinder) Bind(context.Context, string, *corev1.Binding) error { return nil }

type nopPreempter struct{}

func (nopPreempter) PreemptVictims(context.Context, *corev1.Pod, string, []*corev1.Pod) error {
	return nil
}

func defaultFramework(t testing.TB) *framework.Framework {
	t.Helper()
	c, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Profiles[0].Resolve()
	if err != nil {
		t.Fatal(err)
	}
	f, err := framework.New(p, plugins.Registry(), framework.Handle{Binder: nopBinder{}, Preempter: nopPreempter{}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func snapshot(nodes []*corev1.Node, pods ...*corev1.Pod) *framework.Snapshot {
	infos := map[string]*framework.NodeInfo{}
	var list []*framework.NodeInfo
	for _, n := range nodes {
		ni := framework.NewNodeInfo(n)
		infos[n.Metadata.Name] = ni
		list = append(list, ni)
	}
	for _, p := range pods {
		infos[p.Spec.NodeName].AddPodInfo(framework.NewPodInfo(p))
	}
	return framework.NewSnapshot(list...)
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	cases := []struct {
		percentage int32
		nodes      int32
		want       int32
	}{
		{0, 10, 10}, // small clusters: every node
		{0, 99, 99},
		{0, 100, 100},   // 50-0=50% of 100 = 50 → at least 100
		{0, 1000, 420},  // 50-8=42%
		{0, 5000, 500},  // 50-40=10%
		{0, 6000, 300},  // 50-48=2% → floor 5%
		{0, 15000, 750}, // 5%
		{10, 500, 100},  // 10% of 500 = 50 → at least 100
		{10, 5000, 500},
		{100, 5000, 5000},
		{50, 50, 50},
	}
	for _, tc := range cases {
		if got := NumFeasibleNodesToFind(tc.percentage, tc.nodes); got != tc.want {
			t.Errorf("NumFeasibleNodesToFind(%d, %d) = %d, want %d", tc.percentage, tc.nodes, got, tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	cases := []struct {
		name     string
		pod      *corev1.Pod
		nodes    []*corev1.Node
		existing []*corev1.Pod
		// wantHosts: any of these is right (ties are random).
		wantHosts []string
		wantErr   string
	}{
		{
			name: "least allocated node wins", pod: tu.Pod("p").Req("cpu", "1").Obj(),
			nodes:     []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Obj(), tu.Node("n3").Obj()},
			existing:  []*corev1.Pod{tu.Pod("a").Req("cpu", "2").NodeName("n1").Obj(), tu.Pod("b").Req("cpu", "1").NodeName("n3").Obj()},
			wantHosts: []string{"n2"},
		},
		{
			name: "fits nowhere: summed-up reasons", pod: tu.Pod("p").Req("cpu", "3").Obj(),
			nodes: []*corev1.Node{
				tu.Node("n1").Alloc("cpu", "2").Obj(),
				tu.Node("n2").Taint("node.kubernetes.io/unreachable", "", "NoExecute").Obj(),
				tu.Node("n3").Taint("node.kubernetes.io/unreachable", "", "NoExecute").Obj(),
			},
			wantErr: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.",
		},
		{
			name: "three nodes short of cpu", pod: tu.Pod("p").Req("cpu", "100").Obj(),
			nodes:   []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Obj(), tu.Node("n3").Obj()},
			wantErr: "0/3 nodes are available: 3 Insufficient cpu.",
		},
		{
			name: "several reasons per node are all counted", pod: tu.Pod("p").Req("cpu", "100", "memory", "100Gi").Obj(),
			nodes:   []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Unschedulable().Obj()},
			wantErr: "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) were unschedulable.",
		},
		{
			name: "tainted node avoided", pod: tu.Pod("p").Obj(),
			nodes:     []*corev1.Node{tu.Node("n1").Taint("dedicated", "x", "NoSchedule").Obj(), tu.Node("n2").Obj()},
			wantHosts: []string{"n2"},
		},
		{
			name: "node selector", pod: tu.Pod("p").NodeSelector(map[string]string{"disk": "ssd"}).Obj(),
			nodes:     []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Label("disk", "ssd").Obj(), tu.Node("n3").Obj()},
			wantHosts: []string{"n2"},
		},
		{
			name: "preferred affinity beats equal load", pod: tu.Pod("p").Preferred(50, "zone", "In", "b").Obj(),
			nodes:     []*corev1.Node{tu.Node("n1").Label("zone", "a").Obj(), tu.Node("n2").Label("zone", "b").Obj()},
			wantHosts: []string{"n2"},
		},
		{
			name: "PreferNoSchedule taint avoided when possible", pod: tu.Pod("p").Obj(),
			nodes:     []*corev1.Node{tu.Node("n1").Taint("k", "v", "PreferNoSchedule").Obj(), tu.Node("n2").Obj()},
			wantHosts: []string{"n2"},
		},
		{
			name: "equal nodes: any", pod: tu.Pod("p").Obj(),
			nodes:     []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Obj()},
			wantHosts: []string{"n1", "n2"},
		},
		{
			name: "no nodes", pod: tu.Pod("p").Obj(),
			wantErr: ErrNoNodesAvailable.Error(),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, _, err := Schedule(context.Background(), Input{
				Framework: defaultFramework(t), Snapshot: snapshot(tc.nodes, tc.existing...), Pod: tc.pod,
			})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.wantHosts, res.SuggestedHost) {
				t.Errorf("host %q, want one of %v (scores %+v)", res.SuggestedHost, tc.wantHosts, res.Scores)
			}
		})
	}
}

func TestFitErrorIsTyped(t *testing.T) {
	_, _, err := Schedule(context.Background(), Input{
		Framework: defaultFramework(t), Snapshot: snapshot([]*corev1.Node{tu.Node("n1").Alloc("cpu", "1").Obj()}),
		Pod: tu.Pod("p").Req("cpu", "2").Obj(),
	})
	var fe *framework.FitError
	if !errors.As(err, &fe) || fe.NumAllNodes != 1 || !fe.Diagnosis.UnschedulablePlugins[plugins.NodeResourcesFitName] {
		t.Fatalf("got %#v", err)
	}
}

func TestTiesAreRandom(t *testing.T) {
	nodes := []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Obj(), tu.Node("n3").Obj()}
	seen := map[string]bool{}
	for i := range 3 {
		// Reservoir sampling: answering 0 at the k-th tie picks it; pick the i-th tie.
		rnd := func(n int) int {
			if n == i+1 {
				return 0
			}
			return 1
		}
		res, _, err := Schedule(context.Background(), Input{Framework: defaultFramework(t), Snapshot: snapshot(nodes), Pod: tu.Pod("p").Obj(), Rand: rnd})
		if err != nil {
			t.Fatal(err)
		}
		seen[res.SuggestedHost] = true
	}
	if len(seen) != 3 {
		t.Errorf("ties picked %v, want all three nodes", seen)
	}
}

func manyNodes(n int) []*corev1.Node {
	nodes := make([]*corev1.Node, n)
	for i := range nodes {
		nodes[i] = tu.Node(fmt.Sprintf("node-%05d", i)).Obj()
	}
	return nodes
}

func TestPercentageOfNodesToScoreAndRoundRobin(t *testing.T) {
	const total = 1000 // adaptive: 42% → 420 nodes per cycle
	snap := snapshot(manyNodes(total))
	fwk := defaultFramework(t)
	start := 0
	examined := map[string]int{}
	for cycle := range 5 {
		state := framework.NewCycleState()
		res, next, err := Schedule(context.Background(), Input{Framework: fwk, Snapshot: snap, Pod: tu.Pod("p").Obj(), State: state, StartIndex: start})
		if err != nil {
			t.Fatal(err)
		}
		if res.FeasibleNodes != 420 || res.EvaluatedNodes != 420 || len(res.Scores) != 420 {
			t.Fatalf("cycle %d: feasible %d evaluated %d scored %d, want 420", cycle, res.FeasibleNodes, res.EvaluatedNodes, len(res.Scores))
		}
		if want := (start + 420) % total; next != want {
			t.Fatalf("cycle %d: next start %d, want %d", cycle, next, want)
		}
		for _, s := range res.Scores {
			examined[s.Name]++
		}
		start = next
	}
	// 5 × 420 = 2100 examinations over 1000 nodes: each node 2 or 3 times.
	for i := range total {
		name := fmt.Sprintf("node-%05d", i)
		if n := examined[name]; n < 2 || n > 3 {
			t.Fatalf("%s examined %d times, want 2 or 3 (fair round robin)", name, n)
		}
	}
	// An explicit percentage wins over the adaptive one.
	res, _, err := Schedule(context.Background(), Input{Framework: fwk, Snapshot: snap, Pod: tu.Pod("p").Obj(), PercentageOfNodesToScore: 100})
	if err != nil || res.FeasibleNodes != total {
		t.Fatalf("100%%: feasible %d, err %v", res.FeasibleNodes, err)
	}
}

func TestRoundRobinCountsRejectedNodes(t *testing.T) {
	// 200 nodes, the first 50 full: from start 0 the search looks at 50 rejected and 100
	// feasible nodes (numFeasibleNodesToFind(200) = max(100, 48% of 200 = 96)).
	nodes := manyNodes(200)
	for i := range 50 {
		nodes[i] = tu.Node(nodes[i].Metadata.Name).Alloc("cpu", "0").Obj()
	}
	res, next, err := Schedule(context.Background(), Input{Framework: defaultFramework(t), Snapshot: snapshot(nodes), Pod: tu.Pod("p").Req("cpu", "1").Obj()})
	if err != nil {
		t.Fatal(err)
	}
	if res.FeasibleNodes != 100 || res.EvaluatedNodes != 150 || next != 150 {
		t.Errorf("feasible %d evaluated %d next %d, want 100 150 150", res.FeasibleNodes, res.EvaluatedNodes, next)
	}
}

// fakeExtender filters and scores by fixed tables.
type fakeExtender struct {
	name       string
	reject     map[string]string
	scores     map[string]int64
	weight     int64
	err        error
	prioErr    error
	ignorable  bool
	filterCall int
}

func (f *fakeExtender) Name() string        { return f.name }
func (f *fakeExtender) IsFilter() bool      { return f.reject != nil || f.err != nil }
func (f *fakeExtender) IsPrioritizer() bool { return f.scores != nil }
func (f *fakeExtender) IsIgnorable() bool   { return f.ignorable }
func (f *fakeExtender) Weight() int64       { return f.weight }
func (f *fakeExtender) Filter(_ context.Context, _ *corev1.Pod, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, map[string]string, map[string]string, error) {
	f.filterCall++
	if f.err != nil {
		return nil, nil, nil, f.err
	}
	var out []*framework.NodeInfo
	failed := map[string]string{}
	for _, n := range nodes {
		if msg, ok := f.reject[n.Name()]; ok {
			failed[n.Name()] = msg
			continue
		}
		out = append(out, n)
	}
	return out, failed, nil, nil
}
func (f *fakeExtender) Prioritize(context.Context, *corev1.Pod, []*framework.NodeInfo) (map[string]int64, error) {
	if f.prioErr != nil {
		return nil, f.prioErr
	}
	return f.scores, nil
}

func TestExtenders(t *testing.T) {
	nodes := []*corev1.Node{tu.Node("n1").Obj(), tu.Node("n2").Obj(), tu.Node("n3").Obj()}
	down := errors.New("connection refused")
	cases := []struct {
		name      string
		extenders []framework.Extender
		wantHost  string
		wantErr   string
	}{
		{"filter leaves one", []framework.Extender{&fakeExtender{name: "f", reject: map[string]string{"n1": "no", "n2": "no"}}}, "n3", ""},
		{"filter rejects all", []framework.Extender{&fakeExtender{name: "f", reject: map[string]string{"n1": "no gpu", "n2": "no gpu", "n3": "busy"}}}, "",
			"0/3 nodes are available: 1 busy, 2 no gpu."},
		{"prioritizer decides", []framework.Extender{&fakeExtender{name: "p", scores: map[string]int64{"n2": 10}, weight: 5}}, "n2", ""},
		{"ignorable filter down is skipped", []framework.Extender{
			&fakeExtender{name: "f", err: down, ignorable: true},
			&fakeExtender{name: "p", scores: map[string]int64{"n1": 10}, weight: 1},
		}, "n1", ""},
		{"non-ignorable filter down fails the cycle", []framework.Extender{&fakeExtender{name: "f", err: down}}, "", "extender f: connection refused"},
		{"prioritizer errors are ignored", []framework.Extender{&fakeExtender{name: "p", scores: map[string]int64{"n1": 10}, prioErr: down, weight: 1},
			&fakeExtender{name: "q", scores: map[string]int64{"n2": 10}, weight: 1}}, "n2", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, _, err := Schedule(context.Background(), Input{Framework: defaultFramework(t), Snapshot: snapshot(nodes), Pod: tu.Pod("p").Obj(), Extenders: tc.extenders})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.SuggestedHost != tc.wantHost {
				t.Errorf("host %q, want %q (scores %+v)", res.SuggestedHost, tc.wantHost, res.Scores)
			}
		})
	}
}

// BenchmarkSchedule measures one decision over 5000 nodes each running 10 pods, with the
// default plugins and adaptive percentageOfNodesToScore (10% → 500 nodes scored).
func BenchmarkSchedule(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			nodes := manyNodes(n)
			var pods []*corev1.Pod
			for i, node := range nodes {
				node.Status.Images = []*corev1.ContainerImage{{Names: []string{"nginx:1.14.2"}, SizeBytes: 100 << 20}}
				for j := range 10 {
					pods = append(pods, tu.Pod(fmt.Sprintf("p-%d-%d", i, j)).Req("cpu", "100m", "memory", "128Mi").NodeName(node.Metadata.Name).Obj())
				}
			}
			if n >= 5 {
				nodes[3].Spec.Taints = []*corev1.Taint{{Key: "k", Value: "v", Effect: "NoSchedule"}}
			}
			snap := snapshot(nodes, pods...)
			fwk := defaultFramework(b)
			pod := tu.Pod("new").Req("cpu", "250m", "memory", "256Mi").Image("nginx:1.14.2").Obj()
			start := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, next, err := Schedule(context.Background(), Input{Framework: fwk, Snapshot: snap, Pod: pod, StartIndex: start})
				if err != nil {
					b.Fatal(err)
				}
				start = next
			}
		})
	}
}
