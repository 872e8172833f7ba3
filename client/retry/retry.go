// Package retry retries API calls, in two ways:
//
//   - RetryOnConflict and OnError retry a whole read-modify-write (fn) with backoff, as
//     client-go's k8s.io/client-go/util/retry does: callers re-read the object in fn and
//     retry when an optimistic-concurrency conflict (409 Conflict) says someone else won.
//   - Policy retries one request inside a transport when the failure was transient
//     (connection errors, 5xx but 501, 429 with Retry-After), and only when a retry cannot
//     apply a change twice: see Policy.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"kubelab.io/proto/apierrors"
)

// Backoff is an exponential backoff: the n-th wait is Duration*Factor^(n-1), plus up to
// Jitter*that at random, capped at Cap when Cap > 0. Steps bounds the number of attempts.
// It mirrors k8s.io/apimachinery's wait.Backoff.
type Backoff struct {
	// Duration is the first wait.
	Duration time.Duration
	// Factor multiplies the wait after each step; 0 or 1 keeps it constant.
	Factor float64
	// Jitter adds a random [0, Jitter*wait) to each wait.
	Jitter float64
	// Steps is the maximum number of attempts (fn calls); below 1 means one attempt.
	Steps int
	// Cap bounds the wait, when positive.
	Cap time.Duration
}

// DefaultRetry is the backoff for conflicts that are expected to clear quickly (a
// controller racing a kubelet status write): 5 attempts, 10ms apart. As client-go's.
var DefaultRetry = Backoff{Steps: 5, Duration: 10 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

// DefaultBackoff is the backoff for less predictable contention: 4 attempts, waiting 10ms,
// 50ms, 250ms. As client-go's.
var DefaultBackoff = Backoff{Steps: 4, Duration: 10 * time.Millisecond, Factor: 5.0, Jitter: 0.1}

// Step returns the next wait and advances b.
func (b *Backoff) Step() time.Duration {
	d := b.Duration
	if b.Factor != 0 {
		b.Duration = time.Duration(float64(b.Duration) * b.Factor)
		if b.Cap > 0 && b.Duration > b.Cap {
			b.Duration = b.Cap
		}
	}
	if b.Cap > 0 && d > b.Cap {
		d = b.Cap
	}
	if b.Jitter > 0 && d > 0 {
		d += time.Duration(rand.Float64() * b.Jitter * float64(d))
	}
	return d
}

// sleep waits d or until ctx ends. Tests replace it to run without waiting.
var sleep = func(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnError calls fn until it returns nil or an error retriable rejects, waiting per backoff
// between calls, at most backoff.Steps times (at least once). It returns fn's last error
// unchanged (so apierrors.Is* still work on it), or nil. As client-go's retry.OnError.
func OnError(backoff Backoff, retriable func(error) bool, fn func() error) error {
	return OnErrorContext(context.Background(), backoff, retriable, fn)
}

// OnErrorContext is OnError that also stops waiting when ctx ends; it then returns fn's
// last error joined with ctx's.
func OnErrorContext(ctx context.Context, backoff Backoff, retriable func(error) bool, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retriable(err) || attempt >= backoff.Steps {
			return err
		}
		if serr := sleep(ctx, backoff.Step()); serr != nil {
			return errors.Join(err, fmt.Errorf("retry abandoned: %w", serr))
		}
	}
}

// RetryOnConflict runs a read-modify-write fn until it does not fail with a 409 Conflict
// (apierrors.IsConflict), per backoff; any other error, and the conflict of the last
// attempt, is returned unchanged. fn must re-read the object on each call:
//
//	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
//		pod, err := cs.Pods(ns).Get(ctx, name)
//		if err != nil {
//			return err
//		}
//		pod.Metadata.Labels["x"] = "y"
//		_, err = cs.Pods(ns).Update(ctx, pod)
//		return err
//	})
func RetryOnConflict(backoff Backoff, fn func() error) error {
	return OnError(backoff, apierrors.IsConflict, fn)
}
