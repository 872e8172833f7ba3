package quota

import (
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// Scopes a ResourceQuota's spec.scopes may name (validation refuses others). A scoped quota
// tracks only the pods that match every one of its scopes (Kubernetes'
// pkg/quota/v1/evaluator/core podMatchesScopeFunc, with the Exists operator that a plain
// spec.scopes entry stands for).
const (
	// ScopeTerminating matches pods with spec.activeDeadlineSeconds >= 0: they end on their own.
	ScopeTerminating = "Terminating"
	// ScopeNotTerminating matches pods without a deadline.
	ScopeNotTerminating = "NotTerminating"
	// ScopeBestEffort matches pods of the BestEffort QoS class: no cpu or memory request or
	// limit on any container.
	ScopeBestEffort = "BestEffort"
	// ScopeNotBestEffort matches Burstable and Guaranteed pods.
	ScopeNotBestEffort = "NotBestEffort"
	// ScopePriorityClass matches pods that name a priority class.
	ScopePriorityClass = "PriorityClass"
	// ScopeCrossNamespacePodAffinity matches pods whose (anti-)affinity terms look at other
	// namespaces.
	ScopeCrossNamespacePodAffinity = "CrossNamespacePodAffinity"
	// ScopeVolumeAttributesClass is about PersistentVolumeClaims; no pod matches it.
	ScopeVolumeAttributesClass = "VolumeAttributesClass"
)

// Scopes are the scope names Kubernetes accepts in spec.scopes, sorted.
var Scopes = []string{
	ScopeBestEffort, ScopeCrossNamespacePodAffinity, ScopeNotBestEffort, ScopeNotTerminating,
	ScopePriorityClass, ScopeTerminating, ScopeVolumeAttributesClass,
}

// MatchesScope reports whether pod falls under scope. An unknown scope matches nothing, as
// in Kubernetes, so a quota scoped to it tracks no pods rather than all of them.
func MatchesScope(scope string, pod *corev1.Pod) bool {
	switch scope {
	case ScopeTerminating:
		return terminating(pod)
	case ScopeNotTerminating:
		return !terminating(pod)
	case ScopeBestEffort:
		return bestEffort(pod)
	case ScopeNotBestEffort:
		return !bestEffort(pod)
	case ScopePriorityClass:
		return pod.GetSpec().GetPriorityClassName() != ""
	case ScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod)
	}
	return false
}

// Matches reports whether a quota with scopes tracks pod: it must match every scope, and a
// quota without scopes tracks every pod.
func Matches(scopes []string, pod *corev1.Pod) bool {
	for _, s := range scopes {
		if !MatchesScope(s, pod) {
			return false
		}
	}
	return true
}

func terminating(pod *corev1.Pod) bool {
	d := pod.GetSpec().ActiveDeadlineSeconds
	return d != nil && *d >= 0
}

// bestEffort trusts status.qosClass when the kubelet (or a client) has set it, as
// Kubernetes' GetPodQOS does, and computes the class otherwise (a pod being created has
// no status yet). The two agree: the class follows from resources that cannot change.
func bestEffort(pod *corev1.Pod) bool {
	class := pod.GetStatus().GetQosClass()
	if class == "" {
		class = resource.QOSClass(pod)
	}
	return class == "BestEffort"
}

// crossNamespaceAffinity reports whether any pod (anti-)affinity term names namespaces,
// which makes the scheduler look at pods outside the pod's own namespace.
func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.GetSpec().GetAffinity()
	var terms []*corev1.PodAffinityTerm
	terms = append(terms, a.GetPodAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution()...)
	terms = append(terms, a.GetPodAntiAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution()...)
	for _, w := range a.GetPodAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		terms = append(terms, w.GetPodAffinityTerm())
	}
	for _, w := range a.GetPodAntiAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		terms = append(terms, w.GetPodAffinityTerm())
	}
	for _, t := range terms {
		if len(t.GetNamespaces()) > 0 {
			return true
		}
	}
	return false
}
