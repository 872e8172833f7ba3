package backoff

import (
	"testing"
	"time"
)

func TestDoublesToMaxAndResets(t *testing.T) {
	now := time.Unix(1000, 0)
	b := New(10*time.Second, 5*time.Minute, func() time.Time { return now })
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, w := range want {
		b.Next("c", now)
		if got := b.Get("c"); got != w {
			t.Fatalf("failure %d: delay %v, want %v", i+1, got, w)
		}
		in, left := b.InBackOffSince("c", now)
		if !in || left != w {
			t.Fatalf("failure %d: in backoff %v left %v, want true %v", i+1, in, left, w)
		}
		now = now.Add(w)
		if in, _ := b.InBackOffSince("c", now.Add(-w)); in {
			t.Fatalf("failure %d: still in backoff after the delay", i+1)
		}
	}
	// Ten quiet minutes (2*max) and more: back to the initial delay.
	now = now.Add(10*time.Minute + time.Second)
	b.Next("c", now)
	if got := b.Get("c"); got != 10*time.Second {
		t.Fatalf("after 10 quiet minutes: delay %v, want 10s", got)
	}
	b.GC()
	if b.Get("c") == 0 {
		t.Fatal("GC dropped a fresh entry")
	}
	now = now.Add(11 * time.Minute)
	b.GC()
	if b.Get("c") != 0 {
		t.Fatal("GC kept a stale entry")
	}
}

func TestSinceUpdate(t *testing.T) {
	now := time.Unix(1000, 0)
	b := New(10*time.Second, 5*time.Minute, func() time.Time { return now })
	if in, _ := b.InBackOffSinceUpdate("img"); in {
		t.Fatal("unknown key in backoff")
	}
	b.Next("img", now)
	now = now.Add(4 * time.Second)
	if in, left := b.InBackOffSinceUpdate("img"); !in || left != 6*time.Second {
		t.Fatalf("got %v %v, want true 6s", in, left)
	}
}
