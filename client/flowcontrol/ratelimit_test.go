package flowcontrol

import (
	"context"
	"errors"
	"testing"
	"time"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTokenBucketBurstThenRate(t *testing.T) {
	clock := NewFakeClock(epoch)
	l := NewTokenBucketWithClock(2, 3, clock) // 2 QPS, burst 3
	for i := range 3 {
		if !l.TryAccept() {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if l.TryAccept() {
		t.Fatal("token beyond the burst accepted")
	}
	clock.Step(499 * time.Millisecond)
	if l.TryAccept() {
		t.Fatal("token accepted before the refill")
	}
	clock.Step(time.Millisecond)
	if !l.TryAccept() {
		t.Fatal("token refused after 500ms at 2 QPS")
	}
	// The bucket never holds more than burst, however long it idles.
	clock.Step(time.Hour)
	n := 0
	for l.TryAccept() {
		n++
	}
	if n != 3 {
		t.Fatalf("after a long idle %d tokens, want 3", n)
	}
}

func TestTokenBucketWaitBlocksUntilRefill(t *testing.T) {
	clock := NewFakeClock(epoch)
	l := NewTokenBucketWithClock(10, 1, clock)
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil { // the burst token, at once
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- l.Wait(ctx) }()
	clock.BlockUntil(1)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before the clock moved", err)
	default:
	}
	clock.Step(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Two waiters queue: the second one waits for two refills.
	go func() { done <- l.Wait(ctx) }()
	clock.BlockUntil(1)
	go func() { done <- l.Wait(ctx) }()
	clock.BlockUntil(2)
	clock.Step(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("second waiter returned %v after one refill", err)
	default:
	}
	clock.Step(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTokenBucketWaitCancelled(t *testing.T) {
	clock := NewFakeClock(epoch)
	l := NewTokenBucketWithClock(1, 1, clock)
	if !l.TryAccept() {
		t.Fatal("burst token refused")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	clock.BlockUntil(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// The cancelled waiter's token was refunded: one second refills exactly one token.
	clock.Step(time.Second)
	if !l.TryAccept() {
		t.Fatal("refunded token missing")
	}
	if l.TryAccept() {
		t.Fatal("more tokens than refilled")
	}
}

func TestTokenBucketDeadlineTooClose(t *testing.T) {
	clock := NewFakeClock(epoch)
	l := NewTokenBucketWithClock(0.001, 1, clock) // the next token is 1000s away
	_ = l.TryAccept()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded without blocking", err)
	}
	if clock.Waiters() != 0 {
		t.Fatal("Wait started a timer it could never outlive")
	}
}

func TestUnlimited(t *testing.T) {
	l := NewTokenBucket(0, 0)
	for range 1000 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want Canceled", err)
	}
}
