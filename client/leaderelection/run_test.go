package leaderelection

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func fastOptions(identity string) Options {
	return Options{
		LeaderElect: true, LeaseDuration: 300 * time.Millisecond, RenewDeadline: 200 * time.Millisecond, RetryPeriod: 20 * time.Millisecond,
		ResourceNamespace: "kube-system", ResourceName: "x", Identity: identity,
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// work is a run func that reports its start and whether it returned.
type work struct {
	started  chan struct{}
	err      error // returned once ctx ends
	mu       sync.Mutex
	returned bool
}

func newWork() *work { return &work{started: make(chan struct{})} }

func (w *work) run(ctx context.Context) error {
	close(w.started)
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond) // in-flight work a standby must not overlap
	w.mu.Lock()
	w.returned = true
	w.mu.Unlock()
	return w.err
}

func (w *work) hasReturned() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.returned
}

func runAsync(ctx context.Context, o Options, s *leaseStore, failed <-chan error, run func(context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx, s, discard, failed, run) }()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestRunReleasesAfterTheWorkStopped(t *testing.T) {
	store := &leaseStore{}
	w := newWork()
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, fastOptions("a"), store, nil, w.run)
	<-w.started
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run after ctx ended = %v, want nil", err)
	}
	if !w.hasReturned() {
		t.Fatal("Run returned before the work did")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if h := store.lease.GetSpec().GetHolderIdentity(); h != "" {
		t.Fatalf("holder after a clean stop = %q, want released", h)
	}
}

func TestRunLosingTheLease(t *testing.T) {
	store := &leaseStore{}
	w := newWork()
	w.err = errors.New("work error")
	done := runAsync(context.Background(), fastOptions("a"), store, nil, w.run)
	<-w.started
	store.mu.Lock()
	store.failUpdates = true // the leader can no longer reach the apiserver
	store.mu.Unlock()
	err := wait(t, done)
	if !errors.Is(err, ErrLeaseLost) || !errors.Is(err, w.err) {
		t.Fatalf("Run = %v, want ErrLeaseLost and the work's error", err)
	}
	if !w.hasReturned() {
		t.Fatal("Run returned before the work did")
	}
}

func TestRunWorkEndsOnItsOwn(t *testing.T) {
	store := &leaseStore{}
	boom := errors.New("start controller x: boom")
	done := runAsync(context.Background(), fastOptions("a"), store, nil, func(context.Context) error { return boom })
	if err := wait(t, done); !errors.Is(err, boom) || errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Run = %v, want only %v", err, boom)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if h := store.lease.GetSpec().GetHolderIdentity(); h != "" {
		t.Fatalf("holder after the work failed = %q, want released for a standby", h)
	}
}

func TestRunOtherFailure(t *testing.T) {
	serveErr := errors.New("serve /healthz: address in use")
	for _, elect := range []bool{false, true} {
		t.Run(map[bool]string{false: "no election", true: "leading"}[elect], func(t *testing.T) {
			store := &leaseStore{}
			w := newWork()
			failed := make(chan error, 1)
			o := fastOptions("a")
			o.LeaderElect = elect
			done := runAsync(context.Background(), o, store, failed, w.run)
			<-w.started
			failed <- serveErr
			if err := wait(t, done); !errors.Is(err, serveErr) || errors.Is(err, ErrLeaseLost) {
				t.Fatalf("Run = %v, want %v", err, serveErr)
			}
			if !w.hasReturned() {
				t.Fatal("Run returned before the work did")
			}
		})
	}
}

func TestRunStandbyNeverStarts(t *testing.T) {
	store := &leaseStore{}
	leader := newWork()
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	doneA := runAsync(ctxA, fastOptions("a"), store, nil, leader.run)
	<-leader.started
	ctxB, cancelB := context.WithCancel(context.Background())
	standby := newWork()
	doneB := runAsync(ctxB, fastOptions("b"), store, nil, standby.run)
	time.Sleep(100 * time.Millisecond)
	cancelB()
	if err := wait(t, doneB); err != nil {
		t.Fatalf("standby's Run = %v, want nil", err)
	}
	select {
	case <-standby.started:
		t.Fatal("the standby ran while a held the lease")
	default:
	}
	store.mu.Lock()
	h := store.lease.GetSpec().GetHolderIdentity()
	store.mu.Unlock()
	if h != "a" {
		t.Fatalf("holder after the standby stopped = %q, want a", h)
	}
	cancelA()
	if err := wait(t, doneA); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	o.AddFlags(fs, "kube-scheduler", "usage")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := Options{LeaderElect: true, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ResourceNamespace: "kube-system", ResourceName: "kube-scheduler"}
	if o != want {
		t.Fatalf("defaults = %+v, want %+v", o, want)
	}
	for _, tc := range []struct {
		args    []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"--leader-elect-lease-duration=1s", "--leader-elect-renew-deadline=2s"}, true},
		{[]string{"--leader-elect-renew-deadline=1s", "--leader-elect-retry-period=1s"}, true},
		{[]string{"--leader-elect-retry-period=0s"}, true},
		{[]string{"--leader-elect=false", "--leader-elect-retry-period=0s"}, false},
	} {
		var o Options
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		o.AddFlags(fs, "n", "usage")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); (err != nil) != tc.wantErr {
			t.Errorf("%q: Validate() = %v, want error %v", tc.args, err, tc.wantErr)
		}
	}
}
