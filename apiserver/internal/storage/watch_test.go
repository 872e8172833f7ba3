package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

func watchPods(t testing.TB, s storage.Interface, key, rv string, pred storage.Predicate) watch.Interface {
	t.Helper()
	w, err := s.Watch(context.Background(), key, rv, pred)
	if err != nil {
		t.Fatalf("watch %s at %q: %v", key, rv, err)
	}
	t.Cleanup(w.Stop)
	return w
}

// TestWatchReplay: a watch from a resourceVersion replays what followed it, in order; one
// from "0" starts with the current objects as ADDED.
func TestWatchReplay(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	a1 := mustCreate(t, s, pod("a", nil))
	b1 := mustCreate(t, s, pod("b", nil))
	a2 := mustUpdate(t, s, "a", setLabel("x", "1"))
	bDel, err := s.Delete(ctx, key("b"), nil)
	if err != nil {
		t.Fatal(err)
	}

	w := watchPods(t, s, podPrefix, a1.GetMetadata().GetResourceVersion(), nil)
	equal(t, next(t, w, 3), []string{eventOf(watch.Added, b1), eventOf(watch.Modified, a2), eventOf(watch.Deleted, bDel)})

	w0 := watchPods(t, s, podPrefix, "0", nil)
	equal(t, next(t, w0, 1), []string{eventOf(watch.Added, a2)})

	// Both go on with new events.
	c1 := mustCreate(t, s, pod("c", nil))
	equal(t, next(t, w, 1), []string{eventOf(watch.Added, c1)})
	equal(t, next(t, w0, 1), []string{eventOf(watch.Added, c1)})

	// The objects are private copies: changing one changes nothing for the others.
	wa := watchPods(t, s, key("a"), a1.GetMetadata().GetResourceVersion(), nil)
	wb := watchPods(t, s, key("a"), a1.GetMetadata().GetResourceVersion(), nil)
	e := <-wa.ResultChan()
	runtime.Meta(e.Object).Name = "changed"
	if got := next(t, wb, 1); got[0] != eventOf(watch.Modified, a2) {
		t.Fatalf("second watcher got %v", got)
	}
}

// TestWatchExactKey: a watch on a key without "/" sees only that object.
func TestWatchExactKey(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	mustCreate(t, s, pod("a", nil))
	mustCreate(t, s, pod("ab", nil))
	w := watchPods(t, s, key("a"), "0", nil)
	if got := next(t, w, 1); !strings.HasPrefix(got[0], "ADDED a ") {
		t.Fatalf("got %v", got)
	}
	mustUpdate(t, s, "ab", setLabel("x", "1"))
	a := mustUpdate(t, s, "a", setLabel("x", "1"))
	equal(t, next(t, w, 1), []string{eventOf(watch.Modified, a)})
	// A namespace prefix watches that namespace.
	wn := watchPods(t, s, podPrefix+"other/", "0", nil)
	noEvent(t, wn)
}

// TestWatchTooOld: a resourceVersion older than the cache's window is ErrGone.
func TestWatchTooOld(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{WatchCacheSize: 4})
	first := mustCreate(t, s, pod("a", nil))
	var last runtime.Object
	for i := range 10 {
		last = mustUpdate(t, s, "a", setLabel("n", fmt.Sprint(i)))
	}
	waitForCache(t, s, last.GetMetadata().GetResourceVersion())
	_, err := s.Watch(context.Background(), podPrefix, first.GetMetadata().GetResourceVersion(), nil)
	wantErr(t, err, storage.ErrGone)
	want := fmt.Sprintf("too old resource version: %d (%d)", rv(t, first), rv(t, last)-4)
	if errors.Unwrap(err).Error() != want {
		t.Fatalf("error %q does not say %q", err, want)
	}
	// The window's start still works, and replays the 4 events it holds.
	w := watchPods(t, s, podPrefix, fmt.Sprint(rv(t, last)-4), nil)
	if got := next(t, w, 4); got[3] != eventOf(watch.Modified, last) {
		t.Fatalf("got %v", got)
	}
}

// TestWatchPredicate: objects moving into or out of the predicate are ADDED or DELETED.
func TestWatchPredicate(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	web := func(o runtime.Object) bool { return o.GetMetadata().GetLabels()["app"] == "web" }
	w := watchPods(t, s, podPrefix, "0", web)

	mustCreate(t, s, pod("a", nil))
	added := mustUpdate(t, s, "a", setLabel("app", "web"))
	modified := mustUpdate(t, s, "a", setLabel("x", "1"))
	removed := mustUpdate(t, s, "a", setLabel("app", ""))
	if _, err := s.Delete(ctx, key("a"), nil); err != nil {
		t.Fatal(err)
	}
	b := mustCreate(t, s, pod("b", map[string]string{"app": "web"}))
	bDel, err := s.Delete(ctx, key("b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := next(t, w, 5)
	equal(t, got, []string{
		eventOf(watch.Added, added),
		eventOf(watch.Modified, modified),
		fmt.Sprintf("DELETED a %s", removed.GetMetadata().GetResourceVersion()),
		eventOf(watch.Added, b),
		eventOf(watch.Deleted, bDel),
	})
}

// TestWatchFutureRV: a watch from a revision the cache has not seen yet waits for it, also
// when the revision was made by another resource.
func TestWatchFutureRV(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	mustCreate(t, s, pod("a", nil))

	// A revision written outside the prefix: the cache learns of it from etcd's progress.
	other, err := c.Put(ctx, "/registry/services/default/x", "v")
	if err != nil {
		t.Fatal(err)
	}
	w := watchPods(t, s, podPrefix, fmt.Sprint(other.Header.Revision), nil)
	noEvent(t, w)

	// A revision not written yet: Watch returns once it is.
	future := other.Header.Revision + 3
	type result struct {
		w   watch.Interface
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := s.Watch(ctx, podPrefix, fmt.Sprint(future), nil)
		done <- result{w, err}
	}()
	var last runtime.Object
	for i := range 4 {
		select {
		case r := <-done:
			if i < 3 {
				t.Fatalf("watch at %d returned at revision %d: %v", future, other.Header.Revision+int64(i), r.err)
			}
			done <- r
		default:
		}
		last = mustUpdate(t, s, "a", setLabel("n", fmt.Sprint(i)))
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.w.Stop()
	equal(t, next(t, r.w, 1), []string{eventOf(watch.Modified, last)})

	// A watch that waits ends with its context.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = s.Watch(cctx, podPrefix, "1000000", nil)
	wantErr(t, err, context.DeadlineExceeded)
}
