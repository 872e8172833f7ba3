package storage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// ResourceConfig describes the storage of one resource.
type ResourceConfig struct {
	// Prefix is the key prefix of the resource, ending in "/" ("/registry/pods/").
	Prefix string
	// NewFunc returns an empty object of the resource's kind (&corev1.Pod{}).
	NewFunc func() runtime.Object
	// Logger receives one line per notable event; nil means slog.Default().
	Logger *slog.Logger
	// WatchCacheSize is how many recent events the watch cache keeps to resume watches
	// from; 0 means DefaultWatchCacheSize.
	WatchCacheSize int
	// WatcherBuffer is how many events a watcher may fall behind before it is closed;
	// 0 means DefaultWatcherBuffer.
	WatcherBuffer int
}

func (c *ResourceConfig) validate() error {
	if !strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/") {
		return fmt.Errorf("storage prefix %q must start and end with \"/\"", c.Prefix)
	}
	if c.NewFunc == nil {
		return fmt.Errorf("storage %s: NewFunc is required", c.Prefix)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// resource is a resource's storage: writes, Get and most Lists go to etcd; Watch and List
// at resourceVersion "0" are served by the watch cache.
type resource struct {
	*etcdStore
	cache *cacher
	// written is the highest revision written through this storage (cached_get.go).
	written atomic.Int64
}

var _ Interface = (*resource)(nil)

// NewResource returns the storage of the resource cfg describes, with its watch cache filled
// and kept in sync by one etcd watch. ctx bounds the start only (an error if etcd cannot be
// listed and watched before it ends). Call stop once done: it ends the etcd watch and every
// watcher, waits for their goroutines, and is idempotent. The client must outlive stop.
func NewResource(ctx context.Context, client *clientv3.Client, cfg ResourceConfig) (Interface, func(), error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	store := newEtcdStore(client, cfg)
	cache, err := newCacher(ctx, store, cfg)
	if err != nil {
		return nil, nil, err
	}
	return &resource{etcdStore: store, cache: cache}, cache.stop, nil
}

// List implements Interface.List. ResourceVersion "0" without a continue token is served
// from the watch cache; its continue token, if any, continues from etcd at the cache's
// revision. Like GetCached, a cached list includes every write made through this storage
// before the call (writes made elsewhere show once their watch event arrives, as in
// Kubernetes): admission plugins list LimitRanges and ResourceQuotas this way on every
// create, and one created a moment ago through this server must already apply.
func (r *resource) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	if opts.ResourceVersion != "0" || opts.Continue != "" {
		return r.etcdStore.List(ctx, prefix, opts)
	}
	if !r.cacheFresh(ctx) {
		// The cache lags its own writes by more than cachedGetWait: read etcd.
		opts.ResourceVersion = ""
		return r.etcdStore.List(ctx, prefix, opts)
	}
	return r.cache.list(prefix, opts)
}

// Watch implements Interface.Watch from the watch cache.
func (r *resource) Watch(ctx context.Context, key string, resourceVersion string, pred Predicate) (watch.Interface, error) {
	return r.cache.Watch(ctx, key, resourceVersion, pred)
}

// CurrentResourceVersion implements Interface: the latest revision the watch cache has seen.
func (r *resource) CurrentResourceVersion(context.Context) (string, error) {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	return fmt.Sprint(r.cache.rev), nil
}

// list serves a List from the cache, in key order, honouring the limit.
func (c *cacher) list(prefix string, opts ListOptions) (*ListResult, error) {
	if !strings.HasPrefix(prefix, c.store.prefix) || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("list %s: %w: prefix must end in \"/\" and be inside %s", prefix, ErrBadRequest, c.store.prefix)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("list %s: %w: negative limit %d", prefix, ErrBadRequest, opts.Limit)
	}
	keys, objs, rev := c.snapshot(prefix)
	res := &ListResult{Items: []runtime.Object{}, ResourceVersion: fmt.Sprint(rev)}
	for i, obj := range objs {
		if opts.Predicate != nil && !opts.Predicate(obj) {
			continue
		}
		res.Items = append(res.Items, clone(obj))
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit && i < len(objs)-1 {
			token, err := encodeContinue(prefix, keys[i]+"\x00", rev)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", prefix, err)
			}
			res.Continue = token
			if opts.Predicate == nil {
				remaining := int64(len(objs) - i - 1)
				res.RemainingItemCount = &remaining
			}
			break
		}
	}
	return res, nil
}
