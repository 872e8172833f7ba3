package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// syncCtx is what one sync of a job knows, as upstream's syncJobCtx.
type syncCtx struct {
	key string
	job *batchv1.Job
	// status is the status being built; job.Status is what the apiserver last stored.
	status *batchv1.JobStatus
	pods   []*corev1.Pod
	// expectedRm are the pods whose finalizer this controller removed and the cache still
	// shows: already counted.
	expectedRm map[string]bool
	// uncountedSucceeded and uncountedFailed are status.uncountedTerminatedPods as sets.
	uncountedSucceeded, uncountedFailed map[string]bool
	// target is the SuccessCriteriaMet or FailureTarget condition the job has met, or nil.
	target *batchv1.JobCondition
	// finishing is set once target is met and no pod is left to delete: every pod's
	// finalizer may then go, and those not succeeded count as failed if the job failed.
	finishing   bool
	terminating int32
	// prevIndexes and indexes are an Indexed job's succeeded indexes: as stored, and with
	// the succeeded pods not yet counted.
	prevIndexes, indexes intervals
}

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
		c.finalizers.delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if FinishedCondition(job.GetStatus()) != nil {
		// Its pods' finalizers went before the condition was written; the orphan queue
		// takes any left over.
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
		// An adopted pod is tracked like one the job made, so it is counted exactly once.
		Finalizers: []string{batchv1.JobTrackingFinalizer},
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
	if status.UncountedTerminatedPods == nil {
		status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	sc := &syncCtx{
		key: key, job: job, status: status, pods: pods,
		expectedRm:         c.finalizers.get(key),
		uncountedSucceeded: toSet(status.UncountedTerminatedPods.GetSucceeded()),
		uncountedFailed:    toSet(status.UncountedTerminatedPods.GetFailed()),
		terminating:        countTerminating(pods),
	}
	active := controller.FilterActivePods(pods)
	newSucceeded, newFailed := sc.newFinishedPods()
	// A failure an Ignore rule of the podFailurePolicy matched is never counted.
	newFailed = slices.DeleteFunc(newFailed, func(p *corev1.Pod) bool { return !countsAsFailed(job, p) })
	succeeded := status.GetSucceeded() + int32(len(newSucceeded)+len(sc.uncountedSucceeded))
	failed := status.GetFailed() + int32(len(newFailed)+len(sc.uncountedFailed))
	if isIndexed(job) {
		// An index is what succeeds: two pods of one index that both succeeded count once.
		sc.prevIndexes, sc.indexes = succeededIndexes(job, pods)
		succeeded = int32(sc.indexes.total())
	}
	suspended := job.GetSpec().GetSuspend()
	if status.StartTime == nil && !suspended {
		status.StartTime = controller.NewTime(now)
	}

	spec := job.GetSpec()
	failJobMsg := failJobMessage(job, pods)
	switch past, _ := pastActiveDeadline(&batchv1.Job{Spec: spec, Status: status}, now); {
	case conditionTrue(status, batchv1.JobSuccessCriteriaMet):
		sc.target = findCondition(status, batchv1.JobSuccessCriteriaMet)
	case conditionTrue(status, batchv1.JobFailureTarget):
		sc.target = findCondition(status, batchv1.JobFailureTarget)
	// Failure is judged first, as upstream: a job past its deadline fails even if its
	// last pods succeed. A FailJob rule comes before backoffLimit, so the reason names it.
	case failJobMsg != "":
		sc.target = c.meet(job, status, batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, failJobMsg, succeeded, failed, now)
	case failed > spec.GetBackoffLimit():
		sc.target = c.meet(job, status, batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded, succeeded, failed, now)
	case past && !suspended:
		sc.target = c.meet(job, status, batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded, succeeded, failed, now)
	}

	var manageErr error
	if sc.target != nil {
		// A job that is done runs nothing: whatever still runs goes, keeping its finalizer
		// so a failed job counts it as failed.
		deleted := 0
		if satisfied && len(active) > 0 {
			deleted, manageErr = c.deletePods(ctx, key, job, active, false)
			sc.terminating += int32(deleted)
		}
		// Until every pod is deleted and seen, some may yet be counted: hold on.
		sc.finishing = satisfied && deleted == len(active)
		active = nil
	} else {
		manageCalled := false
		if satisfied && job.GetMetadata().GetDeletionTimestamp() == nil {
			active, manageErr = c.manage(ctx, sc, active, succeeded, now)
			manageCalled = true
		}
		if successCriteriaMet(spec, int32(len(active)), succeeded) {
			sc.target = c.meet(job, status, batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msgCompletionsReached, succeeded, failed, now)
			sc.finishing = true
		} else if manageCalled {
			c.suspendCondition(job, status, suspended, now)
		}
	}
	status.Active = int32(len(active))
	status.Ready = proto.Int32(readyOf(active))
	status.Terminating = proto.Int32(sc.terminating)

	if err := c.trackStatus(ctx, sc); err != nil {
		return errors.Join(manageErr, err)
	}
	if past, left := pastActiveDeadline(&batchv1.Job{Spec: spec, Status: status}, now); !past && left > 0 && sc.target == nil && !suspended {
		// Wake up when the deadline passes, not at the next pod event.
		c.queue.AddAfter(key, left)
	}
	return manageErr
}

// meet sets the interim condition t (SuccessCriteriaMet or FailureTarget) on st and
// returns it.
func (c *Controller) meet(job *batchv1.Job, st *batchv1.JobStatus, t, reason, message string, succeeded, failed int32, now time.Time) *batchv1.JobCondition {
	setCondition(st, t, controller.ConditionTrue, reason, message, now)
	c.log.Info("job met its criteria", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(),
		"condition", t, "succeeded", succeeded, "failed", failed)
	return findCondition(st, t)
}

// manage creates and deletes pods so that the right number runs, and returns the active
// pods left. Pods it deletes (suspend, parallelism lowered) lose their tracking finalizer
// first, as upstream's deleteJobPods: they did not fail and are never counted.
func (c *Controller) manage(ctx context.Context, sc *syncCtx, active []*corev1.Pod, succeeded int32, now time.Time) ([]*corev1.Pod, error) {
	job := sc.job
	if job.GetSpec().GetSuspend() {
		if len(active) == 0 {
			return nil, nil
		}
		deleted, err := c.deletePods(ctx, sc.key, job, active, true)
		sc.terminating += int32(deleted)
		return nil, err
	}
	want := wantActive(job.GetSpec(), int32(len(active)), succeeded)
	// Too many pods, or (Indexed) pods of an index held twice or of no valid index: the
	// ones that did least go first. A sync either deletes or creates, as upstream.
	if victims := podsForRemoval(job, active, max(0, len(active)-int(want))); len(victims) > 0 {
		deleted, err := c.deletePods(ctx, sc.key, job, victims, true)
		sc.terminating += int32(deleted)
		return slices.DeleteFunc(slices.Clone(active), func(p *corev1.Pod) bool { return slices.Contains(victims, p) }), err
	}
	diff := int(want) - len(active)
	if job.GetSpec().GetPodFailurePolicy() != nil {
		// A pod being deleted is replaced only once it has failed (upstream's
		// podReplacementPolicy Failed, implied by a podFailurePolicy): only then is it known
		// whether its failure ends the job.
		diff -= int(sc.terminating)
	}
	if diff <= 0 {
		return active, nil
	}
	if wait := failureBackoff(sc.pods, c.backoff, c.maxBackoff, now); wait > 0 {
		// Failed pods are replaced only once the delay has passed; the sync then comes
		// from the queue, not from a pod event.
		c.log.Info("delaying pod creation after failures", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(), "delay", wait)
		c.queue.AddAfter(sc.key, wait)
		return active, nil
	}
	var indexes []int
	if isIndexed(job) {
		indexes = pendingIndexes(active, sc.indexes, diff, int(job.GetSpec().GetCompletions()))
		diff = len(indexes)
	}
	created, err := c.createPods(ctx, sc.key, job, diff, indexes)
	return append(active, created...), err
}

// newFinishedPods are the pods that ended and are not counted yet: they still have the
// finalizer, are not in uncountedTerminatedPods, and their finalizer removal is not pending.
func (sc *syncCtx) newFinishedPods() (succeeded, failed []*corev1.Pod) {
	for _, p := range sc.pods {
		uid := p.GetMetadata().GetUid()
		if !hasTrackingFinalizer(p) || sc.expectedRm[uid] || sc.uncountedSucceeded[uid] || sc.uncountedFailed[uid] {
			continue
		}
		if isIndexed(sc.job) && !validIndex(sc.job, p) {
			continue // never counted: not one of the job's indexes
		}
		switch {
		case p.GetStatus().GetPhase() == controller.PodSucceeded:
			succeeded = append(succeeded, p)
		case isPodFailed(sc.job, p):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// isPodFailed is upstream's: a pod failed when its phase says so. Without a podFailurePolicy
// (podReplacementPolicy TerminatingOrFailed) a pod being deleted before it succeeded failed
// too — an orphaned or evicted pod may never reach phase Failed. With one
// (podReplacementPolicy Failed) only phase Failed counts: the policy judges the exit codes
// and conditions of a pod that has ended, which a pod still terminating does not yet have.
func isPodFailed(job *batchv1.Job, p *corev1.Pod) bool {
	if p.GetStatus().GetPhase() == controller.PodFailed {
		return true
	}
	if job.GetSpec().GetPodFailurePolicy() != nil {
		return false
	}
	return p.GetMetadata().GetDeletionTimestamp() != nil && p.GetStatus().GetPhase() != controller.PodSucceeded
}

// trackStatus counts finished pods exactly once, as upstream's
// trackJobStatusAndRemoveFinalizers, in steps each of which a restart may follow:
//
//  1. the uids of newly finished pods are added to status.uncountedTerminatedPods (and the
//     interim condition, if any), and the status is written;
//  2. their tracking finalizers are removed;
//  3. the uids whose pods no longer have the finalizer move from uncountedTerminatedPods
//     into succeeded and failed; once nothing is uncounted and nothing terminates, the
//     terminal condition is added; the status is written again.
//
// A restart after 1 finds the uids recorded and does not add them twice; after 2 it finds
// the finalizers gone and does step 3. A pod is never counted without first being recorded.
func (c *Controller) trackStatus(ctx context.Context, sc *syncCtx) error {
	st := sc.status
	withFinalizer := map[string]bool{}
	for _, p := range sc.pods {
		if uid := p.GetMetadata().GetUid(); hasTrackingFinalizer(p) && !sc.expectedRm[uid] {
			withFinalizer[uid] = true
		}
	}
	// Uids recorded by an earlier sync whose finalizer is gone since are counted now.
	countUncounted(st, withFinalizer)

	failedJob := sc.finishing && sc.target.GetType() == batchv1.JobFailureTarget
	indexed := isIndexed(sc.job)
	var rm []*corev1.Pod
	for _, p := range sc.pods {
		uid := p.GetMetadata().GetUid()
		if !hasTrackingFinalizer(p) || sc.expectedRm[uid] {
			continue // counted by an earlier sync
		}
		failed := isPodFailed(sc.job, p)
		succeeded := p.GetStatus().GetPhase() == controller.PodSucceeded
		// The finalizer of a pod still running stays until the job is done with it.
		if !succeeded && !failed && !sc.finishing && sc.job.GetMetadata().GetDeletionTimestamp() == nil {
			continue
		}
		rm = append(rm, p)
		u := st.UncountedTerminatedPods
		switch {
		case succeeded && !sc.uncountedFailed[uid]:
			// An Indexed job's success is its index, in completedIndexes: no uid needed.
			if !indexed && !sc.uncountedSucceeded[uid] {
				u.Succeeded = append(u.Succeeded, uid)
			}
		case failed || failedJob:
			// When the job failed, every pod that did not succeed counts as failed, unless
			// an Ignore rule of the podFailurePolicy says otherwise: then its finalizer goes
			// and it is never counted.
			if !sc.uncountedFailed[uid] && (!indexed || validIndex(sc.job, p)) && countsAsFailed(sc.job, p) {
				u.Failed = append(u.Failed, uid)
			}
		}
	}
	if indexed {
		st.Succeeded = int32(sc.indexes.total())
		st.CompletedIndexes = sc.indexes.String()
	}

	job := sc.job
	// What the finalizers' removal loses must be stored first: the uids, and the interim
	// condition that says why running pods were deleted.
	if len(rm) > 0 && !statusEqual(job.GetStatus(), st) {
		written, err := c.writeStatus(ctx, job, st)
		if err != nil {
			return fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		job = written
	}
	var rmErr error
	if len(rm) > 0 {
		var done []bool
		done, rmErr = c.removeTrackingFinalizers(ctx, sc.key, rm)
		for i, p := range rm {
			if done[i] {
				delete(withFinalizer, p.GetMetadata().GetUid())
			}
		}
	}
	countUncounted(st, withFinalizer)
	finished := rmErr == nil && c.enactFinished(sc)
	if !statusEqual(job.GetStatus(), st) {
		if _, err := c.writeStatus(ctx, job, st); err != nil {
			return errors.Join(rmErr, fmt.Errorf("removing uncounted pods from status: %w", err))
		}
	}
	if finished {
		c.recordFinished(sc.job, st)
	}
	return rmErr
}

// countUncounted moves the uids of uncountedTerminatedPods whose pod no longer has the
// tracking finalizer (removed, or the pod is gone) into succeeded and failed.
func countUncounted(st *batchv1.JobStatus, withFinalizer map[string]bool) {
	u := st.UncountedTerminatedPods
	keep := func(uids []string) []string {
		var out []string
		for _, uid := range uids {
			if withFinalizer[uid] {
				out = append(out, uid)
			}
		}
		return out
	}
	s, f := keep(u.GetSucceeded()), keep(u.GetFailed())
	st.Succeeded += int32(len(u.GetSucceeded()) - len(s))
	st.Failed += int32(len(u.GetFailed()) - len(f))
	u.Succeeded, u.Failed = s, f
}

// enactFinished adds the terminal condition once the job met its criteria, every pod is
// counted and none still terminates, and reports whether it did.
func (c *Controller) enactFinished(sc *syncCtx) bool {
	st := sc.status
	if !sc.finishing || sc.target == nil {
		return false
	}
	if u := st.GetUncountedTerminatedPods(); len(u.GetSucceeded())+len(u.GetFailed()) > 0 || sc.terminating > 0 {
		return false
	}
	now := c.now()
	if sc.target.GetType() == batchv1.JobFailureTarget {
		setCondition(st, batchv1.JobFailed, controller.ConditionTrue, sc.target.GetReason(), sc.target.GetMessage(), now)
		return true
	}
	setCondition(st, batchv1.JobComplete, controller.ConditionTrue, sc.target.GetReason(), sc.target.GetMessage(), now)
	st.CompletionTime = controller.NewTime(now)
	return true
}

// recordFinished records the event Kubernetes records when a job finishes.
func (c *Controller) recordFinished(job *batchv1.Job, st *batchv1.JobStatus) {
	if conditionTrue(st, batchv1.JobComplete) {
		c.recorder.Eventf(job, "Normal", Completed, "Job completed")
		return
	}
	if f := findCondition(st, batchv1.JobFailed); f != nil {
		c.recorder.Eventf(job, "Warning", f.GetReason(), "%s", f.GetMessage())
	}
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

// countTerminating counts the pods being deleted that have not ended: a finishing job
// waits for them.
func countTerminating(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil && !controller.IsPodTerminal(p) {
			n++
		}
	}
	return n
}

func toSet(uids []string) map[string]bool {
	s := make(map[string]bool, len(uids))
	for _, u := range uids {
		s[u] = true
	}
	return s
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

// createPods creates n pods from the job's template, each with the tracking finalizer
// (and, for an Indexed job, the next of indexes), expecting them first so the informer's
// add events are counted even if they arrive before Create returns. It returns the pods it
// created.
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, n int, indexes []int) ([]*corev1.Pod, error) {
	ns := job.GetMetadata().GetNamespace()
	c.expectations.ExpectCreations(key, n)
	c.log.Info("creating pods", "namespace", ns, "name", job.GetMetadata().GetName(), "creating", n, "indexes", indexes)
	ref := controller.NewControllerRef(job, Kind)
	var (
		mu      sync.Mutex
		created []*corev1.Pod
		next    int
	)
	successes, err := controller.SlowStartBatch(n, controller.SlowStartInitialBatchSize, func() error {
		pod := controller.PodFromTemplate(job.GetSpec().GetTemplate(), job, ref)
		if !hasTrackingFinalizer(pod) {
			pod.Metadata.Finalizers = append(pod.Metadata.Finalizers, batchv1.JobTrackingFinalizer)
		}
		if indexes != nil {
			mu.Lock()
			i := indexes[next]
			next++
			mu.Unlock()
			setCompletionIndex(pod, job, i)
		}
		p, err := c.client.Pods(ns).Create(ctx, pod)
		if apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
			return nil // the namespace's deletion takes the job too
		}
		if err != nil {
			c.recorder.Eventf(job, "Warning", FailedCreate, "Error creating: %v", err)
			return err
		}
		c.recorder.Eventf(job, "Normal", SuccessfulCreate, "Created pod: %s", p.GetMetadata().GetName())
		mu.Lock()
		created = append(created, p)
		mu.Unlock()
		return nil
	})
	for range n - successes {
		c.expectations.CreationObserved(key) // never to be seen
	}
	if err != nil {
		return created, fmt.Errorf("create pods for job %s: %w", key, err)
	}
	return created, nil
}

// deletePods deletes pods (each conditional on its uid), expecting the deletions first, and
// returns how many it deleted. With dropFinalizer each pod's tracking finalizer is removed
// before its deletion, so the pod is never counted.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod, dropFinalizer bool) (int, error) {
	podKeys := make([]string, len(pods))
	for i, p := range pods {
		podKeys[i], _ = controller.KeyFunc(p)
	}
	c.expectations.ExpectDeletions(key, podKeys)
	c.log.Info("deleting pods", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(), "deleting", len(pods))
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	deleted := make([]bool, len(pods))
	for i, p := range pods {
		wg.Go(func() {
			var err error
			if dropFinalizer {
				err = c.removeTrackingFinalizer(ctx, p)
			}
			if err == nil {
				deleted[i], err = controller.DeletePod(ctx, c.client, c.recorder, job, p)
			}
			errs[i] = err
			if !deleted[i] {
				c.expectations.DeletionObserved(key, podKeys[i]) // no event of it is coming
			}
		})
	}
	wg.Wait()
	n := 0
	for _, d := range deleted {
		if d {
			n++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("delete pods of job %s: %w", key, err)
	}
	return n, nil
}

// writeStatus writes status through the status subresource and returns the stored job. A
// conflict goes back to the queue: the next sync recomputes the status from the caches.
func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job, status *batchv1.JobStatus) (*batchv1.Job, error) {
	next := proto.Clone(job).(*batchv1.Job)
	next.Status = proto.Clone(status).(*batchv1.JobStatus)
	u := status.GetUncountedTerminatedPods()
	c.log.Info("updating status", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName(),
		"active", status.GetActive(), "succeeded", status.GetSucceeded(), "failed", status.GetFailed(),
		"ready", status.GetReady(), "terminating", status.GetTerminating(),
		"uncountedSucceeded", len(u.GetSucceeded()), "uncountedFailed", len(u.GetFailed()))
	written, err := c.client.Jobs(job.GetMetadata().GetNamespace()).UpdateStatus(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("update status of job %s/%s: %w", job.GetMetadata().GetNamespace(), job.GetMetadata().GetName(), err)
	}
	return written, nil
}
