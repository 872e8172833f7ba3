// Package job is the Job controller, after Kubernetes' pkg/controller/job: it runs a Job's
// pods from its template, at most parallelism at once and no more than the completions still
// missing, counts the pods that succeeded and failed, and finishes the job: Complete once
// completions pods succeeded (for an Indexed job: every index), Failed once more pods failed
// than backoffLimit allows or the job outlived activeDeadlineSeconds. A suspended job's
// active pods are deleted.
//
// As upstream since 1.31, a job that meets its success or failure criteria first gets the
// SuccessCriteriaMet or FailureTarget condition, its remaining pods are deleted, and only
// when none is left running does it get the terminal Complete or Failed condition.
//
// Every pod the controller creates carries the batch.kubernetes.io/job-tracking finalizer,
// and a finished pod is counted in three steps, each surviving a restart of the controller:
// its uid is written to status.uncountedTerminatedPods, its finalizer is removed, and the
// uid moves into succeeded or failed. A pod without the finalizer is never counted again, so
// a pod is counted exactly once even if it is deleted before the controller sees it end.
// Pods the controller deletes because the job is suspended or its parallelism went down
// lose the finalizer before the deletion and are not counted; a pod deleted by anyone else
// before it succeeded counts as failed (upstream's default podReplacementPolicy,
// TerminatingOrFailed). An Indexed job's pods carry their completion index (indexed.go).
// A podFailurePolicy judges each failed pod by its exit codes and conditions
// (podfailurepolicy.go): a FailJob rule fails the job (reason PodFailurePolicy), an Ignore
// rule keeps the failure out of status.failed and backoffLimit; with a policy, only a pod in
// phase Failed has failed, and a pod being deleted is replaced once it has.
// successPolicy and backoffLimitPerIndex (so the FailIndex action) are not implemented. A
// failed pod is replaced after upstream's exponential delay (backoff.go).
// ttlSecondsAfterFinished is the ttlafterfinished controller's, as upstream.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Kind is the Job's group/version/kind, as written in its pods' ownerReferences.
var Kind = runtime.GroupVersionKind{Group: scheme.GroupBatch, Version: "v1", Kind: "Job"}

// Event reasons, as Kubernetes' job controller and pod control record them.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = controller.EventSuccessfulDelete
	FailedDelete     = controller.EventFailedDelete
	Completed        = "Completed"
	Suspended        = "Suspended"
	Resumed          = "Resumed"
)

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client   *kube.Clientset
	Job      cache.SharedIndexInformer
	Pod      cache.SharedIndexInformer
	Recorder EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=job).
	Log *slog.Logger
	// Now is the clock of startTime, deadlines and expectations; nil is time.Now.
	Now func() time.Time
	// Queue defaults to a rate-limited work queue named "job".
	Queue workqueue.Interface[string]
	// OrphanQueue holds the keys of pods whose tracking finalizer no job sync will remove;
	// it defaults to a rate-limited work queue named "job_orphan_pod".
	OrphanQueue workqueue.Interface[string]
	// PodFailureBackoff and MaxPodFailureBackoff bound the delay before a failed pod is
	// replaced; zero is DefaultPodFailureBackoff and MaxPodFailureBackoff.
	PodFailureBackoff, MaxPodFailureBackoff time.Duration
}

// Controller is the Job controller.
type Controller struct {
	client       *kube.Clientset
	jobLister    cache.Lister[*batchv1.Job]
	podLister    cache.Lister[*corev1.Pod]
	synced       []func() bool
	queue        workqueue.Interface[string]
	orphans      workqueue.Interface[string]
	expectations *controller.Expectations
	finalizers   *finalizerExpectations
	recorder     EventRecorder
	log          *slog.Logger
	now          func() time.Time
	// backoff and maxBackoff bound the delay before a failed pod is replaced.
	backoff, maxBackoff time.Duration
}

// New builds the controller on the shared informers of cc. Its work queue reports
// workqueue_*{name="job"} metrics to prometheus.DefaultRegisterer.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("job: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:       workqueue.New(workqueue.Config[string]{Name: "job", Metrics: metrics.For("job")}),
		OrphanQueue: workqueue.New(workqueue.Config[string]{Name: "job_orphan_pod", Metrics: metrics.For("job_orphan_pod")}),
		Client:      cc.Client,
		Job:         cc.Informers.Jobs().Informer(),
		Pod:         cc.Informers.Pods().Informer(),
		Recorder:    cc.Recorder("job-controller"),
		Log:         cc.Log,
		Now:         cc.Now,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Job == nil || cfg.Pod == nil || cfg.Recorder == nil {
		return nil, errors.New("job: Client, Job and Pod informers and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("job")
	}
	if cfg.OrphanQueue == nil {
		cfg.OrphanQueue = workqueue.NewNamed[string]("job_orphan_pod")
	}
	if cfg.PodFailureBackoff <= 0 {
		cfg.PodFailureBackoff = DefaultPodFailureBackoff
	}
	if cfg.MaxPodFailureBackoff <= 0 {
		cfg.MaxPodFailureBackoff = MaxPodFailureBackoff
	}
	jobMapping, _ := scheme.MappingFor(Kind)
	c := &Controller{
		client:       cfg.Client,
		jobLister:    cache.NewLister[*batchv1.Job](cfg.Job.GetIndexer(), jobMapping),
		podLister:    cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), controller.CoreMapping("Pod")),
		queue:        cfg.Queue,
		orphans:      cfg.OrphanQueue,
		expectations: controller.NewExpectations(cfg.Now),
		finalizers:   newFinalizerExpectations(),
		recorder:     cfg.Recorder,
		log:          cfg.Log,
		now:          cfg.Now,
		backoff:      cfg.PodFailureBackoff,
		maxBackoff:   cfg.MaxPodFailureBackoff,
	}
	jobReg, err := cfg.Job.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue, UpdateFunc: c.updateJob, DeleteFunc: c.deleteJob,
	})
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	c.synced = []func() bool{cfg.Job.HasSynced, cfg.Pod.HasSynced, jobReg.HasSynced, podReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends, and one worker that removes
// the tracking finalizer from orphan pods.
func (c *Controller) Run(ctx context.Context, workers int) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		controller.RunWhenSynced(ctx, c.synced, c.orphans, 1, c.log.With("queue", "job_orphan_pod"), c.syncOrphan)
	}()
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
	<-done
}

// --- event handlers: they only enqueue ---

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

func (c *Controller) updateJob(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	c.enqueue(newObj)
	// A finished job has no sync left to remove its pods' finalizers: a backup for a
	// finalizer the last sync could not remove.
	if job, ok := newObj.(*batchv1.Job); ok && FinishedCondition(job.GetStatus()) != nil {
		c.cleanupFinalizers(job)
	}
}

func (c *Controller) deleteJob(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		return
	}
	if key, err := controller.KeyFunc(o); err == nil {
		c.expectations.Delete(key)
		c.queue.Add(key)
	}
	if job, ok := o.(*batchv1.Job); ok {
		c.cleanupFinalizers(job)
	}
}

// ownerKey is the key of the job that controls pod, if that job is still in the cache with
// the same uid and has not finished. Any other pod that still has the tracking finalizer
// is queued as an orphan: no sync of a job will remove it.
func (c *Controller) ownerKey(pod *corev1.Pod) (string, bool) {
	ref := controller.GetControllerOf(pod)
	if ref == nil || ref.GetKind() != Kind.Kind || ref.GetApiVersion() != Kind.APIVersion() {
		if ref == nil {
			c.enqueueOrphan(pod)
		}
		return "", false
	}
	job := controller.ResolveControllerRef(c.jobLister, Kind, pod.GetMetadata().GetNamespace(), ref)
	if job == nil || FinishedCondition(job.GetStatus()) != nil {
		c.enqueueOrphan(pod)
		return "", false
	}
	key, err := controller.KeyFunc(job)
	return key, err == nil
}

func (c *Controller) addPod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		// A restarted controller may first see a pod already being deleted.
		c.podGone(pod, false)
		return
	}
	if key, ok := c.ownerKey(pod); ok {
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
	}
	// Orphans are not adopted from here: a job's generated selector matches only the pods
	// it made, and a manual-selector job adopts on its next sync.
}

func (c *Controller) updatePod(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	pod, ok := newObj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		c.podGone(pod, false)
		return
	}
	// A phase change is the news a job waits for: a pod succeeded or failed. A finalizer
	// gone is the removal the controller expects.
	if key, ok := c.ownerKey(pod); ok {
		if !hasTrackingFinalizer(pod) {
			c.finalizers.observed(key, pod.GetMetadata().GetUid())
		}
		c.queue.Add(key)
	}
}

func (c *Controller) deletePod(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		return
	}
	if pod, ok := o.(*corev1.Pod); ok {
		c.podGone(pod, true)
	}
}

// podGone handles a pod being deleted (final: removed from the store, else given a
// deletionTimestamp): the deletion its job expected, and the end of its finalizer.
func (c *Controller) podGone(pod *corev1.Pod, final bool) {
	key, ok := c.ownerKey(pod)
	if !ok {
		return
	}
	if podKey, err := controller.KeyFunc(pod); err == nil {
		c.expectations.DeletionObserved(key, podKey)
	}
	if final || !hasTrackingFinalizer(pod) {
		c.finalizers.observed(key, pod.GetMetadata().GetUid())
	}
	c.queue.Add(key)
}
