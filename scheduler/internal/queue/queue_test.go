package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	corev1 "kubelab.io/proto/api/core/v1"
	tu "kubelab.io/scheduler/internal/testutil"
)

func newQueue() (*Queue, *testingclock.FakeClock) {
	clk := testingclock.NewFakeClock(time.Unix(1_700_000_000, 0))
	return New(Config{Clock: clk}), clk
}

// pop returns the head without blocking (nil when the active queue is empty).
func pop(t *testing.T, q *Queue) *QueuedPodInfo {
	t.Helper()
	if q.Pending()["active"] == 0 {
		return nil
	}
	return q.Pop(context.Background())
}

func names(t *testing.T, q *Queue) []string {
	t.Helper()
	var out []string
	for p := pop(t, q); p != nil; p = pop(t, q) {
		out = append(out, p.Pod.Metadata.Name)
	}
	return out
}

func TestActiveOrder(t *testing.T) {
	q, clk := newQueue()
	q.Add(tu.Pod("low-old").Obj())
	clk.Step(time.Second)
	q.Add(tu.Pod("high").Priority(100).Obj())
	clk.Step(time.Second)
	q.Add(tu.Pod("low-new").Obj())
	q.Add(tu.Pod("mid").Priority(10).Obj())
	got := names(t, q)
	want := []string{"high", "mid", "low-old", "low-new"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestBackoffDuration(t *testing.T) {
	q, _ := newQueue()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := q.BackoffDuration(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
}

func TestErrorGoesToBackoffThenActive(t *testing.T) {
	q, clk := newQueue()
	q.Add(tu.Pod("p").Obj())
	p := pop(t, q)
	q.AddUnschedulableIfNotPresent(p, false, q.SchedulingCycle())
	if got := q.Pending(); got["backoff"] != 1 {
		t.Fatalf("pending %v, want one in backoff", got)
	}
	clk.Step(999 * time.Millisecond)
	q.FlushBackoffQCompleted()
	if q.Pending()["active"] != 0 {
		t.Fatal("left backoff before 1s")
	}
	clk.Step(time.Millisecond)
	q.FlushBackoffQCompleted()
	p = pop(t, q)
	if p == nil || p.Attempts != 2 {
		t.Fatalf("popped %+v, want the pod at its second attempt", p)
	}
	// Second failure: 2 s.
	q.AddUnschedulableIfNotPresent(p, false, q.SchedulingCycle())
	clk.Step(1500 * time.Millisecond)
	q.FlushBackoffQCompleted()
	if q.Pending()["active"] != 0 {
		t.Fatal("second backoff shorter than 2s")
	}
	clk.Step(500 * time.Millisecond)
	q.FlushBackoffQCompleted()
	if q.Pending()["active"] != 1 {
		t.Fatal("second backoff longer than 2s")
	}
}

func TestUnschedulableReactivatedByEvent(t *testing.T) {
	q, clk := newQueue()
	q.Add(tu.Pod("p").Obj())
	p := pop(t, q)
	q.AddUnschedulableIfNotPresent(p, true, q.SchedulingCycle())
	if got := q.Pending(); got["unschedulable"] != 1 {
		t.Fatalf("pending %v", got)
	}
	// Time alone (short of 5 min) does not move it.
	clk.Step(time.Minute)
	q.FlushBackoffQCompleted()
	q.FlushUnschedulableLeftover()
	if q.Pending()["unschedulable"] != 1 {
		t.Fatal("moved without an event")
	}
	// A node event moves it straight to active (its 1 s backoff is over).
	q.MoveAllToActiveOrBackoffQueue("NodeAdd")
	if got := q.Pending(); got["active"] != 1 {
		t.Fatalf("after event: %v", got)
	}
	// Fails again; an event right away finds it still backing off (2 s).
	p = pop(t, q)
	q.AddUnschedulableIfNotPresent(p, true, q.SchedulingCycle())
	q.MoveAllToActiveOrBackoffQueue("NodeAdd")
	if got := q.Pending(); got["backoff"] != 1 {
		t.Fatalf("after early event: %v", got)
	}
	clk.Step(2 * time.Second)
	q.FlushBackoffQCompleted()
	if q.Pending()["active"] != 1 {
		t.Fatal("not active after backoff")
	}
}

func TestUnschedulableLeftoverAfterFiveMinutes(t *testing.T) {
	q, clk := newQueue()
	q.Add(tu.Pod("p").Obj())
	q.AddUnschedulableIfNotPresent(pop(t, q), true, q.SchedulingCycle())
	clk.Step(5 * time.Minute)
	q.FlushUnschedulableLeftover()
	if q.Pending()["active"] != 1 {
		t.Fatalf("pending %v", q.Pending())
	}
}

func TestMoveDuringCycleGoesToBackoff(t *testing.T) {
	q, _ := newQueue()
	q.Add(tu.Pod("p").Obj())
	p := pop(t, q)
	cycle := q.SchedulingCycle()
	// A node appears while the pod is being scheduled: the failure must not park it.
	q.MoveAllToActiveOrBackoffQueue("NodeAdd")
	q.AddUnschedulableIfNotPresent(p, true, cycle)
	if got := q.Pending(); got["backoff"] != 1 || got["unschedulable"] != 0 {
		t.Fatalf("pending %v, want the pod in backoff", got)
	}
}

func TestUpdate(t *testing.T) {
	q, _ := newQueue()
	old := tu.Pod("p").Obj()
	q.Add(old)
	p := pop(t, q)
	q.AddUnschedulableIfNotPresent(p, true, q.SchedulingCycle())

	// Status-only update (the scheduler's own PodScheduled=False) keeps it parked.
	statusOnly := tu.Pod("p").Obj()
	statusOnly.Status = &corev1.PodStatus{Conditions: []*corev1.PodCondition{{Type: "PodScheduled", Status: "False"}}}
	q.Update(old, statusOnly)
	if got := q.Pending(); got["unschedulable"] != 1 {
		t.Fatalf("status update moved the pod: %v", got)
	}
	// A toleration added makes it worth retrying.
	tolerating := tu.Pod("p").Toleration("k", "Exists", "", "").Obj()
	q.Update(statusOnly, tolerating)
	if got := q.Pending(); got["unschedulable"] != 0 {
		t.Fatalf("spec update left the pod parked: %v", got)
	}
	// An update of a pod in no queue (in flight) re-adds it.
	q.Delete(tolerating)
	q.Update(tolerating, tolerating)
	if q.Pending()["active"] != 1 {
		t.Fatal("in-flight update not re-added")
	}
}

func TestDeleteAndDuplicates(t *testing.T) {
	q, _ := newQueue()
	a := tu.Pod("a").Obj()
	q.Add(a)
	q.Add(a)
	if q.Pending()["active"] != 1 {
		t.Fatal("duplicate add")
	}
	p := pop(t, q)
	q.Add(a) // updated while in flight
	q.AddUnschedulableIfNotPresent(p, true, q.SchedulingCycle())
	if got := q.Pending(); got["active"] != 1 || got["unschedulable"] != 0 {
		t.Fatalf("requeue of a re-added pod: %v", got)
	}
	q.Delete(a)
	if got := q.Pending(); got["active"]+got["backoff"]+got["unschedulable"] != 0 {
		t.Fatalf("after delete: %v", got)
	}
}

func TestPopBlocksUntilAddOrCancel(t *testing.T) {
	q, _ := newQueue()
	got := make(chan *QueuedPodInfo)
	go func() { got <- q.Pop(context.Background()) }()
	q.Add(tu.Pod("p").Obj())
	if p := <-got; p == nil || p.Pod.Metadata.Name != "p" {
		t.Fatalf("popped %v", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { got <- q.Pop(ctx) }()
	cancel()
	if p := <-got; p != nil {
		t.Fatalf("popped %v after cancel", p)
	}
}

// An event one plugin cares about moves only the pods that plugin rejected, and those no
// plugin did.
func TestMoveRejectedBy(t *testing.T) {
	q, clk := newQueue()
	for _, name := range []string{"affinity", "resources", "unknown"} {
		q.Add(tu.Pod(name).Obj())
	}
	rejectedBy := map[string]map[string]bool{
		"affinity":  {"InterPodAffinity": true, "TaintToleration": true},
		"resources": {"NodeResourcesFit": true},
	}
	for range 3 {
		p := pop(t, q)
		p.UnschedulablePlugins = rejectedBy[p.Pod.Metadata.Name]
		q.AddUnschedulableIfNotPresent(p, true, q.SchedulingCycle())
	}
	clk.Step(time.Minute) // past every backoff
	q.MoveRejectedBy("AssignedPodAdd", "InterPodAffinity")
	got := names(t, q)
	slices.Sort(got)
	if want := []string{"affinity", "unknown"}; !slices.Equal(got, want) {
		t.Errorf("moved %v, want %v", got, want)
	}
	if got := q.Pending(); got["unschedulable"] != 1 {
		t.Errorf("pending %v, want the resources pod still unschedulable", got)
	}
}
