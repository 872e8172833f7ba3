package workqueue

import (
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// RateLimiter decides how long a key waits before it is retried. Implementations are safe
// for concurrent use.
type RateLimiter[T comparable] interface {
	// When records one more failure of item and returns how long to wait before retrying.
	When(item T) time.Duration
	// Forget clears item's failure history.
	Forget(item T)
	// NumRequeues is the number of failures recorded for item since the last Forget.
	NumRequeues(item T) int
}

// DefaultControllerRateLimiter is client-go's default: per-key exponential backoff from
// 5 ms doubling up to 1000 s, max'ed with an overall 10 qps token bucket with burst 100 (which
// only bites when many keys fail at once).
func DefaultControllerRateLimiter[T comparable](clk clock.Clock) RateLimiter[T] {
	return NewMaxOfRateLimiter[T](
		NewItemExponentialFailureRateLimiter[T](5*time.Millisecond, 1000*time.Second),
		NewBucketRateLimiter[T](clk, 10, 100),
	)
}

// ItemExponentialFailureRateLimiter waits base*2^failures for a key, capped at max.
type ItemExponentialFailureRateLimiter[T comparable] struct {
	base, max time.Duration
	mu        sync.Mutex
	failures  map[T]int
}

func NewItemExponentialFailureRateLimiter[T comparable](base, max time.Duration) *ItemExponentialFailureRateLimiter[T] {
	return &ItemExponentialFailureRateLimiter[T]{base: base, max: max, failures: map[T]int{}}
}

func (r *ItemExponentialFailureRateLimiter[T]) When(item T) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp := r.failures[item]
	r.failures[item] = exp + 1
	backoff := float64(r.base.Nanoseconds()) * math.Pow(2, float64(exp))
	if backoff > float64(r.max.Nanoseconds()) || backoff > math.MaxInt64 {
		return r.max
	}
	return time.Duration(backoff)
}

func (r *ItemExponentialFailureRateLimiter[T]) Forget(item T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, item)
}

func (r *ItemExponentialFailureRateLimiter[T]) NumRequeues(item T) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[item]
}

// BucketRateLimiter is a token bucket over all keys: burst tokens, refilled at qps. A key
// arriving when the bucket is empty reserves a future token and waits for it, like
// golang.org/x/time/rate's Reserve. It keeps no per-key state.
type BucketRateLimiter[T comparable] struct {
	clock  clock.Clock
	qps    float64
	burst  float64
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func NewBucketRateLimiter[T comparable](clk clock.Clock, qps float64, burst int) *BucketRateLimiter[T] {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &BucketRateLimiter[T]{clock: clk, qps: qps, burst: float64(burst), tokens: float64(burst), last: clk.Now()}
}

func (r *BucketRateLimiter[T]) When(T) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	if elapsed := now.Sub(r.last); elapsed > 0 {
		r.tokens = math.Min(r.burst, r.tokens+elapsed.Seconds()*r.qps)
		r.last = now
	}
	r.tokens--
	if r.tokens >= 0 || r.qps <= 0 {
		return 0
	}
	return time.Duration(-r.tokens / r.qps * float64(time.Second))
}

func (r *BucketRateLimiter[T]) Forget(T)          {}
func (r *BucketRateLimiter[T]) NumRequeues(T) int { return 0 }

// MaxOfRateLimiter waits as long as the slowest of its limiters says, and reports the
// highest requeue count.
type MaxOfRateLimiter[T comparable] struct {
	limiters []RateLimiter[T]
}

func NewMaxOfRateLimiter[T comparable](limiters ...RateLimiter[T]) *MaxOfRateLimiter[T] {
	return &MaxOfRateLimiter[T]{limiters: limiters}
}

func (r *MaxOfRateLimiter[T]) When(item T) time.Duration {
	var d time.Duration
	for _, l := range r.limiters {
		d = max(d, l.When(item))
	}
	return d
}

func (r *MaxOfRateLimiter[T]) Forget(item T) {
	for _, l := range r.limiters {
		l.Forget(item)
	}
}

func (r *MaxOfRateLimiter[T]) NumRequeues(item T) int {
	n := 0
	for _, l := range r.limiters {
		n = max(n, l.NumRequeues(item))
	}
	return n
}
