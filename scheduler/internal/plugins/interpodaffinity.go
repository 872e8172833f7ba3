package plugins

import (
	"context"
	"fmt"
	"maps"
	"math"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// Failure reasons, as kube-scheduler's InterPodAffinity words them.
const (
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// HardPodAffinityWeight is what an existing pod's required affinity term that matches the
// incoming pod adds to the score of its topology domain (kube-scheduler's default
// InterPodAffinityArgs.hardPodAffinityWeight).
const HardPodAffinityWeight = 1

// InterPodAffinity places a pod by the pods already placed: its required affinity terms
// need a matching pod in the node's topology domain (the node's value of the term's
// topologyKey), its required anti-affinity terms need none there, and it may not go where
// an existing pod's required anti-affinity term matches it. Preferred terms, its own and
// the existing pods', score the domains.
//
// Counts are taken once per cycle, over the cycle's snapshot (PreFilter). When Filter is
// handed a node whose pods differ from the snapshot's — preemption removing victims, or
// nominated pods added — the difference is applied to the counts for that call, which is
// what upstream's AddPod/RemovePod extensions do to its cycle state.
type InterPodAffinity struct{}

func (InterPodAffinity) Name() string { return InterPodAffinityName }

const (
	interPodAffinityFilterKey = "PreFilter" + InterPodAffinityName
	interPodAffinityScoreKey  = "PreScore" + InterPodAffinityName
)

// topologyPair is one topology domain: a node label and its value.
type topologyPair struct{ key, value string }

// topologyCounts counts matched terms per topology domain.
type topologyCounts map[topologyPair]int64

// add counts value for node's domain of key, if the node has the label. Entries that
// reach zero go, so an empty map means "no pod matches anywhere".
func (m topologyCounts) add(node *corev1.Node, key string, value int64) {
	v, ok := node.GetMetadata().GetLabels()[key]
	if !ok {
		return
	}
	tp := topologyPair{key, v}
	m[tp] += value
	if m[tp] == 0 {
		delete(m, tp)
	}
}

// affinityFilterState is what PreFilter counted over the snapshot.
type affinityFilterState struct {
	pod   *corev1.Pod
	terms framework.AffinityTerms
	// affinity counts, per domain, the existing pods that match all of the pod's
	// required affinity terms (once per term); antiAffinity the existing pods matching
	// each of its required anti-affinity terms; existingAntiAffinity the existing pods'
	// required anti-affinity terms that match the pod.
	affinity, antiAffinity, existingAntiAffinity topologyCounts
}

// update counts existing pod p on node into s, with value +1 (added) or -1 (removed).
func (s *affinityFilterState) update(p *framework.PodInfo, node *corev1.Node, value int64) {
	for _, t := range p.RequiredAntiAffinityTerms {
		if t.Matches(s.pod) {
			s.existingAntiAffinity.add(node, t.TopologyKey, value)
		}
	}
	if terms := s.terms.RequiredAffinityTerms; len(terms) > 0 && matchesAll(terms, p.Pod) {
		for _, t := range terms {
			s.affinity.add(node, t.TopologyKey, value)
		}
	}
	for _, t := range s.terms.RequiredAntiAffinityTerms {
		if t.Matches(p.Pod) {
			s.antiAffinity.add(node, t.TopologyKey, value)
		}
	}
}

func matchesAll(terms []framework.AffinityTerm, pod *corev1.Pod) bool {
	for i := range terms {
		if !terms[i].Matches(pod) {
			return false
		}
	}
	return true
}

// PreFilter counts, over every node of the snapshot, the pods the required terms (the
// pod's and the existing pods') match; it skips Filter when there are none to check.
func (InterPodAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod) *framework.Status {
	terms := framework.NewAffinityTerms(pod)
	if terms.AffinityParseError != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, terms.AffinityParseError.Error())
	}
	s := &affinityFilterState{pod: pod, terms: terms, affinity: topologyCounts{}, antiAffinity: topologyCounts{}, existingAntiAffinity: topologyCounts{}}
	ownTerms := len(terms.RequiredAffinityTerms)+len(terms.RequiredAntiAffinityTerms) > 0
	if snap := state.Snapshot(); snap != nil {
		for _, ni := range snap.List {
			node := ni.Node()
			if node == nil {
				continue
			}
			pods := ni.PodsWithRequiredAntiAffinity
			if ownTerms {
				pods = ni.Pods
			}
			for _, p := range pods {
				s.update(p, node, 1)
			}
		}
	}
	if !ownTerms && len(s.existingAntiAffinity) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(interPodAffinityFilterKey, s)
	return nil
}

// Filter checks the node's domains against the counts, as kube-scheduler does: the pod's
// affinity, then its anti-affinity, then the existing pods' anti-affinity.
func (InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	node := ni.Node()
	if node == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	v, ok := state.Read(interPodAffinityFilterKey)
	if !ok {
		return framework.AsStatus(fmt.Errorf("reading %q from cycleState: not found", interPodAffinityFilterKey))
	}
	s := v.(*affinityFilterState)
	if snap := state.Snapshot(); snap != nil {
		s = s.forNode(snap.Get(ni.Name()), ni)
	}
	labels := node.GetMetadata().GetLabels()
	if !s.satisfiesAffinity(labels) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	for _, t := range s.terms.RequiredAntiAffinityTerms {
		if v, ok := labels[t.TopologyKey]; ok && s.antiAffinity[topologyPair{t.TopologyKey, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
		}
	}
	for k, v := range labels {
		if s.existingAntiAffinity[topologyPair{k, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
		}
	}
	return nil
}

// satisfiesAffinity: the node has every term's topology label and each domain holds a
// matching pod. When no pod anywhere matches, a pod that matches its own terms may still
// go (the first of a group that wants to be together would otherwise wait for ever).
func (s *affinityFilterState) satisfiesAffinity(labels map[string]string) bool {
	found := true
	for _, t := range s.terms.RequiredAffinityTerms {
		v, ok := labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			found = false
		}
	}
	return found || len(s.affinity) == 0 && matchesAll(s.terms.RequiredAffinityTerms, s.pod)
}

// forNode returns the counts as they are with ni's pods instead of the snapshot's copy
// of the same node (snapNode): unchanged when they are the same.
func (s *affinityFilterState) forNode(snapNode, ni *framework.NodeInfo) *affinityFilterState {
	if snapNode == nil || snapNode == ni || samePods(snapNode.Pods, ni.Pods) {
		return s
	}
	c := &affinityFilterState{pod: s.pod, terms: s.terms, affinity: maps.Clone(s.affinity), antiAffinity: maps.Clone(s.antiAffinity), existingAntiAffinity: maps.Clone(s.existingAntiAffinity)}
	now := map[string]bool{}
	for _, p := range ni.Pods {
		now[p.Key] = true
	}
	before := map[string]bool{}
	for _, p := range snapNode.Pods {
		before[p.Key] = true
		if !now[p.Key] {
			c.update(p, ni.Node(), -1)
		}
	}
	for _, p := range ni.Pods {
		if !before[p.Key] {
			c.update(p, ni.Node(), 1)
		}
	}
	return c
}

func samePods(a, b []*framework.PodInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// topologyScores sums term weights per topology key and value.
type topologyScores map[string]map[string]int64

func (m topologyScores) add(t *framework.AffinityTerm, weight int64, pod *corev1.Pod, node *corev1.Node) {
	if !t.Matches(pod) {
		return
	}
	v, ok := node.GetMetadata().GetLabels()[t.TopologyKey]
	if !ok {
		return
	}
	if m[t.TopologyKey] == nil {
		m[t.TopologyKey] = map[string]int64{}
	}
	m[t.TopologyKey][v] += weight
}

// PreScore sums, per topology domain, the weights of the preferred terms that hold there:
// the pod's preferred affinity (+) and anti-affinity (−) terms matching the domain's pods,
// and the existing pods' required affinity (HardPodAffinityWeight) and preferred affinity
// (+) and anti-affinity (−) terms matching the pod.
func (InterPodAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	pi := framework.NewAffinityTerms(pod)
	snap := state.Snapshot()
	if snap == nil {
		return framework.NewStatus(framework.Skip)
	}
	own := len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
	scores := topologyScores{}
	for _, ni := range snap.List {
		node := ni.Node()
		if node == nil || len(node.GetMetadata().GetLabels()) == 0 {
			continue
		}
		pods := ni.PodsWithAffinity
		if own {
			pods = ni.Pods
		}
		for _, existing := range pods {
			for _, t := range pi.PreferredAffinityTerms {
				scores.add(&t.AffinityTerm, int64(t.Weight), existing.Pod, node)
			}
			for _, t := range pi.PreferredAntiAffinityTerms {
				scores.add(&t.AffinityTerm, -int64(t.Weight), existing.Pod, node)
			}
			for _, t := range existing.RequiredAffinityTerms {
				scores.add(&t, HardPodAffinityWeight, pod, node)
			}
			for _, t := range existing.PreferredAffinityTerms {
				scores.add(&t.AffinityTerm, int64(t.Weight), pod, node)
			}
			for _, t := range existing.PreferredAntiAffinityTerms {
				scores.add(&t.AffinityTerm, -int64(t.Weight), pod, node)
			}
		}
	}
	if len(scores) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(interPodAffinityScoreKey, scores)
	return nil
}

// Score is the sum of the scores of the node's domains.
func (InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	v, ok := state.Read(interPodAffinityScoreKey)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycleState: not found", interPodAffinityScoreKey))
	}
	var score int64
	for key, values := range v.(topologyScores) {
		if value, ok := ni.Node().GetMetadata().GetLabels()[key]; ok {
			score += values[value]
		}
	}
	return score, nil
}

// NormalizeScore maps the scores linearly from [min, max] onto [0, MaxNodeScore], dividing
// before multiplying, as kube-scheduler does (the float results differ by one at times).
func (InterPodAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, scores []framework.NodeScore) *framework.Status {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		var f float64
		if hi > lo {
			f = float64(framework.MaxNodeScore) * (float64(scores[i].Score-lo) / float64(hi-lo))
		}
		scores[i].Score = int64(f)
	}
	return nil
}

// AssignedPodGoneMayHelp is InterPodAffinity's queueing hint for an assigned pod going:
// it helps when pod's required anti-affinity selects it, or when it had required
// anti-affinity terms of its own (which may have kept pod away), as upstream's hint
// decides. Its going never meets pod's required affinity.
func (InterPodAffinity) AssignedPodGoneMayHelp(pod, gone *corev1.Pod) bool {
	terms := framework.NewAffinityTerms(pod)
	if terms.AffinityParseError != nil {
		return true
	}
	for i := range terms.RequiredAntiAffinityTerms {
		if terms.RequiredAntiAffinityTerms[i].Matches(gone) {
			return true
		}
	}
	goneTerms := framework.NewAffinityTerms(gone)
	return len(goneTerms.RequiredAntiAffinityTerms) > 0
}
