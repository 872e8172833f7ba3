// Package app is the cluster DNS command, what CoreDNS is in a kubeadm cluster with its
// Corefile's plugins: `kubernetes cluster.local in-addr.arpa ip6.arpa` (records from the
// watched Services, EndpointSlices and Namespaces; `pods insecure`; reverse names fall
// through), `forward . /etc/resolv.conf`, `health` (:8080/health), `ready` (:8181/ready,
// 200 once the caches synced) and `prometheus :9153`, DNS on :53 over UDP and TCP.
//
// It reaches the apiserver from inside its pod with the service account (KUBERNETES_SERVICE_HOST
// and _PORT, the token and ca.crt; REST, as the `kubernetes` Service carries only the HTTPS
// port), or with --kubeconfig from outside one. State comes only from the watch: killed at any
// point, it answers again from a fresh list once restarted.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/rest"
	"kubelab.io/client/transport"
	"kubelab.io/dns/internal/incluster"
	"kubelab.io/dns/internal/kubeview"
	"kubelab.io/dns/internal/metrics"
	"kubelab.io/dns/internal/records"
	"kubelab.io/dns/internal/server"
	"kubelab.io/proto/logsink"
)

// Options are the command's flags.
type Options struct {
	Kubeconfig     string
	GRPC           bool
	GRPCAddress    string
	ServiceAccount string
	ClusterDomain  string
	TTL            uint
	DNSAddress     string
	HealthAddress  string
	ReadyAddress   string
	MetricsAddress string
	Upstream       string
	ResolvConf     string
	Lameduck       time.Duration
	LogLevel       string
}

func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig to reach the apiserver with (default: in-cluster, from the pod's service account)")
	fs.BoolVar(&o.GRPC, "grpc", false, "with --kubeconfig: talk to the apiserver over gRPC/protobuf instead of REST/JSON")
	fs.StringVar(&o.GRPCAddress, "grpc-address", "", "with --grpc: host:port of the apiserver's gRPC port (default: the kubeconfig server's host, port 6444)")
	fs.StringVar(&o.ServiceAccount, "service-account-dir", incluster.ServiceAccountDir, "in-cluster: the directory of the service account's token, ca.crt and namespace")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain (the kubelet's --cluster-domain)")
	fs.UintVar(&o.TTL, "ttl", 5, "TTL in seconds of the cluster's records (CoreDNS's kubernetes plugin default; 0-3600)")
	fs.StringVar(&o.DNSAddress, "dns-address", ":53", "ip:port to answer DNS on, over UDP and TCP")
	fs.StringVar(&o.HealthAddress, "health-address", ":8080", "ip:port of /health, 200 while the process serves (empty: off)")
	fs.StringVar(&o.ReadyAddress, "ready-address", ":8181", "ip:port of /ready, 200 once the caches hold the first list (empty: off)")
	fs.StringVar(&o.MetricsAddress, "metrics-address", ":9153", "ip:port of /metrics (empty: off)")
	fs.StringVar(&o.Upstream, "upstream", "", "comma-separated nameservers (ip or ip:port) for names outside the cluster (default: --resolv-conf's)")
	fs.StringVar(&o.ResolvConf, "resolv-conf", "/etc/resolv.conf", "resolv.conf whose nameservers get the names outside the cluster")
	fs.DurationVar(&o.Lameduck, "lameduck", 5*time.Second, "on SIGTERM: keep answering this long, /ready failing, before stopping (CoreDNS's health lameduck)")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if _, ok := dns.IsDomainName(o.ClusterDomain); !ok || o.ClusterDomain == "" || o.ClusterDomain == "." {
		return nil, fmt.Errorf("--cluster-domain %q is not a domain name", o.ClusterDomain)
	}
	if o.TTL > 3600 {
		return nil, fmt.Errorf("--ttl %d: want 0 to 3600", o.TTL)
	}
	if o.Upstream != "" {
		if _, err := server.ParseUpstreams(o.Upstream); err != nil {
			return nil, fmt.Errorf("--upstream: %w", err)
		}
	}
	return o, nil
}

// Run is the dns command: it parses args, serves until ctx ends, then keeps answering for
// --lameduck with /ready failing, and returns nil.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Through a logsink: a stderr nobody reads any more costs log lines, not answers.
	logs := logsink.New(stderr, 8192)
	defer logs.Flush(time.Second)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("component", "dns")

	s, err := Start(ctx, o, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-s.errc:
		s.Stop()
		return err
	}
	log.Info("stopping: lameduck", "for", o.Lameduck)
	s.lameduck.Store(true)
	time.Sleep(o.Lameduck)
	s.Stop()
	return nil
}

// Server is a started DNS server.
type Server struct {
	log      *slog.Logger
	dnsAddr  string
	httpAddr map[string]string
	closers  []func()
	cancel   context.CancelFunc
	factory  *informers.SharedInformerFactory
	view     *kubeview.View
	lameduck atomic.Bool
	errc     chan error
}

// DNSAddr is where DNS is answered (UDP and TCP, the same port).
func (s *Server) DNSAddr() string { return s.dnsAddr }

// HTTPAddr is where path ("/health", "/ready", "/metrics") is served, "" when off.
func (s *Server) HTTPAddr(path string) string { return s.httpAddr[path] }

// Ready reports whether /ready answers 200.
func (s *Server) Ready() bool { return s.view.Synced() && !s.lameduck.Load() }

// Stop stops serving and watching.
func (s *Server) Stop() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// Start connects to the apiserver, starts the watches and binds every listener; the caller
// stops it with Stop.
func Start(ctx context.Context, o *Options, log *slog.Logger) (_ *Server, err error) {
	t, closeT, err := apiTransport(o)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log, httpAddr: map[string]string{}, errc: make(chan error, 1)}
	s.closers = append(s.closers, closeT)
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	upstreams, err := upstreams(o)
	if err != nil {
		return nil, err
	}
	if len(upstreams) == 0 {
		log.Warn("no upstream nameservers: names outside the cluster get SERVFAIL", "resolvConf", o.ResolvConf)
	}

	// The watches outlive ctx: the lameduck after it still answers from them. Stop ends them.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.closers = append(s.closers, cancel)
	s.factory = informers.NewSharedInformerFactory(t, 0, informers.WithLogger(log))
	if s.view, err = kubeview.New(s.factory, nil); err != nil {
		return nil, err
	}
	m := metrics.New()
	resolver := records.New(records.Config{Zone: o.ClusterDomain, TTL: uint32(o.TTL)}, s.view)
	h := server.NewHandler(server.Config{
		Resolver: resolver, Forwarder: &server.Forwarder{Upstreams: upstreams},
		Metrics: m, Log: log, Server: "dns://" + o.DNSAddress,
	})

	if err := s.serveDNS(o.DNSAddress, h); err != nil {
		return nil, err
	}
	health := http.NewServeMux()
	health.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "OK") })
	ready := http.NewServeMux()
	ready.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "kubernetes")
			return
		}
		_, _ = io.WriteString(w, "OK")
	})
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	for _, l := range []struct {
		addr, path string
		h          http.Handler
	}{{o.HealthAddress, "/health", health}, {o.ReadyAddress, "/ready", ready}, {o.MetricsAddress, "/metrics", mux}} {
		if l.addr == "" {
			continue
		}
		if err := s.serveHTTP(l.addr, l.path, l.h); err != nil {
			return nil, err
		}
	}

	s.factory.Start(ctx)
	s.closers = append(s.closers, s.factory.Shutdown)
	log.Info("serving", "zone", resolver.Zone(), "dns", s.dnsAddr, "upstreams", upstreams, "ttl", o.TTL)
	go func() {
		if len(s.factory.WaitForCacheSync(ctx)) > 0 && s.view.Synced() {
			log.Info("caches synced: ready")
		}
	}()
	return s, nil
}

// serveDNS binds UDP and TCP on one port (the UDP one's, when addr asks for any).
func (s *Server) serveDNS(addr string, h dns.Handler) error {
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 10 {
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		tcpAddr := addr
		if host, port, _ := net.SplitHostPort(addr); port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		if ln, err = net.Listen("tcp", tcpAddr); err == nil {
			break
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			return fmt.Errorf("dns: listen tcp %s: %w", addr, err)
		}
	}
	if err != nil {
		return fmt.Errorf("dns: listen tcp %s: %w", addr, err)
	}
	s.dnsAddr = ln.Addr().String()
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		failed := make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
				s.fail(fmt.Errorf("dns: serve: %w", err))
			}
		}()
		// A server that fails before it starts never calls NotifyStartedFunc.
		select {
		case <-started:
		case err := <-failed:
			return fmt.Errorf("dns: serve: %w", err)
		}
		s.closers = append(s.closers, func() { _ = srv.Shutdown() })
	}
	return nil
}

// fail reports a server's end to Run, which acts on the first: later ones are dropped
// rather than left blocking their goroutines.
func (s *Server) fail(err error) {
	select {
	case s.errc <- err:
	default:
	}
}

func (s *Server) serveHTTP(addr, path string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve %s: %w", path, err)
	}
	s.httpAddr[path] = ln.Addr().String()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serve %s: %w", path, err))
		}
	}()
	s.closers = append(s.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return nil
}

// apiTransport is the client the watches use: --kubeconfig's, else the pod's service account.
func apiTransport(o *Options) (transport.Interface, func(), error) {
	opts := kube.Options{UserAgent: "coredns", QPS: 20, Burst: 40, GRPC: o.GRPC, GRPCAddress: o.GRPCAddress}
	if o.Kubeconfig != "" {
		cs, err := kube.NewForConfigFile(o.Kubeconfig, opts)
		if err != nil {
			return nil, nil, err
		}
		return cs.Transport(), func() { _ = cs.Close() }, nil
	}
	cfg, err := incluster.Config(o.ServiceAccount, os.Getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (or give --kubeconfig)", err)
	}
	t, err := incluster.NewTransport(incluster.TransportConfig{
		REST: cfg, TokenFile: filepath.Join(o.ServiceAccount, "token"),
		Options: rest.Options{UserAgent: opts.UserAgent, QPS: opts.QPS, Burst: opts.Burst},
	})
	if err != nil {
		return nil, nil, err
	}
	return t, func() { _ = t.Close() }, nil
}

func upstreams(o *Options) ([]string, error) {
	if o.Upstream != "" {
		return server.ParseUpstreams(o.Upstream)
	}
	b, err := os.ReadFile(o.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("--resolv-conf: %w", err)
	}
	return server.ResolvConfUpstreams(b), nil
}
