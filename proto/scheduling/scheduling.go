// Package scheduling holds the placement rules more than one component judges, the way
// Kubernetes keeps them in component-helpers/scheduling/corev1: whether a node satisfies a
// pod's nodeSelector and required node affinity, and whether a toleration tolerates a taint.
// The scheduler filters nodes with them, the daemonset controller decides which nodes need a
// daemon pod, and the node lifecycle controller decides which pods a NoExecute taint evicts;
// one copy keeps them agreeing.
package scheduling

import (
	"slices"
	"strconv"

	corev1 "kubelab.io/proto/api/core/v1"
)

// RequiredNodeAffinityMatches reports whether node satisfies pod's nodeSelector and its
// requiredDuringSchedulingIgnoredDuringExecution node affinity: every nodeSelector label, and
// at least one of the affinity's terms (ORed; a selector with no terms matches no node).
func RequiredNodeAffinityMatches(pod *corev1.Pod, node *corev1.Node) bool {
	labels := node.GetMetadata().GetLabels()
	for k, v := range pod.GetSpec().GetNodeSelector() {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	req := pod.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution()
	if req == nil {
		return true
	}
	return slices.ContainsFunc(req.GetNodeSelectorTerms(), func(t *corev1.NodeSelectorTerm) bool { return NodeSelectorTermMatches(t, node) })
}

// NodeSelectorTermMatches reports whether node satisfies every requirement of term (ANDed).
// A term without requirements matches no node; matchFields knows only metadata.name with In
// or NotIn, as upstream.
func NodeSelectorTermMatches(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.GetMatchExpressions()) == 0 && len(term.GetMatchFields()) == 0 {
		return false
	}
	labels := node.GetMetadata().GetLabels()
	for _, r := range term.GetMatchExpressions() {
		if !requirementMatches(r, labels) {
			return false
		}
	}
	fields := map[string]string{"metadata.name": node.GetMetadata().GetName()}
	for _, r := range term.GetMatchFields() {
		if op := r.GetOperator(); r.GetKey() != "metadata.name" || (op != "In" && op != "NotIn") {
			return false
		}
		if !requirementMatches(r, fields) {
			return false
		}
	}
	return true
}

func requirementMatches(r *corev1.NodeSelectorRequirement, labels map[string]string) bool {
	v, has := labels[r.GetKey()]
	switch r.GetOperator() {
	case "In":
		return has && slices.Contains(r.GetValues(), v)
	case "NotIn":
		return !has || !slices.Contains(r.GetValues(), v)
	case "Exists":
		return has
	case "DoesNotExist":
		return !has
	case "Gt", "Lt":
		if !has || len(r.GetValues()) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.GetValues()[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		return (r.GetOperator() == "Gt" && have > want) || (r.GetOperator() == "Lt" && have < want)
	}
	return false
}

// ToleratesTaint is upstream's Toleration.ToleratesTaint: the same effect (an empty one
// matches all), the same key (an empty one, with Exists, matches all), and for Equal (the
// default operator) the same value.
func ToleratesTaint(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.GetEffect() != "" && t.GetEffect() != taint.GetEffect() {
		return false
	}
	if t.GetKey() != "" && t.GetKey() != taint.GetKey() {
		return false
	}
	switch t.GetOperator() {
	case "", "Equal":
		return t.GetValue() == taint.GetValue()
	case "Exists":
		return true
	}
	return false
}

// Tolerated reports whether one of tolerations tolerates taint.
func Tolerated(taint *corev1.Taint, tolerations []*corev1.Toleration) bool {
	return slices.ContainsFunc(tolerations, func(t *corev1.Toleration) bool { return ToleratesTaint(t, taint) })
}

// FindUntoleratedTaint returns the first of taints that passes filter and that none of
// tolerations tolerates, as upstream's v1helper.FindMatchingUntoleratedTaint.
func FindUntoleratedTaint(taints []*corev1.Taint, tolerations []*corev1.Toleration, filter func(*corev1.Taint) bool) (*corev1.Taint, bool) {
	for _, taint := range taints {
		if filter(taint) && !Tolerated(taint, tolerations) {
			return taint, true
		}
	}
	return nil, false
}
