// Package flowcontrol limits how fast a client sends requests to the apiserver: a token
// bucket refilled at QPS tokens per second and holding at most Burst tokens. Both client
// transports (REST and gRPC) take one token per request they send, retries included; a
// watch takes one when it starts, however long it then runs.
package flowcontrol

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// RateLimiter admits requests.
type RateLimiter interface {
	// Wait blocks until the request may be sent, or returns ctx's error (wrapped) when ctx
	// ends first or its deadline would pass before a token is available. A token is only
	// consumed when Wait returns nil.
	Wait(ctx context.Context) error
	// TryAccept takes a token if one is available now, without blocking.
	TryAccept() bool
}

// NewTokenBucket returns a limiter admitting qps requests per second on average and bursts
// of up to burst requests; the bucket starts full. A qps of zero or less disables limiting
// (every call is admitted at once); a burst below 1 is taken as 1.
func NewTokenBucket(qps float32, burst int) RateLimiter {
	return NewTokenBucketWithClock(qps, burst, RealClock{})
}

// NewTokenBucketWithClock is NewTokenBucket on the given clock.
func NewTokenBucketWithClock(qps float32, burst int, clock Clock) RateLimiter {
	if qps <= 0 {
		return unlimited{}
	}
	if burst < 1 {
		burst = 1
	}
	return &tokenBucket{qps: float64(qps), burst: float64(burst), tokens: float64(burst), last: clock.Now(), clock: clock}
}

// unlimited admits everything.
type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rate limiter: %w", err)
	}
	return nil
}
func (unlimited) TryAccept() bool { return true }

// tokenBucket is a token bucket whose token count may go negative: a waiter reserves its
// token at once (taking the count below zero) and then sleeps until the refill has paid it
// back, so waiters are served in arrival order.
type tokenBucket struct {
	mu     sync.Mutex
	qps    float64
	burst  float64
	tokens float64
	last   time.Time
	clock  Clock
}

// advance refills the bucket for the time passed since the last call. Callers hold mu.
func (b *tokenBucket) advance(now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens += elapsed.Seconds() * b.qps
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
}

func (b *tokenBucket) TryAccept() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.clock.Now())
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

func (b *tokenBucket) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rate limiter: %w", err)
	}
	b.mu.Lock()
	now := b.clock.Now()
	b.advance(now)
	b.tokens--
	var wait time.Duration
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.qps * float64(time.Second))
	}
	b.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait { // deadlines are wall-clock
		b.refund()
		return fmt.Errorf("rate limiter: waiting %v would exceed the deadline: %w", wait, context.DeadlineExceeded)
	}
	select {
	case <-b.clock.After(wait):
		return nil
	case <-ctx.Done():
		b.refund()
		return fmt.Errorf("rate limiter: %w", ctx.Err())
	}
}

// refund gives back the token reserved by a Wait that gave up.
func (b *tokenBucket) refund() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens++
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
}
