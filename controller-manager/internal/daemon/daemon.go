// Package daemon is the DaemonSet controller, a port of kube-controller-manager 1.32's
// pkg/controller/daemon: one pod of a DaemonSet's template on every node the template may
// run on (its nodeSelector and required node affinity match, and it tolerates the node's
// NoSchedule and NoExecute taints, with the daemon tolerations added), none elsewhere.
//
// Since Kubernetes 1.12 the default scheduler places daemon pods: the controller creates
// each one unbound, pinned to its node by the required node affinity `metadata.name In
// [node]`, and the scheduler binds it there. Pods carry the controller-revision-hash and
// pod-template-generation labels of the template they were made from; the DaemonSet's
// templates are kept as ControllerRevisions (history.go), which `kubectl rollout undo`
// restores. A template change replaces pods node by node (update.go): RollingUpdate within
// maxUnavailable, or with maxSurge a new pod beside the old until it is available; OnDelete
// only when a pod is deleted by someone else. Failed pods are deleted and recreated, with a
// per-node backoff; duplicates on a node are deleted, the oldest kept.
//
// Event handlers only enqueue DaemonSet keys; sync(ctx, key) is level-based. Expectations
// keep a lagging pod cache from making a sync create or delete what an earlier one did.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Kind is the DaemonSet's group/version/kind, as written in its pods' and revisions'
// ownerReferences.
var Kind = runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "DaemonSet"}

// Event reasons, as Kubernetes' daemon set controller and pod control record them.
const (
	SuccessfulCreate   = "SuccessfulCreate"
	FailedCreate       = "FailedCreate"
	SuccessfulDelete   = controller.EventSuccessfulDelete
	FailedDelete       = controller.EventFailedDelete
	FailedDaemonPod    = "FailedDaemonPod"
	SucceededDaemonPod = "SucceededDaemonPod"
	SelectingAll       = "SelectingAll"
	InvalidSelector    = "InvalidSelector"
)

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client             *kube.Clientset
	DaemonSet          cache.SharedIndexInformer
	ControllerRevision cache.SharedIndexInformer
	Pod                cache.SharedIndexInformer
	Node               cache.SharedIndexInformer
	Recorder           EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=daemonset).
	Log *slog.Logger
	// Now is the clock of availability (minReadySeconds), the failed-pod backoff and
	// expectations; nil is time.Now.
	Now func() time.Time
	// Queue defaults to a rate-limited work queue named "daemonset".
	Queue workqueue.Interface[string]
	// BurstReplicas caps the creations, and the deletions, of one pass (default 250, as
	// upstream's daemon set controller).
	BurstReplicas int
}

// BurstReplicas is upstream's cap for the daemon set controller.
const BurstReplicas = 250

// Controller is the DaemonSet controller.
type Controller struct {
	client            *kube.Clientset
	dsLister          cache.Lister[*appsv1.DaemonSet]
	revLister         cache.Lister[*appsv1.ControllerRevision]
	podLister         cache.Lister[*corev1.Pod]
	nodeLister        cache.Lister[*corev1.Node]
	synced            []func() bool
	queue             workqueue.Interface[string]
	expectations      *controller.Expectations
	failedPodsBackoff *backoff
	recorder          EventRecorder
	log               *slog.Logger
	now               func() time.Time
	burstReplicas     int
}

// New builds the controller on the shared informers of cc. Its work queue reports
// workqueue_*{name="daemonset"} metrics to prometheus.DefaultRegisterer.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("daemonset: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:              workqueue.New(workqueue.Config[string]{Name: "daemonset", Metrics: metrics.For("daemonset")}),
		Client:             cc.Client,
		DaemonSet:          cc.Informers.DaemonSets().Informer(),
		ControllerRevision: cc.Informers.ControllerRevisions().Informer(),
		Pod:                cc.Informers.Pods().Informer(),
		Node:               cc.Informers.Nodes().Informer(),
		Recorder:           cc.Recorder("daemonset-controller"),
		Log:                cc.Log,
		Now:                cc.Now,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.DaemonSet == nil || cfg.ControllerRevision == nil || cfg.Pod == nil || cfg.Node == nil || cfg.Recorder == nil {
		return nil, errors.New("daemonset: Client, the DaemonSet, ControllerRevision, Pod and Node informers and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("daemonset")
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = BurstReplicas
	}
	dsMapping, _ := scheme.MappingFor(Kind)
	revMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "ControllerRevision"})
	c := &Controller{
		client:            cfg.Client,
		dsLister:          cache.NewLister[*appsv1.DaemonSet](cfg.DaemonSet.GetIndexer(), dsMapping),
		revLister:         cache.NewLister[*appsv1.ControllerRevision](cfg.ControllerRevision.GetIndexer(), revMapping),
		podLister:         cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), controller.CoreMapping("Pod")),
		nodeLister:        cache.NewLister[*corev1.Node](cfg.Node.GetIndexer(), controller.CoreMapping("Node")),
		queue:             cfg.Queue,
		expectations:      controller.NewExpectations(cfg.Now),
		failedPodsBackoff: newBackoff(failedPodsBackoffBase, failedPodsBackoffMax),
		recorder:          cfg.Recorder,
		log:               cfg.Log,
		now:               cfg.Now,
		burstReplicas:     cfg.BurstReplicas,
	}
	c.synced = []func() bool{cfg.DaemonSet.HasSynced, cfg.ControllerRevision.HasSynced, cfg.Pod.HasSynced, cfg.Node.HasSynced}
	for _, h := range []struct {
		inf      cache.SharedIndexInformer
		handlers cache.ResourceEventHandlerFuncs
	}{
		{cfg.DaemonSet, cache.ResourceEventHandlerFuncs{AddFunc: c.addDaemonSet, UpdateFunc: c.updateDaemonSet, DeleteFunc: c.deleteDaemonSet}},
		{cfg.ControllerRevision, cache.ResourceEventHandlerFuncs{AddFunc: c.addHistory, UpdateFunc: c.updateHistory, DeleteFunc: c.deleteHistory}},
		{cfg.Pod, cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod}},
		{cfg.Node, cache.ResourceEventHandlerFuncs{AddFunc: c.addNode, UpdateFunc: c.updateNode, DeleteFunc: c.deleteNode}},
	} {
		reg, err := h.inf.AddEventHandler(h.handlers)
		if err != nil {
			return nil, fmt.Errorf("daemonset: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// --- event handlers: they only enqueue ---

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

func (c *Controller) enqueueAfter(ds *appsv1.DaemonSet, d time.Duration) {
	if key, err := controller.KeyFunc(ds); err == nil {
		c.queue.AddAfter(key, d)
	}
}

func (c *Controller) addDaemonSet(obj runtime.Object) { c.enqueue(obj) }

// updateDaemonSet queues every update, resyncs included: a resync is what retries a node
// whose failed pod was held back and re-checks everything now and then.
func (c *Controller) updateDaemonSet(oldObj, newObj runtime.Object) {
	if oldObj.GetMetadata().GetUid() != newObj.GetMetadata().GetUid() {
		c.deleteDaemonSet(oldObj) // deleted and recreated under the same name
	}
	c.enqueue(newObj)
}

func (c *Controller) deleteDaemonSet(obj any) {
	ds, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		c.log.Error("delete handler got an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	key, err := controller.KeyFunc(ds)
	if err != nil {
		c.log.Error("enqueue", "err", err)
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the DaemonSet ref names in namespace, if it is still the
// same object (same uid).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	return controller.ResolveControllerRef(c.dsLister, Kind, namespace, ref)
}

// daemonSetsSelecting lists the DaemonSets of namespace whose selector matches lbls: the
// ones that may adopt an orphan with those labels.
func (c *Controller) daemonSetsSelecting(namespace string, lbls map[string]string) []*appsv1.DaemonSet {
	return controller.Selecting(c.dsLister, namespace, lbls, func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.GetSpec().GetSelector() })
}

// enqueueOwnerOrSelecting queues obj's controlling DaemonSet, or, for an orphan, every
// DaemonSet that may adopt it.
func (c *Controller) enqueueOwnerOrSelecting(obj runtime.Object) {
	m := obj.GetMetadata()
	if ref := controller.GetControllerOf(obj); ref != nil {
		if ds := c.resolveControllerRef(m.GetNamespace(), ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	for _, ds := range c.daemonSetsSelecting(m.GetNamespace(), m.GetLabels()) {
		c.enqueue(ds)
	}
}

func (c *Controller) addHistory(obj runtime.Object) {
	if obj.GetMetadata().GetDeletionTimestamp() != nil {
		c.deleteHistory(obj)
		return
	}
	c.enqueueOwnerOrSelecting(obj)
}

func (c *Controller) updateHistory(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	oldRef, curRef := controller.GetControllerOf(oldObj), controller.GetControllerOf(newObj)
	if oldRef != nil && (curRef == nil || curRef.GetUid() != oldRef.GetUid()) {
		if ds := c.resolveControllerRef(oldObj.GetMetadata().GetNamespace(), oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	c.enqueueOwnerOrSelecting(newObj)
}

func (c *Controller) deleteHistory(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		return
	}
	if ref := controller.GetControllerOf(o); ref != nil {
		if ds := c.resolveControllerRef(o.GetMetadata().GetNamespace(), ref); ds != nil {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) addPod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		// A restarted controller may see a pod already pending deletion: count it as
		// deleted so expectations do not wait for a deletion they already got.
		c.deletePod(pod)
		return
	}
	if ref := controller.GetControllerOf(pod); ref != nil {
		ds := c.resolveControllerRef(pod.GetMetadata().GetNamespace(), ref)
		if ds == nil {
			return
		}
		key, err := controller.KeyFunc(ds)
		if err != nil {
			return
		}
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	c.enqueueOwnerOrSelecting(pod)
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
	if cur.GetMetadata().GetDeletionTimestamp() != nil {
		// Graceful deletion: the node needs its replacement now, not once the kubelet is
		// done.
		c.deletePod(cur)
		return
	}
	curRef, oldRef := controller.GetControllerOf(cur), controller.GetControllerOf(old)
	if oldRef != nil && (curRef == nil || curRef.GetUid() != oldRef.GetUid()) {
		if ds := c.resolveControllerRef(old.GetMetadata().GetNamespace(), oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(cur.GetMetadata().GetNamespace(), curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		// A pod that just became ready is available after minReadySeconds: look again then
		// (a second later, against clock skew, as upstream).
		if mrs := ds.GetSpec().GetMinReadySeconds(); mrs > 0 && !controller.IsPodReady(old) && controller.IsPodReady(cur) {
			c.enqueueAfter(ds, time.Duration(mrs)*time.Second+time.Second)
		}
		return
	}
	if !maps.Equal(old.GetMetadata().GetLabels(), cur.GetMetadata().GetLabels()) || oldRef != nil {
		c.enqueueOwnerOrSelecting(cur)
	}
}

func (c *Controller) deletePod(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		c.log.Error("delete handler got an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	ref := controller.GetControllerOf(pod)
	if ref == nil {
		return // an orphan's deletion changes no DaemonSet
	}
	ds := c.resolveControllerRef(pod.GetMetadata().GetNamespace(), ref)
	if ds == nil {
		return
	}
	dsKey, err := controller.KeyFunc(ds)
	if err != nil {
		return
	}
	podKey, err := controller.KeyFunc(pod)
	if err != nil {
		return
	}
	c.expectations.DeletionObserved(dsKey, podKey)
	c.queue.Add(dsKey)
}

// addNode queues the DaemonSets that should run on the new node.
func (c *Controller) addNode(obj runtime.Object) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	for _, ds := range c.allDaemonSets() {
		if shouldRun, _ := NodeShouldRunDaemonPod(node, ds); shouldRun {
			c.enqueue(ds)
		}
	}
}

// updateNode queues the DaemonSets whose verdict on the node changed (labels, taints): a
// kubelet's heartbeats change none, so they queue nothing.
func (c *Controller) updateNode(oldObj, newObj runtime.Object) {
	old, ok1 := oldObj.(*corev1.Node)
	cur, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 || controller.IsResync(oldObj, newObj) {
		return
	}
	for _, ds := range c.allDaemonSets() {
		oldRun, oldContinue := NodeShouldRunDaemonPod(old, ds)
		curRun, curContinue := NodeShouldRunDaemonPod(cur, ds)
		if oldRun != curRun || oldContinue != curContinue {
			c.enqueue(ds)
		}
	}
}

// deleteNode queues the DaemonSets that ran on the node, so their status stops counting
// it at once. Upstream has no such handler: its status follows when the pod garbage
// collector (podgc here too) deletes the node's pods, 40 s of quarantine later.
func (c *Controller) deleteNode(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		return
	}
	node, ok := o.(*corev1.Node)
	if !ok {
		return
	}
	for _, ds := range c.allDaemonSets() {
		if _, shouldContinue := NodeShouldRunDaemonPod(node, ds); shouldContinue {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) allDaemonSets() []*appsv1.DaemonSet {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		c.log.Error("list daemonsets", "err", err)
		return nil
	}
	return all
}
