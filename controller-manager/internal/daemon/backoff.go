package daemon

import (
	"sync"
	"time"
)

// The delay before a failed daemon pod on a node is deleted again, as upstream's
// failedPodsBackoff (flowcontrol.NewBackOff(1s, 15min)): a kubelet that keeps rejecting
// the pod would otherwise have the controller delete and recreate it in a hot loop.
const (
	failedPodsBackoffBase = time.Second
	failedPodsBackoffMax  = 15 * time.Minute
)

// backoff is client-go's flowcontrol.Backoff, as far as the controller uses it: per key, a
// delay that doubles on each Next (up to max) and starts over once the key has been quiet for
// twice max. It is safe for concurrent use.
type backoff struct {
	mu        sync.Mutex
	base, max time.Duration
	entries   map[string]*backoffEntry
}

type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackoff(base, maxDelay time.Duration) *backoff {
	return &backoff{base: base, max: maxDelay, entries: map[string]*backoffEntry{}}
}

func (b *backoff) expired(e *backoffEntry, now time.Time) bool {
	return now.Sub(e.lastUpdate) > 2*b.max
}

// Next records an event of key at now and lengthens its delay. Expired keys are forgotten
// on the way, so the map does not grow with nodes and DaemonSets long gone.
func (b *backoff) Next(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, e := range b.entries {
		if b.expired(e, now) {
			delete(b.entries, k)
		}
	}
	e, ok := b.entries[key]
	if !ok {
		b.entries[key] = &backoffEntry{delay: b.base, lastUpdate: now}
		return
	}
	e.delay = min(2*e.delay, b.max)
	e.lastUpdate = now
}

// Get is key's current delay (0 when none).
func (b *backoff) Get(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return 0
}

// InBackoffSinceUpdate reports whether key's delay has not yet passed since its last event.
func (b *backoff) InBackoffSinceUpdate(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.expired(e, now) {
		return false
	}
	return now.Sub(e.lastUpdate) < e.delay
}
