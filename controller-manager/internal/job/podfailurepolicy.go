package job

import (
	"fmt"
	"slices"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

// failureVerdict is what a job's podFailurePolicy says of one failed pod, as upstream's
// matchPodFailurePolicy: the action of the first rule the pod matches ("" when none does),
// whether the failure counts towards backoffLimit (not when Ignore), and, for FailJob, the
// message of the job's FailureTarget condition.
type failureVerdict struct {
	action      string
	countFailed bool
	failJobMsg  string
}

// matchPodFailurePolicy judges a failed pod by the rules of pfp in order. A rule whose
// action this controller does not know (FailIndex, which validation refuses, or one from a
// newer API) is skipped, as upstream clients are told to. A nil policy counts every failure.
// It is pure: a terminal pod's status no longer changes, so every sync, before or after a
// restart, reaches the same verdict for the same pod.
func matchPodFailurePolicy(pfp *batchv1.PodFailurePolicy, pod *corev1.Pod) failureVerdict {
	ns, name := pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName()
	for i, r := range pfp.GetRules() {
		var failJobMsg string
		switch {
		case r.GetOnExitCodes() != nil:
			cs := matchOnExitCodes(pod.GetStatus(), r.GetOnExitCodes())
			if cs == nil {
				continue
			}
			failJobMsg = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
				cs.GetName(), ns, name, cs.GetState().GetTerminated().GetExitCode(), r.GetAction(), i)
		case len(r.GetOnPodConditions()) > 0:
			c := matchOnPodConditions(pod.GetStatus(), r.GetOnPodConditions())
			if c == nil {
				continue
			}
			failJobMsg = fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d", ns, name, c.GetType(), r.GetAction(), i)
		default:
			continue
		}
		switch a := r.GetAction(); a {
		case batchv1.PodFailurePolicyActionIgnore:
			return failureVerdict{action: a}
		case batchv1.PodFailurePolicyActionCount:
			return failureVerdict{action: a, countFailed: true}
		case batchv1.PodFailurePolicyActionFailJob:
			return failureVerdict{action: a, countFailed: true, failJobMsg: failJobMsg}
		}
	}
	return failureVerdict{countFailed: true}
}

// matchOnExitCodes returns the first terminated container (app containers before init
// containers) whose non-zero exit code meets the requirement, or nil. Exit code 0 never
// matches: a container that succeeded did not cause the failure.
func matchOnExitCodes(st *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]*corev1.ContainerStatus{st.GetContainerStatuses(), st.GetInitContainerStatuses()} {
		for _, cs := range list {
			t := cs.GetState().GetTerminated()
			if t == nil || t.GetExitCode() == 0 {
				continue // still running (or gone without a state), or succeeded
			}
			if req.ContainerName != nil && req.GetContainerName() != cs.GetName() {
				continue
			}
			in := slices.Contains(req.GetValues(), t.GetExitCode())
			switch req.GetOperator() {
			case batchv1.PodFailurePolicyOnExitCodesOpIn:
				if in {
					return cs
				}
			case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
				if !in {
					return cs
				}
			}
		}
	}
	return nil
}

// matchOnPodConditions returns the first of the pod's conditions some pattern matches by
// type and status, or nil.
func matchOnPodConditions(st *corev1.PodStatus, patterns []*batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for _, c := range st.GetConditions() {
		for _, p := range patterns {
			if c.GetType() == p.GetType() && c.GetStatus() == p.GetStatus() {
				return c
			}
		}
	}
	return nil
}

// countsAsFailed reports whether a failed pod of job counts in status.failed and towards
// backoffLimit: always without a podFailurePolicy, else unless an Ignore rule matched it.
func countsAsFailed(job *batchv1.Job, pod *corev1.Pod) bool {
	pfp := job.GetSpec().GetPodFailurePolicy()
	return pfp == nil || matchPodFailurePolicy(pfp, pod).countFailed
}

// failJobMessage is the message of the first failed pod that matched a FailJob rule, or "":
// the job then fails with reason PodFailurePolicy, whatever its backoffLimit.
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) string {
	pfp := job.GetSpec().GetPodFailurePolicy()
	if pfp == nil {
		return ""
	}
	for _, p := range pods {
		if isPodFailed(job, p) {
			if v := matchPodFailurePolicy(pfp, p); v.failJobMsg != "" {
				return v.failJobMsg
			}
		}
	}
	return ""
}
