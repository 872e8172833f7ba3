// Package podgc is the pod garbage collector (`pod-garbage-collector`), after
// kube-controller-manager's pkg/controller/podgc. Every GCCheckPeriod (20 s) it looks at all
// pods and nodes in the shared caches and force-deletes (grace period 0, conditional on the
// pod's uid) the pods nobody else will ever remove:
//
//   - terminated pods (phase neither Pending, Running nor Unknown) beyond
//     --terminated-pod-gc-threshold (12500; 0 turns this part off), evicted ones first, then
//     oldest by creationTimestamp, then by name;
//   - terminating pods (deletionTimestamp set) on a node that is not Ready and carries the
//     node.kubernetes.io/out-of-service taint: the admin said the node is gone for good, so
//     its kubelet will never confirm their termination;
//   - orphaned pods, bound to a node that does not exist. A node missing from the cache is
//     held in quarantine for QuarantineTime (40 s) from the pass that first missed it, then a
//     GET must confirm it gone, so a node the cache has not heard of yet is not mistaken for a
//     deleted one. These pods get the DisruptionTarget condition (reason DeletionByPodGC);
//   - unscheduled terminating pods: deletionTimestamp set and no node, so no kubelet ever
//     confirms them.
//
// A pod that has not finished is first marked Failed through pods/status, by a strategic
// merge patch that carries its uid (so it cannot land on a namesake), as upstream does: with
// no kubelet left to say so, the pod would otherwise never leave Running, and whoever counts
// pods by phase (a Job) would never see it fail.
//
// Nothing is queued: each pass works from the caches alone, and whatever failed is tried again
// by the next pass. As upstream, no Events are recorded; each pod is logged ("PodGC is force
// deleting Pod") and counted in pod_gc_collector_force_delete_pods_total and
// pod_gc_collector_force_delete_pod_errors_total by namespace and reason.
package podgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/metrics"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/disruption"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// Upstream's timing (pkg/controller/podgc: gcCheckPeriod, quarantineTime).
const (
	// GCCheckPeriod is how often a pass runs.
	GCCheckPeriod = 20 * time.Second
	// QuarantineTime is how long a node must be missing from the cache before a GET is asked
	// whether it is really gone.
	QuarantineTime = 40 * time.Second
)

// DefaultTerminatedPodGCThreshold is --terminated-pod-gc-threshold's default.
const DefaultTerminatedPodGCThreshold = 12500

// TaintNodeOutOfService is the taint an admin puts on a node that is down for good, so its
// terminating pods may go (k8s.io/api/core/v1 TaintNodeOutOfService).
const TaintNodeOutOfService = "node.kubernetes.io/out-of-service"

// ReasonDeletionByPodGC is the reason of the DisruptionTarget condition an orphaned pod gets.
const ReasonDeletionByPodGC = "DeletionByPodGC"

// The reason label of the metrics, upstream's values.
const (
	reasonTerminated   = "terminated"
	reasonOutOfService = "out-of-service"
	reasonOrphaned     = "orphaned"
	reasonUnscheduled  = "unscheduled"
)

// maxParallelDeletes bounds the deletes of one pass in flight at once. Upstream starts a
// goroutine per pod; the client's rate limit makes more pointless.
const maxParallelDeletes = 16

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client *kube.Clientset
	Pods   informers.Informer[*corev1.Pod]
	Nodes  informers.Informer[*corev1.Node]
	// TerminatedPodThreshold is how many terminated pods may exist before the oldest are
	// deleted; 0 or less keeps them all.
	TerminatedPodThreshold int
	Log                    *slog.Logger
	// Clock times the passes and the quarantine; nil is the real clock.
	Clock clock.WithTicker
	// Period and Quarantine default to GCCheckPeriod and QuarantineTime.
	Period, Quarantine time.Duration
	// Registerer takes the metrics; nil is prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
}

// Controller is the pod garbage collector.
type Controller struct {
	client     *kube.Clientset
	pods       cache.Lister[*corev1.Pod]
	nodes      cache.Lister[*corev1.Node]
	synced     []func() bool
	threshold  int
	log        *slog.Logger
	clock      clock.WithTicker
	period     time.Duration
	quarantine time.Duration
	deleting   *prometheus.CounterVec
	errors     *prometheus.CounterVec

	mu sync.Mutex
	// missingSince is when a pass first found pods bound to each node the cache lacks.
	missingSince map[string]time.Time
	// lastPass is the clock's time at the start of the last completed pass.
	lastPass time.Time
}

// New builds the controller on the shared Pod and Node informers of cc, with
// cc.Options.TerminatedPodGCThreshold and cc's clock (the passes tick on the real one).
func New(_ context.Context, cc *controllerctx.Context) (*Controller, error) {
	var clk clock.WithTicker = clock.RealClock{}
	if cc.Clock != nil {
		clk = nowClock{RealClock: clock.RealClock{}, now: cc.Clock}
	}
	return NewController(Config{
		Client:                 cc.Client,
		Pods:                   cc.Informers.Pods(),
		Nodes:                  cc.Informers.Nodes(),
		TerminatedPodThreshold: cc.Options.TerminatedPodGCThreshold,
		Log:                    cc.Log,
		Clock:                  clk,
	})
}

// nowClock is the real clock with another Now, for a controllerctx.Context's clock.
type nowClock struct {
	clock.RealClock
	now func() time.Time
}

func (c nowClock) Now() time.Time                  { return c.now() }
func (c nowClock) Since(t time.Time) time.Duration { return c.now().Sub(t) }

// NewController validates cfg and fills its defaults.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Pods.Informer() == nil || cfg.Nodes.Informer() == nil {
		return nil, errors.New("pod-garbage-collector: Client and the Pod and Node informers are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Period <= 0 {
		cfg.Period = GCCheckPeriod
	}
	if cfg.Quarantine <= 0 {
		cfg.Quarantine = QuarantineTime
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.DefaultRegisterer
	}
	c := &Controller{
		client:       cfg.Client,
		pods:         cfg.Pods.Lister(),
		nodes:        cfg.Nodes.Lister(),
		synced:       []func() bool{cfg.Pods.Informer().HasSynced, cfg.Nodes.Informer().HasSynced},
		threshold:    cfg.TerminatedPodThreshold,
		log:          cfg.Log,
		clock:        cfg.Clock,
		period:       cfg.Period,
		quarantine:   cfg.Quarantine,
		missingSince: map[string]time.Time{},
	}
	var err error
	labelNames := []string{"namespace", "reason"}
	if c.deleting, err = metrics.Register(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "pod_gc_collector", Name: "force_delete_pods_total",
		Help: "Number of pods that are being forcefully deleted since the Pod GC Controller started.",
	}, labelNames)); err != nil {
		return nil, fmt.Errorf("pod-garbage-collector: %w", err)
	}
	if c.errors, err = metrics.Register(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "pod_gc_collector", Name: "force_delete_pod_errors_total",
		Help: "Number of errors encountered when forcefully deleting the pods since the Pod GC Controller started.",
	}, labelNames)); err != nil {
		return nil, fmt.Errorf("pod-garbage-collector: %w", err)
	}
	return c, nil
}

// Run waits for the caches, then runs a pass at once and every period until ctx ends. The
// controller is one loop: workers is ignored.
func (c *Controller) Run(ctx context.Context, _ int) {
	c.log.Info("starting")
	defer c.log.Info("stopped")
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		return
	}
	// The ticker exists before the first pass ends, so a test that waits for that pass may
	// step a fake clock and have it fire.
	ticker := c.clock.NewTicker(c.period)
	defer ticker.Stop()
	for {
		c.gc(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// gc is one pass over the caches.
func (c *Controller) gc(ctx context.Context) {
	start := c.clock.Now()
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		c.log.Error("list pods", "err", err)
		return
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	if c.threshold > 0 {
		c.gcTerminated(ctx, pods)
	}
	c.gcTerminating(ctx, pods)
	c.gcOrphaned(ctx, pods, nodes)
	c.gcUnscheduledTerminating(ctx, pods)
	c.mu.Lock()
	c.lastPass = start
	c.mu.Unlock()
}

// passedAt is the clock's time at the start of the last completed pass (zero before one).
func (c *Controller) passedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastPass
}

// isPodTerminated is upstream's test: any phase but the three of a pod that may still run.
func isPodTerminated(pod *corev1.Pod) bool {
	switch pod.GetStatus().GetPhase() {
	case controller.PodPending, controller.PodRunning, controller.PodUnknown:
		return false
	}
	return true
}

// gcTerminated deletes the terminated pods beyond the threshold, in deletion order.
func (c *Controller) gcTerminated(ctx context.Context, pods []*corev1.Pod) {
	var terminated []*corev1.Pod
	for _, p := range pods {
		if isPodTerminated(p) {
			terminated = append(terminated, p)
		}
	}
	n := len(terminated) - c.threshold
	if n <= 0 {
		return
	}
	c.log.Info("Garbage collecting pods", "numPods", n)
	SortForGC(terminated)
	c.deleteAll(ctx, terminated[:n], nil, reasonTerminated)
}

// gcTerminating deletes the terminating pods of nodes that are out of service.
func (c *Controller) gcTerminating(ctx context.Context, pods []*corev1.Pod) {
	var doomed []*corev1.Pod
	for _, p := range pods {
		nodeName := p.GetSpec().GetNodeName()
		if p.GetMetadata().GetDeletionTimestamp() == nil || nodeName == "" {
			continue // unscheduled ones are gcUnscheduledTerminating's
		}
		node, err := c.nodes.Get(nodeName)
		if err != nil {
			continue // a missing node is gcOrphaned's
		}
		if !nodeReady(node) && hasTaintKey(node, TaintNodeOutOfService) {
			doomed = append(doomed, p)
		}
	}
	if len(doomed) == 0 {
		return
	}
	c.log.Debug("Garbage collecting pods that are terminating on node tainted with node.kubernetes.io/out-of-service", "numPods", len(doomed))
	SortForGC(doomed)
	c.deleteAll(ctx, doomed, nil, reasonOutOfService)
}

// gcOrphaned deletes the pods bound to nodes that were missing from the cache for the
// quarantine and that a GET then confirmed gone.
func (c *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	existing := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		existing[n.GetMetadata().GetName()] = true
	}
	now := c.clock.Now()
	var due []string
	c.mu.Lock()
	for _, p := range pods {
		if n := p.GetSpec().GetNodeName(); n != "" && !existing[n] {
			if _, ok := c.missingSince[n]; !ok {
				c.missingSince[n] = now
			}
		}
	}
	for n, since := range c.missingSince {
		switch {
		case existing[n]:
			delete(c.missingSince, n)
		case now.Sub(since) >= c.quarantine:
			// Out of quarantine: asked once, as upstream takes it off its queue. Pods still
			// bound to it put it back, for another quarantine, should the GET not settle it.
			delete(c.missingSince, n)
			due = append(due, n)
		}
	}
	c.mu.Unlock()
	slices.Sort(due)
	deleted := map[string]bool{}
	for _, n := range due {
		_, err := c.client.Nodes().Get(ctx, n)
		switch {
		case apierrors.IsNotFound(err):
			deleted[n] = true
		case err != nil:
			c.log.Error("Error while getting node", "node", n, "err", err)
		}
	}
	if len(deleted) == 0 {
		return
	}
	var orphans []*corev1.Pod
	for _, p := range pods {
		if deleted[p.GetSpec().GetNodeName()] {
			c.log.Info("Found orphaned Pod assigned to the Node, deleting", "pod", podRef(p), "node", p.GetSpec().GetNodeName())
			orphans = append(orphans, p)
		}
	}
	c.deleteAll(ctx, orphans, &corev1.PodCondition{
		Type:    disruption.PodConditionDisruptionTarget,
		Status:  controller.ConditionTrue,
		Reason:  ReasonDeletionByPodGC,
		Message: "PodGC: node no longer exists",
	}, reasonOrphaned)
}

// gcUnscheduledTerminating deletes the terminating pods no node was ever chosen for.
func (c *Controller) gcUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	var doomed []*corev1.Pod
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil && p.GetSpec().GetNodeName() == "" {
			c.log.Info("Found unscheduled terminating Pod not assigned to any Node, deleting", "pod", podRef(p))
			doomed = append(doomed, p)
		}
	}
	c.deleteAll(ctx, doomed, nil, reasonUnscheduled)
}

// deleteAll force-deletes pods, at most maxParallelDeletes at a time, counting each under
// reason. A failure is logged and counted; the next pass tries again.
func (c *Controller) deleteAll(ctx context.Context, pods []*corev1.Pod, cond *corev1.PodCondition, reason string) {
	sem := make(chan struct{}, maxParallelDeletes)
	var wg sync.WaitGroup
	for _, p := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ns := p.GetMetadata().GetNamespace()
			c.deleting.WithLabelValues(ns, reason).Inc()
			if err := c.markFailedAndDelete(ctx, p, cond); err != nil {
				c.errors.WithLabelValues(ns, reason).Inc()
				c.log.Error("force delete pod", "pod", podRef(p), "reason", reason, "err", err)
			}
		})
	}
	wg.Wait()
}

// markFailedAndDelete marks an unfinished pod Failed (with cond, if any) and deletes it with
// grace period 0. Both writes are conditional on the pod's uid; a pod already gone, or
// replaced by a namesake, is no error.
func (c *Controller) markFailedAndDelete(ctx context.Context, pod *corev1.Pod, cond *corev1.PodCondition) error {
	m := pod.GetMetadata()
	c.log.Info("PodGC is force deleting Pod", "pod", podRef(pod))
	pods := c.client.Pods(m.GetNamespace())
	if phase := pod.GetStatus().GetPhase(); phase != controller.PodSucceeded && phase != controller.PodFailed {
		data, err := failedStatusPatch(pod, cond, c.clock.Now())
		if err != nil {
			return err
		}
		if _, err := pods.Patch(ctx, m.GetName(), transport.StrategicMerge, data, "status"); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return nil
			}
			return fmt.Errorf("mark pod %s failed: %w", podRef(pod), err)
		}
	}
	uid := m.GetUid()
	grace := int64(0)
	_, err := pods.Delete(ctx, m.GetName(), &metav1.DeleteOptions{GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{Uid: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s: %w", podRef(pod), err)
	}
	return nil
}

// failedStatusPatch is the strategic merge patch of pods/status that sets phase Failed and
// cond (merged by type into the pod's conditions), pinned to the pod's uid: what upstream's
// PatchPodStatus sends.
func failedStatusPatch(pod *corev1.Pod, cond *corev1.PodCondition, now time.Time) ([]byte, error) {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Uid: pod.GetMetadata().GetUid()}, Status: &corev1.PodStatus{Phase: controller.PodFailed}}
	if cond != nil {
		st := &corev1.PodStatus{Conditions: slices.Clone(pod.GetStatus().GetConditions())}
		controller.UpdatePodCondition(st, cond, now)
		p.Status.Conditions = []*corev1.PodCondition{controller.GetPodCondition(&corev1.Pod{Status: st}, cond.GetType())}
	}
	return runtime.MarshalJSON(p)
}

// SortForGC orders pods (in place) as upstream's byEvictionAndCreationTimestamp: pods the
// kubelet evicted first (they are the least likely to be wanted by a controller), then
// oldest creationTimestamp first, then by name.
func SortForGC(pods []*corev1.Pod) {
	slices.SortStableFunc(pods, func(a, b *corev1.Pod) int {
		if ea, eb := isEvicted(a), isEvicted(b); ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		if c := controller.TimeOf(a.GetMetadata().GetCreationTimestamp()).Compare(controller.TimeOf(b.GetMetadata().GetCreationTimestamp())); c != 0 {
			return c
		}
		return strings.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName())
	})
}

// isEvicted is the kubelet eviction manager's PodIsEvicted: Failed with reason Evicted.
func isEvicted(pod *corev1.Pod) bool {
	return pod.GetStatus().GetPhase() == controller.PodFailed && pod.GetStatus().GetReason() == "Evicted"
}

// nodeReady reports whether the node's Ready condition is True.
func nodeReady(node *corev1.Node) bool {
	for _, c := range node.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus() == controller.ConditionTrue
		}
	}
	return false
}

func hasTaintKey(node *corev1.Node, key string) bool {
	return slices.ContainsFunc(node.GetSpec().GetTaints(), func(t *corev1.Taint) bool { return t.GetKey() == key })
}

func podRef(pod *corev1.Pod) string {
	return pod.GetMetadata().GetNamespace() + "/" + pod.GetMetadata().GetName()
}
