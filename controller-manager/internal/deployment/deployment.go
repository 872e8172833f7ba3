// Package deployment is kubelab's Deployment controller, a port of Kubernetes'
// pkg/controller/deployment: it keeps one ReplicaSet per pod template of a Deployment
// (named <deployment>-<pod-template-hash>), rolls from the old ones to the new one with the
// RollingUpdate or Recreate strategy, scales them proportionally when the Deployment is
// resized mid-rollout, deletes replica sets beyond revisionHistoryLimit, and reports the
// Deployment's status and its Available and Progressing conditions.
//
// Rollback (kubectl rollout undo) is client-side: kubectl writes an old replica set's template
// back into the Deployment, and the controller finds that replica set again as the new one
// and gives it the next revision.
//
// Pods are the replicaset controller's business; this one only reads them, for Recreate
// (no new pod before the old ones are gone) and to wake up when availability changes.
package deployment

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
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Component is the controller's name in events and logs.
const Component = "deployment-controller"

var (
	deploymentKind = runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "Deployment"}
	replicaSetKind = runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "ReplicaSet"}
)

// eventRecorder is the part of record.Recorder the controller uses, so tests can record
// events without an apiserver.
type eventRecorder interface {
	Eventf(obj runtime.Object, eventType, reason, format string, args ...any)
}

// Controller is the Deployment controller. Build it with New, start it with Run.
type Controller struct {
	client    *kube.Clientset
	dLister   cache.Lister[*appsv1.Deployment]
	rsLister  cache.Lister[*appsv1.ReplicaSet]
	podLister cache.Lister[*corev1.Pod]
	synced    []func() bool

	queue    workqueue.Interface[string]
	recorder eventRecorder
	log      *slog.Logger
	now      func() time.Time
}

// New registers the controller's handlers on the shared deployment, replicaset and pod
// informers and builds its queue, whose client-go-named metrics (name="deployment") go to
// prometheus.DefaultRegisterer. Handlers only enqueue deployment keys.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	if cc == nil || cc.Client == nil || cc.Informers == nil {
		return nil, errors.New("deployment controller: a client and informers are required")
	}
	log := cc.Log
	if log == nil {
		log = slog.Default()
	}
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("deployment controller: queue metrics: %w", err)
	}
	dInf, rsInf, podInf := cc.Informers.Deployments(), cc.Informers.ReplicaSets(), cc.Informers.Pods()
	c := &Controller{
		client:    cc.Client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		queue:     workqueue.New(workqueue.Config[string]{Name: "deployment", Metrics: metrics.For("deployment")}),
		log:       log.With("controller", "deployment"),
		now:       cc.Now,
	}
	if cc.Recorder != nil {
		c.recorder = cc.Recorder(Component)
	} else {
		c.recorder = logRecorder{c.log}
	}
	regs := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: c.updateDeployment,
			DeleteFunc: c.deleteDeployment,
		}},
		{rsInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addReplicaSet,
			UpdateFunc: c.updateReplicaSet,
			DeleteFunc: c.deleteReplicaSet,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{
			UpdateFunc: c.updatePod,
			DeleteFunc: c.deletePod,
		}},
	}
	for _, r := range regs {
		reg, err := r.inf.AddEventHandler(r.h)
		if err != nil {
			return nil, fmt.Errorf("deployment controller: add handler: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

// Run starts workers goroutines once the informers have synced and returns when ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		c.queue.ShutDown()
		return
	}
	controller.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
}

// logRecorder stands in for an event recorder when the context has none.
type logRecorder struct{ log *slog.Logger }

func (r logRecorder) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	r.log.Info("event", "object", obj.GetMetadata().GetNamespace()+"/"+obj.GetMetadata().GetName(),
		"type", eventType, "reason", reason, "message", fmt.Sprintf(format, args...))
}

// Event handlers. They only compute keys; the sync reads the current state.

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

func (c *Controller) updateDeployment(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	c.enqueue(newObj)
}

func (c *Controller) deleteDeployment(obj any) {
	if d, ok := controller.ObjectFromTombstone(obj); ok {
		c.enqueue(d)
	}
}

// resolveControllerRef returns the deployment a controller reference names, if it is
// still the one (same uid) in the cache.
func (c *Controller) resolveControllerRef(namespace string, ref interface {
	GetKind() string
	GetName() string
	GetUid() string
}) *appsv1.Deployment {
	if ref.GetKind() != deploymentKind.Kind {
		return nil
	}
	d, err := c.dLister.Namespace(namespace).Get(ref.GetName())
	if err != nil || d.GetMetadata().GetUid() != ref.GetUid() {
		return nil
	}
	return d
}

// deploymentsForReplicaSet lists the deployments whose selector matches an orphan rs.
func (c *Controller) deploymentsForReplicaSet(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	m := rs.GetMetadata()
	return controller.Selecting(c.dLister, m.GetNamespace(), m.GetLabels(), func(d *appsv1.Deployment) *metav1.LabelSelector { return d.GetSpec().GetSelector() })
}

func (c *Controller) addReplicaSet(obj runtime.Object) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := controller.GetControllerOf(rs); ref != nil {
		if d := c.resolveControllerRef(rs.GetMetadata().GetNamespace(), ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsForReplicaSet(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	oldRS, ok1 := oldObj.(*appsv1.ReplicaSet)
	curRS, ok2 := newObj.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 {
		return
	}
	ns := curRS.GetMetadata().GetNamespace()
	curRef, oldRef := controller.GetControllerOf(curRS), controller.GetControllerOf(oldRS)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.GetUid() != oldRef.GetUid())
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(ns, oldRef); d != nil {
			c.enqueue(d) // the old owner lost a replica set
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(ns, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !equalLabels(oldRS.GetMetadata().GetLabels(), curRS.GetMetadata().GetLabels()) {
		for _, d := range c.deploymentsForReplicaSet(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		return
	}
	if ref := controller.GetControllerOf(o); ref != nil {
		if d := c.resolveControllerRef(o.GetMetadata().GetNamespace(), ref); d != nil {
			c.enqueue(d)
		}
	}
}

// deploymentForPod returns the deployment that controls the replica set that controls pod.
func (c *Controller) deploymentForPod(pod runtime.Object) *appsv1.Deployment {
	ref := controller.GetControllerOf(pod)
	if ref == nil || ref.GetKind() != replicaSetKind.Kind {
		return nil
	}
	ns := pod.GetMetadata().GetNamespace()
	rs, err := c.rsLister.Namespace(ns).Get(ref.GetName())
	if err != nil || rs.GetMetadata().GetUid() != ref.GetUid() {
		return nil
	}
	rsRef := controller.GetControllerOf(rs)
	if rsRef == nil {
		return nil
	}
	return c.resolveControllerRef(ns, rsRef)
}

// updatePod wakes the owning deployment when a pod's readiness or deletion changes: its
// availability (and a Recreate waiting for old pods) depends on them.
func (c *Controller) updatePod(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	oldPod, ok1 := oldObj.(*corev1.Pod)
	curPod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	if controller.IsPodReady(oldPod) == controller.IsPodReady(curPod) &&
		(oldPod.GetMetadata().GetDeletionTimestamp() == nil) == (curPod.GetMetadata().GetDeletionTimestamp() == nil) &&
		oldPod.GetStatus().GetPhase() == curPod.GetStatus().GetPhase() {
		return
	}
	if d := c.deploymentForPod(curPod); d != nil {
		c.enqueue(d)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		return
	}
	if d := c.deploymentForPod(pod); d != nil {
		c.enqueue(d)
	}
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// sync reconciles the deployment key names, from the caches. It returns nil when the
// deployment is gone, and errors that are worth a retry.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	cached, err := c.dLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.syncDeployment(ctx, cloneDeployment(cached))
}
