package retry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy is a transport's retry of one request on transient failures. The transport
// classifies each failure (Decision); the Policy bounds the attempts and picks the waits.
//
// The rules the transports follow (see Classify):
//   - an idempotent request (a read: get, list, the start of a watch) is retried on
//     connection errors, on 5xx answers but 501 Not Implemented, and on 429 Too Many
//     Requests, waiting what the server asked (Retry-After, Status
//     details.retryAfterSeconds) when it did;
//   - any request, writes included, is retried when the connection failed before anything
//     was sent (the dial failed: refused, unreachable);
//   - a write that may have reached the server is never retried, whatever the answer: a
//     POST retried after a lost response could create twice.
type Policy struct {
	// MaxAttempts bounds the attempts, the first included; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Backoff gives the waits the server did not dictate; its Steps is ignored. The zero
	// Backoff means DefaultTransientBackoff.
	Backoff Backoff
	// MaxRetryAfter caps a wait the server asks for; 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Sleep waits between attempts; nil means a timer that also ends with ctx. Tests set it
	// to observe the waits without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Defaults of a zero Policy.
const (
	DefaultMaxAttempts   = 5
	DefaultMaxRetryAfter = 30 * time.Second
)

// DefaultTransientBackoff waits 100ms, 200ms, 400ms, 800ms (plus jitter) between attempts.
var DefaultTransientBackoff = Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Cap: 5 * time.Second}

// NoRetry is a Policy of a single attempt.
var NoRetry = Policy{MaxAttempts: 1}

// Decision is a transport's verdict on a failed attempt.
type Decision struct {
	// Retry is true when the request may be sent again.
	Retry bool
	// After is the wait the server asked for; 0 lets the backoff choose.
	After time.Duration
}

// Do calls attempt until it succeeds, classify refuses to retry its error, the attempts run
// out or ctx ends, and returns the last attempt's error unchanged (or nil). Between attempts
// it waits Decision.After (capped at MaxRetryAfter) or the next backoff step.
func (p Policy) Do(ctx context.Context, attempt func(ctx context.Context) error, classify func(error) Decision) error {
	attempts := p.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	backoff := p.Backoff
	if backoff == (Backoff{}) {
		backoff = DefaultTransientBackoff
	}
	maxAfter := p.MaxRetryAfter
	if maxAfter <= 0 {
		maxAfter = DefaultMaxRetryAfter
	}
	wait := p.Sleep
	if wait == nil {
		wait = sleep
	}
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil || n >= attempts || ctx.Err() != nil {
			return err
		}
		dec := classify(err)
		if !dec.Retry {
			return err
		}
		d := backoff.Step()
		if dec.After > 0 {
			d = min(dec.After, maxAfter)
		}
		if serr := wait(ctx, d); serr != nil {
			return errors.Join(err, fmt.Errorf("retry abandoned: %w", serr))
		}
	}
}

// Classify applies the rules of Policy to a failed attempt. sent is false only when the
// request certainly never left the client (the connection could not be dialed); code is
// the HTTP status of the answer, 0 when there was none (the connection broke); retryAfter
// is the wait the answer asked for, if any.
func Classify(idempotent, sent bool, code int, retryAfter time.Duration) Decision {
	switch {
	case !sent:
		return Decision{Retry: true}
	case !idempotent:
		return Decision{}
	case code == 0:
		return Decision{Retry: true}
	case code == 429, code >= 500 && code != 501:
		return Decision{Retry: true, After: retryAfter}
	}
	return Decision{}
}
