package objectcache

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"kubelab.io/proto/runtime"
)

// slot is the store of one object's watch: it holds the object (nil while it does not
// exist) and tells when the first list arrived. The reflector is its only writer; it
// keeps only the object named, so a server that ignored the field selector could not
// make it serve another.
type slot struct {
	name   string
	synced chan struct{} // closed by the first Replace

	mu     sync.RWMutex
	obj    runtime.Object
	listed bool
}

func newSlot(name string) *slot { return &slot{name: name, synced: make(chan struct{})} }

func (s *slot) Add(obj runtime.Object) error    { return s.set(obj, obj) }
func (s *slot) Update(obj runtime.Object) error { return s.set(obj, obj) }
func (s *slot) Delete(obj runtime.Object) error { return s.set(obj, nil) }

// set makes the slot hold now when event (an object of a watch event) is the one named.
func (s *slot) set(event, now runtime.Object) error {
	if event.GetMetadata().GetName() == s.name {
		s.mu.Lock()
		s.obj = now
		s.mu.Unlock()
	}
	return nil
}

func (s *slot) Replace(objs []runtime.Object, _ string) error {
	var found runtime.Object
	for _, o := range objs {
		if o.GetMetadata().GetName() == s.name {
			found = o
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obj = found
	if !s.listed {
		s.listed = true
		close(s.synced)
	}
	return nil
}

func (s *slot) get() runtime.Object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.obj
}

// errSyncTimeout is Kubernetes' wording for a wait that ran out.
var errSyncTimeout = errors.New("timed out waiting for the condition")

// wait returns once the first list arrived, or an error when it did not within timeout
// (or ctx ended first).
func (s *slot) wait(ctx context.Context, clk clock.Clock, timeout time.Duration) error {
	select {
	case <-s.synced:
		return nil
	default:
	}
	t := clk.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return errSyncTimeout
	}
}
