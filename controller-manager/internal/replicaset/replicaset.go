// Package replicaset is the ReplicaSet controller, a port of Kubernetes'
// pkg/controller/replicaset: it creates and deletes pods so that each ReplicaSet has
// spec.replicas active pods matching its selector, adopts matching orphans, releases owned
// pods that stopped matching, and reports the counts in the status subresource.
//
// Event handlers only enqueue ReplicaSet keys; sync(ctx, key) is level-based and re-reads
// everything from the informer caches. Expectations keep a lagging cache from making a sync
// create or delete what an earlier sync already did.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
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

// Kind is the ReplicaSet's group/version/kind, as written in the pods' ownerReferences.
var Kind = runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "ReplicaSet"}

// Event reasons, as Kubernetes' replica set controller and pod control record them.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = controller.EventSuccessfulDelete
	FailedDelete     = controller.EventFailedDelete
	InvalidSelector  = "InvalidSelector"
)

// replicaFailure is the ReplicaSet condition set while pods cannot be created or deleted.
const replicaFailure = "ReplicaFailure"

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client     *kube.Clientset
	ReplicaSet cache.SharedIndexInformer
	Pod        cache.SharedIndexInformer
	Recorder   EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=replicaset).
	Log *slog.Logger
	// Now is the clock of availability (minReadySeconds) and expectations; nil is time.Now.
	Now func() time.Time
	// Queue defaults to a rate-limited work queue named "replicaset".
	Queue workqueue.Interface[string]
	// BurstReplicas caps the creations or deletions of one sync (default 500).
	BurstReplicas int
}

// Controller is the ReplicaSet controller.
type Controller struct {
	client        *kube.Clientset
	rsLister      cache.Lister[*appsv1.ReplicaSet]
	podLister     cache.Lister[*corev1.Pod]
	synced        []func() bool
	queue         workqueue.Interface[string]
	expectations  *controller.Expectations
	recorder      EventRecorder
	log           *slog.Logger
	now           func() time.Time
	burstReplicas int
}

// New builds the controller on the shared informers of cc and registers its handlers.
// Its work queue reports client-go-named metrics (workqueue_*{name="replicaset"}) to
// prometheus.DefaultRegisterer, which the controller-manager serves on /metrics.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("replicaset: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:      workqueue.New(workqueue.Config[string]{Name: "replicaset", Metrics: metrics.For("replicaset")}),
		Client:     cc.Client,
		ReplicaSet: cc.Informers.ReplicaSets().Informer(),
		Pod:        cc.Informers.Pods().Informer(),
		Recorder:   cc.Recorder("replicaset-controller"),
		Log:        cc.Log,
		Now:        cc.Now,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.ReplicaSet == nil || cfg.Pod == nil || cfg.Recorder == nil {
		return nil, errors.New("replicaset: Client, ReplicaSet and Pod informers and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("replicaset")
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = controller.BurstReplicas
	}
	rsMapping, _ := scheme.MappingFor(Kind)
	podMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"})
	c := &Controller{
		client:        cfg.Client,
		rsLister:      cache.NewLister[*appsv1.ReplicaSet](cfg.ReplicaSet.GetIndexer(), rsMapping),
		podLister:     cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), podMapping),
		queue:         cfg.Queue,
		expectations:  controller.NewExpectations(cfg.Now),
		recorder:      cfg.Recorder,
		log:           cfg.Log,
		now:           cfg.Now,
		burstReplicas: cfg.BurstReplicas,
	}
	rsReg, err := cfg.ReplicaSet.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue, UpdateFunc: c.updateRS, DeleteFunc: c.deleteRS,
	})
	if err != nil {
		return nil, fmt.Errorf("replicaset: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("replicaset: %w", err)
	}
	c.synced = []func() bool{cfg.ReplicaSet.HasSynced, cfg.Pod.HasSynced, rsReg.HasSynced, podReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		c.queue.ShutDown()
		return
	}
	controller.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
}

// --- event handlers: they only enqueue ---

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

func (c *Controller) updateRS(oldObj, newObj runtime.Object) {
	if controller.IsResync(oldObj, newObj) {
		return
	}
	c.enqueue(newObj)
}

func (c *Controller) deleteRS(obj any) {
	rs, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		c.log.Error("delete handler got an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	key, err := controller.KeyFunc(rs)
	if err != nil {
		c.log.Error("enqueue", "err", err)
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the ReplicaSet ref names in namespace, if it is still the
// same object (same uid).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	return controller.ResolveControllerRef(c.rsLister, Kind, namespace, ref)
}

// replicaSetsFor lists the ReplicaSets whose selector matches an orphan pod.
func (c *Controller) replicaSetsFor(pod *corev1.Pod) []*appsv1.ReplicaSet {
	m := pod.GetMetadata()
	return controller.Selecting(c.rsLister, m.GetNamespace(), m.GetLabels(), func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.GetSpec().GetSelector() })
}

func (c *Controller) addPod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		// A restarted controller may see a pod already pending deletion: count it as deleted
		// so expectations are not left waiting for a deletion they already got.
		c.deletePod(pod)
		return
	}
	if ref := controller.GetControllerOf(pod); ref != nil {
		rs := c.resolveControllerRef(pod.GetMetadata().GetNamespace(), ref)
		if rs == nil {
			return
		}
		key, err := controller.KeyFunc(rs)
		if err != nil {
			return
		}
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	// An orphan: every matching ReplicaSet gets a chance to adopt it.
	for _, rs := range c.replicaSetsFor(pod) {
		c.enqueue(rs)
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
	labelsChanged := !equalMaps(old.GetMetadata().GetLabels(), cur.GetMetadata().GetLabels())
	if cur.GetMetadata().GetDeletionTimestamp() != nil {
		// Graceful deletion: the pod stops counting now, not when the kubelet is done.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := controller.GetControllerOf(cur), controller.GetControllerOf(old)
	if oldRef != nil && (curRef == nil || curRef.GetUid() != oldRef.GetUid()) {
		// The old owner lost a pod.
		if rs := c.resolveControllerRef(old.GetMetadata().GetNamespace(), oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(cur.GetMetadata().GetNamespace(), curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		// A pod that just became ready is available after minReadySeconds: look again then.
		if mrs := rs.GetSpec().GetMinReadySeconds(); mrs > 0 && !controller.IsPodReady(old) && controller.IsPodReady(cur) {
			if key, err := controller.KeyFunc(rs); err == nil {
				c.queue.AddAfter(key, time.Duration(mrs)*time.Second)
			}
		}
		return
	}
	if labelsChanged || oldRef != nil {
		for _, rs := range c.replicaSetsFor(cur) {
			c.enqueue(rs)
		}
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
		return // an orphan's deletion changes no ReplicaSet
	}
	rs := c.resolveControllerRef(pod.GetMetadata().GetNamespace(), ref)
	if rs == nil {
		return
	}
	rsKey, err := controller.KeyFunc(rs)
	if err != nil {
		return
	}
	podKey, err := controller.KeyFunc(pod)
	if err != nil {
		return
	}
	c.expectations.DeletionObserved(rsKey, podKey)
	c.queue.Add(rsKey)
}

func equalMaps(a, b map[string]string) bool {
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

// --- sync ---

// sync makes the ReplicaSet key's pods match its spec and writes its status. It returns nil
// when the ReplicaSet is gone or its selector is invalid (an event says so), and any
// transient error for the queue to retry with backoff.
func (c *Controller) sync(ctx context.Context, key string) error {
	start := c.now()
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	rs, err := c.rsLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.log.Debug("replicaset deleted", "namespace", ns, "name", name)
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() {
		c.log.Debug("synced", "namespace", ns, "name", name, "duration", c.now().Sub(start))
	}()
	selector, err := labels.FromLabelSelector(rs.GetSpec().GetSelector())
	if err != nil {
		// A permanent problem of the spec: say so once per change, do not retry.
		c.recorder.Eventf(rs, "Warning", InvalidSelector, "Invalid selector: %v", err)
		return nil
	}
	rsNeedsSync := c.expectations.Satisfied(key)

	all, err := c.podLister.Namespace(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	active := controller.FilterActivePods(all)
	m := &controller.PodControllerRefManager{
		Client: c.client, Controller: rs, ControllerKind: Kind, Selector: selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
			return c.client.ReplicaSets(ns).Get(ctx, name)
		}, rs.GetMetadata().GetUid()),
	}
	pods, err := m.ClaimPods(ctx, active)
	if err != nil {
		return err
	}

	var manageErr error
	if rsNeedsSync && rs.GetMetadata().GetDeletionTimestamp() == nil {
		manageErr = c.manageReplicas(ctx, key, pods, rs)
	}
	status := c.calculateStatus(rs, pods, manageErr)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		// Retried: the status is level-based and will be recomputed.
		return errors.Join(manageErr, err)
	}
	// Pods ready but not yet available: look again once minReadySeconds have passed.
	if mrs := updated.GetSpec().GetMinReadySeconds(); manageErr == nil && mrs > 0 &&
		updated.GetStatus().GetReadyReplicas() == replicas(updated) &&
		updated.GetStatus().GetAvailableReplicas() != replicas(updated) {
		c.queue.AddAfter(key, time.Duration(mrs)*time.Second)
	}
	return manageErr
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if r := rs.GetSpec().Replicas; r != nil {
		return *r
	}
	return 1
}

// manageReplicas creates or deletes pods so that len(pods) moves toward spec.replicas, at
// most burstReplicas per call. It does not retry: a failure is returned and the sync is
// requeued with backoff.
func (c *Controller) manageReplicas(ctx context.Context, key string, pods []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	diff := len(pods) - int(replicas(rs))
	ns := rs.GetMetadata().GetNamespace()
	switch {
	case diff < 0:
		diff = min(-diff, c.burstReplicas)
		// Expect before creating: the informer may see a pod before Create returns.
		c.expectations.ExpectCreations(key, diff)
		c.log.Info("creating pods", "namespace", ns, "name", rs.GetMetadata().GetName(), "want", replicas(rs), "have", len(pods), "creating", diff)
		ref := controller.NewControllerRef(rs, Kind)
		successes, err := controller.SlowStartBatch(diff, controller.SlowStartInitialBatchSize, func() error {
			pod := controller.PodFromTemplate(rs.GetSpec().GetTemplate(), rs, ref)
			created, err := c.client.Pods(ns).Create(ctx, pod)
			if apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
				// As upstream: no event and no error, since every creation in a namespace
				// being deleted fails and the deletion takes the ReplicaSet too. The
				// creation counts as done, so its expectation stays pending until it
				// expires and the syncs meanwhile do not try again.
				return nil
			}
			if err != nil {
				c.recorder.Eventf(rs, "Warning", FailedCreate, "Error creating: %v", err)
				return err
			}
			c.recorder.Eventf(rs, "Normal", SuccessfulCreate, "Created pod: %s", created.GetMetadata().GetName())
			return nil
		})
		// The creations skipped or failed will never be observed.
		for range diff - successes {
			c.expectations.CreationObserved(key)
		}
		if err != nil {
			return fmt.Errorf("create pods for replicaset %s: %w", key, err)
		}
	case diff > 0:
		diff = min(diff, c.burstReplicas)
		victims := podsToDelete(pods, diff)
		podKeys := make([]string, 0, len(victims))
		for _, p := range victims {
			k, _ := controller.KeyFunc(p) // pods from the cache always have a key
			podKeys = append(podKeys, k)
		}
		c.expectations.ExpectDeletions(key, podKeys)
		c.log.Info("deleting pods", "namespace", ns, "name", rs.GetMetadata().GetName(), "want", replicas(rs), "have", len(pods), "deleting", diff)
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Go(func() {
				deleted, err := c.deletePodAPI(ctx, rs, p)
				if !deleted {
					// This call deleted nothing, so no event of it is coming (one for a
					// pod deleted by someone else counts only once: see Expectations).
					c.expectations.DeletionObserved(key, podKeys[i])
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("delete pods of replicaset %s: %w", key, err)
		}
	}
	return nil
}

// deletePodAPI deletes pod, conditional on its uid (controller.DeletePod).
func (c *Controller) deletePodAPI(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) (deleted bool, _ error) {
	return controller.DeletePod(ctx, c.client, c.recorder, rs, pod)
}

// podsToDelete picks the n pods to delete first: see controller.ActivePodsWithRanks, with
// pods ranked by how many of the ReplicaSet's pods share their node.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range pods {
		if node := p.GetSpec().GetNodeName(); node != "" {
			onNode[node]++
		}
	}
	sorted := append([]*corev1.Pod(nil), pods...)
	ranks := make([]int, len(sorted))
	for i, p := range sorted {
		ranks[i] = onNode[p.GetSpec().GetNodeName()]
	}
	sort.Stable(controller.ActivePodsWithRanks{Pods: sorted, Rank: ranks})
	return sorted[:n]
}

// calculateStatus is the status the ReplicaSet should have given its pods.
func (c *Controller) calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) *appsv1.ReplicaSetStatus {
	status := proto.Clone(rs.GetStatus()).(*appsv1.ReplicaSetStatus)
	if status == nil {
		status = &appsv1.ReplicaSetStatus{}
	}
	templateLabels := rs.GetSpec().GetTemplate().GetMetadata().GetLabels()
	now := c.now()
	var fullyLabeled, ready, available int32
	for _, p := range pods {
		if labelsContain(p.GetMetadata().GetLabels(), templateLabels) {
			fullyLabeled++
		}
		if controller.IsPodReady(p) {
			ready++
			if controller.IsPodAvailable(p, rs.GetSpec().GetMinReadySeconds(), now) {
				available++
			}
		}
	}
	failure := -1
	for i, cond := range status.Conditions {
		if cond.GetType() == replicaFailure {
			failure = i
		}
	}
	switch {
	case manageErr != nil && failure < 0:
		reason := "FailedCreate"
		if len(pods) > int(replicas(rs)) {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, &appsv1.ReplicaSetCondition{
			Type: replicaFailure, Status: controller.ConditionTrue, Reason: reason,
			Message: manageErr.Error(), LastTransitionTime: controller.NewTime(now),
		})
	case manageErr == nil && failure >= 0:
		status.Conditions = append(status.Conditions[:failure], status.Conditions[failure+1:]...)
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.ObservedGeneration = rs.GetMetadata().GetGeneration()
	return status
}

func labelsContain(have map[string]string, want map[string]string) bool {
	for k, v := range want {
		if w, ok := have[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// updateStatus writes status through the status subresource unless it is what rs already
// has. On a conflict it re-reads the ReplicaSet once and tries again, as Kubernetes does;
// other errors go back to the queue.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status *appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if proto.Equal(rs.GetStatus(), status) ||
		(rs.GetStatus() == nil && proto.Equal(status, &appsv1.ReplicaSetStatus{})) {
		return rs, nil
	}
	client := c.client.ReplicaSets(rs.GetMetadata().GetNamespace())
	next := proto.Clone(rs).(*appsv1.ReplicaSet)
	next.Status = status
	for attempt := 0; ; attempt++ {
		s := next.GetStatus()
		c.log.Info("updating status", "namespace", next.GetMetadata().GetNamespace(), "name", next.GetMetadata().GetName(),
			"replicas", s.GetReplicas(), "fullyLabeledReplicas", s.GetFullyLabeledReplicas(),
			"readyReplicas", s.GetReadyReplicas(), "availableReplicas", s.GetAvailableReplicas(),
			"observedGeneration", s.GetObservedGeneration())
		out, err := client.UpdateStatus(ctx, next)
		if err == nil {
			return out, nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return nil, fmt.Errorf("update status of replicaset %s/%s: %w", next.GetMetadata().GetNamespace(), next.GetMetadata().GetName(), err)
		}
		fresh, gerr := client.Get(ctx, next.GetMetadata().GetName())
		if gerr != nil {
			return nil, fmt.Errorf("update status of replicaset %s/%s: %w", next.GetMetadata().GetNamespace(), next.GetMetadata().GetName(), gerr)
		}
		fresh.Status = status
		next = fresh
	}
}
