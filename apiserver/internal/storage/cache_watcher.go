package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// progressRequestInterval is how often a watch waiting for a resourceVersion the cache has
// not reached asks etcd to confirm its revision (etcd answers only when the watch is synced).
const progressRequestInterval = 200 * time.Millisecond

// Watch implements Interface.Watch from the cache. A resourceVersion newer than the cache
// waits (until ctx ends) for the cache to catch up; one older than the cache's event window
// fails with ErrGone.
func (c *cacher) Watch(ctx context.Context, key string, resourceVersion string, pred Predicate) (watch.Interface, error) {
	if !strings.HasPrefix(key, c.store.prefix) {
		return nil, fmt.Errorf("watch %s: %w: key is outside %s", key, ErrBadRequest, c.store.prefix)
	}
	rv, err := parseRV(resourceVersion)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", key, err)
	}
	if err := c.waitForRev(ctx, rv); err != nil {
		return nil, fmt.Errorf("watch %s at %d: %w", key, rv, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, fmt.Errorf("watch %s: storage of %s is stopped", key, c.store.prefix)
	}
	var initial []*cacheEvent
	switch {
	case rv == 0:
		keys, objs := c.collectLocked(key)
		initial = make([]*cacheEvent, len(keys))
		for i, k := range keys {
			initial[i] = &cacheEvent{typ: watch.Added, key: k, rev: objectRV(objs[i]), obj: objs[i]}
		}
	case rv < c.oldest:
		// Kubernetes' words, one errors.Unwrap away from the key.
		return nil, fmt.Errorf("watch %s: %w", key, fmt.Errorf("%w: %d (%d)", ErrGone, rv, c.oldest))
	default:
		for _, e := range c.events.since(rv) {
			if keyMatches(key, e.key) {
				initial = append(initial, e)
			}
		}
	}
	w := &cacheWatcher{
		c:       c,
		key:     key,
		pred:    pred,
		initial: initial,
		input:   make(chan *cacheEvent, c.bufSize),
		result:  make(chan watch.Event),
		done:    make(chan struct{}),
	}
	c.watchers[w] = struct{}{}
	c.wg.Add(1)
	w.stopOnCtx = context.AfterFunc(ctx, w.Stop)
	go w.run()
	return w, nil
}

// waitForRev returns once the cache has seen revision rev, asking etcd for progress while
// it waits: the cache only learns of revisions outside its prefix that way.
func (c *cacher) waitForRev(ctx context.Context, rev int64) error {
	var ticker *time.Ticker
	for {
		c.mu.Lock()
		cur, changed, stopped := c.rev, c.revChanged, c.stopped
		c.mu.Unlock()
		if cur >= rev {
			return nil
		}
		if stopped {
			return errors.New("storage is stopped")
		}
		if ticker == nil {
			ticker = time.NewTicker(progressRequestInterval)
			defer ticker.Stop()
			c.requestProgress()
		}
		select {
		case <-changed:
		case <-ticker.C:
			c.requestProgress()
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return errors.New("storage is stopped")
		}
	}
}

func (c *cacher) requestProgress() {
	if err := c.etcdWatch.RequestProgress(c.watchCtx); err != nil {
		c.log.Debug("etcd progress request failed", "err", err)
	}
}

// cacheWatcher is one client's watch: the events before it started (initial), then those
// the cache dispatches (input), filtered by its predicate and copied onto result.
type cacheWatcher struct {
	c         *cacher
	key       string
	pred      Predicate
	initial   []*cacheEvent
	input     chan *cacheEvent
	result    chan watch.Event
	done      chan struct{}
	doneOnce  sync.Once
	stopOnCtx func() bool
}

// ResultChan implements watch.Interface.
func (w *cacheWatcher) ResultChan() <-chan watch.Event { return w.result }

// Stop implements watch.Interface: it ends the watch and closes its channel. Idempotent.
func (w *cacheWatcher) Stop() {
	w.c.mu.Lock()
	w.c.removeLocked(w)
	w.c.mu.Unlock()
}

// terminate ends the watch; the cacher's mu is held by the caller.
func (w *cacheWatcher) terminate() { w.doneOnce.Do(func() { close(w.done) }) }

func (w *cacheWatcher) wants(key string) bool { return keyMatches(w.key, key) }

func (w *cacheWatcher) run() {
	defer w.c.wg.Done()
	defer close(w.result)
	defer w.stopOnCtx()
	for _, e := range w.initial {
		if !w.send(e) {
			return
		}
	}
	w.initial = nil
	for {
		select {
		case e := <-w.input:
			if !w.send(e) {
				return
			}
		case <-w.done:
			return
		}
	}
}

// send delivers e as the predicate sees it, and reports false once the watch has ended.
func (w *cacheWatcher) send(e *cacheEvent) bool {
	ev, ok := w.convert(e)
	if !ok {
		return true
	}
	select {
	case w.result <- ev:
		return true
	case <-w.done:
		return false
	}
}

// convert applies the predicate to both states of e, as Kubernetes does: an object that
// starts matching is ADDED, one that stops matching is DELETED (its previous state at the
// new revision). The object sent is a private copy.
func (w *cacheWatcher) convert(e *cacheEvent) (watch.Event, bool) {
	switch e.typ {
	case watch.Added:
		if w.matches(e.obj) {
			return watch.Event{Type: watch.Added, Object: clone(e.obj)}, true
		}
	case watch.Modified:
		cur, old := w.matches(e.obj), w.matches(e.prev)
		switch {
		case cur && old:
			return watch.Event{Type: watch.Modified, Object: clone(e.obj)}, true
		case cur:
			return watch.Event{Type: watch.Added, Object: clone(e.obj)}, true
		case old:
			return watch.Event{Type: watch.Deleted, Object: withRV(e.prev, e.rev)}, true
		}
	case watch.Deleted:
		if w.matches(e.prev) {
			return watch.Event{Type: watch.Deleted, Object: clone(e.obj)}, true
		}
	}
	return watch.Event{}, false
}

func (w *cacheWatcher) matches(obj runtime.Object) bool { return w.pred == nil || w.pred(obj) }
