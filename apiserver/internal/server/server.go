// Package server assembles an apiserver from its parts: etcd (embedded or external), the TLS
// bootstrap, one storage and registry Store per resource, the admission chain, the pipeline,
// and the REST and gRPC front doors on their listeners.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/admission/namespacelifecycle"
	"kubelab.io/apiserver/internal/audit"
	"kubelab.io/apiserver/internal/authn"
	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/grpcapi"
	"kubelab.io/apiserver/internal/metrics"
	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/pki"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/registry/servicealloc"
	"kubelab.io/apiserver/internal/rest"
	"kubelab.io/apiserver/internal/storage"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Config is the apiserver's configuration, filled from flags.
type Config struct {
	// DataDir holds the embedded etcd's data (DataDir/etcd) when EtcdServers is empty.
	DataDir string
	// CertDir holds the CA, serving and admin certificates and admin.kubeconfig.
	CertDir string
	// BindAddress and SecurePort are where HTTPS is served; port 0 picks a free one.
	BindAddress string
	SecurePort  int
	// GRPCPort is where gRPC (the Resources service) is served on BindAddress, with the same
	// serving certificate and client CA as HTTPS; port 0 picks a free one.
	GRPCPort int
	// AdvertiseAddress is the address written into kubeconfigs and serving-cert SANs;
	// empty means 127.0.0.1.
	AdvertiseAddress string
	// EtcdServers lists external etcd client URLs; empty starts an embedded etcd.
	EtcdServers []string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile secure the connection to an external etcd
	// (--etcd-cafile, --etcd-certfile, --etcd-keyfile): the CA that signed etcd's serving
	// certificates, and the client certificate etcd requires.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// AdmissionPlugins are the enabled admission plugins (--enable-admission-plugins). They
	// run in kubelab's fixed order (admissionOrder), whatever the order given, as in
	// kube-apiserver; nil means DefaultAdmissionPlugins.
	AdmissionPlugins []string
	// DisableAdmissionPlugins are turned off even when enabled (--disable-admission-plugins):
	// tests of an apiserver without a controller-manager, say, turn off ServiceAccount,
	// whose "default" accounts that controller creates.
	DisableAdmissionPlugins []string
	// DefaultNotReadyTolerationSeconds and DefaultUnreachableTolerationSeconds are how long
	// the DefaultTolerationSeconds plugin makes a pod tolerate the node.kubernetes.io/not-ready
	// and unreachable NoExecute taints (--default-not-ready-toleration-seconds,
	// --default-unreachable-toleration-seconds); nil means 300, as kube-apiserver's default.
	DefaultNotReadyTolerationSeconds, DefaultUnreachableTolerationSeconds *int64
	// AuthorizationModes are the authorizers, in order (--authorization-mode); nil means
	// DefaultAuthorizationModes. Members of system:masters are always allowed, as in
	// kube-apiserver.
	AuthorizationModes []string
	// TokenAuthFile is a static token file (token,user,uid,"groups"); empty turns bearer
	// tokens off.
	TokenAuthFile string
	// BasicAuthFile is a static password file (password,user,uid,"groups"); empty (the
	// default) turns basic authentication off. It is insecure, and exists for labs.
	BasicAuthFile string
	// AnonymousAuth lets requests without credentials through as system:anonymous in
	// system:unauthenticated; off, they get 401.
	AnonymousAuth bool
	// ServiceAccountSigningKeyFile is the PEM private key (RSA) service account tokens are
	// signed with (--service-account-signing-key-file); empty means CertDir/sa.key,
	// generated on first start and kept, as kubeadm's.
	ServiceAccountSigningKeyFile string
	// ServiceAccountKeyFiles hold the public keys (or certificates, or private keys) that
	// verify service account tokens (--service-account-key-file); empty means the signing
	// key's. List a retired key here to keep its tokens working through a rotation.
	ServiceAccountKeyFiles []string
	// ServiceAccountIssuers are the accepted "iss" of service account tokens; the first is
	// written into new ones (--service-account-issuer). Empty means
	// https://kubernetes.default.svc.cluster.local.
	ServiceAccountIssuers []string
	// APIAudiences are the audiences the API accepts tokens for and gives tokens that name
	// none (--api-audiences); empty means the issuers.
	APIAudiences []string
	// ServiceAccountMaxTokenExpiration caps the lifetime of requested tokens
	// (--service-account-max-token-expiration); 0 means no cap.
	ServiceAccountMaxTokenExpiration time.Duration
	// KubeletClientCertFile and KubeletClientKeyFile are the client certificate the
	// apiserver presents to kubelets (--kubelet-client-certificate, --kubelet-client-key);
	// empty, one for kube-apiserver-kubelet-client is issued into CertDir.
	KubeletClientCertFile, KubeletClientKeyFile string
	// KubeletCAFile verifies kubelets' serving certificates
	// (--kubelet-certificate-authority); empty means the cluster CA.
	KubeletCAFile string
	// ServiceClusterIPRange is the IPv4 CIDR Services' cluster IPs come from
	// (--service-cluster-ip-range); empty means 10.96.0.0/12, as kube-apiserver's default.
	// Its first address is the kubernetes service's.
	ServiceClusterIPRange string
	// ServiceNodePortRange is where NodePort and LoadBalancer services' node ports come from
	// (--service-node-port-range); empty means 30000-32767.
	ServiceNodePortRange string
	// AuditLogPath, when set, receives one JSON line per request (--audit-log-path).
	AuditLogPath string
	// UnsafeNoFsync makes the embedded etcd skip fsync (tests and benchmarks only).
	UnsafeNoFsync bool
	Log           *slog.Logger
}

// Server is a running apiserver.
type Server struct {
	cfg          Config
	log          *slog.Logger
	etcd         *storage.Embedded
	client       *clientv3.Client
	stops        []func()
	bundle       *pki.Bundle
	listener     net.Listener
	http         *http.Server
	grpcListener net.Listener
	grpc         *grpc.Server
	// cancelRequests ends every in-flight request (watches) on Close.
	cancelRequests context.CancelFunc
	audit          *audit.Logger
	Metrics        *metrics.Metrics
	Registry       *registry.Registry
	Stores         map[*registry.Resource]*registry.Store
	// admission is the chain every Store runs; buildAuthorizer puts RBAC's escalation check
	// in front of its validators.
	admission *admission.Chain
	// serviceAccounts signs and verifies service account tokens (set by buildAuthenticator).
	serviceAccounts *serviceAccounts
	// serviceAlloc gives Services their cluster IPs and node ports.
	serviceAlloc *servicealloc.Allocator
	// masterEndpoints keeps the kubernetes service's endpoints (nil until started).
	masterEndpoints *masterEndpoints
}

// DefaultAuthorizationModes are used unless --authorization-mode says otherwise.
var DefaultAuthorizationModes = []string{authz.ModeNode, authz.ModeRBAC}

// Start brings the server up and returns once it serves. Stop it with Close.
func Start(ctx context.Context, cfg Config) (s *Server, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.DataDir == "" && len(cfg.EtcdServers) == 0 {
		return nil, errors.New("either --data-dir (embedded etcd) or --etcd-servers is required")
	}
	if cfg.CertDir == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("--cert-dir is required with --etcd-servers")
		}
		cfg.CertDir = filepath.Join(cfg.DataDir, "pki")
	}
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = "127.0.0.1"
	}
	if cfg.AdmissionPlugins == nil {
		cfg.AdmissionPlugins = DefaultAdmissionPlugins
	}
	if cfg.AuthorizationModes == nil {
		cfg.AuthorizationModes = DefaultAuthorizationModes
	}
	s = &Server{cfg: cfg, log: cfg.Log, Metrics: metrics.New()}
	built := s // the named result is nil on a failed return; close what was built
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	start := time.Now()

	if err := s.startEtcd(ctx); err != nil {
		return nil, err
	}
	if s.listener, err = net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.SecurePort))); err != nil {
		return nil, fmt.Errorf("listen on port %d: %w", cfg.SecurePort, err)
	}
	port := s.listener.Addr().(*net.TCPAddr).Port
	advertise := url.URL{Scheme: "https", Host: net.JoinHostPort(cfg.AdvertiseAddress, strconv.Itoa(port))}
	s.bundle, err = pki.Ensure(pki.Config{Dir: cfg.CertDir, Hosts: s.servingHosts(), AdvertiseURL: advertise.String()})
	if err != nil {
		return nil, fmt.Errorf("certificates in %s: %w", cfg.CertDir, err)
	}
	for _, f := range s.bundle.Written {
		s.log.Info("wrote certificate file", "path", f)
	}
	if err := s.buildStores(ctx); err != nil {
		return nil, err
	}
	if s.serviceAlloc, err = s.serviceAllocator(); err != nil {
		return nil, err
	}
	if err := s.bootstrapNamespaces(ctx); err != nil {
		return nil, err
	}
	if err := s.bootstrapPriorityClasses(ctx); err != nil {
		return nil, err
	}
	if err := s.startMasterEndpoints(ctx); err != nil {
		return nil, err
	}

	authorizer, err := s.buildAuthorizer(ctx)
	if err != nil {
		return nil, err
	}
	authenticator, err := s.buildAuthenticator()
	if err != nil {
		return nil, err
	}
	kubelet, err := s.kubeletClient()
	if err != nil {
		return nil, err
	}
	p := &pipeline.Pipeline{Registry: s.Registry, Stores: s.Stores, Authorizer: authorizer, Kubelet: kubelet, Tokens: s.tokenIssuer()}
	if cfg.AuditLogPath != "" {
		if s.audit, err = audit.Open(cfg.AuditLogPath); err != nil {
			return nil, err
		}
	}
	restServer := rest.New(rest.Config{
		Pipeline:      p,
		Authenticator: authenticator,
		Metrics:       s.Metrics,
		Log:           s.log,
		Ready:         s.etcdReady,
		Audit:         s.audit,
		NonResource:   s.issuerDiscovery(),
	})
	reqCtx, cancel := context.WithCancel(context.Background())
	s.cancelRequests = cancel
	s.http = &http.Server{
		Handler:           restServer,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         s.servingTLS("h2", "http/1.1"),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func(srv *http.Server, l net.Listener) { // not s.http: Close may clear it first
		if err := srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("https server stopped", "err", err)
		}
	}(s.http, s.listener)
	if err := s.serveGRPC(reqCtx, p, authenticator); err != nil {
		return nil, err
	}
	s.log.Info("apiserver serving", "address", s.listener.Addr().String(), "grpc", s.grpcListener.Addr().String(), "advertise", advertise.String(),
		"kubeconfig", s.bundle.Paths.AdminKubeconfig, "startup", time.Since(start).Round(time.Millisecond).String())
	return s, nil
}

// URL is the server's HTTPS address.
func (s *Server) URL() string {
	return "https://" + net.JoinHostPort(s.cfg.AdvertiseAddress, strconv.Itoa(s.listener.Addr().(*net.TCPAddr).Port))
}

// GRPCAddr is the host:port of the gRPC front door, at the advertise address.
func (s *Server) GRPCAddr() string {
	return net.JoinHostPort(s.cfg.AdvertiseAddress, strconv.Itoa(s.grpcListener.Addr().(*net.TCPAddr).Port))
}

// servingTLS is the TLS configuration of both front doors: the serving certificate, and
// client certificates verified against the cluster CA when the client sends one. Each
// server gets its own copy, since net/http amends the one it is given.
func (s *Server) servingTLS(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.bundle.ServingCert},
		ClientCAs:    s.bundle.CAPool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		NextProtos:   nextProtos,
	}
}

// serveGRPC starts the gRPC front door on its own listener, with the same pipeline,
// authenticator and certificates as REST. Cancelling reqCtx ends its watches, as it does
// REST's.
func (s *Server) serveGRPC(reqCtx context.Context, p *pipeline.Pipeline, authenticator *authn.Chain) error {
	var err error
	if s.grpcListener, err = net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.GRPCPort))); err != nil {
		return fmt.Errorf("listen on gRPC port %d: %w", s.cfg.GRPCPort, err)
	}
	s.grpc = grpcapi.New(grpcapi.Config{
		Pipeline:      p,
		Authenticator: authenticator,
		Log:           s.log,
		Context:       reqCtx,
		Audit:         s.audit,
	}, grpc.Creds(credentials.NewTLS(s.servingTLS("h2"))))
	go func(srv *grpc.Server, l net.Listener) {
		if err := srv.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc server stopped", "err", err)
		}
	}(s.grpc, s.grpcListener)
	return nil
}

// AdminKubeconfig is the path of the admin kubeconfig.
func (s *Server) AdminKubeconfig() string { return s.bundle.Paths.AdminKubeconfig }

// Bundle is the server's certificate bundle (tests issue client certificates from it).
func (s *Server) Bundle() *pki.Bundle { return s.bundle }

// EtcdClient is the server's etcd client (tests and benchmarks compare against raw etcd).
func (s *Server) EtcdClient() *clientv3.Client { return s.client }

func (s *Server) startEtcd(ctx context.Context) error {
	endpoints := s.cfg.EtcdServers
	if len(endpoints) == 0 {
		var err error
		s.etcd, err = storage.StartEmbedded(ctx, storage.EmbeddedConfig{
			DataDir: filepath.Join(s.cfg.DataDir, "etcd"), Logger: s.log, UnsafeNoFsync: s.cfg.UnsafeNoFsync,
		})
		if err != nil {
			return fmt.Errorf("embedded etcd: %w", err)
		}
		endpoints = s.etcd.Endpoints()
	}
	tlsCfg, err := s.etcdTLS()
	if err != nil {
		return err
	}
	c, err := storage.NewTLSClient(endpoints, tlsCfg)
	if err != nil {
		return err
	}
	s.client = c
	return nil
}

// etcdTLS builds the etcd client's TLS settings from the --etcd-* files; nil when none are
// set (plain connections).
func (s *Server) etcdTLS() (*tls.Config, error) {
	if s.cfg.EtcdCAFile == "" && s.cfg.EtcdCertFile == "" && s.cfg.EtcdKeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.EtcdCAFile != "" {
		pem, err := os.ReadFile(s.cfg.EtcdCAFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cafile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-cafile %s holds no PEM certificate", s.cfg.EtcdCAFile)
		}
		cfg.RootCAs = pool
	}
	if (s.cfg.EtcdCertFile == "") != (s.cfg.EtcdKeyFile == "") {
		return nil, errors.New("--etcd-certfile and --etcd-keyfile must be given together")
	}
	if s.cfg.EtcdCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.EtcdCertFile, s.cfg.EtcdKeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s *Server) etcdReady(ctx context.Context) error {
	_, err := s.client.Get(ctx, "/registry/health", clientv3.WithCountOnly())
	return err
}

// buildStores builds one registry Store per resource, then the admission chain they all
// share (plugins read other resources through the stores, so the chain is filled in last).
func (s *Server) buildStores(ctx context.Context) error {
	s.Registry = registry.NewRegistry()
	s.Stores = map[*registry.Resource]*registry.Store{}
	chain := &admission.Chain{}
	s.admission = chain
	for _, res := range registry.Resources() {
		if err := s.Registry.Add(res); err != nil {
			return err
		}
		if res.Virtual {
			s.Stores[res] = &registry.Store{Resource: res, Admission: chain, Log: s.log}
			continue
		}
		kind := res.Kind
		st, stop, err := storage.NewResource(ctx, s.client, storage.ResourceConfig{
			Prefix: res.Prefix(),
			NewFunc: func() runtime.Object {
				obj, _ := scheme.Scheme.New(kind)
				return obj
			},
			Logger: s.log,
		})
		if err != nil {
			return fmt.Errorf("storage for %s: %w", res.Plural, err)
		}
		s.stops = append(s.stops, stop)
		s.Stores[res] = &registry.Store{Resource: res, Storage: st, Admission: chain, Log: s.log}
	}
	plugins, err := s.buildAdmission(ctx)
	if err != nil {
		return err
	}
	*chain = plugins
	return nil
}

// store returns the Store of a resource by group and plural.
func (s *Server) store(group, plural string) *registry.Store {
	res, ok := s.Registry.Lookup(group, "v1", plural)
	if !ok {
		panic("no resource " + group + "/" + plural) // a registration is missing: a programming error
	}
	return s.Stores[res]
}

// cachedGet reads an object from its resource's watch cache, falling back to etcd when the
// cache does not hold it (written a moment ago through another server).
func cachedGet(ctx context.Context, st *registry.Store, namespace, name string) (runtime.Object, error) {
	if cg, ok := st.Storage.(storage.CachedGetter); ok {
		if obj, err := cg.GetCached(ctx, st.Resource.Key(namespace, name)); err == nil {
			return obj, nil
		}
	}
	return st.Get(ctx, namespace, name)
}

// bootstrapNamespaces creates the namespaces every cluster has, when missing.
func (s *Server) bootstrapNamespaces(ctx context.Context) error {
	store := s.store("", "namespaces")
	for _, name := range namespacelifecycle.Immortal {
		ns := &corev1.Namespace{Kind: "Namespace", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name}}
		if _, err := store.Create(ctx, "", ns, registry.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// Close stops serving, then storage, then etcd. It may be called more than once.
func (s *Server) Close() {
	defer func() {
		_ = s.audit.Close() // after both front doors stopped writing
		s.audit = nil
	}()
	if s.masterEndpoints != nil {
		s.masterEndpoints.close() // out of the kubernetes endpoints while storage still works
		s.masterEndpoints = nil
	}
	if s.cancelRequests != nil {
		s.cancelRequests() // watches end now; clients re-watch elsewhere or after restart
	}
	if s.grpc != nil {
		stopGRPC(s.grpc, 5*time.Second)
		s.grpc = nil
	} else if s.grpcListener != nil {
		_ = s.grpcListener.Close()
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close()
		}
		cancel()
		s.http = nil
	} else if s.listener != nil {
		_ = s.listener.Close()
	}
	for _, stop := range s.stops {
		stop()
	}
	s.stops = nil
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// stopGRPC lets in-flight calls finish for up to timeout, then cuts them off.
func stopGRPC(srv *grpc.Server, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		srv.Stop()
		<-done
	}
}

// Wait blocks until ctx ends, then closes the server.
func (s *Server) Wait(ctx context.Context) {
	<-ctx.Done()
	s.log.Info("apiserver shutting down")
	s.Close()
}
