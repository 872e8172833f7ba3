// Package ttlafterfinished is the TTL-after-finished controller, after Kubernetes'
// pkg/controller/ttlafterfinished: it deletes a Job ttlSecondsAfterFinished seconds after
// the Job finished (its Complete or Failed condition turned True). A Job not yet expired is
// queued again for the moment it expires, so nothing polls.
//
// Before deleting, the Job is read again from the apiserver rather than the cache: a user
// may have raised the TTL (or the Job may have been replaced) since the cache last heard,
// and the deletion cannot be undone. The delete is Foreground, so the Job stays visible
// until the garbage collector removed its pods, and carries a precondition on the uid, so
// a new Job of the same name is never deleted in its place.
package ttlafterfinished

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	jobcontroller "kubelab.io/controller-manager/internal/job"
	batchv1 "kubelab.io/proto/api/batch/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client *kube.Clientset
	Job    cache.SharedIndexInformer
	// Log is the controller's logger (the controller-manager labels it
	// controller=ttl-after-finished).
	Log *slog.Logger
	// Now is the clock expiry is judged by; nil is time.Now.
	Now func() time.Time
	// Queue defaults to a rate-limited work queue named "ttl_jobs_to_delete", upstream's.
	Queue workqueue.Interface[string]
}

// Controller is the TTL-after-finished controller.
type Controller struct {
	client    *kube.Clientset
	jobLister cache.Lister[*batchv1.Job]
	synced    []func() bool
	queue     workqueue.Interface[string]
	log       *slog.Logger
	now       func() time.Time
}

// New builds the controller on the shared Job informer of cc. Its work queue reports
// workqueue_*{name="ttl_jobs_to_delete"} metrics to prometheus.DefaultRegisterer.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("ttl-after-finished: queue metrics: %w", err)
	}
	const name = "ttl_jobs_to_delete"
	return NewController(Config{
		Queue:  workqueue.New(workqueue.Config[string]{Name: name, Metrics: metrics.For(name)}),
		Client: cc.Client,
		Job:    cc.Informers.Jobs().Informer(),
		Log:    cc.Log,
		Now:    cc.Now,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Job == nil {
		return nil, errors.New("ttl-after-finished: Client and Job informer are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("ttl_jobs_to_delete")
	}
	mapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupBatch, Version: "v1", Kind: "Job"})
	c := &Controller{
		client:    cfg.Client,
		jobLister: cache.NewLister[*batchv1.Job](cfg.Job.GetIndexer(), mapping),
		queue:     cfg.Queue,
		log:       cfg.Log,
		now:       cfg.Now,
	}
	// Deletes are not handled: a deleted Job leaves nothing to clean up, and its key, if
	// still queued, finds it gone.
	reg, err := cfg.Job.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, newObj runtime.Object) { c.enqueue(newObj) },
	})
	if err != nil {
		return nil, fmt.Errorf("ttl-after-finished: %w", err)
	}
	c.synced = []func() bool{cfg.Job.HasSynced, reg.HasSynced}
	return c, nil
}

// Run waits for the cache, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// enqueue queues only the Jobs there is something to do for, as upstream: most Job events
// are of running Jobs, and a Job without a TTL is never this controller's business.
func (c *Controller) enqueue(obj runtime.Object) {
	job, ok := obj.(*batchv1.Job)
	if !ok || job.GetMetadata().GetDeletionTimestamp() != nil || !needsCleanup(job) {
		return
	}
	if err := controller.Enqueue(c.queue, job); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

// sync deletes the Job key if its TTL has expired, else queues it for when it will. The
// cached Job decides whether the apiserver is asked at all; the fresh one decides the
// delete.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(key, job); err != nil || !expired {
		return err
	}
	fresh, err := c.client.Jobs(ns).Get(ctx, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(key, fresh); err != nil || !expired {
		return err
	}
	uid := fresh.GetMetadata().GetUid()
	_, err = c.client.Jobs(ns).Delete(ctx, name, &metav1.DeleteOptions{
		PropagationPolicy: proto.String("Foreground"),
		Preconditions:     &metav1.Preconditions{Uid: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone already, or replaced by a new Job of the name (uid precondition failed):
		// nothing of this Job's is left to delete.
		return nil
	}
	if err != nil {
		return err
	}
	c.log.Info("deleted job whose ttlSecondsAfterFinished expired", "namespace", ns, "name", name,
		"uid", uid, "ttlSecondsAfterFinished", fresh.GetSpec().GetTtlSecondsAfterFinished())
	return nil
}

// expired reports whether job's TTL has passed. A Job not (or no longer) due for cleanup is
// not expired; one that will expire is queued again for that moment.
func (c *Controller) expired(key string, job *batchv1.Job) (bool, error) {
	if job.GetMetadata().GetDeletionTimestamp() != nil || !needsCleanup(job) {
		return false, nil
	}
	finishedAt, ok := finishTime(job)
	if !ok {
		// The job controller always stamps the transition time; a Job without one cannot
		// be timed, and retrying will not help until its status changes.
		c.log.Error("finished job has no finish time", "namespace", job.GetMetadata().GetNamespace(), "name", job.GetMetadata().GetName())
		return false, nil
	}
	now := c.now()
	if finishedAt.After(now) {
		// Clock skew between the controller-manager and whoever wrote the status: the TTL
		// still counts from finishedAt, so the Job is only deleted late, never early.
		c.log.Warn("job finished in the future; cleanup deferred", "namespace", job.GetMetadata().GetNamespace(),
			"name", job.GetMetadata().GetName(), "finishTime", finishedAt)
	}
	left := finishedAt.Add(time.Duration(job.GetSpec().GetTtlSecondsAfterFinished()) * time.Second).Sub(now)
	if left <= 0 {
		return true, nil
	}
	c.queue.AddAfter(key, left)
	return false, nil
}

// needsCleanup reports whether job has a TTL and has finished.
func needsCleanup(job *batchv1.Job) bool {
	if job.GetSpec().TtlSecondsAfterFinished == nil {
		return false
	}
	return jobcontroller.FinishedCondition(job.GetStatus()) != nil
}

// finishTime is when job finished: its terminal condition's lastTransitionTime, else its
// completionTime (only a Complete job has one).
func finishTime(job *batchv1.Job) (time.Time, bool) {
	if cond := jobcontroller.FinishedCondition(job.GetStatus()); cond.GetLastTransitionTime() != nil {
		return controller.TimeOf(cond.GetLastTransitionTime()), true
	}
	if t := job.GetStatus().GetCompletionTime(); t != nil {
		return controller.TimeOf(t), true
	}
	return time.Time{}, false
}
