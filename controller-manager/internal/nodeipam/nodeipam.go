// Package nodeipam is the node IPAM controller (upstream's range allocator): every Node
// without spec.podCIDR gets the next free subnet of --cluster-cidr, of size
// --node-cidr-mask-size, in spec.podCIDR and spec.podCIDRs; the subnet is freed when the
// Node is deleted.
//
// The allocation table lives only in memory. It is crash-only: Run rebuilds it from every
// existing Node before any worker allocates, and a worker re-reads a Node from the API
// before giving it a subnet, so neither a restart nor a stale cache hands out a subnet a
// Node already has.
package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/retry"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// Component is the controller's event source.
const Component = "node-ipam-controller"

// ReasonCIDRNotAvailable is the event recorded on a Node when the cluster CIDR is full.
const ReasonCIDRNotAvailable = "CIDRNotAvailable"

// Controller assigns pod CIDRs to Nodes.
type Controller struct {
	client   *kube.Clientset
	nodes    cache.Lister[*corev1.Node]
	synced   func() bool
	queue    workqueue.Interface[string]
	recorder *record.Recorder
	log      *slog.Logger

	// mu guards the allocation table: the bitmap and which subnet each Node holds.
	mu     sync.Mutex
	set    *cidrSet
	byNode map[string]netip.Prefix
}

// New builds the controller from cc.Options.ClusterCIDR and NodeCIDRMaskSize and
// registers its Node handlers.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	cluster, err := netip.ParsePrefix(cc.Options.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("node ipam: --cluster-cidr %q: %w", cc.Options.ClusterCIDR, err)
	}
	set, err := newCIDRSet(cluster, cc.Options.NodeCIDRMaskSize)
	if err != nil {
		return nil, fmt.Errorf("node ipam: %w", err)
	}
	log := cc.Log
	if log == nil {
		log = slog.Default()
	}
	nodes := cc.Informers.Nodes()
	c := &Controller{
		client: cc.Client,
		nodes:  nodes.Lister(),
		synced: nodes.Informer().HasSynced,
		queue:  workqueue.New(workqueue.Config[string]{Name: "nodeipam"}),
		log:    log.With("controller", "nodeipam"),
		set:    set,
		byNode: map[string]netip.Prefix{},
	}
	if cc.Recorder != nil {
		c.recorder = cc.Recorder(Component)
	}
	_, err = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			if oldObj.GetMetadata().GetResourceVersion() == newObj.GetMetadata().GetResourceVersion() {
				return
			}
			c.enqueue(newObj)
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				c.queue.Add(key)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("node ipam: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueue(obj runtime.Object) { c.queue.Add(obj.GetMetadata().GetName()) }

// Run rebuilds the allocation table from the cache, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx, c.synced) {
		return
	}
	c.rebuild()
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

// rebuild occupies the subnet of every cached Node, so nothing allocated afterwards can
// collide with a subnet handed out before a restart.
func (c *Controller) rebuild() {
	nodes, err := c.nodes.List(nil)
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	for _, n := range nodes {
		if cidr := n.GetSpec().GetPodCIDR(); cidr != "" {
			if err := c.occupy(n.GetMetadata().GetName(), cidr); err != nil {
				c.log.Warn("node has a pod CIDR outside the cluster CIDR", "node", n.GetMetadata().GetName(), "podCIDR", cidr, "err", err)
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

// sync gives the Node name a pod CIDR if it has none, records the one it has, or frees the
// one it held once it is gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.releaseNode(name)
		return nil
	}
	if err != nil {
		return err
	}
	if cidr := node.GetSpec().GetPodCIDR(); cidr != "" {
		if err := c.occupy(name, cidr); err != nil {
			// Someone else's choice; nothing to retry.
			c.log.Warn("node has a pod CIDR outside the cluster CIDR", "node", name, "podCIDR", cidr, "err", err)
		}
		return nil
	}
	return c.assign(ctx, node)
}

// assign reserves a subnet for node and writes it. The reservation is kept when the write
// fails, since the write may have happened; the next sync retries with the same subnet.
func (c *Controller) assign(ctx context.Context, node *corev1.Node) error {
	name := node.GetMetadata().GetName()
	cidr, err := c.reserve(name)
	if errors.Is(err, errCIDRSetFull) {
		if c.recorder != nil {
			c.recorder.Eventf(node, record.Normal, ReasonCIDRNotAvailable, "Node %s status is now: %s", name, ReasonCIDRNotAvailable)
		}
		return fmt.Errorf("allocate pod CIDR for node %s: %w", name, err)
	}
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		// A live read: the cache may not show a CIDR written a moment ago.
		live, err := c.client.Nodes().Get(ctx, name)
		if err != nil {
			return err
		}
		if have := live.GetSpec().GetPodCIDR(); have != "" {
			return c.occupy(name, have)
		}
		if live.GetMetadata().GetUid() != node.GetMetadata().GetUid() {
			return nil // replaced by a new Node of that name; its own event follows
		}
		next := proto.Clone(live).(*corev1.Node)
		if next.Spec == nil {
			next.Spec = &corev1.NodeSpec{}
		}
		next.Spec.PodCIDR = cidr.String()
		next.Spec.PodCIDRs = []string{cidr.String()}
		if _, err := c.client.Nodes().Update(ctx, next); err != nil {
			return err
		}
		c.log.Info("assigned pod CIDR", "node", name, "podCIDR", cidr)
		return nil
	})
	if apierrors.IsNotFound(err) {
		c.releaseNode(name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("set pod CIDR %s on node %s: %w", cidr, name, err)
	}
	return nil
}

// reserve returns the subnet held for name, allocating one if it holds none.
func (c *Controller) reserve(name string) (netip.Prefix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.byNode[name]; ok {
		return p, nil
	}
	p, err := c.set.allocateNext()
	if err != nil {
		return netip.Prefix{}, err
	}
	c.byNode[name] = p
	return p, nil
}

// occupy records that name holds cidr, freeing what it held before if that differs.
func (c *Controller) occupy(name, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return err
	}
	p = p.Masked()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byNode[name]; ok {
		if old == p {
			return nil
		}
		c.releaseLocked(name, old)
	}
	if err := c.set.occupy(p); err != nil {
		return err
	}
	c.byNode[name] = p
	return nil
}

// releaseNode frees the subnet name held, and wakes the Nodes still waiting for one.
func (c *Controller) releaseNode(name string) {
	c.mu.Lock()
	p, ok := c.byNode[name]
	if ok {
		c.releaseLocked(name, p)
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	c.log.Info("released pod CIDR", "node", name, "podCIDR", p)
	nodes, err := c.nodes.List(nil)
	if err != nil {
		return
	}
	for _, n := range nodes {
		if n.GetSpec().GetPodCIDR() == "" {
			c.queue.Add(n.GetMetadata().GetName())
		}
	}
}

// releaseLocked forgets that name holds p and frees p unless another Node holds it too
// (two Nodes may have been given one CIDR by hand).
func (c *Controller) releaseLocked(name string, p netip.Prefix) {
	delete(c.byNode, name)
	for _, other := range c.byNode {
		if other.Overlaps(p) {
			return
		}
	}
	_ = c.set.release(p) // p was occupied, so it is inside the cluster CIDR
}
