package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

const (
	// DefaultWatchCacheSize is how many recent events a resource's watch cache keeps, so a
	// watch can resume from any resourceVersion they cover.
	DefaultWatchCacheSize = 1024
	// DefaultWatcherBuffer is how many events one watcher may lag behind the cache before
	// it is closed (its client then watches again from the last resourceVersion it got).
	DefaultWatcherBuffer = 1024
	// initialListPage is the page size of the reads that fill the cache.
	initialListPage = 5000
)

// cacher is the watch cache of one resource: a single etcd watch on the resource prefix
// keeps the current state of every object and a ring of recent events, and fans them out
// to any number of watchers. It also serves List at resourceVersion "0".
//
// Invariants, under mu: objects is etcd's state under the prefix at revision rev; events
// holds every event after revision oldest, in revision order, so a watch can resume from
// any resourceVersion from oldest on. Cached objects and events are never modified: whatever
// leaves the cache is a copy.
type cacher struct {
	store     *etcdStore
	etcdWatch clientv3.Watcher // a watch stream of our own, so progress requests reach only it
	watchCtx  context.Context  // the context of the etcd watch (progress requests need it)
	log       *slog.Logger
	bufSize   int

	mu         sync.Mutex
	objects    map[string]runtime.Object
	buckets    map[string]map[string]runtime.Object // objects by parent key (cache_index.go)
	events     *eventRing
	rev        int64
	oldest     int64
	revChanged chan struct{} // closed (and replaced) whenever rev advances
	watchers   map[*cacheWatcher]struct{}
	stopped    bool
	// created holds objects created through this storage whose watch event has not come
	// yet, by key: the event then reuses the object instead of decoding the value again
	// (decoding was a tenth of a create's allocations). See adoptCreated.
	created map[string]runtime.Object

	runCtx     context.Context // ends when stop is called
	cancel     context.CancelFunc
	watching   chan struct{} // closed once the first etcd watch is established
	isWatching bool          // whether watching is closed; owned by run
	done       chan struct{} // closed when run returns
	wg         sync.WaitGroup
	stopOnce   sync.Once
}

// newCacher lists the resource (failing if that fails) and starts watching etcd; it returns
// once etcd has confirmed the watch.
func newCacher(ctx context.Context, store *etcdStore, cfg ResourceConfig) (*cacher, error) {
	c := makeCacher(store, cfg)
	if err := c.relist(ctx); err != nil {
		c.cancel()
		close(c.done)
		_ = c.etcdWatch.Close()
		return nil, err
	}
	go c.run(c.runCtx)
	// Waiting for etcd to confirm the watch means writes made once we return reach the cache
	// at once, instead of through etcd's catch-up of lagging watches (every 100 ms).
	select {
	case <-c.watching:
		return c, nil
	case <-ctx.Done():
		c.stop()
		return nil, fmt.Errorf("watch %s: %w", store.prefix, ctx.Err())
	}
}

func makeCacher(store *etcdStore, cfg ResourceConfig) *cacher {
	size, buf := cfg.WatchCacheSize, cfg.WatcherBuffer
	if size <= 0 {
		size = DefaultWatchCacheSize
	}
	if buf <= 0 {
		buf = DefaultWatcherBuffer
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &cacher{
		store:      store,
		etcdWatch:  clientv3.NewWatcher(store.client),
		watchCtx:   clientv3.WithRequireLeader(runCtx),
		log:        store.log,
		bufSize:    buf,
		events:     newEventRing(size),
		revChanged: make(chan struct{}),
		watchers:   map[*cacheWatcher]struct{}{},
		created:    map[string]runtime.Object{},
		runCtx:     runCtx,
		cancel:     cancel,
		watching:   make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// stop ends the etcd watch and every watcher, and waits for their goroutines. Idempotent.
func (c *cacher) stop() {
	c.stopOnce.Do(func() {
		c.cancel()
		<-c.done
		c.mu.Lock()
		c.stopped = true
		c.terminateAllLocked()
		c.mu.Unlock()
		c.wg.Wait()
		_ = c.etcdWatch.Close()
	})
}

// relist reads the whole resource at one revision and makes it the cache's state. Watchers
// are closed: events between their last resourceVersion and the list are unknown.
func (c *cacher) relist(ctx context.Context) error {
	objects, rev, err := c.listAll(ctx)
	if err != nil {
		return fmt.Errorf("fill watch cache of %s: %w", c.store.prefix, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.terminateAllLocked()
	c.resetLocked(objects)
	clear(c.created)
	c.events.reset()
	c.oldest = rev
	c.setRevLocked(rev)
	c.log.Info("watch cache filled", "objects", len(objects), "rev", rev)
	return nil
}

// listAll reads every object under the prefix, in pages pinned to the first page's revision.
func (c *cacher) listAll(ctx context.Context) (map[string]runtime.Object, int64, error) {
	objects := map[string]runtime.Object{}
	start, end := c.store.prefix, clientv3.GetPrefixRangeEnd(c.store.prefix)
	var rev int64
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(initialListPage)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		resp, err := c.store.client.Get(ctx, start, ops...)
		if err != nil {
			return nil, 0, mapEtcdErr(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			obj, err := c.store.codec.decode(kv.Value, kv.ModRevision)
			if err != nil {
				c.log.Error("watch cache: undecodable object skipped", "key", string(kv.Key), "err", err)
				continue
			}
			objects[string(kv.Key)] = obj
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return objects, rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// run keeps the cache in sync until ctx ends: it watches from the cache's revision,
// re-watches when the etcd watch breaks, and re-lists when its revision was compacted.
func (c *cacher) run(ctx context.Context) {
	defer close(c.done)
	retry := backoff{min: 50 * time.Millisecond, max: 5 * time.Second}
	for {
		progressed, err := c.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			retry.reset()
		}
		if errors.Is(err, ErrGone) {
			c.log.Warn("etcd watch compacted, re-listing", "err", err)
			for {
				if err = c.relist(ctx); err == nil || ctx.Err() != nil {
					break
				}
				c.log.Warn("re-list failed", "err", err)
				if !retry.wait(ctx) {
					return
				}
			}
			retry.reset()
			continue
		}
		c.log.Warn("etcd watch broke, watching again", "err", err)
		if !retry.wait(ctx) {
			return
		}
	}
}

// watch streams etcd events after the cache's revision into the cache until the etcd
// watch ends, and says whether it got anything and why it ended.
func (c *cacher) watch(ctx context.Context) (progressed bool, err error) {
	c.mu.Lock()
	from := c.rev + 1
	c.mu.Unlock()
	wctx, cancel := context.WithCancel(c.watchCtx)
	defer cancel()
	ch := c.etcdWatch.Watch(wctx, c.store.prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	for resp := range ch {
		if err := resp.Err(); err != nil {
			return progressed, fmt.Errorf("watch %s from %d: %w", c.store.prefix, from, mapEtcdErr(err))
		}
		progressed = true
		if resp.Created && !c.isWatching {
			c.isWatching = true
			close(c.watching)
		}
		if resp.IsProgressNotify() {
			c.progress(resp.Header.Revision)
			continue
		}
		c.apply(resp.Events)
	}
	if err := ctx.Err(); err != nil {
		return progressed, err
	}
	return progressed, fmt.Errorf("watch %s from %d: etcd closed the watch", c.store.prefix, from)
}

// progress records that etcd has sent every event up to rev.
func (c *cacher) progress(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev > c.rev {
		c.setRevLocked(rev)
	}
}

func (c *cacher) setRevLocked(rev int64) {
	c.rev = rev
	close(c.revChanged)
	c.revChanged = make(chan struct{})
}

// apply folds etcd events into the cache and hands them to the watchers.
func (c *cacher) apply(events []*clientv3.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev := c.rev
	for _, ev := range events {
		rev = max(rev, ev.Kv.ModRevision)
		ce := c.toCacheEvent(ev)
		if ce == nil {
			continue
		}
		if ce.typ == watch.Deleted {
			c.deleteLocked(ce.key)
		} else {
			c.putLocked(ce.key, ce.obj)
		}
		if evicted := c.events.push(ce); evicted != nil {
			c.oldest = evicted.rev
		}
		c.dispatchLocked(ce)
	}
	if rev > c.rev {
		c.setRevLocked(rev)
	}
}

// toCacheEvent decodes ev against the cached previous state; nil when it cannot be used.
func (c *cacher) toCacheEvent(ev *clientv3.Event) *cacheEvent {
	key := string(ev.Kv.Key)
	ce := &cacheEvent{key: key, rev: ev.Kv.ModRevision, prev: c.objects[key]}
	if ev.Type == clientv3.EventTypeDelete {
		if ce.prev == nil {
			c.log.Warn("watch cache: delete of an unknown object", "key", key, "rev", ce.rev)
			return nil
		}
		ce.typ, ce.obj = watch.Deleted, withRV(ce.prev, ce.rev)
		return ce
	}
	obj := c.takeCreatedLocked(key, ce.rev)
	if obj == nil {
		var err error
		if obj, err = c.store.codec.decode(ev.Kv.Value, ev.Kv.ModRevision); err != nil {
			c.log.Error("watch cache: undecodable object skipped", "key", key, "rev", ce.rev, "err", err)
			return nil
		}
	}
	ce.typ, ce.obj = watch.Modified, obj
	if ce.prev == nil {
		ce.typ = watch.Added
	}
	return ce
}

// adoptCreated hands the cache obj, just created at key through this storage with its
// resourceVersion set: the watch event of that write then keeps obj itself as the cached
// state. obj is what the event's value decodes to (Create stored exactly obj), and from
// here on it is shared, so nobody may modify it. A write whose event already arrived
// (etcd's watch and its answer to the write race; in a benchmark at 50 clients the answer
// came first three times in four) is not kept.
func (c *cacher) adoptCreated(key string, obj runtime.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.adoptCreatedLocked(key, obj)
}

func (c *cacher) adoptCreatedLocked(key string, obj runtime.Object) {
	if objectRV(obj) > c.rev && !c.stopped {
		c.created[key] = obj
	}
}

// takeCreatedLocked returns the object adopted for key's event at rev, if any, and forgets
// whatever was adopted for key up to rev: an entry lives only until its own event.
func (c *cacher) takeCreatedLocked(key string, rev int64) runtime.Object {
	obj, ok := c.created[key]
	if !ok {
		return nil
	}
	switch adopted := objectRV(obj); {
	case adopted > rev:
		return nil // an event before the adopted write (the key was deleted and re-created)
	case adopted < rev:
		delete(c.created, key) // its event was missed (cannot happen while watching)
		return nil
	}
	delete(c.created, key)
	return obj
}

// dispatchLocked queues e for every watcher of its key. A watcher whose buffer is full is
// closed rather than allowed to hold the others up.
func (c *cacher) dispatchLocked(e *cacheEvent) {
	for w := range c.watchers {
		if !w.wants(e.key) {
			continue
		}
		select {
		case w.input <- e:
		default:
			c.log.Warn("watcher too slow, closing it", "key", w.key, "rev", e.rev, "buffer", cap(w.input))
			c.removeLocked(w)
		}
	}
}

func (c *cacher) removeLocked(w *cacheWatcher) {
	delete(c.watchers, w)
	w.terminate()
}

func (c *cacher) terminateAllLocked() {
	for w := range c.watchers {
		c.removeLocked(w)
	}
}

// snapshot returns the cached objects under prefix (or exactly prefix, when it does not end
// in "/"), in key order, with the revision they are at.
func (c *cacher) snapshot(prefix string) ([]string, []runtime.Object, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys, objs := c.collectLocked(prefix)
	return keys, objs, c.rev
}

// keyMatches says whether key is watched by a watch on pattern: a prefix ending in "/", or
// else one exact key.
func keyMatches(pattern, key string) bool {
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(key, pattern)
	}
	return key == pattern
}

// backoff is a capped doubling delay between retries.
type backoff struct{ min, max, cur time.Duration }

func (b *backoff) reset() { b.cur = 0 }

// wait waits the next delay and reports false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	b.cur = min(max(2*b.cur, b.min), b.max)
	t := time.NewTimer(b.cur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
