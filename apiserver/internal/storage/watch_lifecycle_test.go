package storage_test

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/apiserver/internal/storage/storagetest"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// TestSlowWatcher: a watcher that does not read is closed once its buffer is full, and does
// not hold up the others.
func TestSlowWatcher(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{WatcherBuffer: 16})
	mustCreate(t, s, pod("a", nil))
	slow := watchPods(t, s, podPrefix, "0", nil)
	fast := watchPods(t, s, podPrefix, "0", nil)
	const updates = 60
	// The fast watcher reads every event; each update waits until it has, so it is never
	// behind (even on a loaded machine) while the slow one, which reads nothing, overflows
	// its buffer of 16. A slow watcher that held dispatch up would stall the fast one here.
	received := make(chan struct{}, updates+2)
	go func() {
		for range fast.ResultChan() {
			received <- struct{}{}
		}
		close(received)
	}()
	next := func(what string) {
		t.Helper()
		select {
		case _, ok := <-received:
			if !ok {
				t.Fatalf("fast watcher closed while waiting for %s", what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("fast watcher was held up waiting for %s", what)
		}
	}
	next("the initial ADDED")
	for i := range updates {
		mustUpdate(t, s, "a", setLabel("n", fmt.Sprint(i)))
		next(fmt.Sprintf("update %d", i))
	}
	n := 0
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-slow.ResultChan():
			if !ok {
				if n >= updates {
					t.Fatalf("slow watcher got all %d events before closing", n)
				}
				return
			}
			n++
		case <-timeout:
			t.Fatalf("slow watcher not closed after %d events", n)
		}
	}
}

// TestWatchStopNoLeak: Stop, context cancellation and the storage's stop end every watcher
// and leave no goroutine behind.
func TestWatchStopNoLeak(t *testing.T) {
	c := startEtcd(t)
	before := ourGoroutines()

	s, stop, err := storage.NewResource(context.Background(), c, storage.ResourceConfig{
		Prefix:  podPrefix,
		NewFunc: func() runtime.Object { return &corev1.Pod{} },
		Logger:  storagetest.QuietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, pod("a", nil))
	stopped := watchPods(t, s, podPrefix, "0", nil)
	ctx, cancel := context.WithCancel(context.Background())
	canceled, err := s.Watch(ctx, podPrefix, "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	open := watchPods(t, s, key("a"), "0", nil)
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Watch(ctx, podPrefix, "1000000", nil)
		waiting <- err
	}()

	stopped.Stop()
	stopped.Stop()
	closed(t, stopped)
	cancel()
	closed(t, canceled)
	wantErr(t, <-waiting, context.Canceled)
	next(t, open, 1)
	stop()
	stop()
	closed(t, open)
	if _, err := s.Watch(context.Background(), podPrefix, "0", nil); err == nil {
		t.Fatal("watch after stop succeeded")
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		after := ourGoroutines()
		if len(after) <= len(before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of storage or the etcd client, %d before:\n%s",
				len(after), len(before), strings.Join(after, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ourGoroutines returns the stacks of the goroutines running storage or etcd client code.
// (The etcd server's own goroutines come and go with its connections.)
func ourGoroutines() []string {
	buf := make([]byte, 4<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:goruntime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "apiserver/internal/storage.") || strings.Contains(g, "go.etcd.io/etcd/client/v3.") {
			out = append(out, g)
		}
	}
	return out
}

// closed fails unless w's channel closes (after any pending events) within a deadline.
func closed(t *testing.T, w watch.Interface) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch not closed")
		}
	}
}
