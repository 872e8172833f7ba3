package storage

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

// TestCacherRelistsWhenCompacted: when the revision the cache watches from has been
// compacted, the cache lists again, closes its watchers, and resumes at the new revision.
func TestCacherRelistsWhenCompacted(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	e, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: t.TempDir(), UnsafeNoFsync: true, CompactionRetention: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	client, err := e.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cfg := ResourceConfig{Prefix: "/registry/pods/", NewFunc: func() runtime.Object { return &corev1.Pod{} }, Logger: log}
	store := newEtcdStore(client, cfg)
	put := func(name string) runtime.Object {
		obj, err := store.Create(ctx, "/registry/pods/default/"+name, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"}})
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}

	// Fill the cache, then let it fall behind a compaction before it starts watching.
	c := makeCacher(store, cfg)
	defer c.stop()
	a := put("a")
	if err := c.relist(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, "/registry/pods/", "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	put("b")
	last := put("c")
	if _, err := client.Compact(ctx, objectRV(last)); err != nil {
		t.Fatal(err)
	}
	go c.run(c.runCtx)

	// The watcher is closed after its initial event; its resourceVersion is now too old.
	n := 0
	for range w.ResultChan() {
		n++
	}
	if n > 1 {
		t.Fatalf("watcher got %d events, want the initial one only", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, objs, rev := c.snapshot("/registry/pods/")
		if len(objs) == 3 && rev >= objectRV(last) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache has %d objects at %d, want 3 at %d", len(objs), rev, objectRV(last))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Watch(ctx, "/registry/pods/", a.GetMetadata().GetResourceVersion(), nil); !errors.Is(err, ErrGone) {
		t.Fatalf("watch from before the re-list: %v, want ErrGone", err)
	}
	// And it goes on watching.
	d := put("d")
	w2, err := c.Watch(ctx, "/registry/pods/", last.GetMetadata().GetResourceVersion(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if ev := <-w2.ResultChan(); ev.Object.GetMetadata().GetName() != "d" || objectRV(ev.Object) != objectRV(d) {
		t.Fatalf("got %v", ev)
	}
}

func TestEventRing(t *testing.T) {
	r := newEventRing(3)
	for rev := int64(1); rev <= 5; rev++ {
		evicted := r.push(&cacheEvent{rev: rev})
		if (rev <= 3) != (evicted == nil) {
			t.Fatalf("push %d evicted %v", rev, evicted)
		}
	}
	revs := func(es []*cacheEvent) (out []int64) {
		for _, e := range es {
			out = append(out, e.rev)
		}
		return out
	}
	for since, want := range map[int64]int{0: 3, 2: 3, 3: 2, 4: 1, 5: 0} {
		if got := revs(r.since(since)); len(got) != want || (want > 0 && got[len(got)-1] != 5) {
			t.Fatalf("since(%d) = %v", since, got)
		}
	}
}
