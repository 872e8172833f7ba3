package leaderelection

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/transport"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// leaseStore is an in-memory apiserver holding one lease, with resourceVersion checks.
type leaseStore struct {
	mu    sync.Mutex
	lease *coordinationv1.Lease
	rv    int
	// failUpdates makes every update fail, as a partitioned leader sees.
	failUpdates bool
}

var gr = apierrors.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func (s *leaseStore) Get(_ context.Context, ref transport.Ref) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == nil {
		return nil, apierrors.NewNotFound(gr, ref.Name)
	}
	return proto.Clone(s.lease).(runtime.Object), nil
}

func (s *leaseStore) Create(_ context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease != nil {
		return nil, apierrors.NewAlreadyExists(gr, ref.Name)
	}
	s.rv++
	s.lease = proto.Clone(obj).(*coordinationv1.Lease)
	s.lease.Metadata.ResourceVersion = strconv.Itoa(s.rv)
	return proto.Clone(s.lease).(runtime.Object), nil
}

func (s *leaseStore) Update(_ context.Context, ref transport.Ref, obj runtime.Object, _ string) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failUpdates {
		return nil, apierrors.NewServiceUnavailable("partitioned")
	}
	if obj.GetMetadata().GetResourceVersion() != s.lease.GetMetadata().GetResourceVersion() {
		return nil, apierrors.NewConflict(gr, ref.Name, nil)
	}
	s.rv++
	s.lease = proto.Clone(obj).(*coordinationv1.Lease)
	s.lease.Metadata.ResourceVersion = strconv.Itoa(s.rv)
	return proto.Clone(s.lease).(runtime.Object), nil
}

func (s *leaseStore) List(context.Context, transport.Ref, transport.ListOptions) (runtime.ListObject, error) {
	panic("unused")
}
func (s *leaseStore) Watch(context.Context, transport.Ref, transport.ListOptions) (watch.Interface, error) {
	panic("unused")
}
func (s *leaseStore) Patch(context.Context, transport.Ref, transport.PatchType, []byte, string) (runtime.Object, error) {
	panic("unused")
}
func (s *leaseStore) Delete(context.Context, transport.Ref, *metav1.DeleteOptions) (runtime.Object, error) {
	panic("unused")
}
func (s *leaseStore) Bind(context.Context, transport.Ref, *corev1.Binding) error { panic("unused") }
func (s *leaseStore) CreateSubresource(context.Context, transport.Ref, string, runtime.Object) (runtime.Object, error) {
	panic("unused")
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) step(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func elector(t *testing.T, s *leaseStore, id string, c *fakeClock) *Elector {
	t.Helper()
	e, err := New(Config{Client: s, Namespace: "kube-system", Name: "kube-controller-manager", Identity: id, Clock: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAcquireRenewAndTakeOver(t *testing.T) {
	ctx := context.Background()
	store := &leaseStore{}
	clockA, clockB := newClock(), newClock()
	a, b := elector(t, store, "a", clockA), elector(t, store, "b", clockB)

	if !a.tryAcquireOrRenew(ctx) {
		t.Fatal("a could not create the lease")
	}
	if got := store.lease.GetSpec().GetHolderIdentity(); got != "a" {
		t.Fatalf("holder = %q", got)
	}
	// b first sees the lease now, so by b's clock it expires LeaseDuration from now.
	if b.tryAcquireOrRenew(ctx) {
		t.Fatal("b took a fresh lease")
	}
	clockA.step(2 * time.Second)
	if !a.tryAcquireOrRenew(ctx) {
		t.Fatal("a could not renew")
	}
	// b saw a new record (a renewed) at its own time: the expiry restarts from there.
	clockB.step(10 * time.Second)
	if b.tryAcquireOrRenew(ctx) {
		t.Fatal("b took a lease renewed 10 s ago (by its clock it was renewed just now)")
	}
	clockB.step(16 * time.Second) // a stopped renewing: 16 s > LeaseDuration by b's clock
	if !b.tryAcquireOrRenew(ctx) {
		t.Fatal("b did not take over an expired lease")
	}
	spec := store.lease.GetSpec()
	if spec.GetHolderIdentity() != "b" || spec.GetLeaseTransitions() != 1 {
		t.Fatalf("after takeover: holder %q transitions %d", spec.GetHolderIdentity(), spec.GetLeaseTransitions())
	}
	// a's next renewal finds b holding an unexpired lease.
	if a.tryAcquireOrRenew(ctx) {
		t.Fatal("a renewed a lease b holds")
	}
	if a.IsLeader() || !b.IsLeader() {
		t.Fatalf("IsLeader: a=%v b=%v", a.IsLeader(), b.IsLeader())
	}
}

func TestLosingTheLeaseStopsTheWork(t *testing.T) {
	store := &leaseStore{}
	stopped := make(chan struct{})
	workCtx := make(chan context.Context, 1)
	e, err := New(Config{
		Client: store, Namespace: "kube-system", Name: "x", Identity: "a",
		LeaseDuration: 300 * time.Millisecond, RenewDeadline: 200 * time.Millisecond, RetryPeriod: 20 * time.Millisecond,
		Callbacks: Callbacks{
			OnStartedLeading: func(ctx context.Context) { workCtx <- ctx },
			OnStoppedLeading: func() { close(stopped) },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go e.Run(context.Background())
	ctx := <-workCtx
	store.mu.Lock()
	store.failUpdates = true // the leader can no longer reach the apiserver
	store.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("work kept running after renewals failed past RenewDeadline")
	}
	<-stopped
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{Client: &leaseStore{}, Namespace: "n", Name: "x", Identity: "a", LeaseDuration: time.Second, RenewDeadline: 2 * time.Second})
	if err == nil {
		t.Fatal("accepted RenewDeadline > LeaseDuration")
	}
}
