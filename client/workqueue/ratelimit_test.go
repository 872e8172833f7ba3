package workqueue

import (
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func TestExponentialBackoffGrowsAndForgets(t *testing.T) {
	r := NewItemExponentialFailureRateLimiter[string](5*time.Millisecond, 1000*time.Second)
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	for i, w := range want {
		if got := r.When("a"); got != w {
			t.Fatalf("When #%d = %v, want %v", i, got, w)
		}
	}
	if got := r.When("b"); got != 5*time.Millisecond {
		t.Fatalf("other key: %v, want 5ms (backoff is per key)", got)
	}
	if n := r.NumRequeues("a"); n != 4 {
		t.Fatalf("NumRequeues = %d", n)
	}
	for range 100 { // far past the cap, and past float overflow of 2^n
		r.When("a")
	}
	if got := r.When("a"); got != 1000*time.Second {
		t.Fatalf("capped backoff = %v, want 1000s", got)
	}
	r.Forget("a")
	if got := r.When("a"); got != 5*time.Millisecond {
		t.Fatalf("after Forget = %v, want 5ms", got)
	}
}

func TestBucketRateLimiter(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	r := NewBucketRateLimiter[string](clk, 10, 100)
	for i := range 100 {
		if d := r.When("x"); d != 0 {
			t.Fatalf("token %d: waited %v within burst", i, d)
		}
	}
	if d := r.When("x"); d != 100*time.Millisecond {
		t.Fatalf("101st = %v, want 100ms", d)
	}
	if d := r.When("x"); d != 200*time.Millisecond {
		t.Fatalf("102nd = %v, want 200ms", d)
	}
	clk.Step(time.Second) // refills 10 tokens, 2 of them already reserved
	for i := range 8 {
		if d := r.When("x"); d != 0 {
			t.Fatalf("refilled token %d: waited %v", i, d)
		}
	}
	if d := r.When("x"); d <= 0 {
		t.Fatalf("bucket should be empty again, got %v", d)
	}
}

func TestDefaultControllerRateLimiterIsMaxOfBoth(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	r := DefaultControllerRateLimiter[string](clk)
	if d := r.When("a"); d != 5*time.Millisecond {
		t.Fatalf("first failure = %v, want 5ms", d)
	}
	// Exhaust the bucket with other keys: their per-key backoff is 5ms but the bucket wins.
	for i := range 99 {
		r.When(string(rune(i + 1000)))
	}
	if d := r.When("z"); d != 100*time.Millisecond {
		t.Fatalf("over the bucket = %v, want 100ms", d)
	}
	if n := r.NumRequeues("a"); n != 1 {
		t.Fatalf("NumRequeues = %d", n)
	}
	r.Forget("a")
	if n := r.NumRequeues("a"); n != 0 {
		t.Fatalf("NumRequeues after Forget = %d", n)
	}
}
