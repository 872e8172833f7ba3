package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// sync brings the job key one step closer to done and writes what it saw in the status
// subresource. It is level-based: everything is read again from the caches. It returns nil
// when the job is gone, finished or has a selector that cannot work, and transient errors
// for the queue to retry with backoff.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if FinishedCondition(job.GetStatus()) != nil || job.GetMetadata().GetDeletionTimestamp() != nil {
		return nil
	}
	selector, err := labels.FromLabelSelector(job.GetSpec().GetSelector())
	if err != nil || selector.Empty() {
		// Validation refuses both; an old object could still hold one. Not retried.
		c.log.Error("job has an unusable selector", "namespace", ns, "name", name, "err", err)
		return nil
	}
	satisfied := c.expectations.Satisfied(key)
	all, err := c.podLister.Namespace(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	m := &controller.PodControllerRefManager{
		Client: c.client, Controller: job, ControllerKind: Kind, Selector: selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
			return c.client.Jobs(ns).Get(ctx, name)
		}, job.GetMetadata().GetUid()),
	}
	// Finished pods are claimed too: they are what succeeded and failed count.
	pods, err := m.ClaimPods(ctx, all)
	if err != nil {
		return err
	}

	now := c.now()
	status := proto.Clone(job.GetStatus()).(*batchv1.JobStatus)
	if status == nil {
		status = &batchv1.JobStatus{}
	}
	counts := countPods(pods)
	// Never below what was reported: a finished pod deleted since must not be redone.
	status.Succeeded = max(status.GetSucceeded(), counts.succeeded)
	status.Failed = max(status.GetFailed(), counts.failed)
	suspended := job.GetSpec().GetSuspend()
	if status.StartTime == nil && !suspended {
		status.StartTime = controller.NewTime(now)
	}

	c.judge(job, status, int32(len(counts.active)), now)
	var manageErr error
	active, created := counts.active, 0
	switch {
	case conditionTrue(status, batchv1.JobFailureTarget) || conditionTrue(status, batchv1.JobSuccessCriteriaMet) || suspended:
		// A job that is done or suspended runs nothing: whatever still runs goes.
		if satisfied && len(active) > 0 {
			manageErr = c.deletePods(ctx, key, job, active)
			counts.terminating += int32(len(active))
			active = nil
		}
	case satisfied:
		want := wantActive(job.GetSpec(), int32(len(active)), status.Succeeded)
		switch diff := int(want) - len(active); {
		case diff > 0:
			if wait := failureBackoff(pods, c.backoff, c.maxBackoff, now); wait > 0 {
				// Failed pods are replaced only once the delay has passed; the sync then
				// comes from the queue, not from a pod event.
				c.log.Info("delaying pod creation after failures", "namespace", ns, "name", name, "delay", wait)
				c.queue.AddAfter(key, wait)
				break
			}
			created, manageErr = c.createPods(ctx, key, job, diff)
		case diff < 0:
			// parallelism went down: the newest pods, which did least, go first.
			victims := append([]*corev1.Pod(nil), active...)
			controller.SortForDeletion(victims)
			manageErr = c.deletePods(ctx, key, job, victims[:-diff])
			active = victims[-diff:]
			counts.terminating += int32(-diff)
		}
	}
	c.suspendCondition(job, status, suspended, now)
	// The pods just created count as active, as upstream reports them.
	c.finish(job, status, int32(len(active)+created)+counts.terminating, now)
	status.Active = int32(len(active) + created)
	status.Ready = proto.Int32(readyOf(active))
	status.Terminating = proto.Int32(counts.terminating)

	if err := c.updateStatus(ctx, job, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if past, left := pastActiveDeadline(&batchv1.Job{Spec: job.GetSpec(), Status: status}, now); !past && left > 0 && FinishedCondition(status) == nil {
		// Wake up when the deadline passes, not at the next pod event.
		c.queue.AddAfter(key, left)
	}
	return manageErr
}

func readyOf(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if controller.IsPodReady(p) {
			n++
		}
	}
	return n
}

// judge adds SuccessCriteriaMet or FailureTarget once the job has met its criteria. Failure
// is judged first, as upstream: a job past its deadline fails even if its last pods succeed.
func (c *Controller) judge(job *batchv1.Job, st *batchv1.JobStatus, active int32, now time.Time) {
	if conditionTrue(st, batchv1.JobFailureTarget) || conditionTrue(st, batchv1.JobSuccessCriteriaMet) {
		return
	}
	spec := job.GetSpec()
	switch past, _ := pastActiveDeadline(&batchv1.Job{Spec: spec, Status: st}, now); {
	case st.GetFailed() > spec.GetBackoffLimit():
		setCondition(st, batchv1.JobFailureTarget, controller.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded, now)
	case past && !spec.GetSuspend():
		setCondition(st, batchv1.JobFailureTarget, controller.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded, now)
	case successCriteriaMet(spec, active, st.GetSucceeded()):
		setCondition(st, batchv1.JobSuccessCriteriaMet, controller.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached, now)
	default:
		return
	}
	c.log.Info("job met its criteria", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(),
		"condition", st.GetConditions()[len(st.GetConditions())-1].GetType(), "succeeded", st.GetSucceeded(), "failed", st.GetFailed())
}

// finish adds the terminal condition once the criteria are met and no pod of the job still
// runs, with the event Kubernetes records.
func (c *Controller) finish(job *batchv1.Job, st *batchv1.JobStatus, running int32, now time.Time) {
	if running > 0 {
		return
	}
	if ft := findCondition(st, batchv1.JobFailureTarget); ft != nil && ft.GetStatus() == controller.ConditionTrue {
		setCondition(st, batchv1.JobFailed, controller.ConditionTrue, ft.GetReason(), ft.GetMessage(), now)
		c.recorder.Eventf(job, "Warning", ft.GetReason(), "%s", ft.GetMessage())
		return
	}
	if sc := findCondition(st, batchv1.JobSuccessCriteriaMet); sc != nil && sc.GetStatus() == controller.ConditionTrue {
		setCondition(st, batchv1.JobComplete, controller.ConditionTrue, sc.GetReason(), sc.GetMessage(), now)
		st.CompletionTime = controller.NewTime(now)
		c.recorder.Eventf(job, "Normal", Completed, "Job completed")
	}
}

// suspendCondition keeps the Suspended condition in step with spec.suspend. A resumed job's
// startTime restarts: activeDeadlineSeconds counts the time it is continuously active.
func (c *Controller) suspendCondition(job *batchv1.Job, st *batchv1.JobStatus, suspended bool, now time.Time) {
	if suspended {
		if setCondition(st, batchv1.JobSuspended, controller.ConditionTrue, reasonSuspended, msgSuspended, now) {
			c.recorder.Eventf(job, "Normal", Suspended, msgSuspended)
		}
		return
	}
	if findCondition(st, batchv1.JobSuspended) == nil {
		return
	}
	if setCondition(st, batchv1.JobSuspended, controller.ConditionFalse, reasonResumed, msgResumed, now) {
		c.recorder.Eventf(job, "Normal", Resumed, msgResumed)
		st.StartTime = controller.NewTime(now)
	}
}

// createPods creates n pods from the job's template, expecting them first so the informer's
// add events are counted even if they arrive before Create returns. It returns how many it
// created.
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, n int) (int, error) {
	ns := job.GetMetadata().GetNamespace()
	c.expectations.ExpectCreations(key, n)
	c.log.Info("creating pods", "namespace", ns, "name", job.GetMetadata().GetName(), "creating", n)
	ref := controller.NewControllerRef(job, Kind)
	successes, err := controller.SlowStartBatch(n, controller.SlowStartInitialBatchSize, func() error {
		pod := controller.PodFromTemplate(job.GetSpec().GetTemplate(), job, ref)
		created, err := c.client.Pods(ns).Create(ctx, pod)
		if apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
			return nil // the namespace's deletion takes the job too
		}
		if err != nil {
			c.recorder.Eventf(job, "Warning", FailedCreate, "Error creating: %v", err)
			return err
		}
		c.recorder.Eventf(job, "Normal", SuccessfulCreate, "Created pod: %s", created.GetMetadata().GetName())
		return nil
	})
	for range n - successes {
		c.expectations.CreationObserved(key) // never to be seen
	}
	if err != nil {
		return successes, fmt.Errorf("create pods for job %s: %w", key, err)
	}
	return successes, nil
}

// deletePods deletes pods (each conditional on its uid), expecting the deletions first.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	podKeys := make([]string, len(pods))
	for i, p := range pods {
		podKeys[i], _ = controller.KeyFunc(p)
	}
	c.expectations.ExpectDeletions(key, podKeys)
	c.log.Info("deleting pods", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(), "deleting", len(pods))
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Go(func() {
			m := p.GetMetadata()
			opts := &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: proto.String(m.GetUid())}}
			_, err := c.client.Pods(m.GetNamespace()).Delete(ctx, m.GetName(), opts)
			switch {
			case err == nil:
				c.recorder.Eventf(job, "Normal", SuccessfulDelete, "Deleted pod: %s", m.GetName())
				return
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			default:
				c.recorder.Eventf(job, "Warning", FailedDelete, "Error deleting: %v", err)
				errs[i] = err
			}
			c.expectations.DeletionObserved(key, podKeys[i]) // no event of it is coming
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete pods of job %s: %w", key, err)
	}
	return nil
}

// updateStatus writes status through the status subresource unless nothing changed. A
// conflict goes back to the queue: the next sync recomputes the status from the caches.
func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job, status *batchv1.JobStatus) error {
	if statusEqual(job.GetStatus(), status) {
		return nil
	}
	next := proto.Clone(job).(*batchv1.Job)
	next.Status = status
	c.log.Info("updating status", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(),
		"active", status.GetActive(), "succeeded", status.GetSucceeded(), "failed", status.GetFailed(),
		"ready", status.GetReady(), "terminating", status.GetTerminating())
	if _, err := c.client.Jobs(job.GetMetadata().GetNamespace()).UpdateStatus(ctx, next); err != nil {
		return fmt.Errorf("update status of job %s/%s: %w", job.GetMetadata().GetNamespace(), job.GetMetadata().GetName(), err)
	}
	return nil
}
