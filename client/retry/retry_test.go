package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"kubelab.io/proto/apierrors"
)

// recordSleeps replaces sleep with one that records the waits and returns at once.
func recordSleeps(t *testing.T) *[]time.Duration {
	t.Helper()
	var got []time.Duration
	old := sleep
	sleep = func(ctx context.Context, d time.Duration) error {
		got = append(got, d)
		return ctx.Err()
	}
	t.Cleanup(func() { sleep = old })
	return &got
}

var (
	gr       = apierrors.GroupResource{Resource: "pods"}
	conflict = apierrors.NewConflict(gr, "p", errors.New("stale"))
)

func TestRetryOnConflict(t *testing.T) {
	sleeps := recordSleeps(t)
	calls := 0
	err := RetryOnConflict(DefaultRetry, func() error {
		calls++
		if calls < 3 {
			return conflict
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
	}
	if len(*sleeps) != 2 {
		t.Fatalf("slept %d times, want 2", len(*sleeps))
	}
	for _, d := range *sleeps {
		if d < 10*time.Millisecond || d > 11*time.Millisecond {
			t.Errorf("wait %v outside DefaultRetry's 10ms + 10%% jitter", d)
		}
	}
}

func TestRetryOnConflictGivesUp(t *testing.T) {
	recordSleeps(t)
	calls := 0
	err := RetryOnConflict(DefaultRetry, func() error { calls++; return conflict })
	if !apierrors.IsConflict(err) || calls != DefaultRetry.Steps {
		t.Fatalf("err %v after %d calls, want the conflict after %d", err, calls, DefaultRetry.Steps)
	}
}

func TestRetryOnConflictOtherErrors(t *testing.T) {
	recordSleeps(t)
	calls := 0
	notFound := apierrors.NewNotFound(gr, "p")
	err := RetryOnConflict(DefaultRetry, func() error { calls++; return notFound })
	if !apierrors.IsNotFound(err) || calls != 1 {
		t.Fatalf("err %v after %d calls, want NotFound after 1", err, calls)
	}
	// A wrapped conflict is still a conflict.
	calls = 0
	_ = RetryOnConflict(Backoff{Steps: 2}, func() error { calls++; return errors.Join(errors.New("ctx"), conflict) })
	if calls != 2 {
		t.Fatalf("wrapped conflict retried %d times, want 2", calls)
	}
}

func TestDefaultBackoffGrows(t *testing.T) {
	sleeps := recordSleeps(t)
	_ = OnError(DefaultBackoff, func(error) bool { return true }, func() error { return errors.New("x") })
	want := []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond}
	if len(*sleeps) != len(want) {
		t.Fatalf("waits %v, want ~%v", *sleeps, want)
	}
	for i, d := range *sleeps {
		if d < want[i] || d > want[i]+want[i]/10 {
			t.Errorf("wait %d = %v, want %v + up to 10%%", i, d, want[i])
		}
	}
}

func TestOnErrorZeroBackoff(t *testing.T) {
	// The real sleep: a zero-duration backoff must not block.
	calls := 0
	err := OnError(Backoff{Steps: 3}, func(error) bool { return true }, func() error {
		calls++
		return errors.New("boom")
	})
	if err == nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	calls = 0
	_ = OnError(Backoff{}, func(error) bool { return true }, func() error { calls++; return errors.New("x") })
	if calls != 1 {
		t.Fatalf("Steps 0 made %d calls, want 1", calls)
	}
}

func TestOnErrorContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := OnErrorContext(ctx, Backoff{Steps: 5, Duration: time.Hour}, func(error) bool { return true }, func() error { return conflict })
	if !apierrors.IsConflict(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the conflict joined with Canceled", err)
	}
}

func TestBackoffCap(t *testing.T) {
	b := Backoff{Duration: time.Second, Factor: 10, Cap: 5 * time.Second}
	for i, want := range []time.Duration{time.Second, 5 * time.Second, 5 * time.Second} {
		if got := b.Step(); got != want {
			t.Errorf("step %d = %v, want %v", i, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name             string
		idempotent, sent bool
		code             int
		after            time.Duration
		want             Decision
	}{
		{"dial failure, write", false, false, 0, 0, Decision{Retry: true}},
		{"dial failure, read", true, false, 0, 0, Decision{Retry: true}},
		{"broken connection, read", true, true, 0, 0, Decision{Retry: true}},
		{"broken connection, POST", false, true, 0, 0, Decision{}},
		{"500 read", true, true, 500, 0, Decision{Retry: true}},
		{"503 read with Retry-After", true, true, 503, 3 * time.Second, Decision{Retry: true, After: 3 * time.Second}},
		{"501 read", true, true, 501, 0, Decision{}},
		{"429 read", true, true, 429, time.Second, Decision{Retry: true, After: time.Second}},
		{"429 POST", false, true, 429, time.Second, Decision{}},
		{"500 POST", false, true, 500, 0, Decision{}},
		{"404 read", true, true, 404, 0, Decision{}},
		{"409 read", true, true, 409, 0, Decision{}},
	}
	for _, c := range cases {
		if got := Classify(c.idempotent, c.sent, c.code, c.after); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestPolicyDo(t *testing.T) {
	sleeps := recordSleeps(t)
	transient := errors.New("transient")
	calls := 0
	err := Policy{}.Do(context.Background(), func(context.Context) error {
		calls++
		return transient
	}, func(error) Decision { return Decision{Retry: true} })
	if !errors.Is(err, transient) || calls != DefaultMaxAttempts {
		t.Fatalf("err %v after %d calls, want transient after %d", err, calls, DefaultMaxAttempts)
	}
	if len(*sleeps) != DefaultMaxAttempts-1 || (*sleeps)[1] < 200*time.Millisecond {
		t.Fatalf("waits %v, want %d growing from 100ms", *sleeps, DefaultMaxAttempts-1)
	}

	// A server-dictated wait wins over the backoff, capped.
	*sleeps = nil
	calls = 0
	_ = Policy{MaxAttempts: 3, MaxRetryAfter: 10 * time.Second}.Do(context.Background(), func(context.Context) error {
		calls++
		return transient
	}, func(error) Decision { return Decision{Retry: true, After: time.Duration(calls) * 7 * time.Second} })
	if want := []time.Duration{7 * time.Second, 10 * time.Second}; len(*sleeps) != 2 || (*sleeps)[0] != want[0] || (*sleeps)[1] != want[1] {
		t.Fatalf("waits %v, want %v", *sleeps, want)
	}

	// Not retriable: one call.
	calls = 0
	_ = Policy{}.Do(context.Background(), func(context.Context) error { calls++; return transient },
		func(error) Decision { return Decision{} })
	if calls != 1 {
		t.Fatalf("non-retriable error tried %d times", calls)
	}

	// Success ends at once.
	calls = 0
	if err := (Policy{}).Do(context.Background(), func(context.Context) error { calls++; return nil }, nil); err != nil || calls != 1 {
		t.Fatalf("success: err %v, %d calls", err, calls)
	}
}
