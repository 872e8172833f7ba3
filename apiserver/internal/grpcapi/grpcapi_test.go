package grpcapi

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"kubelab.io/apiserver/internal/request"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/apierrors"
)

// TestGRPCNewInfo checks that a gRPC call is described as the equivalent REST request is
// (compare request.TestParseInfo).
func TestGRPCNewInfo(t *testing.T) {
	pods := func(ns, name string) *servicev1.ResourceRef {
		return &servicev1.ResourceRef{Version: "v1", Resource: "pods", Namespace: ns, Name: name}
	}
	cases := []struct {
		ref       *servicev1.ResourceRef
		verb, sub string
		want      request.Info
	}{
		{pods("default", ""), "list", "", request.Info{Path: "/api/v1/namespaces/default/pods", Verb: "list", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{pods("default", "x"), "create", "binding", request.Info{Path: "/api/v1/namespaces/default/pods/x/binding", Verb: "create", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "x", Subresource: "binding"}},
		{pods("default", "x"), "create", "", request.Info{Path: "/api/v1/namespaces/default/pods", Verb: "create", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{&servicev1.ResourceRef{Group: "apps", Version: "v1", Resource: "deployments", Namespace: "ns", Name: "d"}, "update", "status",
			request.Info{Path: "/apis/apps/v1/namespaces/ns/deployments/d/status", Verb: "update", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments", Name: "d", Subresource: "status"}},
		{&servicev1.ResourceRef{Version: "v1", Resource: "namespaces", Name: "kube-system"}, "get", "",
			request.Info{Path: "/api/v1/namespaces/kube-system", Verb: "get", APIVersion: "v1", Namespace: "kube-system", Resource: "namespaces", Name: "kube-system"}},
		{&servicev1.ResourceRef{Version: "v1", Resource: "nodes", Name: "n1"}, "delete", "", request.Info{Path: "/api/v1/nodes/n1", Verb: "delete", APIVersion: "v1", Resource: "nodes", Name: "n1"}},
	}
	for _, c := range cases {
		c.want.IsResourceRequest = true
		if got := newInfo(c.ref, c.verb, c.sub); *got != c.want {
			t.Errorf("newInfo(%v, %s, %s)\ngot  %+v\nwant %+v", c.ref, c.verb, c.sub, *got, c.want)
		}
	}
}

// TestGRPCErrorRoundTrip checks the code each Status travels under and that the client gets
// the Status back intact.
func TestGRPCErrorRoundTrip(t *testing.T) {
	gr := apierrors.GroupResource{Resource: "pods"}
	cases := []struct {
		err  error
		code codes.Code
	}{
		{apierrors.NewNotFound(gr, "x"), codes.NotFound},
		{apierrors.NewAlreadyExists(gr, "x"), codes.AlreadyExists},
		{apierrors.NewConflict(gr, "x", errors.New("stale")), codes.Aborted},
		{apierrors.NewInvalid("Pod", "", "x", apierrors.FieldErrors{apierrors.Required("spec", "")}), codes.InvalidArgument},
		{apierrors.NewBadRequest("bad"), codes.InvalidArgument},
		{apierrors.NewUnauthorized(""), codes.Unauthenticated},
		{apierrors.NewForbidden(gr, "x", errors.New("no")), codes.PermissionDenied},
		{apierrors.NewGone("too old"), codes.OutOfRange},
		{apierrors.NewTooManyRequests("slow down", 1), codes.ResourceExhausted},
		{apierrors.NewTimeout("late"), codes.DeadlineExceeded},
		{apierrors.NewMethodNotSupported(gr, "patch"), codes.Unimplemented},
		{apierrors.NewServiceUnavailable("down"), codes.Unavailable},
		{apierrors.NewInternalError(errors.New("boom")), codes.Internal},
		{errors.New("plain"), codes.Internal},
	}
	for _, c := range cases {
		err := apierrors.ToGRPC(c.err)
		if got := status.Code(err); got != c.code {
			t.Errorf("%v: code %v, want %v", c.err, got, c.code)
		}
		want := apierrors.ToStatus(c.err)
		got := apierrors.StatusFromGRPC(err)
		if got.GetReason() != want.GetReason() || got.GetCode() != want.GetCode() || got.GetMessage() != want.GetMessage() ||
			len(got.GetDetails().GetCauses()) != len(want.GetDetails().GetCauses()) {
			t.Errorf("%v: status %v, want %v", c.err, got, want)
		}
	}
	if apierrors.ToGRPC(nil) != nil || apierrors.StatusFromGRPC(nil) != nil || apierrors.FromGRPC(nil) != nil {
		t.Error("nil error did not stay nil")
	}
	// A gRPC error without a Status (a transport failure) still classifies.
	if !apierrors.IsConflict(apierrors.FromGRPC(status.Error(codes.Aborted, "x"))) {
		t.Error("bare Aborted is not a conflict")
	}
}
