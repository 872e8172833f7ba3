package job

import (
	"time"

	"kubelab.io/controller-manager/internal/controller"
	corev1 "kubelab.io/proto/api/core/v1"
)

// The delay before a failed pod is replaced, as Kubernetes' job controller has them
// (DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff): 10 s after the first failure since
// the last success, doubled for each further one, at most 10 min.
const (
	DefaultPodFailureBackoff = 10 * time.Second
	MaxPodFailureBackoff     = 10 * time.Minute
)

// failureBackoff is how long the job must still wait, at now, before it may start a pod to
// replace its failures: base·2^(n-1), capped at maxDelay, counted from the last failure, where
// n is how many of its pods failed after the last one that succeeded.
//
// Upstream keeps this record in memory, fed by the pods whose tracking finalizer it removes,
// and starts from nothing after a restart. kubelab keeps a job's finished pods, so the
// record is read from them on every sync: a restarted controller waits exactly as long as
// the one it replaced would have.
func failureBackoff(pods []*corev1.Pod, base, maxDelay time.Duration, now time.Time) time.Duration {
	var lastSuccess time.Time
	for _, p := range pods {
		if p.GetStatus().GetPhase() == controller.PodSucceeded {
			if t := finishedTime(p); t.After(lastSuccess) {
				lastSuccess = t
			}
		}
	}
	var (
		failures    int
		lastFailure time.Time
	)
	for _, p := range pods {
		if p.GetStatus().GetPhase() != controller.PodFailed {
			continue
		}
		t := finishedTime(p)
		if !lastSuccess.IsZero() && !t.After(lastSuccess) {
			continue
		}
		failures++
		if t.After(lastFailure) {
			lastFailure = t
		}
	}
	if failures == 0 {
		return 0
	}
	delay := base
	for i := 1; i < failures && delay < maxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, maxDelay)
	return max(0, lastFailure.Add(delay).Sub(now))
}

// finishedTime is when a finished pod ended, read as upstream's getFinishedTime reads it:
// the moment its Ready condition turned False, else the last of its containers' finishedAt,
// else its deletionTimestamp, else its creation.
func finishedTime(p *corev1.Pod) time.Time {
	if c := controller.GetPodCondition(p, controller.PodReady); c != nil && c.GetStatus() == controller.ConditionFalse && c.GetLastTransitionTime() != nil {
		return controller.TimeOf(c.GetLastTransitionTime())
	}
	var last time.Time
	for _, s := range p.GetStatus().GetContainerStatuses() {
		if t := controller.TimeOf(s.GetState().GetTerminated().GetFinishedAt()); t.After(last) {
			last = t
		}
	}
	if !last.IsZero() {
		return last
	}
	if ts := p.GetMetadata().GetDeletionTimestamp(); ts != nil {
		return controller.TimeOf(ts)
	}
	return controller.TimeOf(p.GetMetadata().GetCreationTimestamp())
}
