package framework

import (
	"errors"
	"fmt"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
)

// AffinityTerm is a PodAffinityTerm parsed once, when its pod enters the scheduler: the
// namespaces it looks in (the pod's own when the term names none) and its selector.
type AffinityTerm struct {
	Namespaces  map[string]bool
	Selector    labels.Selector
	TopologyKey string
}

// Matches reports whether pod is one the term selects.
func (t *AffinityTerm) Matches(pod *corev1.Pod) bool {
	return t.Namespaces[pod.GetMetadata().GetNamespace()] && t.Selector.Matches(pod.GetMetadata().GetLabels())
}

// WeightedAffinityTerm is a parsed preferred term.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// AffinityTerms are a pod's inter-pod affinity terms, parsed.
type AffinityTerms struct {
	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// AffinityParseError is set when a term's selector does not parse (validation refuses
	// such pods; one stored before would be unschedulable rather than crash a cycle).
	AffinityParseError error
}

// hasAffinity reports whether the pod has any inter-pod (anti-)affinity term.
func (t *AffinityTerms) hasAffinity() bool {
	return len(t.RequiredAffinityTerms)+len(t.RequiredAntiAffinityTerms)+
		len(t.PreferredAffinityTerms)+len(t.PreferredAntiAffinityTerms) > 0
}

// NewAffinityTerms parses pod's inter-pod affinity terms.
func NewAffinityTerms(pod *corev1.Pod) AffinityTerms {
	var (
		out  AffinityTerms
		errs []error
	)
	aff := pod.GetSpec().GetAffinity()
	if aff.GetPodAffinity() == nil && aff.GetPodAntiAffinity() == nil {
		return out
	}
	ns := pod.GetMetadata().GetNamespace()
	required := func(terms []*corev1.PodAffinityTerm) []AffinityTerm {
		var parsed []AffinityTerm
		for _, t := range terms {
			at, err := newAffinityTerm(ns, t)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			parsed = append(parsed, at)
		}
		return parsed
	}
	preferred := func(terms []*corev1.WeightedPodAffinityTerm) []WeightedAffinityTerm {
		var parsed []WeightedAffinityTerm
		for _, t := range terms {
			at, err := newAffinityTerm(ns, t.GetPodAffinityTerm())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			parsed = append(parsed, WeightedAffinityTerm{AffinityTerm: at, Weight: t.GetWeight()})
		}
		return parsed
	}
	out.RequiredAffinityTerms = required(aff.GetPodAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution())
	out.RequiredAntiAffinityTerms = required(aff.GetPodAntiAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution())
	out.PreferredAffinityTerms = preferred(aff.GetPodAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution())
	out.PreferredAntiAffinityTerms = preferred(aff.GetPodAntiAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution())
	out.AffinityParseError = errors.Join(errs...)
	return out
}

func newAffinityTerm(podNamespace string, t *corev1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := labels.FromLabelSelector(t.GetLabelSelector())
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("pod affinity term selector: %w", err)
	}
	namespaces := map[string]bool{}
	for _, n := range t.GetNamespaces() {
		namespaces[n] = true
	}
	if len(namespaces) == 0 {
		namespaces[podNamespace] = true
	}
	return AffinityTerm{Namespaces: namespaces, Selector: sel, TopologyKey: t.GetTopologyKey()}, nil
}
