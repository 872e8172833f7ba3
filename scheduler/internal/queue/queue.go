// Package queue is the scheduler's queue of pods waiting for a node, after kube-scheduler's
// PriorityQueue: an active queue (highest priority first, then oldest), a backoff queue of
// pods that failed recently (1 s doubling to 10 s per attempt), and a set of unschedulable
// pods parked until a cluster event that could help them (a node added or changed, a pod
// deleted) moves them back, or until they have waited MaxInUnschedulable.
package queue

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// QueuedPodInfo is a pod in the queue with its scheduling history.
type QueuedPodInfo struct {
	Pod *corev1.Pod
	Key string
	// Timestamp is when the pod last entered the queue (orders equal priorities; starts
	// the backoff).
	Timestamp time.Time
	// Added is when the pod first entered the queue (end-to-end latency starts there).
	Added    time.Time
	Attempts int
	// UnschedulablePlugins are the plugins that rejected the pod in its last attempt (nil
	// when it failed for another reason); MoveRejectedBy requeues by them.
	UnschedulablePlugins map[string]bool
}

func priority(p *corev1.Pod) int32 { return framework.PodPriority(p) }

// Config configures a Queue; zero fields take kube-scheduler's defaults.
type Config struct {
	Clock              clock.WithTicker
	InitialBackoff     time.Duration // 1 s
	MaxBackoff         time.Duration // 10 s
	MaxInUnschedulable time.Duration // 5 min
	// FlushPeriod is how often backoff-completed pods are moved to the active queue.
	FlushPeriod time.Duration // 100 ms
}

// Queue is safe for concurrent use.
type Queue struct {
	cfg Config

	mu            sync.Mutex
	cond          *sync.Cond
	active        *podHeap
	backoff       *podHeap
	unschedulable map[string]*QueuedPodInfo
	nominated     nominator
	// schedulingCycle counts Pops; moveRequestCycle is the cycle of the last move event.
	// A pod that fails in a cycle during which a move event arrived goes to backoff rather
	// than unschedulable, so the event that might have helped it is not lost.
	schedulingCycle  int64
	moveRequestCycle int64
	closed           bool
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.MaxInUnschedulable == 0 {
		cfg.MaxInUnschedulable = 5 * time.Minute
	}
	if cfg.FlushPeriod == 0 {
		cfg.FlushPeriod = 100 * time.Millisecond
	}
	q := &Queue{cfg: cfg, unschedulable: map[string]*QueuedPodInfo{}, moveRequestCycle: -1}
	q.cond = sync.NewCond(&q.mu)
	q.active = newPodHeap(func(a, b *QueuedPodInfo) bool {
		pa, pb := priority(a.Pod), priority(b.Pod)
		if pa != pb {
			return pa > pb
		}
		return a.Timestamp.Before(b.Timestamp)
	})
	q.backoff = newPodHeap(func(a, b *QueuedPodInfo) bool {
		return q.backoffExpiry(a).Before(q.backoffExpiry(b))
	})
	return q
}

// BackoffDuration is the wait after a pod's attempts-th failure: initial, doubling, capped.
func (q *Queue) BackoffDuration(attempts int) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < attempts; i++ {
		if d > q.cfg.MaxBackoff-d {
			return q.cfg.MaxBackoff
		}
		d += d
	}
	return min(d, q.cfg.MaxBackoff)
}

func (q *Queue) backoffExpiry(p *QueuedPodInfo) time.Time {
	return p.Timestamp.Add(q.BackoffDuration(p.Attempts))
}

func (q *Queue) backingOff(p *QueuedPodInfo) bool {
	return p.Attempts > 0 && q.backoffExpiry(p).After(q.cfg.Clock.Now())
}

// Add queues a new pending pod (or replaces a queued one) in the active queue.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := framework.PodKey(pod)
	now := q.cfg.Clock.Now()
	p := &QueuedPodInfo{Pod: pod, Key: key, Timestamp: now, Added: now}
	if old := q.lookupLocked(key); old != nil {
		p.Added, p.Attempts = old.Added, old.Attempts
	}
	q.backoff.Delete(key)
	delete(q.unschedulable, key)
	q.active.AddOrUpdate(p)
	q.nominated.addLocked(pod, pod.GetStatus().GetNominatedNodeName())
	q.cond.Broadcast()
}

func (q *Queue) lookupLocked(key string) *QueuedPodInfo {
	if p, ok := q.active.Get(key); ok {
		return p
	}
	if p, ok := q.backoff.Get(key); ok {
		return p
	}
	return q.unschedulable[key]
}

// Update records a new version of a pending pod. A pod parked as unschedulable moves back
// when its spec or metadata changed (a status-only update, like the scheduler's own
// PodScheduled=False, leaves it parked). A pod in no queue (being scheduled right now) is
// added to the active queue; the cycle that pops it again skips it if it was assumed.
func (q *Queue) Update(oldPod, newPod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := framework.PodKey(newPod)
	if oldPod != nil {
		q.nominated.updateLocked(oldPod, newPod)
	} else {
		q.nominated.addLocked(newPod, newPod.GetStatus().GetNominatedNodeName())
	}
	if p, ok := q.active.Get(key); ok {
		p2 := *p
		p2.Pod = newPod
		q.active.AddOrUpdate(&p2)
		return
	}
	if p, ok := q.backoff.Get(key); ok {
		p2 := *p
		p2.Pod = newPod
		q.backoff.AddOrUpdate(&p2)
		return
	}
	if p, ok := q.unschedulable[key]; ok {
		p2 := *p
		p2.Pod = newPod
		if !specOrMetaChanged(oldPod, newPod) {
			q.unschedulable[key] = &p2
			return
		}
		delete(q.unschedulable, key)
		if q.backingOff(&p2) {
			q.backoff.AddOrUpdate(&p2)
		} else {
			q.active.AddOrUpdate(&p2)
			q.cond.Broadcast()
		}
		return
	}
	now := q.cfg.Clock.Now()
	q.active.AddOrUpdate(&QueuedPodInfo{Pod: newPod, Key: key, Timestamp: now, Added: now})
	q.cond.Broadcast()
}

func specOrMetaChanged(a, b *corev1.Pod) bool {
	if a == nil || b == nil {
		return true
	}
	if a.GetMetadata().GetGeneration() != b.GetMetadata().GetGeneration() {
		return true
	}
	am, bm := a.GetMetadata(), b.GetMetadata()
	if !mapsEqual(am.GetLabels(), bm.GetLabels()) || !mapsEqual(am.GetAnnotations(), bm.GetAnnotations()) {
		return true
	}
	// Tolerations and scheduling gates may change without a generation bump on some
	// servers; compare what the scheduler reads.
	return !tolerationsEqual(a.GetSpec().GetTolerations(), b.GetSpec().GetTolerations())
}

func mapsEqual(a, b map[string]string) bool {
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

func tolerationsEqual(a, b []*corev1.Toleration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].GetKey() != b[i].GetKey() || a[i].GetOperator() != b[i].GetOperator() ||
			a[i].GetValue() != b[i].GetValue() || a[i].GetEffect() != b[i].GetEffect() {
			return false
		}
	}
	return true
}

// Delete forgets a pod (deleted, or bound by someone), and its nomination.
func (q *Queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := framework.PodKey(pod)
	q.nominated.deleteLocked(key)
	q.active.Delete(key)
	q.backoff.Delete(key)
	delete(q.unschedulable, key)
}

// Pop blocks until a pod is active and returns it, counting an attempt and a scheduling
// cycle. It returns nil when ctx ends or the queue is closed.
func (q *Queue) Pop(ctx context.Context) *QueuedPodInfo {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed || ctx.Err() != nil {
			return nil
		}
		q.cond.Wait()
	}
	if ctx.Err() != nil {
		return nil
	}
	p := q.active.Pop()
	p.Attempts++
	q.schedulingCycle++
	return p
}

// SchedulingCycle is the number of Pops so far; pass the value read right after Pop to
// AddUnschedulableIfNotPresent.
func (q *Queue) SchedulingCycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.schedulingCycle
}

// AddUnschedulableIfNotPresent requeues a pod whose attempt in cycle failed: to the backoff
// queue after an error, or when a move event arrived during its cycle; otherwise to the
// unschedulable set. A pod already queued again (updated meanwhile) is left alone.
func (q *Queue) AddUnschedulableIfNotPresent(p *QueuedPodInfo, unschedulable bool, cycle int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.active.Get(p.Key); ok {
		return
	}
	if _, ok := q.backoff.Get(p.Key); ok {
		return
	}
	p.Timestamp = q.cfg.Clock.Now()
	if !unschedulable || q.moveRequestCycle >= cycle {
		q.backoff.AddOrUpdate(p)
		return
	}
	q.unschedulable[p.Key] = p
}

// MoveAllToActiveOrBackoffQueue moves every unschedulable pod back: to the active queue
// when its backoff is over, to the backoff queue otherwise. Call it for events that might
// make pods schedulable (node added or updated, pod deleted).
func (q *Queue) MoveAllToActiveOrBackoffQueue(event string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveLocked(func(*QueuedPodInfo) bool { return true })
	q.moveRequestCycle = q.schedulingCycle
}

// MoveRejectedBy moves back the unschedulable pods that one of plugins rejected (and those
// no plugin did): for events only those plugins care about, such as an assigned pod added
// for InterPodAffinity and PodTopologySpread, where moving every pod would only churn the
// queue.
func (q *Queue) MoveRejectedBy(event string, plugins ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveLocked(func(p *QueuedPodInfo) bool {
		return len(p.UnschedulablePlugins) == 0 || slices.ContainsFunc(plugins, func(n string) bool { return p.UnschedulablePlugins[n] })
	})
	q.moveRequestCycle = q.schedulingCycle
}

// MoveIf moves back the unschedulable pods for which which is true (called with the
// queue locked: it must not call the queue): for events whose help depends on the pod,
// such as an assigned pod going, which only helps the pods whose rejecting plugins' hints
// say so.
func (q *Queue) MoveIf(event string, which func(*QueuedPodInfo) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveLocked(which)
	q.moveRequestCycle = q.schedulingCycle
}

func (q *Queue) moveLocked(which func(*QueuedPodInfo) bool) {
	moved := false
	for key, p := range q.unschedulable {
		if !which(p) {
			continue
		}
		delete(q.unschedulable, key)
		if q.backingOff(p) {
			q.backoff.AddOrUpdate(p)
		} else {
			q.active.AddOrUpdate(p)
			moved = true
		}
	}
	if moved {
		q.cond.Broadcast()
	}
}

// FlushBackoffQCompleted moves pods whose backoff is over to the active queue.
func (q *Queue) FlushBackoffQCompleted() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Clock.Now()
	moved := false
	for {
		p := q.backoff.Peek()
		if p == nil || q.backoffExpiry(p).After(now) {
			break
		}
		q.backoff.Pop()
		q.active.AddOrUpdate(p)
		moved = true
	}
	if moved {
		q.cond.Broadcast()
	}
}

// FlushUnschedulableLeftover moves pods parked longer than MaxInUnschedulable, so a pod
// whose helping event was missed still gets retried.
func (q *Queue) FlushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Clock.Now()
	q.moveLocked(func(p *QueuedPodInfo) bool { return now.Sub(p.Timestamp) >= q.cfg.MaxInUnschedulable })
}

// Run flushes the backoff queue every FlushPeriod and the unschedulable set every 30 s
// until ctx ends, then closes the queue.
func (q *Queue) Run(ctx context.Context) {
	backoff := q.cfg.Clock.NewTicker(q.cfg.FlushPeriod)
	defer backoff.Stop()
	leftover := q.cfg.Clock.NewTicker(30 * time.Second)
	defer leftover.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-backoff.C():
			q.FlushBackoffQCompleted()
		case <-leftover.C():
			q.FlushUnschedulableLeftover()
		}
	}
}

// Close wakes Pop callers, which return nil from then on.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Pending counts pods per queue: "active", "backoff", "unschedulable".
func (q *Queue) Pending() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return map[string]int{"active": q.active.Len(), "backoff": q.backoff.Len(), "unschedulable": len(q.unschedulable)}
}

// Has reports whether the pod with key is queued anywhere.
func (q *Queue) Has(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lookupLocked(key) != nil
}
