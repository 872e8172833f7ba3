// Package endpointslice is the EndpointSlice controller, after Kubernetes'
// pkg/controller/endpointslice and the staging endpointslice reconciler: for every Service
// with a selector it keeps EndpointSlices (labelled kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io, owned by the
// Service) holding an endpoint per matching pod that has an IP and has not finished, with
// its ready, serving and terminating conditions, node, zone and, for the pod's subdomain
// service, hostname. Pods are grouped by the ports they resolve the service's targetPorts
// to; each group fills slices of at most --max-endpoints-per-slice endpoints, and a sync
// changes as few slices as it can (reconcile.go). Node proxies read these slices.
//
// Event handlers only queue service keys; sync re-reads the service, its pods and its
// slices from the caches. The slices in the cache are the truth, so a restarted controller
// converges without creating duplicates; a tracker of the controller's own writes keeps a
// cache that lags behind them from being acted on (tracker.go).
//
// Unlike upstream (kubernetes/kubernetes#118376), a service that loses its selector, or
// becomes ExternalName, has the slices this controller made for it deleted: kubelab runs
// no EndpointSlice mirroring controller, so nothing else would ever correct them, and a
// proxy would keep sending traffic to pods the service no longer names. Slices of services
// that never had a selector (the apiserver's "kubernetes") are not this controller's.
package endpointslice

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
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Event reasons, as upstream's endpointslice controller records them.
const (
	FailedToUpdateEndpointSlices = "FailedToUpdateEndpointSlices"
)

const (
	// DefaultMaxEndpointsPerSlice is --max-endpoints-per-slice's default.
	DefaultMaxEndpointsPerSlice = 100
	// MaxEndpointsPerSliceLimit is the most an EndpointSlice may hold (validation's limit).
	MaxEndpointsPerSliceLimit = 1000

	// sliceChangeMinSyncDelay is the least delay before a slice event syncs its service,
	// so changes to several slices are handled together.
	sliceChangeMinSyncDelay = time.Second
	// Retries back off from 1 s to 1000 s: a sync can write many slices.
	syncBackOff, maxSyncBackOff = time.Second, 1000 * time.Second
)

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client        *kube.Clientset
	Service       cache.SharedIndexInformer
	Pod           cache.SharedIndexInformer
	Node          cache.SharedIndexInformer
	EndpointSlice cache.SharedIndexInformer
	Recorder      EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=endpointslice).
	Log *slog.Logger
	// Queue defaults to a work queue named "endpoint_slice" backing off from 1 s to 1000 s.
	Queue workqueue.Interface[string]
	// MaxEndpointsPerSlice is --max-endpoints-per-slice (1-1000, default 100).
	MaxEndpointsPerSlice int
	// BatchPeriod delays the sync a pod change queues, so several are written at once
	// (--endpointslice-updates-batch-period, default 0).
	BatchPeriod time.Duration
}

// Controller is the EndpointSlice controller.
type Controller struct {
	client      *kube.Clientset
	services    cache.Lister[*corev1.Service]
	pods        cache.Lister[*corev1.Pod]
	slices      cache.Lister[*discoveryv1.EndpointSlice]
	reconciler  reconciler
	tracker     *tracker
	triggers    *controller.TriggerTimeTracker
	synced      []func() bool
	queue       workqueue.Interface[string]
	recorder    EventRecorder
	log         *slog.Logger
	batchPeriod time.Duration
}

// New builds the controller on the shared informers of cc. Its work queue reports
// workqueue_*{name="endpoint_slice"} metrics to prometheus.DefaultRegisterer.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("endpointslice: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:                NewQueue(metrics.For("endpoint_slice")),
		Client:               cc.Client,
		Service:              cc.Informers.Services().Informer(),
		Pod:                  cc.Informers.Pods().Informer(),
		Node:                 cc.Informers.Nodes().Informer(),
		EndpointSlice:        cc.Informers.EndpointSlices().Informer(),
		Recorder:             cc.Recorder("endpoint-slice-controller"),
		Log:                  cc.Log,
		MaxEndpointsPerSlice: cc.Options.MaxEndpointsPerSlice,
		BatchPeriod:          cc.Options.EndpointSliceUpdatesBatchPeriod,
	})
}

// NewQueue is the controller's work queue, as upstream's: retries back off per service from
// 1 s to 1000 s (a sync may write many slices), within 10 retries per second overall.
func NewQueue(metrics workqueue.Metrics) *workqueue.Queue[string] {
	return workqueue.New(workqueue.Config[string]{
		Name: "endpoint_slice", Metrics: metrics,
		RateLimiter: workqueue.NewMaxOfRateLimiter[string](
			workqueue.NewItemExponentialFailureRateLimiter[string](syncBackOff, maxSyncBackOff),
			workqueue.NewBucketRateLimiter[string](nil, 10, 100)),
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Service == nil || cfg.Pod == nil || cfg.Node == nil || cfg.EndpointSlice == nil || cfg.Recorder == nil {
		return nil, errors.New("endpointslice: Client, Service, Pod, Node and EndpointSlice informers and Recorder are required")
	}
	if cfg.MaxEndpointsPerSlice == 0 {
		cfg.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
	if cfg.MaxEndpointsPerSlice < 1 || cfg.MaxEndpointsPerSlice > MaxEndpointsPerSliceLimit {
		return nil, fmt.Errorf("endpointslice: max endpoints per slice must be between 1 and %d, got %d", MaxEndpointsPerSliceLimit, cfg.MaxEndpointsPerSlice)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = NewQueue(nil)
	}
	c := &Controller{
		client:      cfg.Client,
		services:    cache.NewLister[*corev1.Service](cfg.Service.GetIndexer(), controller.CoreMapping("Service")),
		pods:        cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), controller.CoreMapping("Pod")),
		slices:      cache.NewLister[*discoveryv1.EndpointSlice](cfg.EndpointSlice.GetIndexer(), sliceMapping),
		tracker:     newTracker(),
		triggers:    controller.NewTriggerTimeTracker(),
		queue:       cfg.Queue,
		recorder:    cfg.Recorder,
		log:         cfg.Log,
		batchPeriod: cfg.BatchPeriod,
	}
	c.reconciler = reconciler{nodes: cache.NewLister[*corev1.Node](cfg.Node.GetIndexer(), controller.CoreMapping("Node")), maxEndpoints: cfg.MaxEndpointsPerSlice}
	svcReg, err := cfg.Service.AddEventHandler(controller.KeyHandlers(c.queue, c.log))
	if err != nil {
		return nil, fmt.Errorf("endpointslice: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(controller.PodServiceHandlers(c.services, func(key string) { c.enqueueAfter(key, c.batchPeriod) }, c.log))
	if err != nil {
		return nil, fmt.Errorf("endpointslice: %w", err)
	}
	sliceReg, err := cfg.EndpointSlice.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.addSlice, UpdateFunc: c.updateSlice, DeleteFunc: c.deleteSlice,
	})
	if err != nil {
		return nil, fmt.Errorf("endpointslice: %w", err)
	}
	c.synced = []func() bool{cfg.Service.HasSynced, cfg.Pod.HasSynced, cfg.Node.HasSynced, cfg.EndpointSlice.HasSynced,
		svcReg.HasSynced, podReg.HasSynced, sliceReg.HasSynced}
	return c, nil
}

var sliceMapping, _ = scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupDiscovery, Version: "v1", Kind: "EndpointSlice"})

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// --- event handlers: they only enqueue ---

func (c *Controller) enqueueAfter(key string, d time.Duration) {
	if d <= 0 {
		c.queue.Add(key)
		return
	}
	c.queue.AddAfter(key, d)
}

func managed(s *discoveryv1.EndpointSlice) bool {
	return s.GetMetadata().GetLabels()[discoveryv1.LabelManagedBy] == discoveryv1.ControllerName
}

// queueForSlice syncs the service of s after a short delay, so that events of several of
// its slices lead to one sync.
func (c *Controller) queueForSlice(s *discoveryv1.EndpointSlice) {
	if key, ok := serviceKey(s); ok {
		c.enqueueAfter(key, max(sliceChangeMinSyncDelay, c.batchPeriod))
	}
}

func (c *Controller) addSlice(obj runtime.Object) {
	if s, ok := obj.(*discoveryv1.EndpointSlice); ok && managed(s) && c.tracker.shouldSync(s) {
		c.queueForSlice(s)
	}
}

// updateSlice queues the service of a slice someone else changed, and both services when
// the service-name label moved it, or when the managed-by label gave it to or took it from
// this controller.
func (c *Controller) updateSlice(oldObj, newObj runtime.Object) {
	old, ok1 := oldObj.(*discoveryv1.EndpointSlice)
	cur, ok2 := newObj.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 || controller.IsResync(old, cur) {
		return
	}
	oldKey, _ := serviceKey(old)
	curKey, _ := serviceKey(cur)
	switch {
	case oldKey != curKey:
		c.queueForSlice(old)
		c.queueForSlice(cur)
	case managed(old) != managed(cur) || (managed(cur) && c.tracker.shouldSync(cur)):
		c.queueForSlice(cur)
	}
}

func (c *Controller) deleteSlice(obj any) {
	o, _ := controller.ObjectFromTombstone(obj)
	if s, ok := o.(*discoveryv1.EndpointSlice); ok && managed(s) && !c.tracker.observeDeletion(s) {
		c.queueForSlice(s)
	}
}

// --- sync ---

// sync makes the slices of service key match its pods. It returns nil when the service is
// gone (the garbage collector deletes its slices) and an error for the queue to retry when
// the slice cache lags behind this controller's writes or a write failed.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	svc, err := c.services.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.Delete(key)
		c.tracker.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	cached, err := c.slices.Namespace(ns).List(labels.SelectorFromSet(map[string]string{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: discoveryv1.ControllerName,
	}))
	if err != nil {
		return err
	}
	// Slices being deleted are on their way out: acting on them would only get stuck.
	existing := cached[:0:0]
	for _, s := range cached {
		if s.GetMetadata().GetDeletionTimestamp() == nil {
			existing = append(existing, s)
		}
	}
	if c.tracker.stale(key, existing) {
		return fmt.Errorf("endpointslice cache of service %s is older than this controller's writes", key)
	}
	selector, ok := controller.ServiceSelector(svc)
	if !ok {
		return c.deleteOwned(ctx, svc, existing)
	}
	pods, err := c.pods.Namespace(ns).List(selector)
	if err != nil {
		return err
	}
	// By name, so slices are filled in the same order on every sync.
	controller.SortByName(pods)
	triggerTime := c.triggers.Compute(svc, pods)
	p, planErr := c.reconciler.plan(svc, pods, existing)
	if err := c.apply(ctx, svc, p, triggerTime); err != nil {
		c.recorder.Eventf(svc, "Warning", FailedToUpdateEndpointSlices, "Error updating Endpoint Slices for Service %s/%s: %v", ns, name, err)
		return errors.Join(err, planErr)
	}
	return planErr
}

// deleteOwned deletes the slices this controller made for svc, which no longer selects
// pods (see the package doc for why upstream does not).
func (c *Controller) deleteOwned(ctx context.Context, svc *corev1.Service, existing []*discoveryv1.EndpointSlice) error {
	var p plan
	for _, s := range existing {
		if controller.IsControlledBy(s, svc) {
			p.delete = append(p.delete, s)
		}
	}
	return c.apply(ctx, svc, p, time.Time{})
}

// apply carries out p: creates (none while the service is being deleted: the garbage
// collector would race them), then updates, then deletes, recording each write in the
// tracker. It stops at the first failure; the next sync recomputes what is left.
func (c *Controller) apply(ctx context.Context, svc *corev1.Service, p plan, triggerTime time.Time) error {
	ns := svc.GetMetadata().GetNamespace()
	client := c.client.EndpointSlices(ns)
	if svc.GetMetadata().GetDeletionTimestamp() == nil {
		for _, s := range p.create {
			setTriggerTime(s, triggerTime)
			created, err := client.Create(ctx, s)
			if err != nil {
				if apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
					return nil // the namespace is going away, with the service
				}
				return fmt.Errorf("create EndpointSlice for service %s/%s: %w", ns, svc.GetMetadata().GetName(), err)
			}
			c.tracker.written(created)
			c.log.Debug("created endpointslice", "namespace", ns, "name", created.GetMetadata().GetName(), "service", svc.GetMetadata().GetName(), "endpoints", len(created.GetEndpoints()))
		}
	}
	for _, s := range p.update {
		setTriggerTime(s, triggerTime)
		updated, err := client.Update(ctx, s)
		if err != nil {
			return fmt.Errorf("update EndpointSlice %s/%s: %w", ns, s.GetMetadata().GetName(), err)
		}
		c.tracker.written(updated)
		c.log.Debug("updated endpointslice", "namespace", ns, "name", updated.GetMetadata().GetName(), "service", svc.GetMetadata().GetName(), "endpoints", len(updated.GetEndpoints()))
	}
	for _, s := range p.delete {
		uid := s.GetMetadata().GetUid()
		_, err := client.Delete(ctx, s.GetMetadata().GetName(), &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete EndpointSlice %s/%s: %w", ns, s.GetMetadata().GetName(), err)
		}
		c.tracker.deleted(s)
		c.log.Debug("deleted endpointslice", "namespace", ns, "name", s.GetMetadata().GetName(), "service", svc.GetMetadata().GetName())
	}
	return nil
}

// setTriggerTime sets, or without a trigger time removes, the last-change-trigger-time
// annotation of a slice about to be written.
func setTriggerTime(s *discoveryv1.EndpointSlice, at time.Time) {
	if at.IsZero() {
		delete(s.Metadata.Annotations, controller.AnnotationLastChangeTriggerTime)
		return
	}
	if s.Metadata.Annotations == nil {
		s.Metadata.Annotations = map[string]string{}
	}
	s.Metadata.Annotations[controller.AnnotationLastChangeTriggerTime] = controller.FormatTriggerTime(at)
}
