package framework

import (
	"fmt"
	"slices"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/scheduling"
)

// SpreadConstraint is a TopologySpreadConstraint parsed for scheduling, with upstream's
// defaults applied: minDomains 1, nodeAffinityPolicy Honor, nodeTaintsPolicy Ignore.
type SpreadConstraint struct {
	MaxSkew     int32
	TopologyKey string
	// Selector is the labelSelector ANDed with key=value for each matchLabelKeys key the
	// pod has (kube-scheduler 1.32 merges them here; the apiserver does not yet).
	Selector   labels.Selector
	MinDomains int32
	// HonorNodeAffinity: only nodes matching the pod's nodeSelector and required node
	// affinity count as domains. HonorNodeTaints: only nodes whose NoSchedule/NoExecute
	// taints the pod tolerates count.
	HonorNodeAffinity bool
	HonorNodeTaints   bool
}

// NewSpreadConstraints parses the constraints (a pod's topologySpreadConstraints, or the
// default ones it is given) whose whenUnsatisfiable is action (DoNotSchedule for
// filtering, ScheduleAnyway for scoring), in their order; matchLabelKeys take their values
// from podLabels.
func NewSpreadConstraints(constraints []*corev1.TopologySpreadConstraint, podLabels map[string]string, action string) ([]SpreadConstraint, error) {
	var out []SpreadConstraint
	for _, c := range constraints {
		if c.GetWhenUnsatisfiable() != action {
			continue
		}
		sel, err := labels.FromLabelSelector(c.GetLabelSelector())
		if err != nil {
			return nil, fmt.Errorf("topology spread constraint selector: %w", err)
		}
		for _, k := range c.GetMatchLabelKeys() {
			v, ok := podLabels[k]
			if !ok {
				continue
			}
			r, err := labels.NewRequirement(k, labels.In, []string{v})
			if err != nil {
				return nil, fmt.Errorf("topology spread constraint matchLabelKeys: %w", err)
			}
			sel = sel.Add(*r)
		}
		sc := SpreadConstraint{
			MaxSkew: c.GetMaxSkew(), TopologyKey: c.GetTopologyKey(), Selector: sel, MinDomains: 1,
			HonorNodeAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == "Honor",
			HonorNodeTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == "Honor",
		}
		if c.MinDomains != nil {
			sc.MinDomains = *c.MinDomains
		}
		out = append(out, sc)
	}
	return out, nil
}

// CountsNode reports whether node is one of the constraint's domains for pod by the node
// inclusion policies.
func (c *SpreadConstraint) CountsNode(pod *corev1.Pod, node *corev1.Node) bool {
	if c.HonorNodeAffinity && !scheduling.RequiredNodeAffinityMatches(pod, node) {
		return false
	}
	if c.HonorNodeTaints {
		_, untolerated := scheduling.FindUntoleratedTaint(node.GetSpec().GetTaints(), pod.GetSpec().GetTolerations(),
			func(t *corev1.Taint) bool { return t.GetEffect() == "NoSchedule" || t.GetEffect() == "NoExecute" })
		if untolerated {
			return false
		}
	}
	return true
}

// CountMatching counts the pods among pods in namespace that the constraint selects,
// terminating ones aside, as kube-scheduler does (an empty selector counts none).
func (c *SpreadConstraint) CountMatching(pods []*PodInfo, namespace string) int64 {
	if c.Selector.Empty() {
		return 0
	}
	var n int64
	for _, p := range pods {
		if c.Matches(p.Pod, namespace) {
			n++
		}
	}
	return n
}

// Matches reports whether existing pod p counts for a pod of namespace.
func (c *SpreadConstraint) Matches(p *corev1.Pod, namespace string) bool {
	m := p.GetMetadata()
	return m.GetDeletionTimestamp() == nil && m.GetNamespace() == namespace && c.Selector.Matches(m.GetLabels())
}

// NodeHasSpreadKeys reports whether node has every constraint's topology label: a node
// lacking one is no domain of any.
func NodeHasSpreadKeys(node *corev1.Node, cs []SpreadConstraint) bool {
	l := node.GetMetadata().GetLabels()
	return !slices.ContainsFunc(cs, func(c SpreadConstraint) bool { _, ok := l[c.TopologyKey]; return !ok })
}
