// Package cache is the scheduler's view of nodes and the pods on them, after kube-scheduler's
// backend/cache. Besides what the informers report it holds *assumed* pods: a pod is
// accounted on its chosen node the moment the decision is made, so the next cycle sees the
// node's new load while the binding is still in flight. The informer's add of the bound pod
// confirms an assumption; a failed bind forgets it; an assumption neither confirmed nor
// forgotten within TTL after its binding finished is dropped (the bind was lost).
package cache

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// DefaultTTL is how long an assumed pod whose binding finished may wait for the informer.
const DefaultTTL = 30 * time.Second

type podState struct {
	pod *corev1.Pod
	// deadline is set when binding finished: the assumption expires then.
	deadline *time.Time
	assumed  bool
}

// Cache is safe for concurrent use.
type Cache struct {
	clock clock.WithTicker
	ttl   time.Duration
	log   *slog.Logger

	mu         sync.RWMutex
	nodes      map[string]*framework.NodeInfo
	pods       map[string]*podState
	generation int64
	// changes logs (generation, node) of every bump in generation order, so a snapshot
	// catches up by reading the tail instead of scanning every node.
	changes []change
	// nodeSetGen changes when a node is added or removed (snapshots rebuild their list);
	// imageGen when the images of any node change.
	nodeSetGen int64
	imageGen   int64
}

type change struct {
	gen  int64
	node string
}

// maxChanges bounds the change log; a snapshot older than the log's start rebuilds fully.
const maxChanges = 1 << 16

// New returns an empty cache; ttl 0 means DefaultTTL.
func New(clk clock.WithTicker, ttl time.Duration, log *slog.Logger) *Cache {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.Default()
	}
	return &Cache{clock: clk, ttl: ttl, log: log, nodes: map[string]*framework.NodeInfo{}, pods: map[string]*podState{}}
}

func (c *Cache) bumpLocked(name string, ni *framework.NodeInfo) {
	c.generation++
	ni.Generation = c.generation
	if len(c.changes) >= maxChanges {
		c.changes = append(c.changes[:0], c.changes[maxChanges/2:]...)
	}
	c.changes = append(c.changes, change{c.generation, name})
}

func (c *Cache) nodeLocked(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		// A pod can name a node the cache has not seen yet; keep its accounting until the
		// node arrives.
		ni = framework.NewNodeInfo(nil)
		c.nodes[name] = ni
	}
	return ni
}

func (c *Cache) addPodLocked(pod *corev1.Pod) {
	ni := c.nodeLocked(pod.GetSpec().GetNodeName())
	ni.AddPodInfo(framework.NewPodInfo(pod))
	c.bumpLocked(pod.GetSpec().GetNodeName(), ni)
}

func (c *Cache) removePodLocked(pod *corev1.Pod) {
	name := pod.GetSpec().GetNodeName()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	ni.RemovePod(framework.PodKey(pod))
	c.bumpLocked(name, ni)
	if ni.Node() == nil && len(ni.Pods) == 0 {
		delete(c.nodes, name)
	}
}

// AssumePod accounts pod (whose spec.nodeName is the chosen node) before it is bound.
func (c *Cache) AssumePod(pod *corev1.Pod) error {
	key := framework.PodKey(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[key]; ok {
		return fmt.Errorf("pod %s(%s) is in the cache, so can't be assumed", framework.NamespacedName(pod), key)
	}
	c.addPodLocked(pod)
	c.pods[key] = &podState{pod: pod, assumed: true}
	return nil
}

// FinishBinding starts the expiry clock of an assumed pod once its bind call returned.
func (c *Cache) FinishBinding(pod *corev1.Pod) {
	key := framework.PodKey(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok && ps.assumed {
		d := c.clock.Now().Add(c.ttl)
		ps.deadline = &d
	}
}

// ForgetPod drops an assumed pod (its bind failed).
func (c *Cache) ForgetPod(pod *corev1.Pod) error {
	key := framework.PodKey(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[key]
	if !ok {
		return nil
	}
	if !ps.assumed {
		return fmt.Errorf("pod %s(%s) is not assumed, so can't be forgotten", framework.NamespacedName(pod), key)
	}
	if ps.pod.GetSpec().GetNodeName() != pod.GetSpec().GetNodeName() {
		return fmt.Errorf("pod %s(%s) was assumed on %s but forgotten on %s", framework.NamespacedName(pod), key,
			ps.pod.GetSpec().GetNodeName(), pod.GetSpec().GetNodeName())
	}
	c.removePodLocked(ps.pod)
	delete(c.pods, key)
	return nil
}

// IsAssumedPod reports whether pod is assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *corev1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.pods[framework.PodKey(pod)]
	return ok && ps.assumed
}

// AddPod records a bound pod reported by the informer; it confirms an assumption (moving the
// pod if it was bound elsewhere than assumed).
func (c *Cache) AddPod(pod *corev1.Pod) {
	key := framework.PodKey(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok {
		if ps.assumed && ps.pod.GetSpec().GetNodeName() == pod.GetSpec().GetNodeName() {
			// Confirmed: account the informer's version (it may differ in status) instead.
			c.removePodLocked(ps.pod)
		} else if ps.assumed {
			c.log.Info("pod was assumed on one node but bound to another", "pod", framework.NamespacedName(pod),
				"assumed", ps.pod.GetSpec().GetNodeName(), "actual", pod.GetSpec().GetNodeName())
			c.removePodLocked(ps.pod)
		} else {
			c.removePodLocked(ps.pod) // a repeated add: treat as update
		}
	}
	c.addPodLocked(pod)
	c.pods[key] = &podState{pod: pod}
}

// UpdatePod replaces a bound pod's accounting.
func (c *Cache) UpdatePod(oldPod, newPod *corev1.Pod) {
	key := framework.PodKey(newPod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok {
		c.removePodLocked(ps.pod)
	}
	c.addPodLocked(newPod)
	c.pods[key] = &podState{pod: newPod}
}

// RemovePod forgets a pod that was deleted (or finished).
func (c *Cache) RemovePod(pod *corev1.Pod) {
	key := framework.PodKey(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[key]
	if !ok {
		return
	}
	c.removePodLocked(ps.pod)
	delete(c.pods, key)
}

// AddNode adds or updates a node.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := node.GetMetadata().GetName()
	ni, ok := c.nodes[name]
	if !ok || ni.Node() == nil {
		c.nodeSetGen++
	}
	if !ok {
		ni = framework.NewNodeInfo(nil)
		c.nodes[name] = ni
	}
	if ni.Node() == nil || !slices.EqualFunc(ni.Node().GetStatus().GetImages(), node.GetStatus().GetImages(), imageEqual) {
		c.imageGen++
	}
	ni.SetNode(node)
	c.bumpLocked(name, ni)
}

func imageEqual(a, b *corev1.ContainerImage) bool {
	return a.GetSizeBytes() == b.GetSizeBytes() && slices.Equal(a.GetNames(), b.GetNames())
}

// UpdateNode is AddNode.
func (c *Cache) UpdateNode(_, node *corev1.Node) { c.AddNode(node) }

// RemoveNode removes a node; pods still naming it keep their accounting until removed.
func (c *Cache) RemoveNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := node.GetMetadata().GetName()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	c.nodeSetGen++
	c.imageGen++
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
		c.bumpLocked(name, framework.NewNodeInfo(nil))
		return
	}
	// Keep the pods' accounting, without a node, until they are removed.
	rest := framework.NewNodeInfo(nil)
	for _, pi := range ni.Pods {
		rest.AddPodInfo(pi)
	}
	c.nodes[name] = rest
	c.bumpLocked(name, rest)
}

// Snapshotter keeps a Snapshot up to date with the cache cheaply: only nodes changed since
// the last update are cloned. It belongs to the one scheduling loop.
type Snapshotter struct {
	snap       *framework.Snapshot
	index      map[string]int // node name → position in snap.List
	nodeSetGen int64
	imageGen   int64
}

// NewSnapshotter returns an empty snapshotter.
func NewSnapshotter() *Snapshotter {
	return &Snapshotter{
		snap:       &framework.Snapshot{NodeInfoMap: map[string]*framework.NodeInfo{}, ImageNumNodes: map[string]int{}, Generation: -1},
		nodeSetGen: -1, imageGen: -1,
	}
}

// UpdateSnapshot brings s up to date and returns its snapshot. The NodeInfos in it are
// clones, safe to read while the cache changes; the Snapshot itself is updated in place by
// the next UpdateSnapshot, so it is valid for one scheduling cycle.
func (c *Cache) UpdateSnapshot(s *Snapshotter) *framework.Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	snap := s.snap
	if snap.Generation == c.generation && s.nodeSetGen == c.nodeSetGen && s.imageGen == c.imageGen {
		return snap
	}
	// Nodes changed since the snapshot: from the change log when it reaches back far
	// enough, else every node.
	i, found := slices.BinarySearchFunc(c.changes, snap.Generation+1, func(ch change, g int64) int { return int(ch.gen - g) })
	full := snap.Generation < 0 || (!found && i == 0 && (len(c.changes) == 0 || c.changes[0].gen > snap.Generation+1))
	update := func(name string) {
		ni, ok := c.nodes[name]
		if !ok || ni.Node() == nil {
			delete(snap.NodeInfoMap, name)
			return
		}
		if prev, ok := snap.NodeInfoMap[name]; !ok || prev.Generation != ni.Generation {
			snap.NodeInfoMap[name] = ni.Clone()
		}
	}
	if full {
		clear(snap.NodeInfoMap)
		for name := range c.nodes {
			update(name)
		}
	} else {
		for _, ch := range c.changes[i:] {
			update(ch.node)
		}
	}
	if full || s.nodeSetGen != c.nodeSetGen || len(snap.List) != len(snap.NodeInfoMap) {
		names := make([]string, 0, len(snap.NodeInfoMap))
		for name := range snap.NodeInfoMap {
			names = append(names, name)
		}
		slices.Sort(names)
		snap.List = make([]*framework.NodeInfo, len(names))
		s.index = make(map[string]int, len(names))
		for i, name := range names {
			snap.List[i] = snap.NodeInfoMap[name]
			s.index[name] = i
		}
	} else {
		for _, ch := range c.changes[i:] {
			if j, ok := s.index[ch.node]; ok {
				snap.List[j] = snap.NodeInfoMap[ch.node]
			}
		}
	}
	if full || s.imageGen != c.imageGen {
		snap.ImageNumNodes = map[string]int{}
		for _, ni := range snap.List {
			for name := range ni.Images {
				snap.ImageNumNodes[name]++
			}
		}
	}
	snap.Generation, s.nodeSetGen, s.imageGen = c.generation, c.nodeSetGen, c.imageGen
	return snap
}

// CleanupExpiredAssumedPods drops assumptions whose binding finished more than TTL ago
// without the informer confirming them.
func (c *Cache) CleanupExpiredAssumedPods() {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, ps := range c.pods {
		if ps.assumed && ps.deadline != nil && now.After(*ps.deadline) {
			c.log.Warn("assumed pod expired: its binding was never confirmed", "pod", framework.NamespacedName(ps.pod), "node", ps.pod.GetSpec().GetNodeName())
			c.removePodLocked(ps.pod)
			delete(c.pods, key)
		}
	}
}

// Run cleans up expired assumptions every second until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	t := c.clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			c.CleanupExpiredAssumedPods()
		}
	}
}

// Counts returns the number of nodes and of pods (assumed ones included), for tests and
// debugging.
func (c *Cache) Counts() (nodes, pods, assumed int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, ni := range c.nodes {
		if ni.Node() != nil {
			nodes++
		}
	}
	for _, ps := range c.pods {
		pods++
		if ps.assumed {
			assumed++
		}
	}
	return nodes, pods, assumed
}
