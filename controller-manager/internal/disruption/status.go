package disruption

import (
	"maps"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/disruption"
)

// computed is what a sync works out for one budget, for the shell to write and report.
type computed struct {
	status *policyv1.PodDisruptionBudgetStatus
	// recheck is when the earliest eviction still under way expires (nil: none is).
	recheck *time.Time
	// unmanaged names matched pods without a controller, which a count by scale leaves out.
	unmanaged []string
	// notDeleted are the pods granted an eviction that DeletionTimeout later still stand.
	notDeleted []*corev1.Pod
}

// computeStatus is the budget's new status from the pods its selector matches, as
// upstream's trySync and updatePdbStatus, and what the sync should report. Its error is
// the expected pod count's (a pod whose controller is unknown, a bad percentage).
func computeStatus(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale scaleFunc, now time.Time) (computed, error) {
	expected, desired, unmanaged, err := expectedPodCount(pdb.GetSpec(), pods, scale)
	if err != nil {
		return computed{}, err
	}
	disrupted, recheck, notDeleted := disruptedPodMap(pods, pdb.GetStatus().GetDisruptedPods(), now)
	current := countHealthyPods(pods, disrupted, now)
	// While no pod is expected, nothing may be disrupted: a budget whose first pods appear
	// before this controller has counted them must not look permissive.
	allowed := current - desired
	if expected <= 0 || allowed < 0 {
		allowed = 0
	}
	next := &policyv1.PodDisruptionBudget{Metadata: pdb.GetMetadata(), Status: &policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.GetMetadata().GetGeneration(),
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     current,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
	}}
	for _, c := range pdb.GetStatus().GetConditions() {
		next.Status.Conditions = append(next.Status.Conditions, proto.Clone(c).(*metav1.Condition))
	}
	disruption.UpdateDisruptionAllowedCondition(next, now)
	return computed{status: next.Status, recheck: recheck, unmanaged: unmanaged, notDeleted: notDeleted}, nil
}

// expectedPodCount is upstream's getExpectedPodCount. maxUnavailable (int or percent) and a
// percentage minAvailable count against the sum of the matched pods' controllers' scale,
// percentages rounded up; an integer minAvailable is desiredHealthy itself, and expects
// the matched pods there are. Neither set: nothing expected, nothing desired.
func expectedPodCount(spec *policyv1.PodDisruptionBudgetSpec, pods []*corev1.Pod, scale scaleFunc) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case spec.GetMaxUnavailable() != nil:
		if expected, unmanaged, err = expectedScale(pods, scale); err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := controller.ScaledValue(spec.GetMaxUnavailable(), expected, true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = max(expected-maxUnavailable, 0)
	case spec.GetMinAvailable() != nil && spec.GetMinAvailable().GetType() == 0:
		desired, expected = spec.GetMinAvailable().GetIntVal(), int32(len(pods))
	case spec.GetMinAvailable() != nil:
		if expected, unmanaged, err = expectedScale(pods, scale); err != nil {
			return 0, 0, nil, err
		}
		if desired, err = controller.ScaledValue(spec.GetMinAvailable(), expected, true); err != nil {
			return 0, 0, nil, err
		}
	}
	return expected, desired, unmanaged, nil
}

// expectedScale sums the scale of the matched pods' controllers, each counted once (upstream's
// getExpectedScale); pods without a controller are named in unmanaged and left out.
func expectedScale(pods []*corev1.Pod, scale scaleFunc) (int32, []string, error) {
	byController := map[string]int32{}
	var unmanaged []string
	for _, pod := range pods {
		uid, n, ok, err := scale(pod)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			unmanaged = append(unmanaged, pod.GetMetadata().GetName())
			continue
		}
		byController[uid] = n
	}
	var total int32
	for n := range maps.Values(byController) {
		total += n
	}
	return total, unmanaged, nil
}

// disruptedPodMap keeps the status.disruptedPods entries still meaningful: of pods that
// exist, are not yet being deleted (then the deletion is seen), and were granted their
// eviction less than DeletionTimeout ago (after that the delete is assumed never to have
// happened: those pods come back in notDeleted). recheck is when the earliest kept entry
// expires.
func disruptedPodMap(pods []*corev1.Pod, old map[string]*metav1.Time, now time.Time) (
	kept map[string]*metav1.Time, recheck *time.Time, notDeleted []*corev1.Pod) {
	for _, pod := range pods {
		at, found := old[pod.GetMetadata().GetName()]
		if !found || pod.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		expires := controller.TimeOf(at).Add(disruption.DeletionTimeout)
		if expires.Before(now) {
			notDeleted = append(notDeleted, pod)
			continue
		}
		if kept == nil {
			kept = map[string]*metav1.Time{}
		}
		kept[pod.GetMetadata().GetName()] = at
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
	}
	return kept, recheck, notDeleted
}

// countHealthyPods counts the pods that are Ready, not being deleted and not about to be
// (granted an eviction that has not expired). Upstream takes those disruptions into account
// this way rather than by subtracting them from disruptionsAllowed; the result is the same.
func countHealthyPods(pods []*corev1.Pod, disrupted map[string]*metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		if at, found := disrupted[pod.GetMetadata().GetName()]; found && controller.TimeOf(at).Add(disruption.DeletionTimeout).After(now) {
			continue
		}
		if disruption.IsPodReady(pod) {
			n++
		}
	}
	return n
}
