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
//     subresource, and the node gets node.kubernetes.io/unreachable NoExecute and
//     NoSchedule.
//   - Fresh heartbeats with Ready=False: node.kubernetes.io/not-ready NoExecute and
//     NoSchedule.
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
// Not done (upstream has it): zone disruption modes that stop evictions when a whole zone
// is down, rate-limited eviction, and the DisruptionTarget pod condition.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

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
}

// healthRecord is what was last observed of a node's heartbeats.
type healthRecord struct {
	probe          time.Time // controller clock when a heartbeat was last observed
	readyHeartbeat *metav1.Time
	leaseRenew     *metav1.MicroTime
}

// New registers handlers on Nodes, node Leases and Pods.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	if cc.Options.NodeMonitorGracePeriod <= 0 || cc.Options.NodeMonitorPeriod <= 0 {
		return nil, fmt.Errorf("node lifecycle: node monitor period (%v) and grace period (%v) must be positive",
			cc.Options.NodeMonitorPeriod, cc.Options.NodeMonitorGracePeriod)
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

// Run syncs every node each NodeMonitorPeriod, and on every Node or Lease change, until
// ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		return
	}
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
			nodes, err := c.nodes.List(nil)
			if err != nil {
				c.log.Error("list nodes", "err", err)
				continue
			}
			for _, n := range nodes {
				c.queue.Add(n.GetMetadata().GetName())
			}
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
	probe := c.observe(node, lease, now)
	h := healthy
	switch {
	case now.After(probe.Add(c.opts.NodeMonitorGracePeriod)):
		h = unreachable
		if node, err = c.markUnknown(ctx, node, now); err != nil {
			return err
		}
	case readyCondition(node).GetStatus() == "False":
		h = notReady
	}
	if taints, changed := reconcileTaints(node.GetSpec().GetTaints(), h, now); changed {
		next := proto.Clone(node).(*corev1.Node)
		if next.Spec == nil {
			next.Spec = &corev1.NodeSpec{}
		}
		next.Spec.Taints = taints
		if node, err = c.client.Nodes().Update(ctx, next); err != nil {
			return fmt.Errorf("update taints of node %s: %w", name, err)
		}
		c.log.Info("node taints updated", "node", name, "health", h, "taints", len(taints))
	}
	return c.evictPods(ctx, node, now)
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
	_, err := c.client.Pods(m.GetNamespace()).Delete(ctx, m.GetName(), &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", m.GetNamespace(), m.GetName(), err)
	}
	c.log.Info("evicted pod", "pod", m.GetNamespace()+"/"+m.GetName(), "node", pod.GetSpec().GetNodeName())
	return nil
}
