// Package disruption is the disruption controller, Kubernetes' pkg/controller/disruption: it
// keeps each PodDisruptionBudget's status true to the pods its selector matches, so the
// eviction subresource (which spends status.disruptionsAllowed) knows how many of them may
// go right now.
//
// For each budget: the pods of its namespace its selector matches; expectedPods and
// desiredHealthy from spec.minAvailable or spec.maxUnavailable and the pods' controllers'
// scale (getExpectedPodCount below); currentHealthy, the matched pods that are Ready, not
// being deleted and not granted an eviction still under way (status.disruptedPods);
// disruptionsAllowed = currentHealthy - desiredHealthy, at least 0 (and 0 while no pod is
// expected); the DisruptionAllowed condition; observedGeneration. Writes go through the
// status subresource with the budget's resourceVersion, so an eviction spending the budget
// meanwhile makes the write a conflict and the sync runs again on what it wrote.
//
// Event handlers only enqueue budget keys ("namespace/name"); sync is level-based and
// recomputes from the informer caches.
package disruption

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
	"kubelab.io/client/record"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/disruption"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client     *kube.Clientset
	PDB        cache.SharedIndexInformer
	Pod        cache.SharedIndexInformer
	ReplicaSet cache.SharedIndexInformer
	Deployment cache.SharedIndexInformer
	// Recorder records the controller's Events (see events.go).
	Recorder EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=disruption).
	Log *slog.Logger
	// Queue defaults to a rate-limited work queue named "disruption".
	Queue workqueue.Interface[string]
	// Clock is injected so tests control time; nil means time.Now.
	Clock func() time.Time
}

// Controller keeps PodDisruptionBudget status.
type Controller struct {
	client      *kube.Clientset
	pdbs        cache.Lister[*policyv1.PodDisruptionBudget]
	pods        cache.Lister[*corev1.Pod]
	replicaSets cache.Lister[*appsv1.ReplicaSet]
	deployments cache.Lister[*appsv1.Deployment]
	synced      []func() bool
	queue       workqueue.Interface[string]
	recorder    EventRecorder
	log         *slog.Logger
	clock       func() time.Time
}

// New builds the controller on the shared informers of cc. Its work queue reports
// client-go-named metrics (workqueue_*{name="disruption"}).
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	if cc.Recorder == nil {
		return nil, errors.New("disruption: the controller context has no event recorder")
	}
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("disruption: queue metrics: %w", err)
	}
	return NewController(Config{
		Client:     cc.Client,
		PDB:        cc.Informers.PodDisruptionBudgets().Informer(),
		Pod:        cc.Informers.Pods().Informer(),
		ReplicaSet: cc.Informers.ReplicaSets().Informer(),
		Deployment: cc.Informers.Deployments().Informer(),
		Recorder:   cc.Recorder(Component),
		Log:        cc.Log,
		Queue:      workqueue.New(workqueue.Config[string]{Name: "disruption", Metrics: metrics.For("disruption")}),
		Clock:      cc.Clock,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.PDB == nil || cfg.Pod == nil || cfg.ReplicaSet == nil || cfg.Deployment == nil || cfg.Recorder == nil {
		return nil, errors.New("disruption: Client, Recorder and the PodDisruptionBudget, Pod, ReplicaSet and Deployment informers are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("disruption")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	mapping := func(group, kind string) scheme.Mapping {
		m, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: group, Version: "v1", Kind: kind})
		return m
	}
	c := &Controller{
		client:      cfg.Client,
		pdbs:        cache.NewLister[*policyv1.PodDisruptionBudget](cfg.PDB.GetIndexer(), mapping(scheme.GroupPolicy, "PodDisruptionBudget")),
		pods:        cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), mapping(scheme.GroupCore, "Pod")),
		replicaSets: cache.NewLister[*appsv1.ReplicaSet](cfg.ReplicaSet.GetIndexer(), mapping(scheme.GroupApps, "ReplicaSet")),
		deployments: cache.NewLister[*appsv1.Deployment](cfg.Deployment.GetIndexer(), mapping(scheme.GroupApps, "Deployment")),
		queue:       cfg.Queue,
		recorder:    cfg.Recorder,
		log:         cfg.Log,
		clock:       cfg.Clock,
	}
	pdbReg, err := cfg.PDB.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, newObj runtime.Object) { c.enqueue(newObj) },
		DeleteFunc: func(any) {}, // a deleted budget has no status to keep
	})
	if err != nil {
		return nil, fmt.Errorf("disruption: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueForPod,
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			// A pod whose labels changed may have left a budget, so both versions count.
			c.enqueueForPod(oldObj)
			c.enqueueForPod(newObj)
		},
		DeleteFunc: func(obj any) {
			if pod, ok := controller.ObjectFromTombstone(obj); ok {
				c.enqueueForPod(pod)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("disruption: %w", err)
	}
	// ReplicaSets and Deployments are read, not watched for changes, as upstream: a change
	// of scale shows in the pods soon enough, and the informers' resync catches the rest.
	c.synced = []func() bool{cfg.PDB.HasSynced, cfg.Pod.HasSynced, cfg.ReplicaSet.HasSynced, cfg.Deployment.HasSynced,
		pdbReg.HasSynced, podReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

// enqueueForPod queues every budget of the pod's namespace whose selector matches it.
func (c *Controller) enqueueForPod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, err := c.pdbs.Namespace(pod.GetMetadata().GetNamespace()).List(labels.Everything())
	if err != nil {
		c.log.Error("list budgets", "namespace", pod.GetMetadata().GetNamespace(), "err", err)
		return
	}
	for _, pdb := range pdbs {
		if sel, err := labels.FromLabelSelector(pdb.GetSpec().GetSelector()); err == nil && sel.Matches(pod.GetMetadata().GetLabels()) {
			c.enqueue(pdb)
		}
	}
}

// sync recomputes the status of the budget key ("namespace/name"). A failure other than a
// conflict leaves the budget fail-safe, as upstream's failSafe: no disruption allowed, and
// DisruptionAllowed False with reason SyncFailed saying why.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	pdb, err := c.pdbs.Namespace(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return err // a conflict: retried on the budget as it now is
	}
	c.log.Error("sync failed; allowing no disruption", "namespace", namespace, "name", name, "err", err)
	next := proto.Clone(pdb).(*policyv1.PodDisruptionBudget)
	if next.Status == nil {
		next.Status = &policyv1.PodDisruptionBudgetStatus{}
	}
	next.Status.DisruptionsAllowed = 0
	disruption.SetCondition(next, &metav1.Condition{Type: disruption.ConditionDisruptionAllowed, Status: "False",
		Reason: disruption.ReasonSyncFailed, Message: err.Error(), ObservedGeneration: next.Status.GetObservedGeneration()}, c.clock())
	if _, werr := c.client.PodDisruptionBudgets(namespace).UpdateStatus(ctx, next); werr != nil {
		return werr
	}
	return err
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	namespace, name := pdb.GetMetadata().GetNamespace(), pdb.GetMetadata().GetName()
	// Here an empty selector matches every pod of the namespace and a null one none, as
	// LabelSelectorAsSelector reads them (unlike the eviction path, which lets an empty
	// selector cover nothing).
	sel, err := labels.FromLabelSelector(pdb.GetSpec().GetSelector())
	if err != nil {
		c.recorder.Eventf(pdb, record.Warning, ReasonNoPods, "Failed to get pods: %v", err)
		return err
	}
	pods, err := c.pods.Namespace(namespace).List(sel)
	if err != nil {
		c.recorder.Eventf(pdb, record.Warning, ReasonNoPods, "Failed to get pods: %v", err)
		return err
	}
	if len(pods) == 0 {
		c.recorder.Eventf(pdb, record.Normal, ReasonNoPods, "No matching pods found")
	}
	now := c.clock()
	res, err := computeStatus(pdb, pods, c.scaleOf, now)
	if err != nil {
		c.recorder.Eventf(pdb, record.Warning, ReasonCalculateExpectedPodCountFailed, "Failed to calculate the number of expected pods: %v", err)
		return fmt.Errorf("failed to calculate the number of expected pods: %w", err)
	}
	if len(res.unmanaged) > 0 {
		c.log.Warn("pods selected by this budget have no controller, so percentages and maxUnavailable cannot count them; use an integer minAvailable",
			"namespace", namespace, "name", name, "pods", res.unmanaged)
		c.recorder.Eventf(pdb, record.Warning, ReasonUnmanagedPods, "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.", sel)
	}
	for _, pod := range res.notDeleted {
		c.log.Info("pod granted an eviction was not deleted in time; the budget stops holding it", "namespace", namespace, "name", name,
			"pod", pod.GetMetadata().GetName())
		c.recorder.Eventf(pod, record.Warning, ReasonNotDeleted, "Pod was expected by PDB %s/%s to be deleted but it wasn't", namespace, name)
	}
	status := res.status
	// computeStatus carries the condition's transition time over, so equal means unchanged.
	if !proto.Equal(pdb.GetStatus(), status) {
		next := proto.Clone(pdb).(*policyv1.PodDisruptionBudget)
		next.Status = status
		if _, err := c.client.PodDisruptionBudgets(namespace).UpdateStatus(ctx, next); err != nil {
			return err
		}
		c.log.Info("budget status updated", "namespace", namespace, "name", name,
			"expectedPods", status.ExpectedPods, "currentHealthy", status.CurrentHealthy,
			"desiredHealthy", status.DesiredHealthy, "disruptionsAllowed", status.DisruptionsAllowed)
	}
	if res.recheck != nil {
		// An eviction granted but not yet seen through expires then; look again.
		c.queue.AddAfter(namespace+"/"+name, res.recheck.Sub(now))
	}
	return nil
}

// scaleFunc returns the controller owning a pod (its uid, to count each once) and its
// desired replicas; ok is false when the pod has no controller.
type scaleFunc func(pod *corev1.Pod) (uid string, replicas int32, ok bool, err error)

// scaleOf finds a pod's controller's scale, as upstream's finders: a ReplicaSet owned by a
// Deployment counts the Deployment's spec.replicas, any other ReplicaSet its own. Upstream
// also asks ReplicationControllers, StatefulSets and any kind with a scale subresource;
// kubelab serves only these two.
func (c *Controller) scaleOf(pod *corev1.Pod) (string, int32, bool, error) {
	ref := controller.GetControllerOf(pod)
	if ref == nil {
		return "", 0, false, nil
	}
	ns := pod.GetMetadata().GetNamespace()
	if ref.GetKind() == "ReplicaSet" {
		rs, err := c.replicaSets.Namespace(ns).Get(ref.GetName())
		if err == nil && rs.GetMetadata().GetUid() == ref.GetUid() {
			if dref := controller.GetControllerOf(rs); dref != nil && dref.GetKind() == "Deployment" {
				d, err := c.deployments.Namespace(ns).Get(dref.GetName())
				if err == nil && d.GetMetadata().GetUid() == dref.GetUid() {
					return d.GetMetadata().GetUid(), d.GetSpec().GetReplicas(), true, nil
				}
			} else {
				return rs.GetMetadata().GetUid(), rs.GetSpec().GetReplicas(), true, nil
			}
		}
	}
	return "", 0, true, fmt.Errorf("found no controllers for pod %q", pod.GetMetadata().GetName())
}
