package storage

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

// podsOnEtcd starts an embedded etcd (compactionRetention as EmbeddedConfig's) for the
// test and returns a client of it and the storage config of pods.
func podsOnEtcd(t *testing.T, compactionRetention time.Duration) (*clientv3.Client, ResourceConfig) {
	log := slog.New(slog.DiscardHandler)
	e, err := StartEmbedded(context.Background(), EmbeddedConfig{DataDir: t.TempDir(), UnsafeNoFsync: true, CompactionRetention: compactionRetention, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	client, err := e.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, ResourceConfig{Prefix: "/registry/pods/", NewFunc: func() runtime.Object { return &corev1.Pod{} }, Logger: log}
}

// TestCacherRelistsWhenCompacted: when the revision the cache watches from has been
// compacted, the cache lists again, closes its watchers, and resumes at the new revision.
func TestCacherRelistsWhenCompacted(t *testing.T) {
	ctx := context.Background()
	client, cfg := podsOnEtcd(t, -1)
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

// TestCacherAdoptsCreatedObjects: an object created through the storage becomes the cached
// state itself when its watch event comes after the write's answer (no second decode), equal
// to what etcd holds; nothing is kept for an event that came first, and an adopted object
// never stands in for an earlier event of its key.
func TestCacherAdoptsCreatedObjects(t *testing.T) {
	ctx := context.Background()
	client, cfg := podsOnEtcd(t, 0)
	st, stop, err := NewResource(ctx, client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r, c := st.(*resource), st.(*resource).cache
	newPod := func(name, app string) *corev1.Pod {
		return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": app}}}
	}
	// cached waits for the cache to reach rev and returns what it holds at key.
	cached := func(key string, rev int64) runtime.Object {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := c.waitForRev(wctx, rev); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.objects[key]
	}
	kept := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.created)
	}

	// The answer first: holding the cache's lock keeps the event waiting.
	c.mu.Lock()
	out, err := r.etcdStore.Create(ctx, "/registry/pods/default/a", newPod("a", "x"))
	if err != nil {
		c.mu.Unlock()
		t.Fatal(err)
	}
	c.adoptCreatedLocked("/registry/pods/default/a", out)
	c.mu.Unlock()
	got := cached("/registry/pods/default/a", objectRV(out))
	if got != out {
		t.Errorf("cached object is a second copy of the created one; want the created object itself")
	}
	stored, err := r.Get(ctx, "/registry/pods/default/a")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, stored) {
		t.Errorf("adopted object differs from etcd's:\n got %v\nwant %v", got, stored)
	}
	if n := kept(); n != 0 {
		t.Errorf("%d adopted objects kept after their events", n)
	}

	// The event first: nothing is kept.
	late, err := r.etcdStore.Create(ctx, "/registry/pods/default/late", newPod("late", "x"))
	if err != nil {
		t.Fatal(err)
	}
	cached("/registry/pods/default/late", objectRV(late))
	c.adoptCreated("/registry/pods/default/late", late)
	if n := kept(); n != 0 {
		t.Errorf("%d adopted objects kept for an event that came first", n)
	}

	// An object adopted at a later revision does not stand in for an earlier event.
	future := setRV(newPod("b", "future"), 1<<40)
	c.adoptCreated("/registry/pods/default/b", future)
	b, err := r.etcdStore.Create(ctx, "/registry/pods/default/b", newPod("b", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cached("/registry/pods/default/b", objectRV(b)); got.GetMetadata().GetLabels()["app"] != "x" {
		t.Errorf("event of b gave %v; want the stored value", got.GetMetadata().GetLabels())
	}
	if n := kept(); n != 1 {
		t.Errorf("%d adopted objects kept, want only the one ahead of every event", n)
	}
}
