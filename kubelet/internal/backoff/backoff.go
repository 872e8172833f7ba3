// Package backoff is the kubelet's per-key exponential back-off (client-go's
// flowcontrol.Backoff as the kubelet uses it for CrashLoopBackOff and ImagePullBackOff):
// 10 s doubling to 5 min, forgotten when a key has been quiet for twice the maximum
// (so a container that ran 10 minutes restarts at the initial delay again).
package backoff

import (
	"sync"
	"time"
)

// Backoff tracks one delay per key. Safe for concurrent use. Time is injected.
type Backoff struct {
	Initial, Max time.Duration
	Now          func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	delay      time.Duration
	lastUpdate time.Time
}

// New returns a Backoff (now is time.Now when nil).
func New(initial, max time.Duration, now func() time.Time) *Backoff {
	if now == nil {
		now = time.Now
	}
	return &Backoff{Initial: initial, Max: max, Now: now, entries: map[string]*entry{}}
}

func (b *Backoff) expired(e *entry, at time.Time) bool {
	return at.Sub(e.lastUpdate) > 2*b.Max
}

// Get returns the current delay of key (0 when none).
func (b *Backoff) Get(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return 0
}

// Next records a failure of key at eventTime: the first (or the first after a long quiet
// spell) sets the initial delay, each next one doubles it up to Max.
func (b *Backoff) Next(key string, eventTime time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.expired(e, eventTime) {
		b.entries[key] = &entry{delay: b.Initial, lastUpdate: eventTime}
		return
	}
	e.delay = min(2*e.delay, b.Max)
	e.lastUpdate = eventTime
}

// InBackOffSince reports whether key is still backing off from a failure at eventTime,
// and for how long yet.
func (b *Backoff) InBackOffSince(key string, eventTime time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.expired(e, b.Now()) {
		return false, 0
	}
	left := e.delay - b.Now().Sub(eventTime)
	return left > 0, max(left, 0)
}

// InBackOffSinceUpdate reports whether key is backing off from its last Next.
func (b *Backoff) InBackOffSinceUpdate(key string) (bool, time.Duration) {
	b.mu.Lock()
	e, ok := b.entries[key]
	b.mu.Unlock()
	if !ok {
		return false, 0
	}
	return b.InBackOffSince(key, e.lastUpdate)
}

// Reset forgets key.
func (b *Backoff) Reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}

// GC forgets keys quiet for longer than 2*Max.
func (b *Backoff) GC() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.Now()
	for k, e := range b.entries {
		if b.expired(e, now) {
			delete(b.entries, k)
		}
	}
}
