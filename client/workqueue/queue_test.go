package workqueue

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestQueue(t *testing.T) (*Queue[string], *testingclock.FakeClock) {
	t.Helper()
	clk := testingclock.NewFakeClock(epoch)
	q := New(Config[string]{Name: "test", Clock: clk})
	t.Cleanup(q.ShutDown)
	return q, clk
}

// get fails the test if the queue yields nothing within a generous guard time; it never
// sleeps when an item is ready.
func get(t *testing.T, q *Queue[string]) string {
	t.Helper()
	type res struct {
		item     string
		shutdown bool
	}
	ch := make(chan res, 1)
	go func() {
		item, shutdown := q.Get()
		ch <- res{item, shutdown}
	}()
	select {
	case r := <-ch:
		if r.shutdown {
			t.Fatalf("Get: queue shut down")
		}
		return r.item
	case <-time.After(10 * time.Second):
		t.Fatalf("Get: nothing queued")
		return ""
	}
}

func TestDedupWhileWaiting(t *testing.T) {
	q, _ := newTestQueue(t)
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if got := q.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}
	if got := get(t, q); got != "a" {
		t.Fatalf("first = %q, want a (FIFO)", got)
	}
	if got := get(t, q); got != "b" {
		t.Fatalf("second = %q, want b", got)
	}
}

func TestReAddWhileProcessingRunsAgainAfterDone(t *testing.T) {
	q, _ := newTestQueue(t)
	q.Add("a")
	item := get(t, q)
	q.Add("a") // while in flight: must not be handed to another worker yet
	q.Add("a")
	if got := q.Len(); got != 0 {
		t.Fatalf("Len while processing = %d, want 0", got)
	}
	q.Done(item)
	if got := q.Len(); got != 1 {
		t.Fatalf("Len after Done = %d, want 1", got)
	}
	if got := get(t, q); got != "a" {
		t.Fatalf("got %q, want a", got)
	}
	q.Done("a")
	if got := q.Len(); got != 0 {
		t.Fatalf("Len = %d, want 0", got)
	}
}

func TestNeverTwoWorkersOnOneKey(t *testing.T) {
	q, _ := newTestQueue(t)
	const workers, keys, rounds = 8, 5, 200
	var inFlight [keys]atomic.Int32
	var violations, processed atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				item, shutdown := q.Get()
				if shutdown {
					return
				}
				k := int(item[0] - 'a')
				if inFlight[k].Add(1) != 1 {
					violations.Add(1)
				}
				processed.Add(1)
				q.Add(item) // re-add while processing, as a handler racing a worker would
				inFlight[k].Add(-1)
				q.Done(item)
			}
		})
	}
	for r := range rounds {
		q.Add(string(rune('a' + r%keys)))
	}
	for processed.Load() < rounds {
		// Workers keep re-adding, so this terminates.
		runtime.Gosched()
	}
	q.ShutDown()
	wg.Wait()
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d times a key was processed by two workers at once", v)
	}
}

func TestShutDownDrainsQueuedItems(t *testing.T) {
	q, _ := newTestQueue(t)
	q.Add("a")
	q.ShutDown()
	q.Add("b") // dropped
	if !q.ShuttingDown() {
		t.Fatal("ShuttingDown = false")
	}
	if item, shutdown := q.Get(); shutdown || item != "a" {
		t.Fatalf("Get = %q, %v; want a, false", item, shutdown)
	}
	if item, shutdown := q.Get(); !shutdown || item != "" {
		t.Fatalf("Get = %q, %v; want \"\", true", item, shutdown)
	}
}

func TestShutDownWithDrainWaitsForDone(t *testing.T) {
	q, _ := newTestQueue(t)
	q.Add("a")
	item := get(t, q)
	returned := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(returned)
	}()
	// ShutDownWithDrain must not return while "a" is processing. Wait until it has at
	// least marked the queue as shutting down, then check it is still blocked.
	for !q.ShuttingDown() {
		runtime.Gosched()
	}
	select {
	case <-returned:
		t.Fatal("ShutDownWithDrain returned while an item was processing")
	default:
	}
	q.Done(item)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("ShutDownWithDrain did not return after Done")
	}
}

func TestShutDownWakesBlockedGetAndStopsLoop(t *testing.T) {
	q, _ := newTestQueue(t)
	done := make(chan bool, 1)
	go func() {
		_, shutdown := q.Get()
		done <- shutdown
	}()
	q.AddAfter("later", time.Hour) // dropped by ShutDown
	q.ShutDown()
	if !<-done {
		t.Fatal("blocked Get did not report shutdown")
	}
	select {
	case <-q.loopDone:
	default:
		t.Fatal("delaying goroutine still running after ShutDown")
	}
	q.ShutDown() // idempotent
}

func TestAddAfterWithFakeClock(t *testing.T) {
	q, clk := newTestQueue(t)
	q.AddAfter("a", time.Second)
	q.AddAfter("b", 500*time.Millisecond)
	q.AddAfter("c", 0) // immediately
	if got := q.Len(); got != 1 {
		t.Fatalf("Len = %d, want 1 (only c is ready)", got)
	}
	if got := get(t, q); got != "c" {
		t.Fatalf("got %q, want c", got)
	}
	clk.Step(500 * time.Millisecond)
	if got := get(t, q); got != "b" {
		t.Fatalf("got %q, want b", got)
	}
	// The clock is at +500ms: a (due at +1s) cannot be ready whatever the goroutine does.
	if got := q.Len(); got != 0 {
		t.Fatalf("Len = %d, want 0 before a is due", got)
	}
	clk.Step(500 * time.Millisecond)
	if got := get(t, q); got != "a" {
		t.Fatalf("got %q, want a", got)
	}
}

func TestAddAfterKeepsEarliestReadyTime(t *testing.T) {
	q, clk := newTestQueue(t)
	q.AddAfter("a", time.Hour)
	q.AddAfter("a", time.Second)
	q.AddAfter("a", 2*time.Hour)
	clk.Step(time.Second)
	if got := get(t, q); got != "a" {
		t.Fatalf("got %q, want a", got)
	}
	q.Done("a")
	clk.Step(3 * time.Hour) // the later duplicates were merged away
	q.Add("sentinel")
	if got := get(t, q); got != "sentinel" {
		t.Fatalf("got %q, want sentinel (a must not come back)", got)
	}
}

func TestAddRateLimitedAndForget(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	q := New(Config[string]{Clock: clk, RateLimiter: NewItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second)})
	defer q.ShutDown()
	q.AddRateLimited("a") // 1ms
	q.AddRateLimited("a") // 2ms (merged with the 1ms wait)
	if n := q.NumRequeues("a"); n != 2 {
		t.Fatalf("NumRequeues = %d, want 2", n)
	}
	clk.Step(time.Millisecond)
	if got := get(t, q); got != "a" {
		t.Fatalf("got %q", got)
	}
	q.Forget("a")
	q.Done("a")
	if n := q.NumRequeues("a"); n != 0 {
		t.Fatalf("NumRequeues after Forget = %d, want 0", n)
	}
}
