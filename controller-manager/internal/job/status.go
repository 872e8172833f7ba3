package job

import (
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
)

// Condition reasons and messages, as Kubernetes' job controller words them.
const (
	reasonSuspended = "JobSuspended"
	msgSuspended    = "Job suspended"
	reasonResumed   = "JobResumed"
	msgResumed      = "Job resumed"

	msgBackoffLimitExceeded = "Job has reached the specified backoff limit"
	msgDeadlineExceeded     = "Job was active longer than specified deadline"
	msgCompletionsReached   = "Reached expected number of succeeded pods"
)

// wantActive is how many pods should run: parallelism, but never more than the completions
// still missing. A work queue job (no completions) starts no pod once one has succeeded: the
// ones still running finish the queue.
func wantActive(spec *batchv1.JobSpec, active, succeeded int32) int32 {
	parallelism := spec.GetParallelism()
	if spec.Completions == nil {
		if succeeded > 0 {
			return active
		}
		return parallelism
	}
	return max(0, min(parallelism, spec.GetCompletions()-succeeded))
}

// successCriteriaMet reports whether the job has done its work: completions pods succeeded,
// or, for a work queue, one did; in both cases with none still running (the sync that sees
// the last completion deletes the pods still running first).
func successCriteriaMet(spec *batchv1.JobSpec, active, succeeded int32) bool {
	if spec.Completions == nil {
		return succeeded > 0 && active == 0
	}
	return succeeded >= spec.GetCompletions() && active == 0
}

// pastActiveDeadline reports whether the job has been active longer than
// activeDeadlineSeconds, and otherwise how long it still has.
func pastActiveDeadline(job *batchv1.Job, now time.Time) (bool, time.Duration) {
	ads := job.GetSpec().ActiveDeadlineSeconds
	start := job.GetStatus().GetStartTime()
	if ads == nil || start == nil {
		return false, 0
	}
	left := controller.TimeOf(start).Add(time.Duration(*ads) * time.Second).Sub(now)
	return left <= 0, left
}

// findCondition returns the job's condition of type t, or nil.
func findCondition(st *batchv1.JobStatus, t string) *batchv1.JobCondition {
	for _, c := range st.GetConditions() {
		if c.GetType() == t {
			return c
		}
	}
	return nil
}

func conditionTrue(st *batchv1.JobStatus, t string) bool {
	c := findCondition(st, t)
	return c != nil && c.GetStatus() == controller.ConditionTrue
}

// FinishedCondition is st's terminal condition (Complete or Failed) when it is True, else
// nil: a finished job has nothing more done to it, and the ttl-after-finished controller
// counts its time to live from that condition.
func FinishedCondition(st *batchv1.JobStatus) *batchv1.JobCondition {
	for _, t := range []string{batchv1.JobComplete, batchv1.JobFailed} {
		if c := findCondition(st, t); c != nil && c.GetStatus() == controller.ConditionTrue {
			return c
		}
	}
	return nil
}

// setCondition makes st's condition of type t say status, reason and message, appending it
// when missing, and reports whether anything changed. The transition time moves only when
// status does, as upstream's ensureJobConditionStatus.
func setCondition(st *batchv1.JobStatus, t, status, reason, message string, now time.Time) bool {
	if c := findCondition(st, t); c != nil {
		if c.GetStatus() == status && c.GetReason() == reason && c.GetMessage() == message {
			return false
		}
		if c.GetStatus() != status {
			c.LastTransitionTime = controller.NewTime(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, controller.NewTime(now)
		return true
	}
	st.Conditions = append(st.Conditions, &batchv1.JobCondition{
		Type: t, Status: status, Reason: reason, Message: message,
		LastProbeTime: controller.NewTime(now), LastTransitionTime: controller.NewTime(now),
	})
	return true
}

// statusEqual ignores nothing: a status write is skipped only when it would change nothing.
func statusEqual(a, b *batchv1.JobStatus) bool {
	if a == nil {
		a = &batchv1.JobStatus{}
	}
	return proto.Equal(a, b)
}
