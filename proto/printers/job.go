package printers

import (
	"fmt"

	batchv1 "kubelab.io/proto/api/batch/v1"
	"kubelab.io/proto/runtime"
)

// jobRow is kubectl's job row: the first condition that holds, in kubectl's order, names the
// status; COMPLETIONS reads "succeeded/completions", or "succeeded/1 of parallelism" for a
// work queue job run in parallel; DURATION runs from startTime to completionTime, or to now.
func jobRow(obj runtime.Object, o *Options) []any {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return nil
	}
	spec, st := j.GetSpec(), j.GetStatus()
	status := "Running"
	switch {
	case jobConditionTrue(j, batchv1.JobComplete):
		status = "Complete"
	case jobConditionTrue(j, batchv1.JobFailed):
		status = "Failed"
	case j.GetMetadata().GetDeletionTimestamp() != nil:
		status = "Terminating"
	case jobConditionTrue(j, batchv1.JobSuspended):
		status = "Suspended"
	case jobConditionTrue(j, batchv1.JobFailureTarget):
		status = "FailureTarget"
	case jobConditionTrue(j, batchv1.JobSuccessCriteriaMet):
		status = "SuccessCriteriaMet"
	}
	var completions string
	switch {
	case spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", st.GetSucceeded(), spec.GetCompletions())
	case spec.Parallelism != nil && spec.GetParallelism() > 1:
		completions = fmt.Sprintf("%d/1 of %d", st.GetSucceeded(), spec.GetParallelism())
	default:
		completions = fmt.Sprintf("%d/1", st.GetSucceeded())
	}
	var duration string
	switch {
	case st.GetStartTime() == nil:
	case st.GetCompletionTime() == nil:
		duration = HumanDuration(o.Now.Sub(toTime(st.GetStartTime())))
	default:
		duration = HumanDuration(toTime(st.GetCompletionTime()).Sub(toTime(st.GetStartTime())))
	}
	cells := []any{j.GetMetadata().GetName(), status, completions, duration, age(j, o)}
	if o.Wide {
		names, images := layoutContainerCells(spec.GetTemplate().GetSpec().GetContainers())
		cells = append(cells, names, images, formatLabelSelector(spec.GetSelector()))
	}
	return cells
}

func jobConditionTrue(j *batchv1.Job, t string) bool {
	for _, c := range j.GetStatus().GetConditions() {
		if c.GetType() == t && c.GetStatus() == "True" {
			return true
		}
	}
	return false
}

// cronJobRow is kubectl's cronjob row: TIMEZONE and LAST SCHEDULE read <none> when unset,
// SUSPEND True, False or <unset> (defaulting sets it), ACTIVE counts status.active; the
// wide columns describe the job template, whose selector is always unset.
func cronJobRow(obj runtime.Object, o *Options) []any {
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return nil
	}
	spec, st := cj.GetSpec(), cj.GetStatus()
	lastSchedule := "<none>"
	if st.GetLastScheduleTime() != nil {
		lastSchedule = since(toTime(st.GetLastScheduleTime()), o)
	}
	timeZone := "<none>"
	if spec.TimeZone != nil {
		timeZone = spec.GetTimeZone()
	}
	suspend := "<unset>"
	switch {
	case spec.Suspend == nil:
	case spec.GetSuspend():
		suspend = "True"
	default:
		suspend = "False"
	}
	cells := []any{cj.GetMetadata().GetName(), spec.GetSchedule(), timeZone, suspend, int64(len(st.GetActive())), lastSchedule, age(cj, o)}
	if o.Wide {
		js := spec.GetJobTemplate().GetSpec()
		names, images := layoutContainerCells(js.GetTemplate().GetSpec().GetContainers())
		cells = append(cells, names, images, formatLabelSelector(js.GetSelector()))
	}
	return cells
}
