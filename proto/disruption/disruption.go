// Package disruption holds what the eviction subresource (apiserver) and the disruption
// controller (controller-manager) share about PodDisruptionBudgets: which pods a budget
// covers, what counts as healthy, and the DisruptionAllowed condition both of them write.
package disruption

import (
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/labels"
)

// Kubernetes' names (k8s.io/api/policy/v1).
const (
	ConditionDisruptionAllowed = "DisruptionAllowed"
	ReasonSufficientPods       = "SufficientPods"
	ReasonInsufficientPods     = "InsufficientPods"
	ReasonSyncFailed           = "SyncFailed"
	// CauseDisruptionBudget is the StatusCause type of a 429 refusing an eviction.
	CauseDisruptionBudget = "DisruptionBudget"
	// spec.unhealthyPodEvictionPolicy: IfHealthyBudget (the default) lets a running pod
	// that is not Ready be evicted only while the budget is met; AlwaysAllow always.
	UnhealthyPodEvictionIfHealthyBudget = "IfHealthyBudget"
	UnhealthyPodEvictionAlwaysAllow     = "AlwaysAllow"
	// PodConditionDisruptionTarget (k8s.io/api/core/v1) is the condition an evicted pod gets
	// before it is deleted.
	PodConditionDisruptionTarget = "DisruptionTarget"
)

// DeletionTimeout is how long a pod granted an eviction stays in status.disruptedPods: if
// it has not gone by then, the controller assumes the delete never happened (upstream's
// value), so the budget is not held down for ever.
const DeletionTimeout = 2 * time.Minute

// MaxDisruptedPods bounds status.disruptedPods, as upstream's MaxDisruptedPodSize: past it the
// controller is not keeping up, and evictions are refused rather than growing the map.
const MaxDisruptedPods = 2000

// Covers reports whether pdb covers pod: same namespace, and a selector that is valid, not
// empty, and matches the pod's labels. An empty or null selector covers nothing here, as in
// upstream's eviction path, so a stray budget cannot freeze a whole namespace.
func Covers(pdb *policyv1.PodDisruptionBudget, pod *corev1.Pod) bool {
	if pdb.GetMetadata().GetNamespace() != pod.GetMetadata().GetNamespace() {
		return false
	}
	sel, err := labels.FromLabelSelector(pdb.GetSpec().GetSelector())
	if err != nil || sel.Empty() {
		return false
	}
	return sel.Matches(pod.GetMetadata().GetLabels())
}

// IsPodReady is the health a budget counts: the pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus() == "True"
		}
	}
	return false
}

// UpdateDisruptionAllowedCondition sets DisruptionAllowed from status.disruptionsAllowed:
// True with SufficientPods when an eviction may go ahead, else False with InsufficientPods.
func UpdateDisruptionAllowedCondition(pdb *policyv1.PodDisruptionBudget, now time.Time) {
	c := &metav1.Condition{Type: ConditionDisruptionAllowed, Status: "False", Reason: ReasonInsufficientPods,
		ObservedGeneration: pdb.GetStatus().GetObservedGeneration()}
	if pdb.GetStatus().GetDisruptionsAllowed() > 0 {
		c.Status, c.Reason = "True", ReasonSufficientPods
	}
	SetCondition(pdb, c, now)
}

// SetCondition adds c to pdb's status or replaces the condition of its type, as
// apimachinery's meta.SetStatusCondition: the transition time moves only when the status
// changes.
func SetCondition(pdb *policyv1.PodDisruptionBudget, c *metav1.Condition, now time.Time) {
	if pdb.Status == nil {
		pdb.Status = &policyv1.PodDisruptionBudgetStatus{}
	}
	st := pdb.Status
	for i, old := range st.Conditions {
		if old.GetType() != c.GetType() {
			continue
		}
		c.LastTransitionTime = old.GetLastTransitionTime()
		if old.GetStatus() != c.GetStatus() || c.LastTransitionTime == nil {
			c.LastTransitionTime = &metav1.Time{Seconds: now.Unix()}
		}
		st.Conditions[i] = c
		return
	}
	c.LastTransitionTime = &metav1.Time{Seconds: now.Unix()}
	st.Conditions = append(st.Conditions, c)
}
