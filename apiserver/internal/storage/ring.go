package storage

import (
	"sort"

	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// cacheEvent is one change the watch cache saw. Its objects are shared by the cache and all
// watchers: never modified after creation.
type cacheEvent struct {
	typ watch.EventType // Added, Modified or Deleted
	key string
	rev int64
	// obj is the state after the change; for Deleted, the last state with the deletion's
	// revision as resourceVersion.
	obj runtime.Object
	// prev is the state before the change; nil for Added.
	prev runtime.Object
}

// eventRing keeps the most recent events in revision order, dropping the oldest when full.
type eventRing struct {
	buf   []*cacheEvent
	start int // index of the oldest event
	n     int
}

func newEventRing(size int) *eventRing { return &eventRing{buf: make([]*cacheEvent, size)} }

// push appends e and returns the event it evicted, if the ring was full.
func (r *eventRing) push(e *cacheEvent) (evicted *cacheEvent) {
	if r.n == len(r.buf) {
		evicted = r.buf[r.start]
		r.buf[r.start] = e
		r.start = (r.start + 1) % len(r.buf)
		return evicted
	}
	r.buf[(r.start+r.n)%len(r.buf)] = e
	r.n++
	return nil
}

func (r *eventRing) at(i int) *cacheEvent { return r.buf[(r.start+i)%len(r.buf)] }

// since returns the events after revision rev, oldest first.
func (r *eventRing) since(rev int64) []*cacheEvent {
	i := sort.Search(r.n, func(i int) bool { return r.at(i).rev > rev })
	out := make([]*cacheEvent, 0, r.n-i)
	for ; i < r.n; i++ {
		out = append(out, r.at(i))
	}
	return out
}

func (r *eventRing) reset() {
	clear(r.buf)
	r.start, r.n = 0, 0
}
