// Package resourcequota is the resource quota controller, Kubernetes'
// pkg/controller/resourcequota: it keeps each ResourceQuota's status true to its namespace.
// status.hard mirrors spec.hard and status.used is recomputed from the namespace's pods
// that match the quota's scopes, and its PersistentVolumeClaims, with
// kubelab.io/proto/quota, the rule the apiserver's ResourceQuota admission plugin charges
// new pods and claims with.
//
// The admission plugin only ever adds to status.used; this controller is how room comes
// back: when a pod is deleted, when it finishes (Succeeded/Failed) or its resources change,
// when a claim is gone (a claim being deleted holds its room until its finalizers let it
// go), and every --resource-quota-sync-period for every quota, which also returns the charge of
// a create that failed after it was charged and the room of pods stuck terminating past
// their grace period (quota.Counts).
//
// Event handlers only enqueue quota keys ("namespace/name"); sync is level-based and
// recomputes from scratch, so a restart (or a missed event) costs nothing but a recompute.
package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/quota"
	"kubelab.io/proto/resource"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// listPageSize pages the pod and claim lists of a sync, so a namespace with many is read in
// bites (every page at the first page's revision, so the pages form one snapshot).
const listPageSize = 500

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client *kube.Clientset
	Quota  cache.SharedIndexInformer
	Pod    cache.SharedIndexInformer
	Claim  cache.SharedIndexInformer
	// Log is the controller's logger (the controller-manager labels it controller=resourcequota).
	Log *slog.Logger
	// Queue defaults to a rate-limited work queue named "resourcequota".
	Queue workqueue.Interface[string]
	// ResyncPeriod is how often every quota is recomputed whatever happened
	// (--resource-quota-sync-period); 0 disables the full resync.
	ResyncPeriod time.Duration
}

// Controller recomputes ResourceQuota status.
type Controller struct {
	client       *kube.Clientset
	quotas       cache.Lister[*corev1.ResourceQuota]
	synced       []func() bool
	queue        workqueue.Interface[string]
	log          *slog.Logger
	resyncPeriod time.Duration
}

// New builds the controller on the shared informers of cc and registers its handlers. Its
// work queue reports client-go-named metrics (workqueue_*{name="resourcequota"}).
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("resourcequota: queue metrics: %w", err)
	}
	return NewController(Config{
		Client:       cc.Client,
		Quota:        cc.Informers.ResourceQuotas().Informer(),
		Pod:          cc.Informers.Pods().Informer(),
		Claim:        cc.Informers.PersistentVolumeClaims().Informer(),
		Log:          cc.Log,
		Queue:        workqueue.New(workqueue.Config[string]{Name: "resourcequota", Metrics: metrics.For("resourcequota")}),
		ResyncPeriod: cc.Options.ResourceQuotaSyncPeriod,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Quota == nil || cfg.Pod == nil || cfg.Claim == nil {
		return nil, errors.New("resourcequota: Client and the ResourceQuota, Pod and PersistentVolumeClaim informers are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("resourcequota")
	}
	quotaMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "ResourceQuota"})
	c := &Controller{
		client:       cfg.Client,
		quotas:       cache.NewLister[*corev1.ResourceQuota](cfg.Quota.GetIndexer(), quotaMapping),
		queue:        cfg.Queue,
		log:          cfg.Log,
		resyncPeriod: cfg.ResyncPeriod,
	}
	quotaReg, err := cfg.Quota.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue, UpdateFunc: c.updateQuota,
	})
	if err != nil {
		return nil, fmt.Errorf("resourcequota: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: c.updatePod, DeleteFunc: c.deleteObject,
	})
	if err != nil {
		return nil, fmt.Errorf("resourcequota: %w", err)
	}
	claimReg, err := cfg.Claim.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: c.updateClaim, DeleteFunc: c.deleteObject,
	})
	if err != nil {
		return nil, fmt.Errorf("resourcequota: %w", err)
	}
	c.synced = []func() bool{cfg.Quota.HasSynced, cfg.Pod.HasSynced, cfg.Claim.HasSynced,
		quotaReg.HasSynced, podReg.HasSynced, claimReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers, and the full resync, until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers, "resyncPeriod", c.resyncPeriod)
	defer c.log.Info("stopped")
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		c.queue.ShutDown()
		return
	}
	if c.resyncPeriod > 0 {
		go c.resyncEvery(ctx, c.resyncPeriod)
	}
	controller.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
}

// resyncEvery enqueues every quota each period until ctx ends, as Kubernetes' enqueueAll
// does: the safety net for what no event announces (a charge whose create then failed).
func (c *Controller) resyncEvery(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.enqueueAll()
		}
	}
}

// enqueueAll queues every quota in the cache.
func (c *Controller) enqueueAll() {
	all, err := c.quotas.List(labels.Everything())
	if err != nil {
		c.log.Error("list quotas for the full resync", "err", err)
		return
	}
	for _, q := range all {
		c.enqueue(q)
	}
	c.log.Debug("full resync", "quotas", len(all))
}

// --- event handlers: they only enqueue ---

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

// updateQuota queues a quota whose spec.hard changed or whose status.hard does not mirror
// it. Status-only updates are skipped, as Kubernetes skips them: every admission charge is
// one, and recomputing on each would list the namespace's pods once per pod created.
func (c *Controller) updateQuota(oldObj, newObj runtime.Object) {
	oldQ, ok1 := oldObj.(*corev1.ResourceQuota)
	newQ, ok2 := newObj.(*corev1.ResourceQuota)
	if !ok1 || !ok2 {
		return
	}
	if hardEqual(oldQ.GetSpec().GetHard(), newQ.GetSpec().GetHard()) &&
		hardEqual(newQ.GetSpec().GetHard(), newQ.GetStatus().GetHard()) {
		return
	}
	c.enqueue(newQ)
}

// updatePod queues the namespace's quotas when what the pod counts for changed: it
// finished (Succeeded/Failed), its requests or limits changed, or it moved between scopes. A new pod needs nothing:
// admission charged it before it was stored.
func (c *Controller) updatePod(oldObj, newObj runtime.Object) {
	oldPod, ok1 := oldObj.(*corev1.Pod)
	newPod, ok2 := newObj.(*corev1.Pod)
	if ok1 && ok2 && !controller.IsResync(oldPod, newPod) && usageChanged(oldPod, newPod) {
		c.enqueueNamespace(newPod.GetMetadata().GetNamespace())
	}
}

// deleteObject queues the quotas of a deleted pod's or claim's namespace: its room comes
// back. A claim is deleted only once its finalizers are gone, so a claim still in use
// keeps its room, as upstream.
func (c *Controller) deleteObject(obj any) {
	o, ok := controller.ObjectFromTombstone(obj)
	if !ok {
		c.log.Error("delete handler got an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	c.enqueueNamespace(o.GetMetadata().GetNamespace())
}

// updateClaim queues the namespace's quotas when what a claim counts for changed: its
// class or its storage request. kubelab refuses both changes today; this keeps the usage
// true should either become possible. A new claim needs nothing: admission charged it.
func (c *Controller) updateClaim(oldObj, newObj runtime.Object) {
	oldClaim, ok1 := oldObj.(*corev1.PersistentVolumeClaim)
	newClaim, ok2 := newObj.(*corev1.PersistentVolumeClaim)
	if !ok1 || !ok2 || controller.IsResync(oldClaim, newClaim) {
		return
	}
	if corev1.ClaimStorageClass(oldClaim) != corev1.ClaimStorageClass(newClaim) ||
		quota.ClaimUsage(oldClaim, claimStorage)["requests.storage"].Cmp(quota.ClaimUsage(newClaim, claimStorage)["requests.storage"]) != 0 {
		c.enqueueNamespace(newClaim.GetMetadata().GetNamespace())
	}
}

// claimStorage asks ClaimUsage for a claim's storage alone.
var claimStorage = resource.List{"requests.storage": resource.Quantity{}}

// enqueueNamespace queues every quota of namespace; in a namespace without quotas it costs
// nothing (no API call).
func (c *Controller) enqueueNamespace(namespace string) {
	qs, err := c.quotas.Namespace(namespace).List(labels.Everything())
	if err != nil {
		c.log.Error("list quotas", "namespace", namespace, "err", err)
		return
	}
	for _, q := range qs {
		c.enqueue(q)
	}
}

// allPodResources tracks every resource a pod can count for, to compare two pods' usage.
var allPodResources = func() resource.List {
	l := resource.List{}
	for _, name := range quota.PodResources {
		l[name] = resource.Quantity{}
	}
	return l
}()

// usageChanged reports whether the two versions of a pod count differently against any
// quota: they take different amounts, or they fall under different scopes (a pod given
// spec.activeDeadlineSeconds leaves NotTerminating quotas for Terminating ones).
func usageChanged(oldPod, newPod *corev1.Pod) bool {
	for _, scope := range quota.Scopes {
		if quota.MatchesScope(scope, oldPod) != quota.MatchesScope(scope, newPod) {
			return true
		}
	}
	now := time.Now()
	before, after := quota.PodUsage(oldPod, allPodResources, now), quota.PodUsage(newPod, allPodResources, now)
	for _, name := range quota.PodResources {
		if before[name].Cmp(after[name]) != 0 {
			return true
		}
	}
	return false
}

// hardEqual compares two resource maps by value (1Gi equals 1024Mi). A map that does not
// parse equals nothing, so its quota is synced (and the sync logs why it cannot be).
func hardEqual(a, b map[string]*metav1.Quantity) bool {
	if len(a) != len(b) {
		return false
	}
	la, errA := resource.ParseList(a)
	lb, errB := resource.ParseList(b)
	if errA != nil || errB != nil {
		return false
	}
	for name, q := range la {
		other, ok := lb[name]
		if !ok || q.Cmp(other) != 0 {
			return false
		}
	}
	return true
}

// --- sync ---

// sync recomputes the status of the quota key ("namespace/name") and writes it through the
// status subresource when it changed.
//
// Ordering, the point of this function: the admission plugin charges a quota (a
// compare-and-swap that bumps its resourceVersion) BEFORE it stores the pod (or claim: what
// is said of pods here holds for claims). So sync reads the quota first, then lists the
// pods (and claims) fresh from the API (not from the informer cache, which may lag and
// would undercount), and writes with the quota's resourceVersion:
//
//   - a charge made after the quota was read bumped its resourceVersion, so the write fails
//     with a Conflict and the whole read-list-write runs again on the fresh quota (a status
//     written over that charge would forget a pod the list did not see yet);
//   - a charge made before the quota was read, whose pod was stored before the list, is
//     counted by the list.
//
// What remains is a charge made before the quota read whose pod is not stored yet when the
// list runs (the moment between admission and the etcd write of that create): the
// recompute misses that pod, and until a later recompute counts it, a create beyond the
// quota can be admitted. Kubernetes' quota controller has the same window. The other way round is
// harmless: when the recompute equals the status as read, nothing is written, even if a
// charge landed meanwhile; the stored usage can then stay high (never low) until the next
// sync.
//
// The quota is read from the API too, not from the informer cache: the quota watch may lag
// the pod watch, and a cached status from before the charge of a pod just deleted would
// equal the recompute, so nothing would be written and that pod's room would stay taken.
// That costs a GET per sync, on this controller's own --kube-api-qps budget.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	quotas := c.client.ResourceQuotas(namespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		q, err := quotas.Get(ctx, name)
		if err != nil {
			return err
		}
		return c.recompute(ctx, q)
	})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: nothing to keep true
	}
	if err != nil {
		return fmt.Errorf("recompute quota %s: %w", key, err)
	}
	return nil
}

// recompute lists q's namespace's pods (and, when q tracks claims, its claims) from the API
// and writes q's new status, with q's resourceVersion, if it differs. q was read before
// this call (see sync).
func (c *Controller) recompute(ctx context.Context, q *corev1.ResourceQuota) error {
	namespace, name := q.GetMetadata().GetNamespace(), q.GetMetadata().GetName()
	pods, err := c.listPods(ctx, namespace)
	if err != nil {
		return err
	}
	var claims []*corev1.PersistentVolumeClaim
	if quota.TracksClaim(q.GetSpec()) {
		if claims, err = listAll(ctx, c.client.PersistentVolumeClaims(namespace)); err != nil {
			return fmt.Errorf("list persistentvolumeclaims in %s: %w", namespace, err)
		}
	}
	status, err := quota.Recompute(q.GetSpec(), pods, claims, time.Now())
	if err != nil {
		// Validation refuses such a spec, so it cannot be stored; retrying would not help.
		c.log.Error("quota spec does not parse; not recomputed", "namespace", namespace, "name", name, "err", err)
		return nil
	}
	if proto.Equal(q.GetStatus(), status) {
		return nil
	}
	next := proto.Clone(q).(*corev1.ResourceQuota)
	next.Status = status
	if _, err := c.client.ResourceQuotas(namespace).UpdateStatus(ctx, next); err != nil {
		return err
	}
	c.log.Info("quota usage recomputed", "namespace", namespace, "name", name,
		"used", render(status.GetUsed()), "was", render(q.GetStatus().GetUsed()))
	return nil
}

// listPods reads every pod of namespace from the API, page by page at one revision.
func (c *Controller) listPods(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	pods, err := listAll(ctx, c.client.Pods(namespace))
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", namespace, err)
	}
	return pods, nil
}

// listAll reads every object of a namespaced resource client from the API, page by page
// at one revision.
func listAll[T runtime.Object, L interface {
	runtime.ListObject
	GetItems() []T
}](ctx context.Context, r *kube.Resource[T, L]) ([]T, error) {
	var items []T
	opts := transport.ListOptions{Limit: listPageSize}
	for {
		list, err := r.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		items = append(items, list.GetItems()...)
		opts.Continue = list.GetMetadata().GetContinue()
		if opts.Continue == "" {
			return items, nil
		}
	}
}

// render prints a resource map in name order, "pods=1,requests.cpu=500m", for the logs.
func render(m map[string]*metav1.Quantity) string {
	parts := make([]string, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, name+"="+m[name].GetString_())
	}
	return strings.Join(parts, ",")
}
