package plugins

import (
	"context"
	"slices"
	"strconv"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// NodeAffinity keeps a pod on nodes matching its nodeSelector and its required node
// affinity, and prefers nodes matching its preferred terms (sum of their weights).
type NodeAffinity struct{}

func (NodeAffinity) Name() string { return NodeAffinityName }

// RequiredMatches reports whether node satisfies pod's nodeSelector and
// requiredDuringSchedulingIgnoredDuringExecution.
func RequiredMatches(pod *corev1.Pod, node *corev1.Node) bool {
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
	// Terms are ORed; a nil or empty selector matches nothing.
	for _, term := range req.GetNodeSelectorTerms() {
		if TermMatches(term, node) {
			return true
		}
	}
	return false
}

// TermMatches reports whether node satisfies every requirement of term (ANDed). A term
// with no requirements matches no node, as in Kubernetes.
func TermMatches(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
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
		if r.GetKey() != "metadata.name" {
			return false
		}
		if op := r.GetOperator(); op != "In" && op != "NotIn" {
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
		if r.GetOperator() == "Gt" {
			return have > want
		}
		return have < want
	}
	return false
}

func (NodeAffinity) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if ni.Node() == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	if !RequiredMatches(pod, ni.Node()) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeAffinity)
	}
	return nil
}

// PreScore skips scoring for pods without preferred terms.
func (NodeAffinity) PreScore(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	if len(pod.GetSpec().GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution()) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (NodeAffinity) Score(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var sum int64
	for _, t := range pod.GetSpec().GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		if t.GetWeight() != 0 && TermMatches(t.GetPreference(), ni.Node()) {
			sum += int64(t.GetWeight())
		}
	}
	return sum, nil
}

func (NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, scores []framework.NodeScore) *framework.Status {
	return DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}
