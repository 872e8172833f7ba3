package controller

import (
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// Pod phases and condition values, as in k8s.io/api/core/v1.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"

	PodReady         = "Ready"
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// TimeOf converts an API timestamp; nil is the zero time.
func TimeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(t.GetSeconds(), int64(t.GetNanos())).UTC()
}

// NewTime converts a time to an API timestamp with whole seconds, as the JSON wire format
// keeps them.
func NewTime(t time.Time) *metav1.Time { return &metav1.Time{Seconds: t.Unix()} }

// GetPodCondition returns the pod's condition of type typ, or nil.
func GetPodCondition(pod *corev1.Pod, typ string) *corev1.PodCondition {
	for _, c := range pod.GetStatus().GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	return nil
}

// UpdatePodCondition sets c in status as Kubernetes' pod.UpdatePodCondition does: a type
// the status lacks is appended, an existing one replaced in place. lastTransitionTime is now,
// unless the condition's status is unchanged, when the old one is kept. c is not modified;
// status is, so it must be a copy of a cached pod's. It reports whether anything changed.
func UpdatePodCondition(status *corev1.PodStatus, c *corev1.PodCondition, now time.Time) bool {
	c = proto.Clone(c).(*corev1.PodCondition)
	c.LastTransitionTime = NewTime(now)
	for i, old := range status.GetConditions() {
		if old.GetType() != c.GetType() {
			continue
		}
		if old.GetStatus() == c.GetStatus() {
			c.LastTransitionTime = old.GetLastTransitionTime()
		}
		status.Conditions[i] = c
		return !proto.Equal(old, c)
	}
	status.Conditions = append(status.Conditions, c)
	return true
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	c := GetPodCondition(pod, PodReady)
	return c != nil && c.GetStatus() == ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for at least minReadySeconds at now.
// A Ready condition without a lastTransitionTime counts as ready since forever only when
// minReadySeconds is 0.
func IsPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !IsPodReady(pod) {
		return false
	}
	if minReadySeconds <= 0 {
		return true
	}
	c := GetPodCondition(pod, PodReady)
	since := c.GetLastTransitionTime()
	if since == nil {
		return false
	}
	return !TimeOf(since).Add(time.Duration(minReadySeconds) * time.Second).After(now)
}

// IsPodTerminal reports whether the pod has finished: Succeeded or Failed. Its containers
// will not run again, whatever its deletion state.
func IsPodTerminal(pod *corev1.Pod) bool {
	phase := pod.GetStatus().GetPhase()
	return phase == PodSucceeded || phase == PodFailed
}

// IsPodActive reports whether the pod counts toward a controller's replicas: not finished
// (Succeeded or Failed) and not being deleted.
func IsPodActive(pod *corev1.Pod) bool {
	return !IsPodTerminal(pod) && pod.GetMetadata().GetDeletionTimestamp() == nil
}

// FilterActivePods returns the active pods, in their order.
func FilterActivePods(pods []*corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		if IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// maxContainerRestarts is the highest restart count of the pod's containers.
func maxContainerRestarts(pod *corev1.Pod) int32 {
	var n int32
	for _, cs := range pod.GetStatus().GetContainerStatuses() {
		n = max(n, cs.GetRestartCount())
	}
	return n
}

var podPhaseToOrdinal = map[string]int{PodPending: 0, PodUnknown: 1, PodRunning: 2}

// ActivePodsWithRanks sorts pods so that those to delete first come first, as Kubernetes'
// ActivePodsWithRanks does:
//
//  1. unscheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. higher Rank before lower (callers rank pods that double up on a node higher);
//  5. more container restarts before fewer;
//  6. newer (later creationTimestamp) before older; a missing timestamp counts as newest.
//
// Rank may be nil (all equal); otherwise it is parallel to Pods and swapped with it.
type ActivePodsWithRanks struct {
	Pods []*corev1.Pod
	Rank []int
}

func (s ActivePodsWithRanks) Len() int { return len(s.Pods) }

func (s ActivePodsWithRanks) Swap(i, j int) {
	s.Pods[i], s.Pods[j] = s.Pods[j], s.Pods[i]
	if s.Rank != nil {
		s.Rank[i], s.Rank[j] = s.Rank[j], s.Rank[i]
	}
}

func (s ActivePodsWithRanks) Less(i, j int) bool {
	a, b := s.Pods[i], s.Pods[j]
	// 1. Unassigned < assigned.
	if an, bn := a.GetSpec().GetNodeName(), b.GetSpec().GetNodeName(); an != bn && (an == "" || bn == "") {
		return an == ""
	}
	// 2. Pending < Unknown < Running (other phases rank with Pending, as upstream's map lookup
	// of a missing phase gives 0).
	if pa, pb := podPhaseToOrdinal[a.GetStatus().GetPhase()], podPhaseToOrdinal[b.GetStatus().GetPhase()]; pa != pb {
		return pa < pb
	}
	// 3. Not ready < ready.
	if ra, rb := IsPodReady(a), IsPodReady(b); ra != rb {
		return !ra
	}
	// 4. Doubled up < not doubled up.
	if s.Rank != nil && s.Rank[i] != s.Rank[j] {
		return s.Rank[i] > s.Rank[j]
	}
	// 5. More restarts < fewer.
	if ca, cb := maxContainerRestarts(a), maxContainerRestarts(b); ca != cb {
		return ca > cb
	}
	// 6. Newer < older; empty creation time < any.
	ta, tb := a.GetMetadata().GetCreationTimestamp(), b.GetMetadata().GetCreationTimestamp()
	if (ta == nil) != (tb == nil) {
		return ta == nil
	}
	return TimeOf(ta).After(TimeOf(tb))
}

// SortForDeletion orders pods (in place) so the ones to delete first come first.
func SortForDeletion(pods []*corev1.Pod) {
	sort.Stable(ActivePodsWithRanks{Pods: pods})
}
