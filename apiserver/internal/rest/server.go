// Package rest is the apiserver's HTTPS front door: Kubernetes' REST paths, JSON and YAML
// bodies, Status errors, chunked watch streams and discovery. It authenticates each request,
// parses what it asks for, and hands it to the pipeline shared with the gRPC front door.
package rest

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"kubelab.io/apiserver/internal/audit"
	"kubelab.io/apiserver/internal/authn"
	"kubelab.io/apiserver/internal/metrics"
	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/proto/apierrors"
)

// Config wires the front door.
type Config struct {
	Pipeline      *pipeline.Pipeline
	Authenticator *authn.Chain
	Metrics       *metrics.Metrics
	Log           *slog.Logger
	// Ready reports whether the server can serve (etcd reachable); /readyz calls it.
	Ready   func(ctx context.Context) error
	Version VersionInfo
	// Audit receives one event per request; nil disables auditing.
	Audit *audit.Logger
	// NonResource are further GET paths outside /api and /apis (service account issuer
	// discovery), authorized as any non-resource path.
	NonResource map[string]http.HandlerFunc
}

// Server is the REST handler.
type Server struct {
	pipeline *pipeline.Pipeline
	registry *registry.Registry
	authn    *authn.Chain
	metrics  *metrics.Metrics
	log      *slog.Logger
	ready    func(ctx context.Context) error
	version  VersionInfo
	audit    *audit.Logger
	router   chi.Router
}

func New(cfg Config) *Server {
	s := &Server{
		pipeline: cfg.Pipeline, registry: cfg.Pipeline.Registry, authn: cfg.Authenticator,
		metrics: cfg.Metrics, log: cfg.Log, ready: cfg.Ready, version: cfg.Version, audit: cfg.Audit,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.version.GitVersion == "" {
		s.version = DefaultVersion
	}
	r := chi.NewRouter()
	r.Use(s.recoverPanics, s.observe, s.authenticate, s.impersonate)
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		r.Get(p, s.serveHealth)
		r.Get(p+"/*", s.serveHealth)
	}
	r.Get("/version", s.authorized(s.serveVersion))
	r.Get("/metrics", s.authorized(cfg.Metrics.Handler().ServeHTTP))
	r.Get("/api", s.authorized(s.serveAPIVersions))
	r.Get("/apis", s.authorized(s.serveAPIGroupList))
	r.Mount("/openapi/v3", s.openAPIHandler())
	for p, h := range cfg.NonResource {
		r.Get(p, s.authorized(h))
	}
	r.HandleFunc("/api/*", s.serveAPI)
	r.HandleFunc("/apis/*", s.serveAPI)
	r.NotFound(s.authorized(func(w http.ResponseWriter, _ *http.Request) { writeError(w, pipeline.NotFound()) }))
	s.router = r
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// serveAPI handles everything under /api and /apis: discovery documents and resources.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	info := request.InfoFrom(r.Context())
	if info.IsResourceRequest {
		s.serveResource(w, r, info)
		return
	}
	if err := s.pipeline.Authorize(r.Context(), info); err != nil {
		writeError(w, err)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, apierrors.NewMethodNotSupported(apierrors.GroupResource{}, strings.ToLower(r.Method)))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "api":
		if s.serveResourceList(w, registry.GroupVersion{Version: parts[1]}) {
			return
		}
	case len(parts) == 2 && parts[0] == "apis":
		if s.serveAPIGroup(w, parts[1]) {
			return
		}
	case len(parts) == 3 && parts[0] == "apis":
		if s.serveResourceList(w, registry.GroupVersion{Group: parts[1], Version: parts[2]}) {
			return
		}
	}
	writeError(w, pipeline.NotFound())
}

// authorized guards a non-resource path with the authorizer.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.pipeline.Authorize(r.Context(), request.InfoFrom(r.Context())); err != nil {
			writeError(w, err)
			return
		}
		h(w, r)
	}
}

// serveHealth answers /healthz, /livez and /readyz ("ok"); readiness also needs etcd.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/readyz") && s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "[-]etcd failed: %v\nreadyz check failed\n", err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// healthPaths may be reached without credentials, so load balancers and orchestrators can
// probe the server; they reveal nothing but "ok".
func healthPath(p string) bool {
	for _, h := range []string{"/healthz", "/livez", "/readyz"} {
		if p == h || strings.HasPrefix(p, h+"/") {
			return true
		}
	}
	return false
}

// authenticate identifies the client, puts the user and the parsed request on the context
// and removes the Authorization header so nothing further down can see or log credentials.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		info := request.ParseInfo(r.Method, r.URL.Path, r.URL.Query())
		ctx = request.WithInfo(ctx, info)
		if !healthPath(r.URL.Path) {
			u, err := s.authn.Authenticate(ctx, authn.Credentials{TLS: r.TLS, Authorization: r.Header.Get("Authorization")})
			if err != nil {
				writeError(w, apierrors.NewUnauthorized(""))
				return
			}
			ctx = request.WithUser(ctx, u)
			if rec, ok := w.(*statusRecorder); ok {
				rec.user = u // for the log line and audit event written on the way out
			}
		}
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusRecorder remembers the response code for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
	user *request.User
	// impersonated is who the user acted as, if anyone (set by impersonate).
	impersonated *request.User
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Hijack hands the connection to a protocol switch (pods/exec, attach, portforward),
// which writes its own 101; the log line and audit event record that code.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.code == 0 {
		s.code = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

// Unwrap lets http.ResponseController reach the server's writer (deadlines, flushes).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// observe logs one line per request and records its metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		d := time.Since(start)
		info := request.ParseInfo(r.Method, r.URL.Path, r.URL.Query())
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		resource := info.Resource
		if !info.IsResourceRequest {
			resource = ""
		}
		s.metrics.ObserveRequest(info.Verb, info.APIGroup, resource, info.Subresource, code, d)
		attrs := []any{"verb", info.Verb, "uri", r.URL.RequestURI(), "code", code, "latency", d.Round(time.Microsecond).String()}
		ev := audit.Event{
			Time: start.UTC(), FrontDoor: "rest", SourceIP: sourceIP(r), Verb: info.Verb, APIGroup: info.APIGroup,
			Resource: resource, Subresource: info.Subresource, Namespace: info.Namespace, Name: info.Name,
			URI: r.URL.RequestURI(), Code: code, LatencyMs: float64(d.Microseconds()) / 1000,
		}
		if u := rec.user; u != nil {
			attrs = append(attrs, "user", u.Name)
			ev.User, ev.Groups = u.Name, u.Groups
		}
		if u := rec.impersonated; u != nil {
			attrs = append(attrs, "as", u.Name)
			ev.ImpersonatedUser = &audit.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
		}
		s.audit.Log(ev)
		if info.Namespace != "" || info.Name != "" {
			attrs = append(attrs, "object", info.Namespace+"/"+info.Name)
		}
		s.log.Info("request", attrs...)
	})
}

// sourceIP is the client's address without the port.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recoverPanics turns a panic in a handler into a 500 Status: one bad request must never take
// the server down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "uri", r.URL.RequestURI(), "panic", fmt.Sprint(p))
				writeError(w, apierrors.NewInternalError(fmt.Errorf("%v", p)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
