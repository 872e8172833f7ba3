package plugins

import (
	"context"
	"fmt"
	"maps"
	"math"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// Failure reasons, as kube-scheduler's PodTopologySpread words them.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// hostnameLabel's domains are single nodes: scoring counts them per node.
const hostnameLabel = "kubernetes.io/hostname"

// PodTopologySpread spreads a pod's group over topology domains (the values of a node
// label). A DoNotSchedule constraint rejects a node where placing the pod would leave its
// domain more than maxSkew matching pods above the least-loaded eligible domain (taken as
// 0 while fewer than minDomains domains exist); ScheduleAnyway constraints prefer the
// nodes whose domains hold fewer matching pods. Which nodes are domains follows the
// constraint's node inclusion policies, and a node must carry every constraint's key.
//
// Counts are taken once per cycle over the snapshot (PreFilter). When Filter is handed a
// node whose pods differ from the snapshot's (preemption's trial removals, nominated
// pods), the difference is applied to the counts for that call, as upstream's
// AddPod/RemovePod do.
//
// A pod that declares no constraints gets the default ones (see NewPodTopologySpread):
// with the System defaulting, kube-scheduler's hostname and zone constraints, scoring
// only, over the pods of the Services and ReplicaSet or StatefulSet that select it.
type PodTopologySpread struct {
	// defaults are the constraints a pod without any gets (nil: none).
	defaults []*corev1.TopologySpreadConstraint
	// systemDefaulted: the defaults are the system ones, under which a node lacking a
	// topology label is still scored (by the constraints whose label it has), since
	// nobody asked for those labels.
	systemDefaulted bool
	workloads       framework.WorkloadListers
}

func (PodTopologySpread) Name() string { return PodTopologySpreadName }

const (
	podTopologySpreadFilterKey = "PreFilter" + PodTopologySpreadName
	podTopologySpreadScoreKey  = "PreScore" + PodTopologySpreadName
)

// spreadFilterState is what PreFilter counted over the snapshot.
type spreadFilterState struct {
	pod         *corev1.Pod
	constraints []framework.SpreadConstraint
	// matching[i] counts, per domain (value of constraint i's key) of the eligible
	// nodes, the existing pods constraint i selects; a domain with none is there with 0.
	matching []map[string]int64
	// minMatching[i] is the least of matching[i] (MaxInt64 when there is no domain).
	minMatching []int64
}

func minOf(m map[string]int64) int64 {
	lo := int64(math.MaxInt64)
	for _, v := range m {
		lo = min(lo, v)
	}
	return lo
}

// update counts existing pod p on node into s, with delta +1 (added) or -1 (removed).
func (s *spreadFilterState) update(p *corev1.Pod, node *corev1.Node, delta int64) {
	ns := s.pod.GetMetadata().GetNamespace()
	if !framework.NodeHasSpreadKeys(node, s.constraints) {
		return
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		if c.Selector.Empty() || !c.Matches(p, ns) || !c.CountsNode(s.pod, node) {
			continue
		}
		s.matching[i][node.GetMetadata().GetLabels()[c.TopologyKey]] += delta
	}
}

// PreFilter counts, for each DoNotSchedule constraint, the matching pods per domain; a
// pod without such constraints skips Filter.
func (pl PodTopologySpread) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod) *framework.Status {
	cs, err := pl.constraints(pod, "DoNotSchedule")
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &spreadFilterState{pod: pod, constraints: cs, matching: make([]map[string]int64, len(cs)), minMatching: make([]int64, len(cs))}
	for i := range cs {
		s.matching[i] = map[string]int64{}
	}
	ns := pod.GetMetadata().GetNamespace()
	if snap := state.Snapshot(); snap != nil {
		for _, ni := range snap.List {
			node := ni.Node()
			if node == nil || !framework.NodeHasSpreadKeys(node, cs) {
				continue
			}
			for i := range cs {
				c := &cs[i]
				if !c.CountsNode(pod, node) {
					continue
				}
				s.matching[i][node.GetMetadata().GetLabels()[c.TopologyKey]] += c.CountMatching(ni.Pods, ns)
			}
		}
	}
	for i := range cs {
		s.minMatching[i] = minOf(s.matching[i])
	}
	state.Write(podTopologySpreadFilterKey, s)
	return nil
}

// Filter checks each DoNotSchedule constraint in turn: the node must have the key, and
// its domain's count (plus one when the pod matches itself) minus the global minimum may
// not exceed maxSkew.
func (PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	node := ni.Node()
	if node == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	v, ok := state.Read(podTopologySpreadFilterKey)
	if !ok {
		return framework.AsStatus(fmt.Errorf("reading %q from cycleState: not found", podTopologySpreadFilterKey))
	}
	s := v.(*spreadFilterState)
	if snap := state.Snapshot(); snap != nil {
		s = s.forNode(snap.Get(ni.Name()), ni)
	}
	labels := node.GetMetadata().GetLabels()
	podLabels := pod.GetMetadata().GetLabels()
	for i := range s.constraints {
		c := &s.constraints[i]
		value, ok := labels[c.TopologyKey]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		minMatching := s.minMatching[i]
		if int64(len(s.matching[i])) < int64(c.MinDomains) {
			minMatching = 0
		}
		var self int64
		if c.Selector.Matches(podLabels) {
			self = 1
		}
		if skew := s.matching[i][value] + self - minMatching; skew > int64(c.MaxSkew) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}

// forNode returns the counts as they are with ni's pods instead of those of the
// snapshot's copy of the same node (snapNode): unchanged when they are the same.
func (s *spreadFilterState) forNode(snapNode, ni *framework.NodeInfo) *spreadFilterState {
	if snapNode == nil || snapNode == ni || samePods(snapNode.Pods, ni.Pods) {
		return s
	}
	c := &spreadFilterState{pod: s.pod, constraints: s.constraints, matching: make([]map[string]int64, len(s.matching)), minMatching: make([]int64, len(s.minMatching))}
	for i, m := range s.matching {
		c.matching[i] = maps.Clone(m)
	}
	now := map[string]bool{}
	for _, p := range ni.Pods {
		now[p.Key] = true
	}
	before := map[string]bool{}
	for _, p := range snapNode.Pods {
		before[p.Key] = true
		if !now[p.Key] {
			c.update(p.Pod, ni.Node(), -1)
		}
	}
	for _, p := range ni.Pods {
		if !before[p.Key] {
			c.update(p.Pod, ni.Node(), 1)
		}
	}
	for i, m := range c.matching {
		c.minMatching[i] = minOf(m)
	}
	return c
}

// spreadScoreState is what PreScore counted for the ScheduleAnyway constraints.
type spreadScoreState struct {
	constraints []framework.SpreadConstraint
	namespace   string
	// ignored are the feasible nodes lacking a constraint's key: they score 0.
	ignored map[string]bool
	// matching[i] counts matching pods per domain of the feasible nodes (not for
	// hostname constraints, counted per node in Score).
	matching []map[string]int64
	// weight[i] is log(domains + 2): spreading over many domains weighs more.
	weight []float64
}

// PreScore counts, for each ScheduleAnyway constraint, the matching pods in every domain
// a feasible node is in, over all eligible nodes of the snapshot.
func (pl PodTopologySpread) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	snap := state.Snapshot()
	if snap == nil || len(nodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cs, err := pl.constraints(pod, "ScheduleAnyway")
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	// Constraints the pod (or the configuration's list) asked for need every topology
	// label on a node; the system defaults take each node as it is labelled.
	requireAll := len(pod.GetSpec().GetTopologySpreadConstraints()) > 0 || !pl.systemDefaulted
	s := &spreadScoreState{
		constraints: cs, namespace: pod.GetMetadata().GetNamespace(), ignored: map[string]bool{},
		matching: make([]map[string]int64, len(cs)), weight: make([]float64, len(cs)),
	}
	for i := range cs {
		s.matching[i] = map[string]int64{}
	}
	for _, ni := range nodes {
		node := ni.Node()
		if requireAll && !framework.NodeHasSpreadKeys(node, cs) {
			s.ignored[ni.Name()] = true
			continue
		}
		for i := range cs {
			if v, ok := node.GetMetadata().GetLabels()[cs[i].TopologyKey]; ok && cs[i].TopologyKey != hostnameLabel {
				s.matching[i][v] = 0
			}
		}
	}
	for i := range cs {
		size := len(s.matching[i])
		if cs[i].TopologyKey == hostnameLabel {
			size = len(nodes) - len(s.ignored)
		}
		s.weight[i] = math.Log(float64(size + 2))
	}
	for _, ni := range snap.List {
		node := ni.Node()
		if node == nil || requireAll && !framework.NodeHasSpreadKeys(node, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			value, has := node.GetMetadata().GetLabels()[c.TopologyKey]
			if _, ok := s.matching[i][value]; !has || !ok || !c.CountsNode(pod, node) {
				continue
			}
			s.matching[i][value] += c.CountMatching(ni.Pods, s.namespace)
		}
	}
	state.Write(podTopologySpreadScoreKey, s)
	return nil
}

// Score sums, over the constraints, the matching pods of the node's domain times the
// constraint's weight, plus maxSkew-1 (so a larger maxSkew tolerates more): fewer is
// better (see NormalizeScore).
func (PodTopologySpread) Score(_ context.Context, state *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	v, ok := state.Read(podTopologySpreadScoreKey)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycleState: not found", podTopologySpreadScoreKey))
	}
	s := v.(*spreadScoreState)
	if s.ignored[ni.Name()] {
		return 0, nil
	}
	labels := ni.Node().GetMetadata().GetLabels()
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		value, ok := labels[c.TopologyKey]
		if !ok {
			continue
		}
		n := s.matching[i][value]
		if c.TopologyKey == hostnameLabel {
			n = c.CountMatching(ni.Pods, s.namespace)
		}
		score += float64(n)*s.weight[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore turns the counts around onto [0, MaxNodeScore] as kube-scheduler does:
// MaxNodeScore * (max + min - score) / max; ignored nodes get 0.
func (PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *corev1.Pod, scores []framework.NodeScore) *framework.Status {
	v, ok := state.Read(podTopologySpreadScoreKey)
	if !ok {
		return nil
	}
	s := v.(*spreadScoreState)
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, sc := range scores {
		if !s.ignored[sc.Name] {
			lo, hi = min(lo, sc.Score), max(hi, sc.Score)
		}
	}
	for i := range scores {
		switch {
		case s.ignored[scores[i].Name]:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}

// AssignedPodGoneMayHelp is PodTopologySpread's queueing hint for an assigned pod going:
// only a pod of pod's namespace that one of its DoNotSchedule constraints selects was
// counted against it.
func (pl PodTopologySpread) AssignedPodGoneMayHelp(pod, gone *corev1.Pod) bool {
	if gone.GetMetadata().GetNamespace() != pod.GetMetadata().GetNamespace() {
		return false
	}
	cs, err := pl.constraints(pod, "DoNotSchedule")
	if err != nil {
		return true
	}
	for _, c := range cs {
		if c.Selector.Matches(gone.GetMetadata().GetLabels()) {
			return true
		}
	}
	return false
}
