// Package app is the scheduler command: flags named as kube-scheduler's, one clientset
// (gRPC by default), an optional KubeSchedulerConfiguration file, Lease leader election
// (kube-system/kube-scheduler), and /healthz and /metrics on --secure-port. kubelab serves
// that port over plain HTTP (kube-scheduler serves HTTPS with delegated authn/authz).
//
// Crash-only: losing the lease ends Run with an error; the process exits and restarts
// clean, since its queue and assumed pods may hold work the new leader now owns.
package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/leaderelection"
	"kubelab.io/client/record"
	"kubelab.io/proto/logsink"
	"kubelab.io/scheduler/internal/config"
	"kubelab.io/scheduler/internal/metrics"
	"kubelab.io/scheduler/internal/scheduler"
)

type options struct {
	kubeconfig  string
	configFile  string
	grpc        bool
	grpcAddress string
	qps         float64
	burst       int
	bindAddress string
	securePort  int
	logLevel    string
	profiling   bool
	// leaderElection.Identity is also the Host of the scheduler's Events.
	leaderElection leaderelection.Options
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: the config file's clientConnection.kubeconfig, $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.configFile, "config", "", "path to a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file")
	fs.BoolVar(&o.grpc, "grpc", true, "talk to the apiserver over gRPC/protobuf (false: REST/JSON)")
	fs.StringVar(&o.grpcAddress, "grpc-address", "", "host:port of the apiserver's gRPC port (default: the kubeconfig server's host, port 6444)")
	fs.Float64Var(&o.qps, "kube-api-qps", -1, "QPS to use while talking with the apiserver (negative: no limit; bindings and events are the scheduler's throughput)")
	fs.IntVar(&o.burst, "kube-api-burst", 100, "burst to use while talking with the apiserver")
	fs.StringVar(&o.bindAddress, "bind-address", "0.0.0.0", "address to serve /healthz and /metrics on")
	fs.IntVar(&o.securePort, "secure-port", 10259, "port to serve /healthz and /metrics on, over plain HTTP in kubelab (0 disables)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	// Off by default, unlike kube-scheduler's: kubelab serves this port over plain HTTP
	// without authentication, and a profile endpoint costs CPU to whoever can reach it.
	fs.BoolVar(&o.profiling, "profiling", false, "also serve /debug/pprof/ on --secure-port (unauthenticated: bind it to a local address)")
	o.leaderElection.AddFlags(fs, "kube-scheduler", "schedule only while holding the leader Lease (for replicated schedulers)")
	fs.StringVar(&o.leaderElection.Identity, "leader-elect-identity", "", "this replica's identity in the Lease (default: hostname_random)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := o.leaderElection.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// Run is the scheduler command: it parses args, then schedules until ctx ends (nil) or
// something fails, including the loss of the leader lease (an error).
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Through a logsink: a stderr nobody reads any more costs log lines, not the scheduler
	// (written directly, a full pipe would stall every goroutine that logs).
	logs := logsink.New(stderr, 8192)
	defer logs.Flush(time.Second)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("component", "scheduler")
	cfg, err := config.Load(o.configFile)
	if err != nil {
		return err
	}
	if le := cfg.LeaderElection; le != nil {
		o.applyLeaderElection(le)
	}
	kubeconfig := o.kubeconfig
	if kubeconfig == "" && cfg.ClientConnection != nil {
		kubeconfig = cfg.ClientConnection.Kubeconfig
	}
	cs, err := kube.NewForConfigFile(kubeconfig, kube.Options{
		GRPC: o.grpc, GRPCAddress: o.grpcAddress, QPS: float32(o.qps), Burst: o.burst, UserAgent: "kube-scheduler",
	})
	if err != nil {
		return err
	}
	defer cs.Close()
	le := &o.leaderElection
	if le.Identity == "" {
		le.Identity = leaderelection.DefaultIdentity()
	}

	var current atomic.Pointer[metrics.Metrics]
	serveErr := make(chan error, 1)
	if o.securePort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(o.bindAddress, strconv.Itoa(o.securePort)))
		if err != nil {
			return fmt.Errorf("serve /healthz and /metrics: %w", err)
		}
		handler := Handler(&current)
		if o.profiling {
			handler = withProfiling(handler)
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		log.Info("serving /healthz and /metrics over plain HTTP", "address", ln.Addr().String())
		go func() { serveErr <- srv.Serve(ln) }()
		defer srv.Close()
	}
	return le.Run(ctx, cs.Transport(), log, serveErr, func(ctx context.Context) error {
		return runScheduler(ctx, cs, cfg, le.Identity, log, &current)
	})
}

// applyLeaderElection lets the config file's leaderElection fields override the flags.
func (o *options) applyLeaderElection(le *config.LeaderElection) {
	to := &o.leaderElection
	if le.LeaderElect != nil {
		to.LeaderElect = *le.LeaderElect
	}
	if le.LeaseDuration.Duration != 0 {
		to.LeaseDuration = le.LeaseDuration.Duration
	}
	if le.RenewDeadline.Duration != 0 {
		to.RenewDeadline = le.RenewDeadline.Duration
	}
	if le.RetryPeriod.Duration != 0 {
		to.RetryPeriod = le.RetryPeriod.Duration
	}
	if le.ResourceNamespace != "" {
		to.ResourceNamespace = le.ResourceNamespace
	}
	if le.ResourceName != "" {
		to.ResourceName = le.ResourceName
	}
}

// Handler serves /healthz and the current scheduler's /metrics.
func Handler(current *atomic.Pointer[metrics.Metrics]) http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	}
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/livez", ok)
	mux.HandleFunc("/readyz", ok)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		m := current.Load()
		if m == nil {
			// Not leading yet: an empty set of the scheduler's series.
			m = metrics.New(nil)
		}
		m.Handler().ServeHTTP(w, r)
	})
	return mux
}

// withProfiling adds net/http/pprof's /debug/pprof/ endpoints in front of h.
func withProfiling(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}

// runScheduler builds informers, the event recorder and the scheduler, and schedules until
// ctx ends.
func runScheduler(ctx context.Context, cs *kube.Clientset, cfg *config.Configuration, identity string, log *slog.Logger, current *atomic.Pointer[metrics.Metrics]) error {
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: config.DefaultSchedulerName, Host: identity, Log: log})
	s, err := scheduler.New(scheduler.Config{
		Client: scheduler.NewClient(cs), Informers: factory, Recorder: rec, Configuration: cfg, Log: log,
	})
	if err != nil {
		return err
	}
	current.Store(s.Metrics())
	go rec.Run(ctx)
	factory.Start(ctx)
	defer factory.Shutdown()
	s.Run(ctx)
	return nil
}
