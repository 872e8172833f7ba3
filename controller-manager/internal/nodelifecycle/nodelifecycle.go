// Package nodelifecycle is the node lifecycle controller: it watches node heartbeats (the
// renewTime of each node's Lease in kube-node-lease and the lastHeartbeatTime of its Ready
// condition), marks a node whose heartbeats stopped for --node-monitor-grace-period as
// Unknown, taints it, and evicts the pods that do not tolerate the taint (upstream's
// NoExecute taint manager).
//
// Heartbeats are timed by the controller's own clock: a heartbeat counts at the moment the
// controller first observes a new renewTime or lastHeartbeatTime, never by the timestamp a
// kubelet wrote, so clock skew between machines does not matter (as upstream). After a
// restart every node counts as just heard from, so a restart never evicts.
//
//   - No heartbeat within the grace period: Ready, MemoryPressure, DiskPressure and
//     PIDPressure become Unknown (reason NodeStatusUnknown) through the status
//     subresource, and the node gets node.kubernetes.io/unreachable NoSchedule at once and
//     NoExecute as its zone allows (below).
//   - Fresh heartbeats with Ready=False: node.kubernetes.io/not-ready NoSchedule, and
//     NoExecute as the zone allows.
//   - Fresh heartbeats otherwise: the controller's taints are removed. Conditions are the
//     kubelet's to set again; a Ready=Unknown left by this controller does not keep a node
//     that heartbeats tainted.
//   - Pods on a node with NoExecute taints they do not tolerate are deleted at once, with a
//     TaintManagerEviction event; pods tolerating them for tolerationSeconds are deleted that
//     long after the taint's timeAdded. kubelab's apiserver has no DefaultTolerationSeconds
//     admission plugin, so pods without their own NoExecute toleration for not-ready or
//     unreachable are judged as if they had one for
//     Options.DefaultNotReadyTolerationSeconds / DefaultUnreachableTolerationSeconds
//     (what that plugin would have added); the pods are not modified.
//
// NoExecute taints are what evict, so they are rate limited per zone (upstream's zone
// disruption handling). A node's zone is its topology.kubernetes.io/region and /zone labels
// ("" for all unlabelled nodes). A monitor pass, each NodeMonitorPeriod, judges every node
// from the cache and computes each zone's state: FullDisruption when none of its nodes is
// healthy, PartialDisruption when more than 2 and at least --unhealthy-zone-threshold of
// them are not, else Normal. Each zone has a token bucket of burst 1 (so the first node of
// a Normal zone is tainted at once) at --node-eviction-rate in Normal and FullDisruption,
// and in PartialDisruption at --secondary-node-eviction-rate if the zone has more than
// --large-cluster-size-threshold nodes, else not at all. An unhealthy node gets its
// NoExecute taint only once the pass admitted it; a taint already there is kept.
//
// When every zone is in FullDisruption the controller is probably the one cut off (a
// partition between it and the kubelets, a clock jump), so it enters master disruption
// mode: no NoExecute taint is added and the ones it added are removed, so no pod is
// evicted; NoSchedule and the Unknown conditions stay. When a node is healthy again it
// leaves the mode and counts every node as just heard from, giving kubelets that reconnect
// after the partition a grace period. The zones' health is exported as
// node_collector_zone_health, node_collector_zone_size and
// node_collector_unhealthy_nodes_in_zone.
//
// An evicted pod gets the DisruptionTarget condition (reason DeletionByTaintManager) before
// its deletion, as upstream, so a Job's podFailurePolicy can tell the eviction from a
// failure of the pod's own.
//
// Not done (upstream has it): excluding nodes labelled node.kubernetes.io/exclude-disruption
// from the zone counts.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controllerctx"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	poddisruption "kubelab.io/proto/disruption"
	"kubelab.io/proto/runtime"
)

// Component is the controller's event source.
const Component = "node-controller"

// LeaseNamespace holds the node Leases.
const LeaseNamespace = "kube-node-lease"

// ReasonTaintManagerEviction is the event recorded on an evicted pod.
const ReasonTaintManagerEviction = "TaintManagerEviction"

// Condition reasons and message, as upstream's.
const (
	reasonNodeStatusUnknown      = "NodeStatusUnknown"
	reasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	messageStopped               = "Kubelet stopped posting node status."
	messageNever                 = "Kubelet never posted node status."
)

// conditionsMarkedUnknown are the node conditions set to Unknown when heartbeats stop.
var conditionsMarkedUnknown = []string{"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}

// Controller monitors node health and evicts pods from unreachable and not-ready nodes.
type Controller struct {
	client   *kube.Clientset
	nodes    cache.Lister[*corev1.Node]
	leases   cache.Lister[*coordinationv1.Lease]
	pods     cache.Indexer
	synced   []func() bool
	queue    workqueue.Interface[string]
	recorder *record.Recorder
	log      *slog.Logger
	now      func() time.Time
	opts     controllerctx.Options

	mu sync.Mutex
	// healthByNode is the last heartbeat observed per node, timed by now.
	healthByNode map[string]*healthRecord
	// taintSeen is when a NoExecute taint without timeAdded was first seen, per node/key.
	taintSeen map[string]time.Time
	// zones decides which unhealthy nodes may get a NoExecute taint; monitor passes update it.
	zones   *disruption
	metrics *zoneMetrics
}

// healthRecord is what was last observed of a node's heartbeats.
type healthRecord struct {
	probe          time.Time // controller clock when a heartbeat was last observed
	readyHeartbeat *metav1.Time
	leaseRenew     *metav1.MicroTime
	// judged is the controller clock of the node's last completed sync.
	judged time.Time
}

// New registers handlers on Nodes, node Leases and Pods.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	if cc.Options.NodeMonitorGracePeriod <= 0 || cc.Options.NodeMonitorPeriod <= 0 {
		return nil, fmt.Errorf("node lifecycle: node monitor period (%v) and grace period (%v) must be positive",
			cc.Options.NodeMonitorPeriod, cc.Options.NodeMonitorGracePeriod)
	}
	o := cc.Options
	if o.NodeEvictionRate < 0 || o.SecondaryNodeEvictionRate < 0 || o.LargeClusterSizeThreshold < 0 ||
		o.UnhealthyZoneThreshold <= 0 || o.UnhealthyZoneThreshold > 1 {
		return nil, fmt.Errorf("node lifecycle: eviction rates (%v, %v) and large cluster size (%d) must not be negative, unhealthy zone threshold (%v) must be in (0, 1]",
			o.NodeEvictionRate, o.SecondaryNodeEvictionRate, o.LargeClusterSizeThreshold, o.UnhealthyZoneThreshold)
	}
	metrics, err := newZoneMetrics(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("node lifecycle: %w", err)
	}
	log := cc.Log
	if log == nil {
		log = slog.Default()
	}
	nodes, leases, pods := cc.Informers.Nodes(), cc.Informers.Leases(), cc.Informers.Pods()
	c := &Controller{
		client:       cc.Client,
		nodes:        nodes.Lister(),
		leases:       leases.Lister(),
		pods:         pods.Informer().GetIndexer(),
		synced:       []func() bool{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced},
		queue:        workqueue.New(workqueue.Config[string]{Name: "node_lifecycle"}),
		log:          log.With("controller", "nodelifecycle"),
		now:          cc.Now,
		opts:         cc.Options,
		healthByNode: map[string]*healthRecord{},
		taintSeen:    map[string]time.Time{},
		zones: newDisruption(evictionRates{primary: o.NodeEvictionRate, secondary: o.SecondaryNodeEvictionRate,
			largeCluster: o.LargeClusterSizeThreshold, unhealthyThreshold: o.UnhealthyZoneThreshold}),
		metrics: metrics,
	}
	if cc.Recorder != nil {
		c.recorder = cc.Recorder(Component)
	}
	changed := func(oldObj, newObj runtime.Object) bool {
		return oldObj.GetMetadata().GetResourceVersion() != newObj.GetMetadata().GetResourceVersion()
	}
	byName := func(obj runtime.Object) { c.queue.Add(obj.GetMetadata().GetName()) }
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: byName,
		UpdateFunc: func(o, n runtime.Object) {
			if changed(o, n) {
				byName(n)
			}
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				c.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("node lifecycle: %w", err)
	}
	leaseChanged := func(obj runtime.Object) {
		if obj.GetMetadata().GetNamespace() == LeaseNamespace {
			byName(obj)
		}
	}
	if _, err := leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: leaseChanged,
		UpdateFunc: func(o, n runtime.Object) {
			if changed(o, n) {
				leaseChanged(n)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("node lifecycle: %w", err)
	}
	// A pod bound to a tainted node is judged by its node's next sync.
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj runtime.Object) {
			if n := obj.(*corev1.Pod).GetSpec().GetNodeName(); n != "" {
				c.queue.Add(n)
			}
		},
		UpdateFunc: func(o, n runtime.Object) {
			if oldNode, newNode := o.(*corev1.Pod).GetSpec().GetNodeName(), n.(*corev1.Pod).GetSpec().GetNodeName(); oldNode != newNode && newNode != "" {
				c.queue.Add(newNode)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("node lifecycle: %w", err)
	}
	return c, nil
}

// Run runs a monitor pass (which queues every node) before the workers start and each
// NodeMonitorPeriod, and syncs a node on every Node or Lease change, until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		return
	}
	c.monitor()
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	ticker := time.NewTicker(c.opts.NodeMonitorPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			c.queue.ShutDown()
			wg.Wait()
			return
		case <-ticker.C:
			c.monitor()
		}
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		c.log.Info("sync failed; retrying", "node", key, "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for _, cond := range n.GetStatus().GetConditions() {
		if cond.GetType() == "Ready" {
			return cond
		}
	}
	return nil
}

// observe records the node's heartbeats and returns when one was last observed.
func (c *Controller) observe(node *corev1.Node, lease *coordinationv1.Lease, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := node.GetMetadata().GetName()
	hb := readyCondition(node).GetLastHeartbeatTime()
	renew := lease.GetSpec().GetRenewTime()
	rec, ok := c.healthByNode[name]
	if !ok {
		c.healthByNode[name] = &healthRecord{probe: now, readyHeartbeat: hb, leaseRenew: renew}
		return now
	}
	if hb != nil && !proto.Equal(hb, rec.readyHeartbeat) {
		rec.readyHeartbeat, rec.probe = hb, now
	}
	if renew != nil && !proto.Equal(renew, rec.leaseRenew) {
		rec.leaseRenew, rec.probe = renew, now
	}
	return rec.probe
}

// sync judges one node's health, updates its conditions and taints, and evicts its pods
// as the taints require.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.healthByNode, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	lease, err := c.leases.Namespace(LeaseNamespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	now := c.now()
	h := c.judge(node, lease, now)
	if h == unreachable {
		if node, err = c.markUnknown(ctx, node, now); err != nil {
			return err
		}
	}
	c.mu.Lock()
	noExecute := h != healthy && c.zones.mayTaint(name, hasOwnNoExecute(node))
	c.mu.Unlock()
	if taints, changed := reconcileTaints(node.GetSpec().GetTaints(), h, noExecute, now); changed {
		next := proto.Clone(node).(*corev1.Node)
		if next.Spec == nil {
			next.Spec = &corev1.NodeSpec{}
		}
		next.Spec.Taints = taints
		if node, err = c.client.Nodes().Update(ctx, next); err != nil {
			return fmt.Errorf("update taints of node %s: %w", name, err)
		}
		c.log.Info("node taints updated", "node", name, "health", h, "noExecute", noExecute, "taints", len(taints))
	}
	if err := c.evictPods(ctx, node, now); err != nil {
		return err
	}
	c.mu.Lock()
	if rec := c.healthByNode[name]; rec != nil {
		rec.judged = now
	}
	c.mu.Unlock()
	return nil
}

// judge observes the node's heartbeats and says what the controller makes of it.
func (c *Controller) judge(node *corev1.Node, lease *coordinationv1.Lease, now time.Time) health {
	probe := c.observe(node, lease, now)
	switch {
	case now.After(probe.Add(c.opts.NodeMonitorGracePeriod)):
		return unreachable
	case readyCondition(node).GetStatus() == "False":
		return notReady
	}
	return healthy
}

// monitor is a monitor pass: it judges every node from the cache, recomputes the zones'
// states and lets unhealthy nodes through to NoExecute tainting as the zones allow (see
// disruption.pass), then queues every node so its sync applies the result. Nothing here
// writes to the apiserver; a pass is cheap and its state is rebuilt from the cache each
// time.
func (c *Controller) monitor() {
	nodes, err := c.nodes.List(nil)
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	now := c.now()
	views := make([]nodeView, 0, len(nodes))
	for _, n := range nodes {
		name := n.GetMetadata().GetName()
		lease, err := c.leases.Namespace(LeaseNamespace).Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			c.log.Error("get node lease", "node", name, "err", err)
			return
		}
		views = append(views, nodeView{name: name, zone: zoneKey(n), health: c.judge(n, lease, now), tainted: hasOwnNoExecute(n)})
	}
	c.mu.Lock()
	res := c.zones.pass(views, now)
	if res.exitedMaster {
		// As upstream: every node counts as just heard from, so nodes whose kubelets are
		// reconnecting after the partition get a full grace period before any eviction.
		for _, rec := range c.healthByNode {
			rec.probe = now
		}
	}
	zones := map[string]zoneInfo{}
	for z, info := range c.zones.zones {
		zones[z] = *info
	}
	c.mu.Unlock()
	c.metrics.set(zones)
	for _, z := range res.changed {
		info := zones[z]
		c.log.Info("Controller detected that zone is now in new state", "zone", zoneName(z), "state", info.state, "nodes", info.size, "notReady", info.notReady)
	}
	if res.enteredMaster {
		c.log.Warn("Controller detected that all Nodes are not-Ready. Entering master disruption mode.", "nodes", len(nodes))
	}
	if res.exitedMaster {
		c.log.Info("Controller detected that some Nodes are Ready. Exiting master disruption mode.")
	}
	for _, n := range nodes {
		c.queue.Add(n.GetMetadata().GetName())
	}
}

// hasOwnNoExecute says whether the node carries one of this controller's NoExecute taints.
func hasOwnNoExecute(node *corev1.Node) bool {
	for _, t := range node.GetSpec().GetTaints() {
		if managed(t) && t.GetEffect() == EffectNoExecute {
			return true
		}
	}
	return false
}

// markUnknown sets the node's conditions to Unknown, unless they already are.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	next := proto.Clone(node).(*corev1.Node)
	if next.Status == nil {
		next.Status = &corev1.NodeStatus{}
	}
	ts := &metav1.Time{Seconds: now.Unix()}
	changed := false
	for _, typ := range conditionsMarkedUnknown {
		var cond *corev1.NodeCondition
		for _, c := range next.Status.Conditions {
			if c.GetType() == typ {
				cond = c
			}
		}
		switch {
		case cond == nil:
			next.Status.Conditions = append(next.Status.Conditions, &corev1.NodeCondition{
				Type: typ, Status: "Unknown", Reason: reasonNodeStatusNeverUpdated, Message: messageNever,
				LastHeartbeatTime: node.GetMetadata().GetCreationTimestamp(), LastTransitionTime: ts,
			})
			changed = true
		case cond.GetStatus() != "Unknown":
			cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = "Unknown", reasonNodeStatusUnknown, messageStopped, ts
			changed = true
		}
	}
	if !changed {
		return node, nil
	}
	out, err := c.client.Nodes().UpdateStatus(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("mark node %s unknown: %w", node.GetMetadata().GetName(), err)
	}
	c.log.Info("node stopped posting status", "node", node.GetMetadata().GetName())
	return out, nil
}

// evictPods deletes the pods on node whose eviction time has come, and asks for another
// sync when the next one is due.
func (c *Controller) evictPods(ctx context.Context, node *corev1.Node, now time.Time) error {
	name := node.GetMetadata().GetName()
	taints := noExecuteTaints(node)
	c.forgetTaintsGone(name, taints)
	if len(taints) == 0 {
		return nil
	}
	firstSeen := c.taintFirstSeen(name, taints, now)
	objs, err := c.pods.ByIndex(cache.PodNodeNameIndex, name)
	if err != nil {
		return err
	}
	var next time.Time
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if pod.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		tols := withDefaultTolerations(pod.GetSpec().GetTolerations(), c.opts.DefaultNotReadyTolerationSeconds, c.opts.DefaultUnreachableTolerationSeconds)
		at, ok := evictionTime(tols, taints, firstSeen)
		if !ok {
			continue
		}
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		if err := c.evict(ctx, pod); err != nil {
			return err
		}
	}
	if !next.IsZero() {
		c.queue.AddAfter(name, next.Sub(now))
	}
	return nil
}

func noExecuteTaints(node *corev1.Node) []*corev1.Taint {
	var out []*corev1.Taint
	for _, t := range node.GetSpec().GetTaints() {
		if t.GetEffect() == EffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// taintFirstSeen is when the controller first saw the node's NoExecute taints that have no
// timeAdded (added by hand); the earliest such time counts for all of them.
func (c *Controller) taintFirstSeen(node string, taints []*corev1.Taint, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := now
	for _, t := range taints {
		k := node + "\x00" + t.GetKey()
		seen, ok := c.taintSeen[k]
		if !ok {
			c.taintSeen[k], seen = now, now
		}
		if seen.Before(first) {
			first = seen
		}
	}
	return first
}

func (c *Controller) forgetTaintsGone(node string, taints []*corev1.Taint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.taintSeen {
		n, key, _ := strings.Cut(k, "\x00")
		if n != node {
			continue
		}
		found := false
		for _, t := range taints {
			found = found || t.GetKey() == key
		}
		if !found {
			delete(c.taintSeen, k)
		}
	}
}

// evict deletes exactly this pod (uid precondition), with its own grace period.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	m := pod.GetMetadata()
	if c.recorder != nil {
		c.recorder.Eventf(pod, record.Normal, ReasonTaintManagerEviction, "Marking for deletion Pod %s/%s", m.GetNamespace(), m.GetName())
	}
	uid := m.GetUid()
	if err := c.markDisruptionTarget(ctx, pod); err != nil {
		return err
	}
	_, err := c.client.Pods(m.GetNamespace()).Delete(ctx, m.GetName(), &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", m.GetNamespace(), m.GetName(), err)
	}
	c.log.Info("evicted pod", "pod", m.GetNamespace()+"/"+m.GetName(), "node", pod.GetSpec().GetNodeName())
	return nil
}

// markDisruptionTarget adds upstream's taint-eviction DisruptionTarget condition to the pod's
// status unless it is already there. Upstream patches; this writes the cached pod back
// through pods/status, so a pod changed meanwhile is a conflict and the eviction is retried
// from the fresher copy (a NotReady node's kubelet rarely writes). A pod gone is left to the
// deletion, which finds it so too.
func (c *Controller) markDisruptionTarget(ctx context.Context, pod *corev1.Pod) error {
	for _, cond := range pod.GetStatus().GetConditions() {
		if cond.GetType() == poddisruption.PodConditionDisruptionTarget && cond.GetStatus() == "True" {
			return nil
		}
	}
	next := proto.Clone(pod).(*corev1.Pod)
	if next.Status == nil {
		next.Status = &corev1.PodStatus{}
	}
	next.Status.Conditions = slices.DeleteFunc(next.Status.Conditions, func(c *corev1.PodCondition) bool {
		return c.GetType() == poddisruption.PodConditionDisruptionTarget
	})
	next.Status.Conditions = append(next.Status.Conditions, &corev1.PodCondition{
		Type: poddisruption.PodConditionDisruptionTarget, Status: "True",
		Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint",
		LastTransitionTime: &metav1.Time{Seconds: c.now().Unix()},
	})
	m := pod.GetMetadata()
	_, err := c.client.Pods(m.GetNamespace()).UpdateStatus(ctx, next)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark pod %s/%s as a disruption target: %w", m.GetNamespace(), m.GetName(), err)
	}
	return nil
}
