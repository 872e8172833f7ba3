// Package cronjob is the CronJob controller, after Kubernetes' cronjob_controllerv2: for each
// CronJob it creates a Job at each time of its schedule (in its timeZone), keeps
// status.active, lastScheduleTime and lastSuccessfulTime from the Jobs it owns, and deletes
// its oldest finished Jobs beyond the history limits.
//
// Nothing polls: a sync ends by queueing its CronJob again for the next start time, and the
// CronJob's and its Jobs' events queue it at once. A Job's name is the CronJob's and the
// scheduled time in minutes ("hello-29144160"), so a run has exactly one name: a controller
// that crashed after creating a Job and before writing the status finds the create refused
// with AlreadyExists and only records the Job, never runs it twice.
//
// concurrencyPolicy Forbid skips a start time while a Job is active (JobAlreadyActive);
// Replace deletes the active Jobs first. A start time older than startingDeadlineSeconds is
// skipped (MissSchedule); without a deadline only the most recent missed time runs, and more
// than 100 missed times is reported (TooManyMissedTimes), as upstream. A suspended CronJob
// runs nothing new; its running Jobs go on.
package cronjob

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
	"kubelab.io/controller-manager/internal/job"
	batchv1 "kubelab.io/proto/api/batch/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Kind is the CronJob's group/version/kind, as written in its Jobs' ownerReferences.
var Kind = runtime.GroupVersionKind{Group: scheme.GroupBatch, Version: "v1", Kind: "CronJob"}

// Event reasons, as Kubernetes' cronjob controller records them.
const (
	SuccessfulCreate    = "SuccessfulCreate"
	FailedCreate        = "FailedCreate"
	SuccessfulDelete    = controller.EventSuccessfulDelete
	FailedDelete        = controller.EventFailedDelete
	SawCompletedJob     = "SawCompletedJob"
	MissSchedule        = "MissSchedule"
	TooManyMissedTimes  = "TooManyMissedTimes"
	JobAlreadyActive    = "JobAlreadyActive"
	UnexpectedJob       = "UnexpectedJob"
	MissingJob          = "MissingJob"
	FailedGet           = "FailedGet"
	UnknownTimeZone     = "UnknownTimeZone"
	UnparseableSchedule = "UnparseableSchedule"
	InvalidSchedule     = "InvalidSchedule"
	UnsupportedSchedule = "UnsupportedSchedule"
)

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client   *kube.Clientset
	CronJob  cache.SharedIndexInformer
	Job      cache.SharedIndexInformer
	Recorder EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=cronjob).
	Log *slog.Logger
	// Now is the clock schedules are read by; nil is time.Now. A test that drives it must
	// give Queue the same clock, so the requeue for the next start time fires on it.
	Now func() time.Time
	// Queue defaults to a rate-limited work queue named "cronjob".
	Queue workqueue.Interface[string]
}

// Controller is the CronJob controller.
type Controller struct {
	client        *kube.Clientset
	cronJobLister cache.Lister[*batchv1.CronJob]
	jobLister     cache.Lister[*batchv1.Job]
	synced        []func() bool
	queue         workqueue.Interface[string]
	recorder      EventRecorder
	log           *slog.Logger
	now           func() time.Time
}

// New builds the controller on the shared informers of cc. Its work queue reports
// workqueue_*{name="cronjob"} metrics to prometheus.DefaultRegisterer, on cc's clock.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("cronjob: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:    workqueue.New(workqueue.Config[string]{Name: "cronjob", Metrics: metrics.For("cronjob")}),
		Client:   cc.Client,
		CronJob:  cc.Informers.CronJobs().Informer(),
		Job:      cc.Informers.Jobs().Informer(),
		Recorder: cc.Recorder("cronjob-controller"),
		Log:      cc.Log,
		Now:      cc.Now,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.CronJob == nil || cfg.Job == nil || cfg.Recorder == nil {
		return nil, errors.New("cronjob: Client, CronJob and Job informers and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("cronjob")
	}
	cjMapping, _ := scheme.MappingFor(Kind)
	jobMapping, _ := scheme.MappingFor(job.Kind)
	c := &Controller{
		client:        cfg.Client,
		cronJobLister: cache.NewLister[*batchv1.CronJob](cfg.CronJob.GetIndexer(), cjMapping),
		jobLister:     cache.NewLister[*batchv1.Job](cfg.Job.GetIndexer(), jobMapping),
		queue:         cfg.Queue,
		recorder:      cfg.Recorder,
		log:           cfg.Log,
		now:           cfg.Now,
	}
	cjReg, err := cfg.CronJob.AddEventHandler(controller.KeyHandlers(c.queue, c.log))
	if err != nil {
		return nil, fmt.Errorf("cronjob: %w", err)
	}
	jobReg, err := cfg.Job.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueOwner, UpdateFunc: c.updateJob, DeleteFunc: c.deleteJob,
	})
	if err != nil {
		return nil, fmt.Errorf("cronjob: %w", err)
	}
	c.synced = []func() bool{cfg.CronJob.HasSynced, cfg.Job.HasSynced, cjReg.HasSynced, jobReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// --- event handlers: a Job queues the CronJob that controls it ---

// ownerKey is the key of the CronJob that controls j, if that CronJob is in the cache with
// the same uid.
func (c *Controller) ownerKey(j *batchv1.Job) (string, bool) {
	ref := controller.GetControllerOf(j)
	if ref == nil || ref.GetKind() != Kind.Kind || ref.GetApiVersion() != Kind.APIVersion() {
		return "", false
	}
	cj, err := c.cronJobLister.Namespace(j.GetMetadata().GetNamespace()).Get(ref.GetName())
	if err != nil || cj.GetMetadata().GetUid() != ref.GetUid() {
		return "", false
	}
	key, err := controller.KeyFunc(cj)
	return key, err == nil
}

func (c *Controller) enqueueOwner(obj runtime.Object) {
	if j, ok := obj.(*batchv1.Job); ok {
		if key, ok := c.ownerKey(j); ok {
			c.queue.Add(key)
		}
	}
}

// updateJob queues the Job's controller, and its former one when the controller changed.
func (c *Controller) updateJob(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	c.enqueueOwner(oldObj)
	c.enqueueOwner(newObj)
}

func (c *Controller) deleteJob(obj any) {
	if o, ok := controller.ObjectFromTombstone(obj); ok {
		c.enqueueOwner(o)
	}
}
