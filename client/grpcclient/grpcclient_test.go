package grpcclient

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	servicev1 "kubelab.io/proto/api/service/v1"
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

// tokenServer answers Create with the TokenRequest it got, a token set, and records the ref.
type tokenServer struct {
	servicev1.UnimplementedResourcesServer
	mu  sync.Mutex
	ref *servicev1.ResourceRef
}

func (s *tokenServer) Create(_ context.Context, req *servicev1.CreateRequest) (*servicev1.CreateResponse, error) {
	s.mu.Lock()
	s.ref = req.GetRef()
	s.mu.Unlock()
	tr := &authenticationv1.TokenRequest{}
	if err := req.GetObject().UnmarshalTo(tr); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	tr.Status = &authenticationv1.TokenRequestStatus{Token: "eyJ.x.y"}
	a, err := anypb.New(tr)
	if err != nil {
		return nil, err
	}
	return &servicev1.CreateResponse{Object: a}, nil
}

// TestCreateSubresource sends a TokenRequest with Resources.Create, ref.subresource "token"
// and the service account's name, and decodes the answer as a TokenRequest.
func TestCreateSubresource(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	fake := &tokenServer{}
	servicev1.RegisterResourcesServer(gs, fake)
	go func() { _ = gs.Serve(l) }()
	defer gs.Stop()
	c, err := New(l.Addr().String(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.CreateSubresource(ctx, transport.Ref{Mapping: m, Namespace: "ci", Name: "build"}, "token",
		&authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{Audiences: []string{"api"}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := out.(*authenticationv1.TokenRequest)
	if !ok || tr.GetStatus().GetToken() != "eyJ.x.y" || tr.GetKind() != "TokenRequest" || tr.GetApiVersion() != "authentication.k8s.io/v1" {
		t.Fatalf("decoded %T %v", out, out)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := &servicev1.ResourceRef{Version: "v1", Resource: "serviceaccounts", Namespace: "ci", Name: "build", Subresource: "token"}
	if !proto.Equal(fake.ref, want) {
		t.Fatalf("ref %v, want %v", fake.ref, want)
	}
	if _, err := c.CreateSubresource(ctx, transport.Ref{Mapping: m, Namespace: "ci", Name: "build"}, "", tr); err == nil {
		t.Fatal("a create without a subresource was sent")
	}
}
