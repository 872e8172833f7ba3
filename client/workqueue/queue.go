package workqueue

import (
	"container/heap"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Interface is what controllers hold: the full rate-limited queue contract, so a fake can
// stand in for *Queue in tests.
type Interface[T comparable] interface {
	// Add queues item unless it is already waiting; if it is being processed it is queued
	// again when Done is called for it. Add after ShutDown is a no-op.
	Add(item T)
	// Len is the number of keys waiting (not counting delayed or in-flight ones).
	Len() int
	// Get blocks until a key is available and marks it processing. shutdown is true (and
	// item the zero value) once the queue is shut down and empty.
	Get() (item T, shutdown bool)
	// Done marks item finished; every Get must be paired with exactly one Done.
	Done(item T)
	ShutDown()
	ShutDownWithDrain()
	ShuttingDown() bool
	// AddAfter adds item once d has passed on the queue's clock (at once if d <= 0). A key
	// already waiting keeps the earlier of its two ready times.
	AddAfter(item T, d time.Duration)
	// AddRateLimited adds item after the delay the rate limiter grants it.
	AddRateLimited(item T)
	// Forget ends item's retry history (call it when item was processed successfully); it
	// does not remove item from the queue.
	Forget(item T)
	// NumRequeues is how many times item was rate-limited since the last Forget.
	NumRequeues(item T) int
}

// Config configures a Queue. The zero value is usable: an unnamed queue on the real clock,
// with DefaultControllerRateLimiter and no metrics.
type Config[T comparable] struct {
	// Name labels the queue's metrics.
	Name string
	// Clock defaults to the real clock.
	Clock clock.Clock
	// RateLimiter defaults to DefaultControllerRateLimiter.
	RateLimiter RateLimiter[T]
	// Metrics defaults to none. Use a PrometheusProvider's For(Name) for client-go-named
	// series.
	Metrics Metrics
}

// Queue is a deduplicating, delaying, rate-limited work queue of comparable keys. It is safe
// for concurrent use. New starts one goroutine that moves delayed keys into the queue; it
// exits on ShutDown (or ShutDownWithDrain), which every owner must eventually call.
type Queue[T comparable] struct {
	clock   clock.Clock
	limiter RateLimiter[T]
	metrics Metrics

	mu    sync.Mutex
	cond  *sync.Cond
	queue []T
	// dirty holds keys that need processing: those in queue and those re-added while
	// processing.
	dirty      map[T]struct{}
	processing map[T]struct{}
	// addedAt and startedAt time queue latency and work duration for metrics.
	addedAt      map[T]time.Time
	startedAt    map[T]time.Time
	shuttingDown bool
	drain        bool

	// Delayed keys: a min-heap by ready time, indexed by key for deduplication.
	waiting     waitHeap[T]
	waitingByID map[T]*waitEntry[T]
	wake        chan struct{}
	stop        chan struct{}
	stopOnce    sync.Once
	loopDone    chan struct{}
}

var _ Interface[string] = (*Queue[string])(nil)

// New returns a running queue; see Queue for the goroutine it owns.
func New[T comparable](cfg Config[T]) *Queue[T] {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.RateLimiter == nil {
		cfg.RateLimiter = DefaultControllerRateLimiter[T](cfg.Clock)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	q := &Queue[T]{
		clock:       cfg.Clock,
		limiter:     cfg.RateLimiter,
		metrics:     cfg.Metrics,
		dirty:       map[T]struct{}{},
		processing:  map[T]struct{}{},
		addedAt:     map[T]time.Time{},
		startedAt:   map[T]time.Time{},
		waitingByID: map[T]*waitEntry[T]{},
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	q.cond = sync.NewCond(&q.mu)
	go q.waitingLoop()
	return q
}

// NewNamed is New with only a name: real clock, default rate limiter, no metrics.
func NewNamed[T comparable](name string) *Queue[T] { return New(Config[T]{Name: name}) }

func (q *Queue[T]) Add(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(item)
}

func (q *Queue[T]) addLocked(item T) {
	if q.shuttingDown {
		return
	}
	if _, ok := q.dirty[item]; ok {
		return
	}
	q.metrics.Added()
	if _, ok := q.addedAt[item]; !ok {
		q.addedAt[item] = q.clock.Now()
	}
	q.dirty[item] = struct{}{}
	if _, ok := q.processing[item]; ok {
		return // Done requeues it
	}
	q.queue = append(q.queue, item)
	q.cond.Signal()
}

func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

func (q *Queue[T]) Get() (item T, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.shuttingDown {
		q.cond.Wait()
	}
	if len(q.queue) == 0 {
		var zero T
		return zero, true
	}
	item = q.queue[0]
	var zero T
	q.queue[0] = zero // let the GC have it
	q.queue = q.queue[1:]

	now := q.clock.Now()
	if t, ok := q.addedAt[item]; ok {
		q.metrics.Started(now.Sub(t))
		delete(q.addedAt, item)
	}
	q.startedAt[item] = now
	q.processing[item] = struct{}{}
	delete(q.dirty, item)
	return item, false
}

func (q *Queue[T]) Done(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t, ok := q.startedAt[item]; ok {
		q.metrics.Finished(q.clock.Since(t))
		delete(q.startedAt, item)
	}
	delete(q.processing, item)
	if _, ok := q.dirty[item]; ok {
		q.queue = append(q.queue, item)
		q.cond.Signal()
	} else if len(q.processing) == 0 {
		q.cond.Broadcast() // ShutDownWithDrain may be waiting
	}
}

// ShutDown stops accepting keys and drops delayed ones; workers still get the keys already
// queued, then shutdown=true. It returns once the delaying goroutine has exited.
func (q *Queue[T]) ShutDown() {
	q.stopLoop()
	q.mu.Lock()
	q.shuttingDown = true
	q.drain = false
	q.cond.Broadcast()
	q.mu.Unlock()
}

// ShutDownWithDrain is ShutDown that also blocks until every key handed out by Get is Done
// (or until ShutDown is called). Workers must keep running meanwhile or it never returns.
func (q *Queue[T]) ShutDownWithDrain() {
	q.stopLoop()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shuttingDown = true
	q.drain = true
	q.cond.Broadcast()
	for q.drain && len(q.processing) > 0 {
		q.cond.Wait()
	}
}

func (q *Queue[T]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shuttingDown
}

func (q *Queue[T]) stopLoop() {
	q.stopOnce.Do(func() { close(q.stop) })
	<-q.loopDone
}

// AddAfter counts a retry in the metrics, as client-go's delaying queue does.
func (q *Queue[T]) AddAfter(item T, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return
	}
	q.metrics.Retried()
	if d <= 0 {
		q.addLocked(item)
		return
	}
	readyAt := q.clock.Now().Add(d)
	if e, ok := q.waitingByID[item]; ok {
		if readyAt.Before(e.readyAt) {
			e.readyAt = readyAt
			heap.Fix(&q.waiting, e.index)
		}
	} else {
		e := &waitEntry[T]{item: item, readyAt: readyAt}
		heap.Push(&q.waiting, e)
		q.waitingByID[item] = e
	}
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (q *Queue[T]) AddRateLimited(item T) { q.AddAfter(item, q.limiter.When(item)) }
func (q *Queue[T]) Forget(item T)         { q.limiter.Forget(item) }
func (q *Queue[T]) NumRequeues(item T) int {
	return q.limiter.NumRequeues(item)
}

// waitingLoop moves delayed keys whose time has come into the queue. Ready times are
// absolute, so it does not matter whether a wake-up or a clock step comes first.
func (q *Queue[T]) waitingLoop() {
	defer close(q.loopDone)
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		now := q.clock.Now()
		for q.waiting.Len() > 0 && !q.waiting[0].readyAt.After(now) {
			e := heap.Pop(&q.waiting).(*waitEntry[T])
			delete(q.waitingByID, e.item)
			q.addLocked(e.item)
		}
		var next <-chan time.Time
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if q.waiting.Len() > 0 {
			timer = q.clock.NewTimer(q.waiting[0].readyAt.Sub(now))
			next = timer.C()
		}
		q.mu.Unlock()

		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-next:
		}
	}
}

type waitEntry[T comparable] struct {
	item    T
	readyAt time.Time
	index   int
}

type waitHeap[T comparable] []*waitEntry[T]

func (h waitHeap[T]) Len() int           { return len(h) }
func (h waitHeap[T]) Less(i, j int) bool { return h[i].readyAt.Before(h[j].readyAt) }
func (h waitHeap[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *waitHeap[T]) Push(x any) {
	e := x.(*waitEntry[T])
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *waitHeap[T]) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
