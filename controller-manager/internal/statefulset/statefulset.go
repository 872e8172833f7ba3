// Package statefulset is the StatefulSet controller, a port of Kubernetes'
// pkg/controller/statefulset: each StatefulSet runs pods <set>-<start>…<set>-<start+replicas-1>
// made from its template, with hostname <pod> and subdomain serviceName (so the headless
// Service's DNS names them), labelled statefulset.kubernetes.io/pod-name,
// apps.kubernetes.io/pod-index and controller-revision-hash (the revision they were made
// from). OrderedReady sets make and remove one pod at a time, in ordinal order, each Running
// and Ready before the next; Parallel sets act on all at once. A failed pod is deleted and
// made again. Template history is kept in ControllerRevisions; RollingUpdate replaces pods
// from the highest ordinal down to the partition, one at a time; OnDelete waits for someone
// to delete them.
//
// Event handlers only enqueue StatefulSet keys; sync(ctx, key) is level-based and re-reads
// everything from the informer caches. No expectations are needed: pod names are
// deterministic, so a sync on a stale cache, or after a restart, cannot make a pod twice (the
// create fails with AlreadyExists and the sync is retried once the cache has caught up).
package statefulset

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
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Kind is the StatefulSet's group/version/kind, as written in its pods' and revisions'
// ownerReferences.
var Kind = runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "StatefulSet"}

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client      *kube.Clientset
	StatefulSet cache.SharedIndexInformer
	Pod         cache.SharedIndexInformer
	Revision    cache.SharedIndexInformer
	// Claim is the PersistentVolumeClaim informer: the claims of volumeClaimTemplates are
	// looked up in its cache. No handler is registered on it (nor upstream's).
	Claim    cache.SharedIndexInformer
	Recorder EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=statefulset).
	Log *slog.Logger
	// Now is the clock of availability (minReadySeconds); nil is time.Now.
	Now func() time.Time
	// Queue defaults to a rate-limited work queue named "statefulset".
	Queue workqueue.Interface[string]
}

// Controller is the StatefulSet controller.
type Controller struct {
	client    *kube.Clientset
	setLister cache.Lister[*appsv1.StatefulSet]
	podLister cache.Lister[*corev1.Pod]
	revLister cache.Lister[*appsv1.ControllerRevision]
	pvcLister cache.Lister[*corev1.PersistentVolumeClaim]
	synced    []func() bool
	queue     workqueue.Interface[string]
	recorder  EventRecorder
	log       *slog.Logger
	now       func() time.Time
}

// New builds the controller on the shared informers of cc and registers its handlers. Its
// work queue reports workqueue_*{name="statefulset"} to prometheus.DefaultRegisterer.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("statefulset: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:       workqueue.New(workqueue.Config[string]{Name: "statefulset", Metrics: metrics.For("statefulset")}),
		Client:      cc.Client,
		StatefulSet: cc.Informers.StatefulSets().Informer(),
		Pod:         cc.Informers.Pods().Informer(),
		Revision:    cc.Informers.ControllerRevisions().Informer(),
		Claim:       cc.Informers.PersistentVolumeClaims().Informer(),
		Recorder:    cc.Recorder("statefulset-controller"),
		Log:         cc.Log,
		Now:         cc.Now,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.StatefulSet == nil || cfg.Pod == nil || cfg.Revision == nil || cfg.Claim == nil || cfg.Recorder == nil {
		return nil, errors.New("statefulset: Client, StatefulSet, Pod, Revision and Claim informers and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("statefulset")
	}
	setMapping, _ := scheme.MappingFor(Kind)
	podMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"})
	revMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "ControllerRevision"})
	pvcMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"})
	c := &Controller{
		client:    cfg.Client,
		setLister: cache.NewLister[*appsv1.StatefulSet](cfg.StatefulSet.GetIndexer(), setMapping),
		podLister: cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), podMapping),
		revLister: cache.NewLister[*appsv1.ControllerRevision](cfg.Revision.GetIndexer(), revMapping),
		pvcLister: cache.NewLister[*corev1.PersistentVolumeClaim](cfg.Claim.GetIndexer(), pvcMapping),
		queue:     cfg.Queue,
		recorder:  cfg.Recorder,
		log:       cfg.Log,
		now:       cfg.Now,
	}
	// Every StatefulSet event queues it, resyncs included (upstream does the same).
	setReg, err := cfg.StatefulSet.AddEventHandler(controller.KeyHandlers(c.queue, c.log))
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.onPodDelete,
	})
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	c.synced = []func() bool{cfg.StatefulSet.HasSynced, cfg.Pod.HasSynced, cfg.Revision.HasSynced, cfg.Claim.HasSynced, setReg.HasSynced, podReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// --- pod event handlers: they only enqueue ---

func (c *Controller) enqueue(set *appsv1.StatefulSet) {
	if err := controller.Enqueue(c.queue, set); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

// resolveControllerRef returns the StatefulSet ref names in namespace, if it is still the
// same object (same uid).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	return controller.ResolveControllerRef(c.setLister, Kind, namespace, ref)
}

// setsFor lists the StatefulSets whose selector matches an orphan pod, for a chance to
// adopt it.
func (c *Controller) setsFor(pod *corev1.Pod) []*appsv1.StatefulSet {
	m := pod.GetMetadata()
	return controller.Selecting(c.setLister, m.GetNamespace(), m.GetLabels(), func(set *appsv1.StatefulSet) *metav1.LabelSelector { return set.GetSpec().GetSelector() })
}

func (c *Controller) addPod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ref := controller.GetControllerOf(pod); ref != nil {
		if set := c.resolveControllerRef(pod.GetMetadata().GetNamespace(), ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.setsFor(pod) {
		c.enqueue(set)
	}
}

func (c *Controller) updatePod(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	curRef, oldRef := controller.GetControllerOf(cur), controller.GetControllerOf(old)
	if oldRef != nil && (curRef == nil || curRef.GetUid() != oldRef.GetUid()) {
		if set := c.resolveControllerRef(old.GetMetadata().GetNamespace(), oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef != nil {
		set := c.resolveControllerRef(cur.GetMetadata().GetNamespace(), curRef)
		if set == nil {
			return
		}
		c.enqueue(set)
		// A pod that just became ready is available after minReadySeconds: look again then.
		if mrs := set.GetSpec().GetMinReadySeconds(); mrs > 0 && !controller.IsPodReady(old) && controller.IsPodReady(cur) {
			if key, err := controller.KeyFunc(set); err == nil {
				c.queue.AddAfter(key, time.Duration(mrs)*time.Second+time.Second)
			}
		}
		return
	}
	if oldRef != nil || !proto.Equal(&metav1.ObjectMeta{Labels: old.GetMetadata().GetLabels()}, &metav1.ObjectMeta{Labels: cur.GetMetadata().GetLabels()}) {
		for _, set := range c.setsFor(cur) {
			c.enqueue(set)
		}
	}
}

func (c *Controller) onPodDelete(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		c.log.Error("delete handler got an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	if ref := controller.GetControllerOf(pod); ref != nil {
		if set := c.resolveControllerRef(pod.GetMetadata().GetNamespace(), ref); set != nil {
			c.enqueue(set)
		}
	}
}

// --- sync ---

// sync makes the StatefulSet key's pods and history match its spec and writes its status.
// It returns nil when the StatefulSet is gone or its selector is invalid, and any transient
// error for the queue to retry with backoff.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	set, err := c.setLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its pods and revisions are the garbage collector's
	}
	if err != nil {
		return err
	}
	selector, err := labels.FromLabelSelector(set.GetSpec().GetSelector())
	if err != nil {
		c.log.Error("invalid selector; not retrying", "namespace", ns, "name", name, "err", err)
		return nil
	}
	revisions, err := c.claimRevisions(ctx, set, selector)
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}

	current, update, collisionCount, err := c.revisions(ctx, set, revisions)
	if err != nil {
		return errors.Join(err, c.truncateHistory(ctx, set, pods, revisions, current, update))
	}
	status, err := c.update(ctx, set, pods, current, update, collisionCount)
	if status != nil {
		// The status is written even when a pod write failed: it says what the pods are.
		err = errors.Join(err, c.updateStatus(ctx, set, status))
	}
	if err != nil {
		return errors.Join(err, c.truncateHistory(ctx, set, pods, revisions, current, update))
	}
	if err := c.truncateHistory(ctx, set, pods, revisions, current, update); err != nil {
		return err
	}
	// Pods ready but not yet available: look again once minReadySeconds have passed.
	if mrs := set.GetSpec().GetMinReadySeconds(); mrs > 0 && status.GetAvailableReplicas() != int32(replicasOf(set)) {
		c.queue.AddAfter(key, time.Duration(mrs)*time.Second)
	}
	return nil
}

// claimPods returns set's pods: those it controls whose names make them its members and that
// its selector matches, plus such orphans, adopted. Finished and terminating pods are
// included: the sync decides what to do with them.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Namespace(set.GetMetadata().GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	controller.SortByName(all)
	m := &controller.PodControllerRefManager{
		Client: c.client, Controller: set, ControllerKind: Kind, Selector: selector, CanAdopt: c.canAdopt(set),
	}
	return m.ClaimPods(ctx, all, func(p *corev1.Pod) bool { return isMemberOf(set, p) })
}

// updateStatus writes status (completing a finished rolling update first) unless set has
// it already. On a conflict it re-reads the StatefulSet once and tries again.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	completeRollingUpdate(set, status)
	if proto.Equal(set.GetStatus(), status) {
		return nil
	}
	client := c.client.StatefulSets(set.GetMetadata().GetNamespace())
	next := proto.Clone(set).(*appsv1.StatefulSet)
	next.Status = status
	for attempt := 0; ; attempt++ {
		_, err := client.UpdateStatus(ctx, next)
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return fmt.Errorf("update status of statefulset %s/%s: %w", set.GetMetadata().GetNamespace(), set.GetMetadata().GetName(), err)
		}
		fresh, gerr := client.Get(ctx, set.GetMetadata().GetName())
		if gerr != nil {
			return fmt.Errorf("update status of statefulset %s/%s: %w", set.GetMetadata().GetNamespace(), set.GetMetadata().GetName(), gerr)
		}
		fresh.Status = status
		next = fresh
	}
}
