package plugins

import (
	"context"
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

func TestSplitByPDBViolation(t *testing.T) {
	pod := func(name, app string) *framework.PodInfo {
		w := tu.Pod(name)
		if app != "" {
			w = w.Label("app", app)
		}
		return framework.NewPodInfo(w.Obj())
	}
	otherNS := tu.PDB("elsewhere", "web", 0)
	otherNS.Metadata.Namespace = "other"
	cases := []struct {
		name          string
		pods          []*framework.PodInfo
		pdbs          []*policyv1.PodDisruptionBudget
		wantViolating []string
	}{
		{name: "no budgets", pods: []*framework.PodInfo{pod("p1", "web")}},
		{name: "a budget that allows none", pods: []*framework.PodInfo{pod("p1", "web"), pod("p2", "db")},
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 0)}, wantViolating: []string{"p1"}},
		{name: "the budget is spent in order: the later pods violate it",
			pods: []*framework.PodInfo{pod("p1", "web"), pod("p2", "web"), pod("p3", "web")},
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 1)}, wantViolating: []string{"p2", "p3"}},
		{name: "a pod already granted its eviction spends nothing",
			pods: []*framework.PodInfo{pod("p1", "web"), pod("p2", "web")},
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 1, "p1")}},
		{name: "granted by one budget, still counted by another",
			pods: []*framework.PodInfo{pod("p1", "web")},
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("granted", "web", 0, "p1"), tu.PDB("strict", "web", 0)}, wantViolating: []string{"p1"}},
		{name: "a budget of another namespace", pods: []*framework.PodInfo{pod("p1", "web")},
			pdbs: []*policyv1.PodDisruptionBudget{otherNS}},
		{name: "a pod without labels", pods: []*framework.PodInfo{pod("p1", "")},
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before []int32
			for _, pdb := range tc.pdbs {
				before = append(before, pdb.Status.DisruptionsAllowed)
			}
			violating, nonViolating := splitByPDBViolation(tc.pods, tc.pdbs)
			if got := podInfoNames(violating); !slices.Equal(got, tc.wantViolating) {
				t.Errorf("violating %v, want %v", got, tc.wantViolating)
			}
			if len(violating)+len(nonViolating) != len(tc.pods) {
				t.Errorf("lost pods: %v + %v", podInfoNames(violating), podInfoNames(nonViolating))
			}
			for i, pdb := range tc.pdbs {
				if pdb.Status.DisruptionsAllowed != before[i] {
					t.Errorf("budget %s (from the shared cache) was written to", pdb.Metadata.Name)
				}
			}
		})
	}
}

func podInfoNames(pis []*framework.PodInfo) []string {
	var out []string
	for _, pi := range pis {
		out = append(out, pi.Pod.GetMetadata().GetName())
	}
	return out
}

func TestSelectVictimsOnNodeWithPDBs(t *testing.T) {
	node := tu.Node("n1").Alloc("cpu", "4").Obj()
	on := func(name, app string, prio int32) *corev1.Pod {
		return tu.Pod(name).Label("app", app).Req("cpu", "2").Priority(prio).NodeName("n1").Obj()
	}
	existing := []*corev1.Pod{on("web", "web", 1), on("db", "db", 2)}
	cases := []struct {
		name           string
		pdbs           []*policyv1.PodDisruptionBudget
		pod            *corev1.Pod
		want           []string
		wantViolations int
	}{
		{name: "no budget: the least important goes",
			pod: tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"web"}},
		{name: "its budget allows none: it is spared, the other goes",
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 0)},
			pod:  tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"db"}},
		{name: "a budget with room is no reason to spare",
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 1)},
			pod:  tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"web"}},
		{name: "an eviction already granted is not a violation",
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 0, "web")},
			pod:  tu.Pod("hi").Req("cpu", "2").Priority(10).Obj(), want: []string{"web"}},
		{name: "every victim violates: they go anyway, counted, most important first",
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("web", "web", 0), tu.PDB("db", "db", 0)},
			pod:  tu.Pod("hi").Req("cpu", "4").Priority(10).Obj(), want: []string{"db", "web"}, wantViolations: 2},
		{name: "one violating and one not, both needed: order restored",
			pdbs: []*policyv1.PodDisruptionBudget{tu.PDB("db", "db", 0)},
			pod:  tu.Pod("hi").Req("cpu", "4").Priority(10).Obj(), want: []string{"db", "web"}, wantViolations: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl, fwk, _ := newPreemption(t, nil)
			ni := framework.NewNodeInfo(node, existing...)
			state, _ := cycle(t, fwk, framework.NewSnapshot(ni), tc.pod)
			victims, violations, s := pl.SelectVictimsOnNode(context.Background(), state, tc.pod, ni.Clone(), tc.pdbs)
			if !s.IsSuccess() {
				t.Fatalf("status %v", s)
			}
			if got := podNames(victims); !slices.Equal(got, tc.want) || violations != tc.wantViolations {
				t.Errorf("victims %v (%d violations), want %v (%d)", got, violations, tc.want, tc.wantViolations)
			}
		})
	}
}

// TestPostFilterWithPDBs checks the whole preemption: the budgets come from the lister, a
// node whose eviction would violate one loses to one whose would not, and when all do,
// preemption still happens.
func TestPostFilterWithPDBs(t *testing.T) {
	full := func(node string, pods ...*corev1.Pod) *framework.NodeInfo {
		return framework.NewNodeInfo(tu.Node(node).Alloc("cpu", "1").Obj(), pods...)
	}
	on := func(name, node string, prio int32) *corev1.Pod {
		return tu.Pod(name).Label("app", name).Req("cpu", "1").Priority(prio).NodeName(node).Obj()
	}
	nodes := func() []*framework.NodeInfo {
		return []*framework.NodeInfo{full("a", on("cheap", "a", 1)), full("b", on("dear", "b", 5))}
	}
	hi := tu.Pod("hi").Req("cpu", "1").Priority(10).Obj()
	cases := []struct {
		name     string
		pdbs     []*policyv1.PodDisruptionBudget
		wantCall preemptCall
	}{
		{name: "no budget: the cheaper victim", wantCall: preemptCall{"hi", "a", []string{"cheap"}}},
		{name: "the cheaper victim's budget allows none: the other node",
			pdbs:     []*policyv1.PodDisruptionBudget{tu.PDB("cheap", "cheap", 0)},
			wantCall: preemptCall{"hi", "b", []string{"dear"}}},
		{name: "every node violates a budget: preempts anyway, by priority",
			pdbs:     []*policyv1.PodDisruptionBudget{tu.PDB("cheap", "cheap", 0), tu.PDB("dear", "dear", 0)},
			wantCall: preemptCall{"hi", "a", []string{"cheap"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl, fwk, fp := newPreemption(t, nil, tc.pdbs...)
			snap := framework.NewSnapshot(nodes()...)
			state, statuses := cycle(t, fwk, snap, hi)
			node, s := pl.PostFilter(context.Background(), state, hi, statuses)
			if !s.IsSuccess() || node != tc.wantCall.node {
				t.Fatalf("got %q %v, want %q", node, s, tc.wantCall.node)
			}
			if len(fp.calls) != 1 || fp.calls[0].node != tc.wantCall.node || !slices.Equal(fp.calls[0].victims, tc.wantCall.victims) {
				t.Errorf("preempted %+v, want %+v", fp.calls, tc.wantCall)
			}
		})
	}
}
