package cronjob

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/job"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

const (
	eventNormal  = "Normal"
	eventWarning = "Warning"
)

// sync reconciles one CronJob: its status from its Jobs, the run due now if any, then the
// history limits; it writes the status once, if it changed, and queues the CronJob again for
// its next start time. Every write is idempotent (deterministic Job names, deletes of
// what is gone are done), so a failed sync is simply retried.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.cronJobLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its Jobs are the garbage collector's
	}
	if err != nil {
		return err
	}
	jobs, err := c.ownedJobs(cached)
	if err != nil {
		return err
	}
	cj := proto.Clone(cached).(*batchv1.CronJob)
	if cj.Status == nil {
		cj.Status = &batchv1.CronJobStatus{}
	}
	requeue, changed, syncErr := c.syncCronJob(ctx, cj, jobs)
	if c.cleanupFinishedJobs(ctx, cj, jobs) {
		changed = true
	}
	if changed {
		if _, err := c.client.CronJobs(ns).UpdateStatus(ctx, cj); err != nil {
			return fmt.Errorf("update status of cronjob %s: %w", key, err)
		}
	}
	if requeue != nil {
		c.queue.AddAfter(key, *requeue)
		return nil
	}
	return syncErr
}

// ownedJobs are the cached Jobs cj controls, by uid.
func (c *Controller) ownedJobs(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobLister.Namespace(cj.GetMetadata().GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for _, j := range all {
		if controller.IsControlledBy(j, cj) {
			out = append(out, j)
		}
	}
	controller.SortByName(out)
	return out, nil
}

// syncCronJob updates cj's status from its Jobs and starts the run that is due, as
// upstream's syncCronJob. It returns when to look at cj again (nil: only on an event, or by
// the queue's backoff after an error) and whether the status changed.
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (requeue *time.Duration, changed bool, err error) {
	now := c.now()
	st := cj.Status
	children := map[string]bool{}
	for _, j := range jobs {
		uid := j.GetMetadata().GetUid()
		children[uid] = true
		active := inActiveList(cj, uid)
		finished := job.FinishedCondition(j.GetStatus())
		switch {
		case !active && finished == nil:
			// An unfinished Job of ours the status does not list: we crashed between its
			// create and the status write, or our CronJob is older than our Job cache. The
			// apiserver's copy decides.
			fresh, err := c.client.CronJobs(cj.GetMetadata().GetNamespace()).Get(ctx, cj.GetMetadata().GetName())
			if err != nil {
				return nil, changed, err
			}
			if inActiveList(fresh, uid) {
				proto.Reset(cj)
				proto.Merge(cj, fresh)
				st = cj.Status
				continue
			}
			c.recorder.Eventf(cj, eventWarning, UnexpectedJob, "Saw a job that the controller did not create or forgot: %s", j.GetMetadata().GetName())
		case active && finished != nil:
			deleteFromActiveList(cj, uid)
			c.recorder.Eventf(cj, eventNormal, SawCompletedJob, "Saw completed job: %s, condition: %v", j.GetMetadata().GetName(), finished.GetType())
			changed = true
		}
		// A Job need not be active to count: any that completed moves lastSuccessfulTime.
		if finished.GetType() == batchv1.JobComplete && j.GetStatus().GetCompletionTime() != nil {
			if done := j.GetStatus().GetCompletionTime(); st.LastSuccessfulTime == nil || done.GetSeconds() > st.LastSuccessfulTime.GetSeconds() {
				st.LastSuccessfulTime = proto.Clone(done).(*metav1.Time)
				changed = true
			}
		}
	}
	// An active Job we no longer see is asked for: a lagging cache must not drop it.
	for _, ref := range slices.Clone(st.GetActive()) {
		if children[ref.GetUid()] {
			continue
		}
		_, err := c.client.Jobs(ref.GetNamespace()).Get(ctx, ref.GetName())
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, eventNormal, MissingJob, "Active job went missing: %v", ref.GetName())
			deleteFromActiveList(cj, ref.GetUid())
			changed = true
		case err != nil:
			return nil, changed, err
		}
	}

	if cj.GetMetadata().GetDeletionTimestamp() != nil {
		return nil, changed, nil // being deleted: only the status is kept
	}
	spec := cj.GetSpec()
	if spec.TimeZone != nil {
		if _, err := time.LoadLocation(spec.GetTimeZone()); err != nil {
			c.recorder.Eventf(cj, eventWarning, UnknownTimeZone, "invalid timeZone: %q: %s", spec.GetTimeZone(), err)
			return nil, changed, nil
		}
	}
	if spec.GetSuspend() {
		return nil, changed, nil
	}
	if strings.Contains(spec.GetSchedule(), "TZ") {
		c.recorder.Eventf(cj, eventWarning, UnsupportedSchedule, "CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", spec.GetSchedule())
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		// The user's to fix: nothing runs until the spec changes (an update event).
		c.recorder.Eventf(cj, eventWarning, UnparseableSchedule, "unparseable schedule: %q : %s", spec.GetSchedule(), err)
		return nil, changed, nil
	}
	scheduledTime, missed, err := unmetScheduleTime(cj, now, sched)
	if err != nil {
		c.recorder.Eventf(cj, eventWarning, InvalidSchedule, "invalid schedule: %s : %s", spec.GetSchedule(), err)
		return nil, changed, nil
	}
	if scheduledTime != nil && missed > tooManyMissed {
		// Upstream's words exactly (nextScheduleTime): no count, and only with a time to run.
		c.recorder.Eventf(cj, eventWarning, TooManyMissedTimes, "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	next := func() *time.Duration { d := requeueAfter(cj, now, sched); return &d }
	if scheduledTime == nil {
		return next(), changed, nil
	}
	// unmetScheduleTime looked no further back than the deadline, so this holds only at the
	// edge; kept, with upstream's event, so no start time past its deadline ever runs.
	if d := spec.StartingDeadlineSeconds; d != nil && scheduledTime.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, eventWarning, MissSchedule, "Missed scheduled time to start a job: %s", scheduledTime.UTC().Format(time.RFC1123Z))
		return next(), changed, nil
	}
	name := jobName(cj, *scheduledTime)
	if inActiveListByName(cj, name) || (st.LastScheduleTime != nil && st.LastScheduleTime.GetSeconds() == scheduledTime.Unix()) {
		return next(), changed, nil // this start time is done
	}
	switch spec.GetConcurrencyPolicy() {
	case batchv1.ForbidConcurrent:
		if len(st.GetActive()) > 0 {
			c.recorder.Eventf(cj, eventNormal, JobAlreadyActive, "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next(), changed, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(st.GetActive()) {
			j, err := c.client.Jobs(ref.GetNamespace()).Get(ctx, ref.GetName())
			if err != nil {
				c.recorder.Eventf(cj, eventWarning, FailedGet, "Get job: %v", err)
				return nil, changed, err
			}
			if !c.removeJob(ctx, cj, j) {
				return nil, changed, fmt.Errorf("could not replace job %s/%s", ref.GetNamespace(), ref.GetName())
			}
			changed = true
		}
	}

	created, err := c.createJob(ctx, cj, name, *scheduledTime)
	if err != nil {
		return nil, changed, err
	}
	if created == nil {
		return next(), changed, nil
	}
	st.Active = append(st.Active, jobRef(created))
	st.LastScheduleTime = &metav1.Time{Seconds: scheduledTime.Unix()}
	return next(), true, nil
}

// createJob creates cj's Job for scheduledTime and returns what the status should list. If
// the Job exists already (our create whose status write was lost, or a lagging cache) it is
// listed when cj controls it and not yet listed; nil means there is nothing to add.
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, name string, scheduledTime time.Time) (*batchv1.Job, error) {
	ns := cj.GetMetadata().GetNamespace()
	want, err := jobFromTemplate(cj, name, scheduledTime)
	if err != nil {
		return nil, err
	}
	created, err := c.client.Jobs(ns).Create(ctx, want)
	switch {
	case apierrors.IsAlreadyExists(err):
		existing, err := c.client.Jobs(ns).Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if !controller.IsControlledBy(existing, cj) || inActiveList(cj, existing.GetMetadata().GetUid()) {
			return nil, nil // someone else's Job, or already recorded
		}
		c.log.Info("job already exists", "namespace", ns, "cronjob", cj.GetMetadata().GetName(), "job", name)
		return existing, nil
	case err != nil:
		if !apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
			c.recorder.Eventf(cj, eventWarning, FailedCreate, "Error creating job: %v", err)
		}
		return nil, err
	}
	c.recorder.Eventf(cj, eventNormal, SuccessfulCreate, "Created job %v", name)
	return created, nil
}

// jobFromTemplate is the Job cj runs at scheduledTime: the template's labels, annotations
// and spec, the scheduled time as the batch.kubernetes.io/cronjob-scheduled-timestamp
// annotation (RFC 3339 in the CronJob's zone, UTC without one), controlled by cj.
func jobFromTemplate(cj *batchv1.CronJob, name string, scheduledTime time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(cj.GetSpec().GetTimeZone()) // "" is UTC
	if err != nil {
		return nil, err
	}
	tmpl := cj.GetSpec().GetJobTemplate()
	annotations := map[string]string{}
	for k, v := range tmpl.GetMetadata().GetAnnotations() {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduledTime.In(loc).Format(time.RFC3339)
	var jobLabels map[string]string
	if l := tmpl.GetMetadata().GetLabels(); len(l) > 0 {
		jobLabels = make(map[string]string, len(l))
		for k, v := range l {
			jobLabels[k] = v
		}
	}
	spec := &batchv1.JobSpec{}
	if tmpl.GetSpec() != nil {
		spec = proto.Clone(tmpl.GetSpec()).(*batchv1.JobSpec)
	}
	return &batchv1.Job{
		Kind: job.Kind.Kind, ApiVersion: job.Kind.APIVersion(),
		Metadata: &metav1.ObjectMeta{
			Name: name, Namespace: cj.GetMetadata().GetNamespace(),
			Labels: jobLabels, Annotations: annotations,
			OwnerReferences: []*metav1.OwnerReference{controller.NewControllerRef(cj, Kind)},
		},
		Spec: spec,
	}, nil
}

// cleanupFinishedJobs deletes cj's oldest Complete and Failed Jobs beyond
// successfulJobsHistoryLimit and failedJobsHistoryLimit, and reports whether the status
// changed.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	spec := cj.GetSpec()
	if spec.SuccessfulJobsHistoryLimit == nil && spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch job.FinishedCondition(j.GetStatus()).GetType() {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	if spec.SuccessfulJobsHistoryLimit != nil && c.removeOldestJobs(ctx, cj, succeeded, spec.GetSuccessfulJobsHistoryLimit()) {
		changed = true
	}
	if spec.FailedJobsHistoryLimit != nil && c.removeOldestJobs(ctx, cj, failed, spec.GetFailedJobsHistoryLimit()) {
		changed = true
	}
	return changed
}

// removeOldestJobs deletes all but the keep most recently started of jobs (a Job never
// started counts as the newest, as upstream's byJobStartTime).
func (c *Controller) removeOldestJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int32) bool {
	n := len(jobs) - int(keep)
	if n <= 0 {
		return false
	}
	slices.SortStableFunc(jobs, func(a, b *batchv1.Job) int {
		as, bs := a.GetStatus().GetStartTime(), b.GetStatus().GetStartTime()
		switch {
		case as == nil && bs == nil:
		case as == nil:
			return 1
		case bs == nil:
			return -1
		default:
			if d := cmp.Compare(as.GetSeconds(), bs.GetSeconds()); d != 0 {
				return d
			}
		}
		return cmp.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName())
	})
	changed := false
	for _, j := range jobs[:n] {
		if c.removeJob(ctx, cj, j) {
			changed = true
		}
	}
	return changed
}

// removeJob deletes j with Background propagation (the garbage collector removes its pods)
// and drops it from cj's active list; a Job already gone counts as deleted.
func (c *Controller) removeJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job) bool {
	m := j.GetMetadata()
	_, err := c.client.Jobs(m.GetNamespace()).Delete(ctx, m.GetName(), &metav1.DeleteOptions{PropagationPolicy: proto.String("Background")})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, eventWarning, FailedDelete, "Deleted job: %v", err)
		c.log.Error("delete job", "namespace", m.GetNamespace(), "job", m.GetName(), "cronjob", cj.GetMetadata().GetName(), "err", err)
		return false
	}
	deleteFromActiveList(cj, m.GetUid())
	c.recorder.Eventf(cj, eventNormal, SuccessfulDelete, "Deleted job %v", m.GetName())
	return true
}

// --- status.active ---

func inActiveList(cj *batchv1.CronJob, uid string) bool {
	return slices.ContainsFunc(cj.GetStatus().GetActive(), func(r *corev1.ObjectReference) bool { return r.GetUid() == uid })
}

func inActiveListByName(cj *batchv1.CronJob, name string) bool {
	ns := cj.GetMetadata().GetNamespace()
	return slices.ContainsFunc(cj.GetStatus().GetActive(), func(r *corev1.ObjectReference) bool {
		return r.GetName() == name && r.GetNamespace() == ns
	})
}

func deleteFromActiveList(cj *batchv1.CronJob, uid string) {
	if cj.Status == nil {
		return
	}
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r *corev1.ObjectReference) bool { return r.GetUid() == uid })
}

// jobRef is the reference status.active holds for j, as upstream's ref.GetReference.
func jobRef(j *batchv1.Job) *corev1.ObjectReference {
	m := j.GetMetadata()
	return &corev1.ObjectReference{Kind: job.Kind.Kind, ApiVersion: job.Kind.APIVersion(), Namespace: m.GetNamespace(),
		Name: m.GetName(), Uid: m.GetUid(), ResourceVersion: m.GetResourceVersion()}
}
