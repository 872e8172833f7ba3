package controllertest

import (
	"slices"
	"testing"

	"kubelab.io/client/workqueue"
)

func TestDrainQueue(t *testing.T) {
	q := workqueue.NewNamed[string]("test")
	defer q.ShutDown()
	for _, k := range []string{"b/x", "a/y", "b/x", "a/x"} {
		q.Add(k)
	}
	if got, want := DrainQueue(q), []string{"a/x", "a/y", "b/x"}; !slices.Equal(got, want) {
		t.Errorf("DrainQueue = %q, want %q", got, want)
	}
	if got := DrainQueue(q); len(got) != 0 {
		t.Errorf("second DrainQueue = %q, want nothing", got)
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, "the third call", func() (bool, string) {
		calls++
		return calls == 3, ""
	})
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
}
