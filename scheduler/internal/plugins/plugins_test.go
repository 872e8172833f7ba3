package plugins

import (
	"context"
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/scheduling"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

func filter(t *testing.T, p framework.FilterPlugin, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	t.Helper()
	state := framework.NewCycleState()
	if pf, ok := p.(framework.PreFilterPlugin); ok {
		if s := pf.PreFilter(context.Background(), state, pod); s.IsSkip() {
			return nil
		} else if !s.IsSuccess() {
			return s
		}
	}
	return p.Filter(context.Background(), state, pod, ni)
}

type filterCase struct {
	name        string
	pod         *corev1.Pod
	node        *corev1.Node
	existing    []*corev1.Pod
	wantCode    framework.Code
	wantReasons []string
}

func runFilterCases(t *testing.T, p framework.FilterPlugin, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(tc.node, tc.existing...)
			s := filter(t, p, tc.pod, ni)
			if s.Code() != tc.wantCode || !slices.Equal(s.Reasons(), tc.wantReasons) {
				t.Errorf("got %v %q, want %v %q", s.Code(), s.Reasons(), tc.wantCode, tc.wantReasons)
			}
		})
	}
}

func TestNodeName(t *testing.T) {
	runFilterCases(t, NodeName{}, []filterCase{
		{name: "no nodeName", pod: tu.Pod("p").Obj(), node: tu.Node("n1").Obj()},
		{name: "matching", pod: tu.Pod("p").NodeName("n1").Obj(), node: tu.Node("n1").Obj()},
		{name: "other node", pod: tu.Pod("p").NodeName("n2").Obj(), node: tu.Node("n1").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeName}},
	})
}

func TestNodeUnschedulable(t *testing.T) {
	runFilterCases(t, NodeUnschedulable{}, []filterCase{
		{name: "schedulable", pod: tu.Pod("p").Obj(), node: tu.Node("n1").Obj()},
		{name: "cordoned", pod: tu.Pod("p").Obj(), node: tu.Node("n1").Unschedulable().Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonUnschedulable}},
		{name: "cordoned but tolerated", pod: tu.Pod("p").Toleration(TaintNodeUnschedulable, "Exists", "", "NoSchedule").Obj(),
			node: tu.Node("n1").Unschedulable().Obj()},
	})
}

func TestTaintTolerationFilter(t *testing.T) {
	untolerated := func(k, v string) []string { return []string{"node(s) had untolerated taint {" + k + ": " + v + "}"} }
	runFilterCases(t, TaintToleration{}, []filterCase{
		{name: "no taints", pod: tu.Pod("p").Obj(), node: tu.Node("n").Obj()},
		{name: "NoSchedule untolerated", pod: tu.Pod("p").Obj(), node: tu.Node("n").Taint("dedicated", "gpu", "NoSchedule").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: untolerated("dedicated", "gpu")},
		{name: "NoExecute untolerated, empty value", pod: tu.Pod("p").Obj(), node: tu.Node("n").Taint("node.kubernetes.io/unreachable", "", "NoExecute").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: untolerated("node.kubernetes.io/unreachable", "")},
		{name: "PreferNoSchedule does not filter", pod: tu.Pod("p").Obj(), node: tu.Node("n").Taint("k", "v", "PreferNoSchedule").Obj()},
		{name: "Equal toleration", pod: tu.Pod("p").Toleration("dedicated", "Equal", "gpu", "NoSchedule").Obj(),
			node: tu.Node("n").Taint("dedicated", "gpu", "NoSchedule").Obj()},
		{name: "default operator is Equal", pod: tu.Pod("p").Toleration("dedicated", "", "gpu", "").Obj(),
			node: tu.Node("n").Taint("dedicated", "gpu", "NoSchedule").Obj()},
		{name: "wrong value", pod: tu.Pod("p").Toleration("dedicated", "Equal", "cpu", "NoSchedule").Obj(),
			node:     tu.Node("n").Taint("dedicated", "gpu", "NoSchedule").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: untolerated("dedicated", "gpu")},
		{name: "wrong effect", pod: tu.Pod("p").Toleration("dedicated", "Exists", "", "NoExecute").Obj(),
			node:     tu.Node("n").Taint("dedicated", "gpu", "NoSchedule").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: untolerated("dedicated", "gpu")},
		{name: "Exists with empty key tolerates all", pod: tu.Pod("p").Toleration("", "Exists", "", "").Obj(),
			node: tu.Node("n").Taint("a", "1", "NoSchedule").Taint("b", "2", "NoExecute").Obj()},
		{name: "first untolerated of several", pod: tu.Pod("p").Toleration("a", "Exists", "", "").Obj(),
			node:     tu.Node("n").Taint("a", "1", "NoSchedule").Taint("b", "2", "NoExecute").Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: untolerated("b", "2")},
	})
}

func scoreAll(t *testing.T, p framework.ScorePlugin, pod *corev1.Pod, nodes ...*framework.NodeInfo) []int64 {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	if ps, ok := p.(framework.PreScorePlugin); ok {
		if s := ps.PreScore(ctx, state, pod, nodes); s.IsSkip() {
			return make([]int64, len(nodes))
		} else if !s.IsSuccess() {
			t.Fatalf("PreScore: %v", s)
		}
	}
	scores := make([]framework.NodeScore, len(nodes))
	for i, n := range nodes {
		v, s := p.Score(ctx, state, pod, n)
		if !s.IsSuccess() {
			t.Fatalf("Score: %v", s)
		}
		scores[i] = framework.NodeScore{Name: n.Name(), Score: v}
	}
	if np, ok := p.(framework.NormalizeScorePlugin); ok {
		if s := np.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
			t.Fatalf("NormalizeScore: %v", s)
		}
	}
	out := make([]int64, len(scores))
	for i, s := range scores {
		out[i] = s.Score
	}
	return out
}

func infos(nodes ...*corev1.Node) []*framework.NodeInfo {
	out := make([]*framework.NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = framework.NewNodeInfo(n)
	}
	return out
}

func TestTaintTolerationScore(t *testing.T) {
	cases := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		want  []int64
	}{
		{"no taints anywhere", tu.Pod("p").Obj(), []*corev1.Node{tu.Node("a").Obj(), tu.Node("b").Obj()}, []int64{100, 100}},
		{"fewer PreferNoSchedule taints win", tu.Pod("p").Obj(), []*corev1.Node{
			tu.Node("a").Obj(),
			tu.Node("b").Taint("k1", "v", "PreferNoSchedule").Obj(),
			tu.Node("c").Taint("k1", "v", "PreferNoSchedule").Taint("k2", "v", "PreferNoSchedule").Obj(),
		}, []int64{100, 50, 0}},
		{"tolerated taints do not count", tu.Pod("p").Toleration("k1", "Exists", "", "PreferNoSchedule").Obj(), []*corev1.Node{
			tu.Node("a").Taint("k1", "v", "PreferNoSchedule").Obj(),
			tu.Node("b").Taint("k2", "v", "PreferNoSchedule").Obj(),
		}, []int64{100, 0}},
		{"NoSchedule taints do not count", tu.Pod("p").Obj(), []*corev1.Node{
			tu.Node("a").Taint("k1", "v", "NoSchedule").Obj(), tu.Node("b").Obj(),
		}, []int64{100, 100}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scoreAll(t, TaintToleration{}, tc.pod, infos(tc.nodes...)...); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNodeAffinityFilter(t *testing.T) {
	gpu := tu.Node("n").Label("accel", "gpu").Label("cores", "16").Obj()
	runFilterCases(t, NodeAffinity{}, []filterCase{
		{name: "nothing required", pod: tu.Pod("p").Obj(), node: gpu},
		{name: "nodeSelector matches", pod: tu.Pod("p").NodeSelector(map[string]string{"accel": "gpu"}).Obj(), node: gpu},
		{name: "nodeSelector mismatch", pod: tu.Pod("p").NodeSelector(map[string]string{"accel": "tpu"}).Obj(), node: gpu,
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeAffinity}},
		{name: "nodeSelector missing label", pod: tu.Pod("p").NodeSelector(map[string]string{"zone": "a"}).Obj(), node: gpu,
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeAffinity}},
		{name: "In", pod: tu.Pod("p").Required("accel", "In", "tpu", "gpu").Obj(), node: gpu},
		{name: "NotIn", pod: tu.Pod("p").Required("accel", "NotIn", "gpu").Obj(), node: gpu,
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeAffinity}},
		{name: "Exists", pod: tu.Pod("p").Required("accel", "Exists").Obj(), node: gpu},
		{name: "DoesNotExist", pod: tu.Pod("p").Required("accel", "DoesNotExist").Obj(), node: gpu,
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeAffinity}},
		{name: "Gt", pod: tu.Pod("p").Required("cores", "Gt", "8").Obj(), node: gpu},
		{name: "Lt", pod: tu.Pod("p").Required("cores", "Lt", "8").Obj(), node: gpu,
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeAffinity}},
		{name: "terms are ORed", pod: tu.Pod("p").Required("accel", "In", "tpu").Required("cores", "Exists").Obj(), node: gpu},
		{name: "selector and affinity both needed", pod: tu.Pod("p").NodeSelector(map[string]string{"accel": "tpu"}).Required("cores", "Exists").Obj(), node: gpu,
			wantCode: framework.UnschedulableAndUnresolvable, wantReasons: []string{ErrReasonNodeAffinity}},
	})
}

func TestNodeAffinityMatchFields(t *testing.T) {
	pod := tu.Pod("p").Obj()
	pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []*corev1.NodeSelectorTerm{{MatchFields: []*corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n2"}}}}},
	}}}
	for name, want := range map[string]bool{"n1": false, "n2": true} {
		if got := scheduling.RequiredNodeAffinityMatches(pod, tu.Node(name).Obj()); got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	// An empty term matches nothing.
	pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = []*corev1.NodeSelectorTerm{{}}
	if scheduling.RequiredNodeAffinityMatches(pod, tu.Node("n2").Obj()) {
		t.Error("empty term matched")
	}
}

func TestNodeAffinityScore(t *testing.T) {
	nodes := infos(
		tu.Node("a").Label("zone", "z1").Obj(),
		tu.Node("b").Label("zone", "z2").Label("ssd", "true").Obj(),
		tu.Node("c").Obj(),
	)
	cases := []struct {
		name string
		pod  *corev1.Pod
		want []int64
	}{
		{"no preferences", tu.Pod("p").Obj(), []int64{0, 0, 0}},
		{"one preference", tu.Pod("p").Preferred(10, "zone", "In", "z1").Obj(), []int64{100, 0, 0}},
		{"weights add up and normalize", tu.Pod("p").Preferred(20, "zone", "In", "z1").Preferred(30, "ssd", "Exists").Preferred(10, "zone", "In", "z2").Obj(),
			[]int64{50, 100, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scoreAll(t, NodeAffinity{}, tc.pod, nodes...); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNodeResourcesFit(t *testing.T) {
	node := tu.Node("n").Alloc("cpu", "2", "memory", "4Gi", "pods", "3", "example.com/gpu", "1").Obj()
	runFilterCases(t, NodeResourcesFit{}, []filterCase{
		{name: "fits empty node", pod: tu.Pod("p").Req("cpu", "1", "memory", "1Gi").Obj(), node: node},
		{name: "fits exactly", pod: tu.Pod("p").Req("cpu", "2", "memory", "4Gi").Obj(), node: node},
		{name: "too much cpu", pod: tu.Pod("p").Req("cpu", "2500m").Obj(), node: node,
			wantCode: framework.Unschedulable, wantReasons: []string{"Insufficient cpu"}},
		{name: "cpu taken by others", pod: tu.Pod("p").Req("cpu", "1").Obj(), node: node,
			existing: []*corev1.Pod{tu.Pod("e1").Req("cpu", "1500m").Obj()},
			wantCode: framework.Unschedulable, wantReasons: []string{"Insufficient cpu"}},
		{name: "cpu and memory", pod: tu.Pod("p").Req("cpu", "3", "memory", "5Gi").Obj(), node: node,
			wantCode: framework.Unschedulable, wantReasons: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "too many pods", pod: tu.Pod("p").Obj(), node: node,
			existing: []*corev1.Pod{tu.Pod("e1").Obj(), tu.Pod("e2").Obj(), tu.Pod("e3").Obj()},
			wantCode: framework.Unschedulable, wantReasons: []string{"Too many pods"}},
		{name: "best effort pod ignores cpu", pod: tu.Pod("p").Obj(), node: node,
			existing: []*corev1.Pod{tu.Pod("e1").Req("cpu", "2").Obj()}},
		{name: "extended resource", pod: tu.Pod("p").Req("example.com/gpu", "2").Obj(), node: node,
			wantCode: framework.Unschedulable, wantReasons: []string{"Insufficient example.com/gpu"}},
		{name: "init container larger than app containers", pod: tu.Pod("p").Req("cpu", "500m").InitContainer("cpu", "3").Obj(), node: node,
			wantCode: framework.Unschedulable, wantReasons: []string{"Insufficient cpu"}},
		{name: "containers add up", pod: tu.Pod("p").Req("cpu", "1").Container("x", "cpu", "1500m").Obj(), node: node,
			wantCode: framework.Unschedulable, wantReasons: []string{"Insufficient cpu"}},
	})
}

func TestNodePorts(t *testing.T) {
	runFilterCases(t, NodePorts{}, []filterCase{
		{name: "no ports", pod: tu.Pod("p").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(80, "TCP", "").Obj()}},
		{name: "free port", pod: tu.Pod("p").HostPort(8080, "TCP", "").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(80, "TCP", "").Obj()}},
		{name: "same port", pod: tu.Pod("p").HostPort(80, "", "").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(80, "TCP", "").Obj()},
			wantCode: framework.Unschedulable, wantReasons: []string{ErrReasonNodePorts}},
		{name: "other protocol", pod: tu.Pod("p").HostPort(53, "UDP", "").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(53, "TCP", "").Obj()}},
		{name: "different IPs", pod: tu.Pod("p").HostPort(80, "TCP", "10.0.0.1").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(80, "TCP", "10.0.0.2").Obj()}},
		{name: "0.0.0.0 clashes with a specific IP", pod: tu.Pod("p").HostPort(80, "TCP", "0.0.0.0").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(80, "TCP", "10.0.0.2").Obj()},
			wantCode: framework.Unschedulable, wantReasons: []string{ErrReasonNodePorts}},
		{name: "specific IP clashes with 0.0.0.0", pod: tu.Pod("p").HostPort(80, "TCP", "10.0.0.1").Obj(), node: tu.Node("n").Obj(),
			existing: []*corev1.Pod{tu.Pod("e").HostPort(80, "TCP", "").Obj()},
			wantCode: framework.Unschedulable, wantReasons: []string{ErrReasonNodePorts}},
	})
}

func TestLeastAllocated(t *testing.T) {
	cases := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*framework.NodeInfo
		want  []int64
	}{
		{
			// cpu (4000-1000)/4000 = 75, memory (8-2)/8 = 75 → 75; (4000-3000)/4000=25, (8-2)/8=75 → 50.
			name: "free share after the pod",
			pod:  tu.Pod("p").Req("cpu", "1", "memory", "2Gi").Obj(),
			nodes: []*framework.NodeInfo{
				framework.NewNodeInfo(tu.Node("a").Obj()),
				framework.NewNodeInfo(tu.Node("b").Obj(), tu.Pod("e").Req("cpu", "2").Obj()),
			},
			// b: the existing pod's missing memory request counts at the 200Mi default →
			// (8192-2048-200)/8192.
			want: []int64{75, (25 + (8192-2048-200)*100/8192) / 2},
		},
		{
			name:  "best effort pod counts at defaults",
			pod:   tu.Pod("p").Obj(),
			nodes: []*framework.NodeInfo{framework.NewNodeInfo(tu.Node("a").Alloc("cpu", "1", "memory", "1Gi").Obj())},
			// cpu (1000-100)/1000 = 90; memory (1024-200)/1024 = 80.47 → 80; mean 85.
			want: []int64{85},
		},
		{
			name:  "over-committed node scores 0 on that resource",
			pod:   tu.Pod("p").Req("cpu", "8", "memory", "4Gi").Obj(),
			nodes: []*framework.NodeInfo{framework.NewNodeInfo(tu.Node("a").Obj())},
			want:  []int64{25},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scoreAll(t, LeastAllocated{}, tc.pod, tc.nodes...); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBalancedAllocation(t *testing.T) {
	cases := []struct {
		name string
		pod  *corev1.Pod
		node *corev1.Node
		want int64
	}{
		// fractions 0.5 and 0.5: std 0 → 100.
		{"balanced", tu.Pod("p").Req("cpu", "2", "memory", "4Gi").Obj(), tu.Node("a").Obj(), 100},
		// fractions 1 and 0.25: std 0.375 → 62.
		{"unbalanced", tu.Pod("p").Req("cpu", "4", "memory", "2Gi").Obj(), tu.Node("a").Obj(), 62},
		// cpu fraction capped at 1; memory 0.5: std 0.25 → 75.
		{"capped", tu.Pod("p").Req("cpu", "8", "memory", "4Gi").Obj(), tu.Node("a").Obj(), 75},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scoreAll(t, BalancedAllocation{}, tc.pod, framework.NewNodeInfo(tc.node))
			if got[0] != tc.want {
				t.Errorf("got %d, want %d", got[0], tc.want)
			}
		})
	}
}

func TestImageLocality(t *testing.T) {
	const mib = 1024 * 1024
	cases := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		want  []int64
	}{
		{"no image anywhere", tu.Pod("p").Image("nginx:1.14.2").Obj(),
			[]*corev1.Node{tu.Node("a").Obj(), tu.Node("b").Obj()}, []int64{0, 0}},
		{
			// 500 MiB on 1 of 2 nodes: 250 MiB scaled → 100*(250-23)/(1000-23) = 23.
			"image on one node of two", tu.Pod("p").Image("nginx:1.14.2").Obj(),
			[]*corev1.Node{tu.Node("a").Images(500*mib, "nginx:1.14.2").Obj(), tu.Node("b").Obj()},
			[]int64{23, 0},
		},
		{
			"untagged image means latest", tu.Pod("p").Image("busybox").Obj(),
			[]*corev1.Node{tu.Node("a").Images(1000*mib, "busybox:latest").Obj()},
			[]int64{100},
		},
		{
			"small images score nothing", tu.Pod("p").Image("pause:3.9").Obj(),
			[]*corev1.Node{tu.Node("a").Images(1*mib, "pause:3.9").Obj()},
			[]int64{0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scoreAll(t, ImageLocality{}, tc.pod, infos(tc.nodes...)...); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

type fakeBinder struct {
	ns      string
	binding *corev1.Binding
	err     error
}

func (f *fakeBinder) Bind(_ context.Context, ns string, b *corev1.Binding) error {
	f.ns, f.binding = ns, b
	return f.err
}

func TestDefaultBinder(t *testing.T) {
	fb := &fakeBinder{}
	p, err := NewDefaultBinder(framework.Handle{Binder: fb})
	if err != nil {
		t.Fatal(err)
	}
	pod := tu.Pod("web-0").Obj()
	if s := p.(framework.BindPlugin).Bind(context.Background(), nil, pod, "node-2"); !s.IsSuccess() {
		t.Fatal(s)
	}
	b := fb.binding
	if fb.ns != "default" || b.GetMetadata().GetName() != "web-0" || b.GetMetadata().GetUid() != "uid-web-0" ||
		b.GetTarget().GetKind() != "Node" || b.GetTarget().GetName() != "node-2" {
		t.Errorf("binding %v in %q", b, fb.ns)
	}
}

func TestDefaultNormalizeScore(t *testing.T) {
	cases := []struct {
		in      []int64
		reverse bool
		want    []int64
	}{
		{[]int64{0, 0}, false, []int64{0, 0}},
		{[]int64{0, 0}, true, []int64{100, 100}},
		{[]int64{1, 2, 4}, false, []int64{25, 50, 100}},
		{[]int64{1, 2, 4}, true, []int64{75, 50, 0}},
	}
	for _, tc := range cases {
		scores := make([]framework.NodeScore, len(tc.in))
		for i, v := range tc.in {
			scores[i].Score = v
		}
		DefaultNormalizeScore(100, tc.reverse, scores)
		for i := range scores {
			if scores[i].Score != tc.want[i] {
				t.Errorf("%v reverse=%v: got %v, want %v", tc.in, tc.reverse, scores, tc.want)
				break
			}
		}
	}
}
