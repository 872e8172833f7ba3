package grpcclient

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

func TestClassifier(t *testing.T) {
	withStatus := func(err error) error { return apierrors.ToGRPC(err) }
	cases := []struct {
		name       string
		err        error
		idempotent bool
		want       retry.Decision
	}{
		{"refused write", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), false, retry.Decision{Retry: true}},
		{"broken connection read", status.Error(codes.Unavailable, "transport is closing"), true, retry.Decision{Retry: true}},
		{"broken connection write", status.Error(codes.Unavailable, "transport is closing"), false, retry.Decision{}},
		{"429 read", withStatus(apierrors.NewTooManyRequests("slow", 4)), true, retry.Decision{Retry: true, After: 4 * time.Second}},
		{"429 write", withStatus(apierrors.NewTooManyRequests("slow", 4)), false, retry.Decision{}},
		{"500 read", withStatus(apierrors.NewInternalError(errors.New("x"))), true, retry.Decision{Retry: true}},
		{"405 read", withStatus(apierrors.NewMethodNotSupported(apierrors.GroupResource{Resource: "pods"}, "x")), true, retry.Decision{}},
		{"not found read", withStatus(apierrors.NewNotFound(apierrors.GroupResource{Resource: "pods"}, "p")), true, retry.Decision{}},
		{"conflict write", withStatus(apierrors.NewConflict(apierrors.GroupResource{Resource: "pods"}, "p", errors.New("x"))), false, retry.Decision{}},
		{"cancelled", status.Error(codes.Canceled, "context canceled"), true, retry.Decision{}},
		{"limiter gave up", context.DeadlineExceeded, true, retry.Decision{}},
	}
	for _, tc := range cases {
		if got := classifier(tc.idempotent)(tc.err); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

type recordedSleeps struct {
	mu sync.Mutex
	n  int
}

func (r *recordedSleeps) sleep(ctx context.Context, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return ctx.Err()
}

func TestRefusedConnectionRetriedForWrites(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &recordedSleeps{}
	c, err := New(addr, nil, Options{Retry: &retry.Policy{Sleep: s.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.Create(ctx, transport.Ref{Mapping: m, Namespace: "default"}, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})
	if apierrors.ReasonOf(err) != apierrors.ReasonServiceUnavailable {
		t.Fatalf("got %v, want ServiceUnavailable", err)
	}
	if s.n != retry.DefaultMaxAttempts-1 {
		t.Fatalf("%d waits, want %d: a refused create is retried", s.n, retry.DefaultMaxAttempts-1)
	}
}

func TestPackRefusesOtherKinds(t *testing.T) {
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"})
	if _, err := packObject(m, &corev1.Node{}); err == nil {
		t.Fatal("a Node was packed for pods")
	}
	a, err := packObject(m, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := unpackObject(m, a)
	if err != nil || obj.GetKind() != "Pod" || obj.GetApiVersion() != "v1" || obj.GetMetadata().GetName() != "p" {
		t.Fatalf("unpacked %v %v", obj, err)
	}
}
