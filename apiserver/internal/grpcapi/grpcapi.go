// Package grpcapi is the apiserver's gRPC front door: the kubelab.api.service.v1.Resources
// service, which the components (controllers, scheduler, kubelet) use. Like the REST front
// door it only reads requests and writes answers: each call is authenticated here (from the
// peer's verified client certificate or an "authorization" metadata value, through the same
// authn.Chain), described by the same request.Info REST would build for it, and then handed
// to the shared pipeline, which authorizes it and runs admission, validation and storage.
//
// Errors leave through apierrors.ToGRPC only: the gRPC code follows the Status reason and
// the full Status rides in the details (apierrors.StatusFromGRPC reads it back).
package grpcapi

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"kubelab.io/apiserver/internal/audit"
	"kubelab.io/apiserver/internal/authn"
	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/request"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/apierrors"
)

// Config wires the front door.
type Config struct {
	Pipeline      *pipeline.Pipeline
	Authenticator *authn.Chain
	Log           *slog.Logger
	// Context ends every in-flight watch when it is cancelled, so a graceful stop does not
	// wait for them (the REST server's request context plays the same part). Nil means
	// watches end only with their client, their timeout or a hard stop.
	Context context.Context
	// Audit receives one event per call; nil disables auditing.
	Audit *audit.Logger
}

// New returns a gRPC server serving the Resources service, with authentication and panic
// recovery on every call. opts are added to the server's options; the caller passes the
// transport credentials (grpc.Creds), then serves and stops the server.
func New(cfg Config, opts ...grpc.ServerOption) *grpc.Server {
	s := newService(cfg)
	opts = append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}, opts...)
	srv := grpc.NewServer(opts...)
	servicev1.RegisterResourcesServer(srv, s)
	return srv
}

func newService(cfg Config) *service {
	s := &service{pipeline: cfg.Pipeline, authn: cfg.Authenticator, log: cfg.Log, audit: cfg.Audit}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.Context != nil {
		s.done = cfg.Context.Done()
	}
	return s
}

// service implements servicev1.ResourcesServer on the pipeline.
type service struct {
	servicev1.UnimplementedResourcesServer
	pipeline *pipeline.Pipeline
	authn    *authn.Chain
	log      *slog.Logger
	audit    *audit.Logger
	// done closes when in-flight watches must end; nil never closes.
	done <-chan struct{}
}

// authenticate returns ctx carrying the caller's user, or the Unauthenticated error every
// unrecognised caller gets (no detail on why, as REST answers 401).
func (s *service) authenticate(ctx context.Context) (context.Context, error) {
	var creds authn.Credentials
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			creds.TLS = &ti.State
		}
	}
	md, hasMD := metadata.FromIncomingContext(ctx)
	if hasMD {
		if v := md.Get("authorization"); len(v) > 0 {
			creds.Authorization = v[0]
		}
	}
	u, err := s.authn.Authenticate(ctx, creds)
	if err != nil {
		// ctx, not nil: the interceptors' deferred audit event reads it.
		return ctx, apierrors.ToGRPC(apierrors.NewUnauthorized(""))
	}
	if creds.Authorization != "" {
		// Nothing past authentication may see or log the credentials, as REST drops the
		// Authorization header.
		md = md.Copy()
		md.Delete("authorization")
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	ctx = request.WithUser(ctx, u)
	if hasMD {
		return s.impersonate(ctx, md)
	}
	return ctx, nil
}

// requesterKey keeps the authenticated caller on the context of a call that impersonates
// someone, for its audit event.
type requesterKey struct{}

// impersonate switches ctx's user to the one the impersonate-* metadata names (the same
// keys as REST's headers, lower case), once the caller is allowed `impersonate` on each
// part, and drops those keys. Kubelab's components never impersonate; the gRPC door takes
// the same requests as REST so that the two doors answer alike.
func (s *service) impersonate(ctx context.Context, md metadata.MD) (context.Context, error) {
	im, err := authn.ParseImpersonation(md)
	if err != nil || im == nil {
		return ctx, apierrors.ToGRPC(err)
	}
	u, err := authn.Impersonate(ctx, im, s.pipeline.Authorize)
	if err != nil {
		return ctx, apierrors.ToGRPC(err) // audited as the requester's refused call
	}
	md = md.Copy()
	for k := range md {
		if authn.IsImpersonationHeader(k) {
			delete(md, k)
		}
	}
	ctx = context.WithValue(ctx, requesterKey{}, request.UserFrom(ctx))
	return request.WithUser(metadata.NewIncomingContext(ctx, md), u), nil
}

func (s *service) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() { s.auditCall(ctx, start, info.FullMethod, req, err) }()
	defer s.recoverPanic(info.FullMethod, &err)
	ctx, err = s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *service) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx := ss.Context()
	defer func() { s.auditCall(ctx, start, info.FullMethod, nil, err) }()
	defer s.recoverPanic(info.FullMethod, &err)
	ctx, err = s.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &authenticatedStream{ServerStream: ss, ctx: ctx})
}

// auditCall writes the audit event of one call: the verb from the method, the object from
// the request's ResourceRef, and the HTTP code its error maps to.
func (s *service) auditCall(ctx context.Context, start time.Time, method string, req any, err error) {
	if s.audit == nil {
		return
	}
	ev := audit.Event{
		Time: start.UTC(), FrontDoor: "grpc", Verb: strings.ToLower(method[strings.LastIndexByte(method, '/')+1:]),
		Code: 200, LatencyMs: float64(time.Since(start).Microseconds()) / 1000,
	}
	if err != nil {
		ev.Code = int(apierrors.StatusFromGRPC(err).GetCode())
	}
	if u := request.UserFrom(ctx); u != nil {
		ev.User, ev.Groups = u.Name, u.Groups
		if r, ok := ctx.Value(requesterKey{}).(*request.User); ok {
			ev.User, ev.Groups = r.Name, r.Groups
			ev.ImpersonatedUser = &audit.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		ev.SourceIP = p.Addr.String()
	}
	if r, ok := req.(interface{ GetRef() *servicev1.ResourceRef }); ok {
		ref := r.GetRef()
		ev.APIGroup, ev.Resource, ev.Namespace, ev.Name = ref.GetGroup(), ref.GetResource(), ref.GetNamespace(), ref.GetName()
	}
	s.audit.Log(ev)
}

// recoverPanic turns a panic in a handler into an Internal error for that call alone, as
// the REST front door answers 500, instead of taking the process down.
func (s *service) recoverPanic(method string, err *error) {
	if p := recover(); p != nil {
		s.log.Error("panic serving gRPC call", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		*err = apierrors.ToGRPC(apierrors.NewInternalError(fmt.Errorf("%v", p)))
	}
}

// authenticatedStream is a server stream whose context carries the authenticated user.
type authenticatedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authenticatedStream) Context() context.Context { return a.ctx }
