package cache

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
)

func noBackoff(int) time.Duration { return 0 }

// storeAdapter lets a reflector fill a plain Store.
type storeAdapter struct{ Store }

func (s storeAdapter) Replace(objs []runtime.Object, _ string) error { return s.Store.Replace(objs) }

func startReflector(t *testing.T, f *cachetest.Transport, pageSize int64) (*Reflector, Store) {
	t.Helper()
	store := NewStore(MetaNamespaceKeyFunc)
	r, err := NewReflector(ReflectorConfig{
		Name: "pods", ListerWatcher: &ListWatch{Transport: f, Mapping: podMapping},
		Store: storeAdapter{store}, PageSize: pageSize, Backoff: noBackoff,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitSynced(t, r.HasSynced)
	return r, store
}

func TestReflectorPagedList(t *testing.T) {
	f := cachetest.New()
	for i := range 5 {
		f.AddObject(pod("ns", fmt.Sprintf("p%d", i)))
	}
	r, store := startReflector(t, f, 2)
	if got := len(store.List()); got != 5 {
		t.Fatalf("store has %d pods, want 5", got)
	}
	var conts []string
	for _, o := range f.ListCalls(podMapping.Kind) {
		if o.Limit != 2 {
			t.Fatalf("list Limit = %d, want 2", o.Limit)
		}
		conts = append(conts, o.Continue)
	}
	if !slices.Equal(conts, []string{"", "2", "4"}) {
		t.Fatalf("continue tokens = %q", conts)
	}
	if rv := r.LastSyncResourceVersion(); rv != "5" {
		t.Fatalf("LastSyncResourceVersion = %q, want 5", rv)
	}
	waitFor(t, "watch", func() bool { return len(f.WatchCalls(podMapping.Kind)) == 1 })
	if w := f.WatchCalls(podMapping.Kind)[0]; w.ResourceVersion != "5" || w.TimeoutSeconds <= 0 {
		t.Fatalf("watch options = %+v, want from rv 5 with a timeout", w)
	}
}

func TestReflectorContinueExpiredListsUnpaged(t *testing.T) {
	f := cachetest.New()
	f.ExpireContinue = true
	for i := range 5 {
		f.AddObject(pod("ns", fmt.Sprintf("p%d", i)))
	}
	_, store := startReflector(t, f, 2)
	if got := len(store.List()); got != 5 {
		t.Fatalf("store has %d pods, want 5", got)
	}
	calls := f.ListCalls(podMapping.Kind)
	if len(calls) != 3 || calls[2].Limit != 0 || calls[2].Continue != "" {
		t.Fatalf("list calls = %+v, want page, expired continuation, unpaged list", calls)
	}
}

// waitFor polls a condition that another goroutine makes true without telling us; the
// deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !WaitForCacheSync(ctx, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

type informerFixture struct {
	f   *cachetest.Transport
	inf SharedIndexInformer
	rec *recorder
	reg ResourceEventHandlerRegistration
	clk *testingclock.FakeClock
}

func startInformer(t *testing.T, f *cachetest.Transport, resync time.Duration) *informerFixture {
	t.Helper()
	clk := testingclock.NewFakeClock(epoch)
	inf, err := NewSharedIndexInformer(InformerConfig{
		Name: "pods", ListerWatcher: &ListWatch{Transport: f, Mapping: podMapping},
		ResyncPeriod: resync, Clock: clk, Backoff: noBackoff,
		Indexers: Indexers{NamespaceIndex: MetaNamespaceIndexFunc},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	reg, err := inf.AddEventHandler(rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if n := f.OpenWatches(podMapping.Kind); n != 0 {
			t.Errorf("%d watches still open after Run returned", n)
		}
	})
	waitSynced(t, inf.HasSynced, reg.HasSynced)
	return &informerFixture{f: f, inf: inf, rec: rec, reg: reg, clk: clk}
}

// checkCache compares the informer's cache with the fake server's state.
func (x *informerFixture) checkCache(t *testing.T) {
	t.Helper()
	want := map[string]string{}
	for _, o := range x.f.Objects(podMapping.Kind) {
		want[mustKey(o)] = o.GetMetadata().GetResourceVersion()
	}
	got := map[string]string{}
	for _, o := range x.inf.GetIndexer().List() {
		got[mustKey(o)] = o.GetMetadata().GetResourceVersion()
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cache = %v, server = %v", got, want)
	}
}

func TestInformerDeliversInOrder(t *testing.T) {
	f := cachetest.New()
	f.AddObject(pod("ns", "a")) // rv 1
	x := startInformer(t, f, 0)
	x.rec.expectSet(t, "add ns/a")

	f.AddObject(pod("ns", "b"))                          // 2
	f.UpdateObject(withLabels(pod("ns", "b"), "x", "1")) // 3
	f.UpdateObject(withLabels(pod("ns", "b"), "x", "2")) // 4
	f.DeleteObject(pod("ns", "b"))                       // 5
	f.DeleteObject(pod("ns", "a"))                       // 6
	want := []string{"add ns/b", "update ns/b 2->3", "update ns/b 3->4", "delete ns/b", "delete ns/a"}
	if got := x.rec.next(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("notifications = %q, want %q", got, want)
	}
	x.checkCache(t)
}

// seed adds p1..p3 and one live change so the current watch has delivered an event.
func seed(t *testing.T, f *cachetest.Transport) *informerFixture {
	t.Helper()
	for _, n := range []string{"p1", "p2", "p3"} {
		f.AddObject(pod("ns", n)) // rv 1..3
	}
	x := startInformer(t, f, 0)
	x.rec.expectSet(t, "add ns/p1", "add ns/p2", "add ns/p3")
	f.UpdateObject(withLabels(pod("ns", "p3"), "live", "yes")) // rv 4
	x.rec.expectSet(t, "update ns/p3 3->4")
	return x
}

func partition() func(tx cachetest.Tx) {
	return func(tx cachetest.Tx) {
		tx.Delete(pod("ns", "p1"))                       // rv 5
		tx.Add(pod("ns", "p4"))                          // rv 6
		tx.Update(withLabels(pod("ns", "p2"), "v", "2")) // rv 7
	}
}

func TestInformerRewatchesAfterClosedStream(t *testing.T) {
	f := cachetest.New()
	x := seed(t, f)
	f.Offline(false, partition())
	// The stream closed after delivering events: the reflector watches again from rv 4 and
	// the server replays what it missed. No list, nothing lost, nothing twice.
	x.rec.expectSet(t, "delete ns/p1", "add ns/p4", "update ns/p2 2->7")
	x.rec.expectNone(t)
	x.checkCache(t)
	if n := len(f.ListCalls(podMapping.Kind)); n != 1 {
		t.Fatalf("%d lists, want 1", n)
	}
	watches := f.WatchCalls(podMapping.Kind)
	if len(watches) != 2 || watches[1].ResourceVersion != "4" {
		t.Fatalf("watches = %+v, want a second one from rv 4", watches)
	}
}

func TestInformerRelistsOnGone(t *testing.T) {
	for _, onCall := range []bool{false, true} {
		t.Run(fmt.Sprintf("goneOnWatchCall=%v", onCall), func(t *testing.T) {
			f := cachetest.New()
			f.GoneOnWatchCall = onCall
			x := seed(t, f)
			f.Offline(true, partition())
			// History is gone, so the re-watch gets 410 and the reflector lists again: the
			// deletion it never saw arrives as a tombstone with the last known state, and
			// objects it already had come as updates, unchanged ones included.
			x.rec.expectSet(t, "tombstone ns/p1", "add ns/p4", "update ns/p2 2->7", "update ns/p3 4->4")
			x.rec.expectNone(t)
			x.checkCache(t)
			if n := len(f.ListCalls(podMapping.Kind)); n != 2 {
				t.Fatalf("%d lists, want 2", n)
			}
			waitFor(t, "a watch from the new list", func() bool {
				w := f.WatchCalls(podMapping.Kind)
				return w[len(w)-1].ResourceVersion == "7"
			})
		})
	}
}

func TestTombstoneCarriesLastState(t *testing.T) {
	f := cachetest.New()
	f.AddObject(withNode(pod("ns", "p1"), "node-1"))
	clk := testingclock.NewFakeClock(epoch)
	inf, err := NewSharedIndexInformer(InformerConfig{ListerWatcher: &ListWatch{Transport: f, Mapping: podMapping}, Clock: clk, Backoff: noBackoff})
	if err != nil {
		t.Fatal(err)
	}
	deleted := make(chan any, 1)
	if _, err := inf.AddEventHandler(ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { deleted <- obj }}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.Run(ctx)
	waitSynced(t, inf.HasSynced)
	f.Offline(true, func(tx cachetest.Tx) { tx.Delete(pod("ns", "p1")) })
	select {
	case obj := <-deleted:
		d, ok := obj.(DeletedFinalStateUnknown)
		if !ok {
			t.Fatalf("DeleteFunc got %T, want DeletedFinalStateUnknown", obj)
		}
		if p, ok := d.Obj.(*corev1.Pod); !ok || d.Key != "ns/p1" || p.GetSpec().GetNodeName() != "node-1" {
			t.Fatalf("tombstone = %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delete")
	}
}

func TestInformerRelistsWhenWatchEndsEmpty(t *testing.T) {
	f := cachetest.New()
	f.AddObject(pod("ns", "p1"))
	x := startInformer(t, f, 0)
	x.rec.expectSet(t, "add ns/p1")
	waitFor(t, "watch", func() bool { return f.OpenWatches(podMapping.Kind) == 1 })
	f.CloseWatches()
	x.rec.expectSet(t, "update ns/p1 1->1")
	if n := len(f.ListCalls(podMapping.Kind)); n != 2 {
		t.Fatalf("%d lists, want 2", n)
	}
	x.checkCache(t)
}

func TestInformerResync(t *testing.T) {
	f := cachetest.New()
	f.AddObject(pod("ns", "a"))
	f.AddObject(pod("ns", "b"))
	x := startInformer(t, f, time.Minute)
	x.rec.expectSet(t, "add ns/a", "add ns/b")
	x.clk.Step(59 * time.Second)
	x.clk.Step(time.Second)
	x.rec.expectSet(t, "update ns/a 1->1", "update ns/b 2->2")
	x.clk.Step(time.Minute)
	x.rec.expectSet(t, "update ns/a 1->1", "update ns/b 2->2")
}

func TestSlowHandlerDoesNotBlockOthers(t *testing.T) {
	f := cachetest.New()
	x := startInformer(t, f, 0)
	release := make(chan struct{})
	slow := make(chan string, 100)
	if _, err := x.inf.AddEventHandler(ResourceEventHandlerFuncs{AddFunc: func(obj runtime.Object) {
		<-release
		slow <- mustKey(obj)
	}}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		f.AddObject(pod("ns", fmt.Sprintf("p%02d", i)))
	}
	if got := x.rec.next(t, 20); len(got) != 20 {
		t.Fatalf("fast handler got %d", len(got))
	}
	close(release)
	for i := range 20 {
		select {
		case k := <-slow:
			if want := fmt.Sprintf("ns/p%02d", i); k != want {
				t.Fatalf("slow handler #%d got %s, want %s (in order)", i, k, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("slow handler stuck")
		}
	}
}

func TestLateHandlerGetsCachedObjects(t *testing.T) {
	f := cachetest.New()
	f.AddObject(pod("ns", "a"))
	x := startInformer(t, f, 0)
	late := newRecorder()
	reg, err := x.inf.AddEventHandler(late)
	if err != nil {
		t.Fatal(err)
	}
	late.expectSet(t, "add ns/a")
	waitSynced(t, reg.HasSynced)
	f.AddObject(pod("ns", "b"))
	late.expectSet(t, "add ns/b")
}

func TestInformerStops(t *testing.T) {
	f := cachetest.New()
	inf, err := NewSharedIndexInformer(InformerConfig{ListerWatcher: &ListWatch{Transport: f, Mapping: podMapping}, ResyncPeriod: time.Minute, Clock: testingclock.NewFakeClock(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(newRecorder()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	waitSynced(t, inf.HasSynced)
	cancel()
	<-done
	if !inf.IsStopped() {
		t.Fatal("IsStopped = false after Run returned")
	}
	if _, err := inf.AddEventHandler(newRecorder()); err == nil {
		t.Fatal("AddEventHandler on a stopped informer: no error")
	}
	if n := f.OpenWatches(podMapping.Kind); n != 0 {
		t.Fatalf("%d watches open", n)
	}
	inf.Run(context.Background()) // a second Run returns at once
}

func TestDefaultBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 800 * time.Millisecond, 2: 1600 * time.Millisecond, 3: 3200 * time.Millisecond, 10: 30 * time.Second} {
		got := DefaultBackoff(n)
		if got < want || got > want+want/10 {
			t.Fatalf("DefaultBackoff(%d) = %v, want %v plus up to 10%%", n, got, want)
		}
	}
}

func TestReflectorBacksOffOnClock(t *testing.T) {
	f := cachetest.New()
	clk := testingclock.NewFakeClock(epoch)
	failing := &failingLW{ListWatch: ListWatch{Transport: f, Mapping: podMapping}, fail: 2}
	store := NewStore(MetaNamespaceKeyFunc)
	r, err := NewReflector(ReflectorConfig{ListerWatcher: failing, Store: storeAdapter{store}, Clock: clk,
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for attempt := 1; attempt <= 2; attempt++ {
		waitFor(t, "backoff timer", clk.HasWaiters)
		clk.Step(time.Duration(attempt)*time.Second - time.Nanosecond)
		if r.HasSynced() {
			t.Fatal("listed again before the backoff ran out")
		}
		clk.Step(time.Nanosecond)
	}
	waitSynced(t, r.HasSynced)
	if n := len(f.ListCalls(podMapping.Kind)); n != 1 {
		t.Fatalf("%d successful lists, want 1", n)
	}
}

// failingLW fails its first fail lists.
type failingLW struct {
	ListWatch
	fail int
}

func (l *failingLW) List(ctx context.Context, opts transport.ListOptions) (runtime.ListObject, error) {
	if l.fail > 0 {
		l.fail--
		return nil, fmt.Errorf("connection refused")
	}
	return l.ListWatch.List(ctx, opts)
}
