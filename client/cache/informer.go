package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"kubelab.io/proto/runtime"
)

// ResourceEventHandler is notified of changes to an informer's cache. Each handler's
// notifications arrive in order, one at a time, on a goroutine of its own, so a slow
// handler delays only itself; it must still return quickly (enqueue a key and return), as
// its backlog grows without bound meanwhile. Objects passed in are shared with the cache
// and every other handler: never modify them.
type ResourceEventHandler interface {
	OnAdd(obj runtime.Object)
	// OnUpdate also reports resyncs and re-lists, where oldObj may equal newObj (same
	// resourceVersion); handlers that only care about changes compare resourceVersions.
	OnUpdate(oldObj, newObj runtime.Object)
	// OnDelete gets the last state of the object, or a DeletedFinalStateUnknown when the
	// deletion was inferred from a re-list.
	OnDelete(obj any)
}

// ResourceEventHandlerFuncs adapts functions to a ResourceEventHandler; nil ones are skipped.
type ResourceEventHandlerFuncs struct {
	AddFunc    func(obj runtime.Object)
	UpdateFunc func(oldObj, newObj runtime.Object)
	DeleteFunc func(obj any)
}

func (f ResourceEventHandlerFuncs) OnAdd(obj runtime.Object) {
	if f.AddFunc != nil {
		f.AddFunc(obj)
	}
}

func (f ResourceEventHandlerFuncs) OnUpdate(oldObj, newObj runtime.Object) {
	if f.UpdateFunc != nil {
		f.UpdateFunc(oldObj, newObj)
	}
}

func (f ResourceEventHandlerFuncs) OnDelete(obj any) {
	if f.DeleteFunc != nil {
		f.DeleteFunc(obj)
	}
}

// ResourceEventHandlerRegistration is a handler added to an informer.
type ResourceEventHandlerRegistration interface {
	// HasSynced is true once the handler has been called for every object of the
	// informer's first list.
	HasSynced() bool
}

// SharedIndexInformer is one list+watch of a resource shared by any number of handlers,
// with an indexed cache they all read.
type SharedIndexInformer interface {
	// AddEventHandler registers h. Added after the informer has synced, h first gets
	// OnAdd for every cached object. It fails once the informer has stopped.
	AddEventHandler(h ResourceEventHandler) (ResourceEventHandlerRegistration, error)
	// GetIndexer returns the cache. Its objects are shared: never modify them.
	GetIndexer() Indexer
	GetStore() Store
	// AddIndexers adds indexes; only before Run.
	AddIndexers(indexers Indexers) error
	// Run lists, watches and notifies handlers until ctx ends, then waits for its
	// goroutines to exit. Only the first call runs; later ones return at once.
	Run(ctx context.Context)
	// HasSynced is true once the first list is in the cache.
	HasSynced() bool
	LastSyncResourceVersion() string
	IsStopped() bool
}

// InformerConfig configures a SharedIndexInformer.
type InformerConfig struct {
	// Name labels logs.
	Name          string
	ListerWatcher ListerWatcher
	// ResyncPeriod, if > 0, re-delivers every cached object to every handler as
	// OnUpdate(obj, obj) that often, so level-based controllers retry what they dropped.
	ResyncPeriod time.Duration
	Indexers     Indexers
	// Clock drives resync and reflector backoff; defaults to the real clock.
	Clock clock.WithTicker
	// Backoff overrides the reflector's backoff (see ReflectorConfig.Backoff).
	Backoff func(n int) time.Duration
	// PageSize is the reflector's list page size (see ReflectorConfig.PageSize).
	PageSize int64
	Log      *slog.Logger
}

// NewSharedIndexInformer returns an informer; call Run to start it.
func NewSharedIndexInformer(cfg InformerConfig) (SharedIndexInformer, error) {
	if cfg.ListerWatcher == nil {
		return nil, errors.New("informer: ListerWatcher is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &sharedIndexInformer{cfg: cfg, indexer: NewIndexer(MetaNamespaceKeyFunc, cfg.Indexers)}, nil
}

type sharedIndexInformer struct {
	cfg     InformerConfig
	indexer Indexer

	// mu serialises cache writes with notification fan-out and resyncs, so every handler
	// sees changes in the order the cache saw them; it also guards the fields below.
	mu        sync.Mutex
	listeners []*listener
	started   bool
	stopping  bool
	stopped   bool
	synced    bool
	runCtx    context.Context
	wg        sync.WaitGroup
	reflector *Reflector
}

func (i *sharedIndexInformer) GetIndexer() Indexer { return i.indexer }
func (i *sharedIndexInformer) GetStore() Store     { return i.indexer }

func (i *sharedIndexInformer) AddIndexers(indexers Indexers) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.started {
		return errors.New("informer has started: indexers can only be added before Run")
	}
	return i.indexer.AddIndexers(indexers)
}

func (i *sharedIndexInformer) HasSynced() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.synced
}

func (i *sharedIndexInformer) IsStopped() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stopped
}

func (i *sharedIndexInformer) LastSyncResourceVersion() string {
	i.mu.Lock()
	r := i.reflector
	i.mu.Unlock()
	if r == nil {
		return ""
	}
	return r.LastSyncResourceVersion()
}

func (i *sharedIndexInformer) AddEventHandler(h ResourceEventHandler) (ResourceEventHandlerRegistration, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopping || i.stopped {
		return nil, fmt.Errorf("informer %s has stopped: handler not added", i.cfg.Name)
	}
	l := newListener(h)
	i.listeners = append(i.listeners, l)
	if i.synced {
		for _, obj := range i.indexer.List() {
			l.add(notification{kind: addNotification, newObj: obj})
		}
		l.add(notification{kind: syncedNotification})
	}
	if i.started {
		i.wg.Go(func() { l.run(i.runCtx) })
	}
	return l, nil
}

func (i *sharedIndexInformer) Run(ctx context.Context) {
	i.mu.Lock()
	if i.started {
		i.mu.Unlock()
		i.cfg.Log.Warn("informer already started", "informer", i.cfg.Name)
		return
	}
	r, err := NewReflector(ReflectorConfig{
		Name: i.cfg.Name, ListerWatcher: i.cfg.ListerWatcher, Store: informerStore{i},
		PageSize: i.cfg.PageSize, Clock: i.cfg.Clock, Backoff: i.cfg.Backoff, Log: i.cfg.Log,
	})
	if err != nil { // unreachable: the store and ListerWatcher are set
		i.mu.Unlock()
		i.cfg.Log.Error("informer cannot start", "informer", i.cfg.Name, "err", err)
		return
	}
	i.started, i.runCtx, i.reflector = true, ctx, r
	for _, l := range i.listeners {
		i.wg.Go(func() { l.run(ctx) })
	}
	if i.cfg.ResyncPeriod > 0 {
		// The ticker exists before the first list, so a test that waits for HasSynced can
		// step a fake clock and know the tick is seen.
		ticker := i.cfg.Clock.NewTicker(i.cfg.ResyncPeriod)
		i.wg.Go(func() {
			defer ticker.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-ticker.C():
					i.resync()
				}
			}
		})
	}
	i.wg.Go(func() { r.Run(ctx) })
	i.mu.Unlock()

	<-ctx.Done()
	i.mu.Lock()
	i.stopping = true
	i.mu.Unlock()
	i.wg.Wait()
	i.mu.Lock()
	i.stopped = true
	i.mu.Unlock()
}

// distributeLocked hands n to every handler; i.mu must be held.
func (i *sharedIndexInformer) distributeLocked(n notification) {
	for _, l := range i.listeners {
		l.add(n)
	}
}

func (i *sharedIndexInformer) resync() {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, obj := range i.indexer.List() {
		i.distributeLocked(notification{kind: updateNotification, oldObj: obj, newObj: obj})
	}
}

// informerStore is the informer as seen by its Reflector: every write updates the cache and
// notifies handlers under one lock.
type informerStore struct{ i *sharedIndexInformer }

func (s informerStore) Add(obj runtime.Object) error { return s.upsert(obj) }

func (s informerStore) Update(obj runtime.Object) error { return s.upsert(obj) }

func (s informerStore) upsert(obj runtime.Object) error {
	i := s.i
	i.mu.Lock()
	defer i.mu.Unlock()
	old, exists, err := i.indexer.Get(obj)
	if err != nil {
		return err
	}
	if err := i.indexer.Update(obj); err != nil {
		return err
	}
	if exists {
		i.distributeLocked(notification{kind: updateNotification, oldObj: old, newObj: obj})
	} else {
		i.distributeLocked(notification{kind: addNotification, newObj: obj})
	}
	return nil
}

// Delete notifies handlers only of objects the cache held.
func (s informerStore) Delete(obj runtime.Object) error {
	i := s.i
	i.mu.Lock()
	defer i.mu.Unlock()
	_, exists, err := i.indexer.Get(obj)
	if err != nil {
		return err
	}
	if !exists {
		return nil
	}
	if err := i.indexer.Delete(obj); err != nil {
		return err
	}
	i.distributeLocked(notification{kind: deleteNotification, deleted: obj})
	return nil
}

// Replace installs a full list: objects new to the cache are added, known ones updated
// (even if unchanged), and cached ones missing from the list deleted as
// DeletedFinalStateUnknown tombstones carrying their last known state.
func (s informerStore) Replace(objs []runtime.Object, _ string) error {
	i := s.i
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := make(map[string]struct{}, len(objs))
	for _, o := range objs {
		k, err := MetaNamespaceKeyFunc(o)
		if err != nil {
			return err
		}
		keys[k] = struct{}{}
	}
	old := map[string]runtime.Object{}
	for _, o := range i.indexer.List() {
		k, err := MetaNamespaceKeyFunc(o)
		if err != nil {
			return err
		}
		old[k] = o
	}
	if err := i.indexer.Replace(objs); err != nil {
		return err
	}
	for _, o := range objs {
		k, _ := MetaNamespaceKeyFunc(o) // checked above
		if prev, ok := old[k]; ok {
			i.distributeLocked(notification{kind: updateNotification, oldObj: prev, newObj: o})
		} else {
			i.distributeLocked(notification{kind: addNotification, newObj: o})
		}
	}
	for k, prev := range old {
		if _, ok := keys[k]; !ok {
			i.distributeLocked(notification{kind: deleteNotification, deleted: DeletedFinalStateUnknown{Key: k, Obj: prev}})
		}
	}
	if !i.synced {
		i.synced = true
		i.distributeLocked(notification{kind: syncedNotification})
	}
	return nil
}

type notificationKind int

const (
	addNotification notificationKind = iota
	updateNotification
	deleteNotification
	// syncedNotification marks the end of the first list in a handler's stream.
	syncedNotification
)

type notification struct {
	kind           notificationKind
	oldObj, newObj runtime.Object
	deleted        any
}

// listener buffers one handler's notifications without bound, so the informer never waits
// for a handler, and delivers them in order on its own goroutine.
type listener struct {
	handler ResourceEventHandler
	synced  atomic.Bool

	mu      sync.Mutex
	pending []notification
	wake    chan struct{}
}

func newListener(h ResourceEventHandler) *listener {
	return &listener{handler: h, wake: make(chan struct{}, 1)}
}

func (l *listener) HasSynced() bool { return l.synced.Load() }

func (l *listener) add(n notification) {
	l.mu.Lock()
	l.pending = append(l.pending, n)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run delivers notifications until ctx ends; undelivered ones are dropped then.
func (l *listener) run(ctx context.Context) {
	for {
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		l.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
				continue
			}
		}
		for _, n := range batch {
			if ctx.Err() != nil {
				return
			}
			switch n.kind {
			case addNotification:
				l.handler.OnAdd(n.newObj)
			case updateNotification:
				l.handler.OnUpdate(n.oldObj, n.newObj)
			case deleteNotification:
				l.handler.OnDelete(n.deleted)
			case syncedNotification:
				l.synced.Store(true)
			}
		}
	}
}

// WaitForCacheSync waits until every cacheSynced func reports true, and reports false if
// ctx ends first.
func WaitForCacheSync(ctx context.Context, cacheSynced ...func() bool) bool {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		all := true
		for _, f := range cacheSynced {
			if !f() {
				all = false
				break
			}
		}
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
		}
	}
}
