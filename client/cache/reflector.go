package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"kubelab.io/client/transport"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// ReflectorStore receives what a Reflector observes. Calls come from the Reflector's one
// goroutine, in the order observed. Replace carries a complete list: everything the store
// holds that is not in objs no longer exists.
type ReflectorStore interface {
	Add(obj runtime.Object) error
	Update(obj runtime.Object) error
	Delete(obj runtime.Object) error
	Replace(objs []runtime.Object, resourceVersion string) error
}

// ReflectorConfig configures a Reflector.
type ReflectorConfig struct {
	// Name labels logs ("pods", say).
	Name          string
	ListerWatcher ListerWatcher
	Store         ReflectorStore
	// PageSize is the list Limit; 0 means 500, negative means unpaged.
	PageSize int64
	// Clock times backoff waits; defaults to the real clock.
	Clock clock.Clock
	// Backoff is the wait after the n-th consecutive failure (n from 1); defaults to
	// DefaultBackoff. A wait <= 0 retries at once.
	Backoff func(n int) time.Duration
	Log     *slog.Logger
}

// DefaultBackoff doubles from 800 ms to 30 s, with up to 10% jitter, as client-go's
// reflector does.
func DefaultBackoff(n int) time.Duration {
	d := 800 * time.Millisecond
	for i := 1; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	d = min(d, 30*time.Second)
	return d + time.Duration(rand.Int64N(int64(d/10)+1))
}

// Reflector keeps a ReflectorStore in sync with one resource: it lists (in pages), hands the
// list to Store.Replace, then watches from the list's resourceVersion and forwards each
// event. When a watch ends cleanly it watches again from the last resourceVersion seen;
// when that resourceVersion is too old (410 Gone), the watch fails or the stream reports
// an error, it backs off and lists again, so the store converges on the server's state
// without losing or duplicating objects.
type Reflector struct {
	cfg ReflectorConfig

	mu              sync.Mutex
	lastSyncRV      string
	hasSynced       bool
	consecutiveFail int
}

func NewReflector(cfg ReflectorConfig) (*Reflector, error) {
	if cfg.ListerWatcher == nil || cfg.Store == nil {
		return nil, errors.New("reflector: ListerWatcher and Store are required")
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 500
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = cfg.Log.With("reflector", cfg.Name)
	return &Reflector{cfg: cfg}, nil
}

// LastSyncResourceVersion is the resourceVersion the store reflects.
func (r *Reflector) LastSyncResourceVersion() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastSyncRV
}

// HasSynced is true once a first list reached the store.
func (r *Reflector) HasSynced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hasSynced
}

func (r *Reflector) setRV(rv string) {
	r.mu.Lock()
	r.lastSyncRV = rv
	r.mu.Unlock()
}

// Run lists and watches until ctx is done.
func (r *Reflector) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := r.ListAndWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		r.consecutiveFail++
		d := r.cfg.Backoff(r.consecutiveFail)
		r.cfg.Log.Info("list and watch failed; will list again", "err", err, "after", d)
		if d <= 0 {
			continue
		}
		t := r.cfg.Clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// errWatchEnded is a watch that closed without delivering anything: maybe the server is
// unwell, so the Reflector backs off and lists again rather than spin.
var errWatchEnded = errors.New("watch closed without events")

// ListAndWatch does one list and then watches until something forces a new list; it
// returns why (nil only when ctx ends). Run calls it in a loop; never call it concurrently
// with Run.
func (r *Reflector) ListAndWatch(ctx context.Context) error {
	rv, err := r.list(ctx)
	if err != nil {
		return err
	}
	for {
		n, rv2, err := r.watch(ctx, rv)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			r.consecutiveFail = 0 // the server is healthy: a later failure backs off from the start
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errWatchEnded
		}
		rv = rv2
	}
}

// list reads the whole collection in pages and replaces the store's content with it.
func (r *Reflector) list(ctx context.Context) (string, error) {
	var items []runtime.Object
	opts := transport.ListOptions{}
	if r.cfg.PageSize > 0 {
		opts.Limit = r.cfg.PageSize
	}
	var rv string
	for {
		list, err := r.cfg.ListerWatcher.List(ctx, opts)
		if err != nil && opts.Continue != "" && apierrors.IsGone(err) {
			// The continue token expired mid-way: read everything in one consistent list.
			r.cfg.Log.Info("list continuation expired; listing without paging")
			items, opts = nil, transport.ListOptions{}
			continue
		}
		if err != nil {
			return "", fmt.Errorf("list %s: %w", r.cfg.Name, err)
		}
		items = append(items, runtime.Items(list)...)
		meta := list.GetMetadata()
		rv = meta.GetResourceVersion()
		if meta.GetContinue() == "" {
			break
		}
		opts.Continue = meta.GetContinue()
	}
	if err := r.cfg.Store.Replace(items, rv); err != nil {
		return "", fmt.Errorf("sync %s list into store: %w", r.cfg.Name, err)
	}
	r.mu.Lock()
	r.lastSyncRV, r.hasSynced = rv, true
	r.mu.Unlock()
	return rv, nil
}

// watch streams changes after rv into the store. It returns how many events it applied and
// the last resourceVersion seen; err is nil when the server closed the stream cleanly.
func (r *Reflector) watch(ctx context.Context, rv string) (int, string, error) {
	// A random timeout spreads re-watches of many clients over time, as client-go does.
	timeout := int64(300 + rand.IntN(300))
	w, err := r.cfg.ListerWatcher.Watch(ctx, transport.ListOptions{ResourceVersion: rv, TimeoutSeconds: timeout})
	if err != nil {
		return 0, rv, fmt.Errorf("watch %s from %s: %w", r.cfg.Name, rv, err)
	}
	defer w.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, rv, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return n, rv, nil
			}
			if ev.Type == watch.Error {
				return n, rv, fmt.Errorf("watch %s from %s: %w", r.cfg.Name, rv, apierrors.FromStatus(ev.Status))
			}
			if ev.Object == nil {
				return n, rv, fmt.Errorf("watch %s: %s event without an object", r.cfg.Name, ev.Type)
			}
			var err error
			switch ev.Type {
			case watch.Added:
				err = r.cfg.Store.Add(ev.Object)
			case watch.Modified:
				err = r.cfg.Store.Update(ev.Object)
			case watch.Deleted:
				err = r.cfg.Store.Delete(ev.Object)
			case watch.Bookmark:
			default:
				err = fmt.Errorf("unknown watch event type %q", ev.Type)
			}
			if err != nil {
				// The store is now behind: only a fresh list repairs it.
				return n, rv, fmt.Errorf("watch %s: apply %s event: %w", r.cfg.Name, ev.Type, err)
			}
			n++
			if v := ev.Object.GetMetadata().GetResourceVersion(); v != "" {
				rv = v
				r.setRV(rv)
			}
		}
	}
}
