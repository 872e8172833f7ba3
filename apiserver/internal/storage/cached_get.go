package storage

import (
	"context"
	"fmt"
	"time"

	"kubelab.io/proto/runtime"
)

// CachedGetter is a point read from the watch cache, for callers that can accept what
// Kubernetes' listers accept (admission's namespace lookup): no etcd round trip, at the
// price of lagging writes made elsewhere. Storages from NewResource implement it; callers
// type-assert storage.Interface and fall back to Get.
type CachedGetter interface {
	// GetCached returns a copy of the object at key as the watch cache holds it. The cache
	// includes every write made through this storage before the call; writes by anyone
	// else (another apiserver, etcdctl) show once their watch event arrives, typically
	// within milliseconds. ErrNotFound means the cache does not hold key: a caller that must
	// see an object created a moment ago elsewhere then reads etcd with Get.
	GetCached(ctx context.Context, key string) (runtime.Object, error)
}

var _ CachedGetter = (*resource)(nil)

// cachedGetWait bounds how long GetCached waits for the cache to catch up with this
// storage's own writes before it reads etcd instead.
const cachedGetWait = time.Second

// GetCached implements CachedGetter.
func (r *resource) GetCached(ctx context.Context, key string) (runtime.Object, error) {
	if err := r.checkKey("get", key); err != nil {
		return nil, err
	}
	if !r.cacheFresh(ctx) {
		return r.etcdStore.Get(ctx, key) // the cache lags (or is stopped): ask etcd
	}
	c := r.cache
	c.mu.Lock()
	obj, ok := c.objects[key]
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return clone(obj), nil
}

// cacheFresh waits until the watch cache holds every write made through this storage so
// far (at once, usually: the cache trails a write by the time its watch event takes), and
// reports false when that takes longer than cachedGetWait or ctx ends.
func (r *resource) cacheFresh(ctx context.Context) bool {
	want := r.written.Load()
	c := r.cache
	c.mu.Lock()
	fresh := c.rev >= want
	c.mu.Unlock()
	if fresh {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, cachedGetWait)
	defer cancel()
	return c.waitForRev(wctx, want) == nil
}

// noteWrite records the revision of a write made through this storage, so GetCached waits
// for the cache to have it.
func (r *resource) noteWrite(obj runtime.Object) {
	rev := objectRV(obj)
	for {
		cur := r.written.Load()
		if rev <= cur || r.written.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// Create implements Interface.Create.
func (r *resource) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	out, err := r.etcdStore.Create(ctx, key, obj)
	if err == nil {
		r.noteWrite(out)
		r.cache.adoptCreated(key, out)
	}
	return out, err
}

// GuaranteedUpdate implements Interface.GuaranteedUpdate.
func (r *resource) GuaranteedUpdate(ctx context.Context, key string, pre *Preconditions, tryUpdate UpdateFunc) (runtime.Object, error) {
	out, err := r.etcdStore.GuaranteedUpdate(ctx, key, pre, tryUpdate)
	if err == nil {
		r.noteWrite(out)
	}
	return out, err
}

// Delete implements Interface.Delete.
func (r *resource) Delete(ctx context.Context, key string, pre *Preconditions) (runtime.Object, error) {
	out, err := r.etcdStore.Delete(ctx, key, pre)
	if err == nil {
		r.noteWrite(out)
	}
	return out, err
}
