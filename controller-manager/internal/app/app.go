// Package app is the controller-manager: flags named as kube-controller-manager's, one
// clientset (gRPC by default), Lease leader election, and the controllers --controllers
// selects, all sharing one informer factory and started only while this process leads.
//
// Crash-only: losing the lease ends Run with an error (the process exits and restarts
// clean), since caches and queues may hold work another leader now owns.
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/leaderelection"
	"kubelab.io/client/record"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/endpointslice"
	"kubelab.io/controller-manager/internal/rootcacertpublisher"
	"kubelab.io/proto/logsink"
)

// Runnable is a built controller: Run starts its workers after its informers synced and
// returns when ctx ends.
type Runnable interface {
	Run(ctx context.Context, workers int)
}

// InitFunc builds one controller on the shared context and says how many workers it runs.
// It only registers informer handlers; informers start after every controller is built.
type InitFunc func(ctx context.Context, cc *controllerctx.Context) (Runnable, int, error)

// Init adapts a controller package's New to an InitFunc, with its worker count taken from
// the options.
func Init[C Runnable](newFn func(context.Context, *controllerctx.Context) (C, error), workers func(controllerctx.Options) int) InitFunc {
	return func(ctx context.Context, cc *controllerctx.Context) (Runnable, int, error) {
		c, err := newFn(ctx, cc)
		if err != nil {
			return nil, 0, err
		}
		return c, workers(cc.Options), nil
	}
}

// OneWorker is the worker count of controllers that run a single loop.
func OneWorker(controllerctx.Options) int { return 1 }

// KnownControllers are the names --controllers accepts, all enabled by "*".
var KnownControllers = []string{"deployment", "replicaset", "garbagecollector", "namespace", "nodelifecycle", "nodeipam", "resourcequota", "disruption",
	"job", "ttl-after-finished", "cronjob", "serviceaccount", "root-ca-cert-publisher", "clusterrole-aggregation", "endpointslice", "endpoint", "daemonset", "statefulset", "pod-garbage-collector",
	"pvc-protection", "pv-protection", "persistentvolume-binder", "ephemeral-volume", "local-path-provisioner"}

// options are the parsed flags.
type options struct {
	kubeconfig  string
	grpc        bool
	grpcAddress string
	qps         float64
	burst       int
	controllers string
	resync      time.Duration
	bindAddress string
	securePort  int
	logLevel    string
	// leaderElection.Identity is set by tests only (default hostname_random).
	leaderElection leaderelection.Options
	controllerOp   controllerctx.Options

	// started, if set, is called once the informers and controllers of a leader started.
	started func()
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{controllerOp: controllerctx.DefaultOptions()}
	fs := flag.NewFlagSet("controller-manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	co := &o.controllerOp
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig (default $KUBECONFIG, then ~/.kube/config)")
	fs.BoolVar(&o.grpc, "grpc", true, "talk to the apiserver over gRPC/protobuf (false: REST/JSON)")
	fs.StringVar(&o.grpcAddress, "grpc-address", "", "host:port of the apiserver's gRPC port (default: the kubeconfig server's host, port 6444)")
	fs.Float64Var(&o.qps, "kube-api-qps", 20, "QPS to use while talking with the apiserver")
	fs.IntVar(&o.burst, "kube-api-burst", 30, "burst to use while talking with the apiserver")
	fs.StringVar(&o.controllers, "controllers", "*", "controllers to enable: '*' enables all, 'foo' enables foo, '-foo' disables foo; known: "+strings.Join(KnownControllers, ", "))
	fs.DurationVar(&o.resync, "min-resync-period", 12*time.Hour, "how often informers re-deliver every cached object to the controllers (0 disables)")
	fs.StringVar(&o.bindAddress, "bind-address", "0.0.0.0", "address to serve /healthz and /metrics on")
	fs.IntVar(&o.securePort, "secure-port", 10257, "port to serve /healthz and /metrics on, over plain HTTP in kubelab (0 disables)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	o.leaderElection.AddFlags(fs, "kube-controller-manager", "run only while holding the leader Lease (for replicated controller-managers)")
	fs.IntVar(&co.ConcurrentDeploymentSyncs, "concurrent-deployment-syncs", co.ConcurrentDeploymentSyncs, "deployments synced concurrently")
	fs.IntVar(&co.ConcurrentReplicaSetSyncs, "concurrent-replicaset-syncs", co.ConcurrentReplicaSetSyncs, "replica sets synced concurrently")
	fs.IntVar(&co.ConcurrentGCSyncs, "concurrent-gc-syncs", co.ConcurrentGCSyncs, "garbage collector workers")
	fs.IntVar(&co.ConcurrentNamespaceSyncs, "concurrent-namespace-syncs", co.ConcurrentNamespaceSyncs, "namespaces synced concurrently")
	fs.IntVar(&co.ConcurrentJobSyncs, "concurrent-job-syncs", co.ConcurrentJobSyncs, "jobs synced concurrently")
	fs.IntVar(&co.ConcurrentDaemonSetSyncs, "concurrent-daemonset-syncs", co.ConcurrentDaemonSetSyncs, "daemon sets synced concurrently")
	fs.IntVar(&co.ConcurrentStatefulSetSyncs, "concurrent-statefulset-syncs", co.ConcurrentStatefulSetSyncs, "stateful sets synced concurrently")
	fs.IntVar(&co.ConcurrentTTLSyncs, "concurrent-ttl-after-finished-syncs", co.ConcurrentTTLSyncs, "finished jobs checked for TTL expiry concurrently")
	fs.IntVar(&co.ConcurrentCronJobSyncs, "concurrent-cron-job-syncs", co.ConcurrentCronJobSyncs, "cron jobs synced concurrently")
	fs.IntVar(&co.ConcurrentResourceQuotaSyncs, "concurrent-resource-quota-syncs", co.ConcurrentResourceQuotaSyncs, "resource quotas synced concurrently")
	fs.IntVar(&co.ConcurrentServiceEndpointSyncs, "concurrent-service-endpoint-syncs", co.ConcurrentServiceEndpointSyncs, "services whose EndpointSlices are synced concurrently (1-50)")
	fs.IntVar(&co.ConcurrentEndpointSyncs, "concurrent-endpoint-syncs", co.ConcurrentEndpointSyncs, "services whose Endpoints are synced concurrently")
	fs.IntVar(&co.MaxEndpointsPerSlice, "max-endpoints-per-slice", co.MaxEndpointsPerSlice, "most endpoints the endpointslice controller puts in one EndpointSlice (1-1000)")
	fs.DurationVar(&co.EndpointUpdatesBatchPeriod, "endpoint-updates-batch-period", co.EndpointUpdatesBatchPeriod, "how long the endpoints controller waits after a pod change before syncing its services, to write several changes at once")
	fs.DurationVar(&co.EndpointSliceUpdatesBatchPeriod, "endpointslice-updates-batch-period", co.EndpointSliceUpdatesBatchPeriod, "how long the endpointslice controller waits after a pod change before syncing its services, to write several changes at once")
	fs.DurationVar(&co.ResourceQuotaSyncPeriod, "resource-quota-sync-period", co.ResourceQuotaSyncPeriod, "how often every quota's usage is recomputed from its namespace's pods (0 disables)")
	fs.IntVar(&co.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", co.TerminatedPodGCThreshold, "number of terminated pods that can exist before the terminated pod garbage collector starts deleting terminated pods; if <= 0, the terminated pod garbage collector is disabled")
	fs.StringVar(&co.ClusterCIDR, "cluster-cidr", co.ClusterCIDR, "CIDR range of pods; each node gets a slice")
	fs.IntVar(&co.NodeCIDRMaskSize, "node-cidr-mask-size", co.NodeCIDRMaskSize, "prefix length of each node's pod CIDR")
	fs.DurationVar(&co.NodeMonitorGracePeriod, "node-monitor-grace-period", co.NodeMonitorGracePeriod, "how long a node may go without a heartbeat before it is marked unhealthy")
	fs.DurationVar(&co.NodeMonitorPeriod, "node-monitor-period", co.NodeMonitorPeriod, "how often node health is checked")
	fs.Int64Var(&co.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", co.DefaultNotReadyTolerationSeconds, "tolerationSeconds of the default not-ready:NoExecute toleration")
	fs.Int64Var(&co.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", co.DefaultUnreachableTolerationSeconds, "tolerationSeconds of the default unreachable:NoExecute toleration")
	fs.Float64Var(&co.NodeEvictionRate, "node-eviction-rate", co.NodeEvictionRate, "nodes per second given a NoExecute taint in a healthy zone, or in a fully disrupted one while another zone is healthy")
	fs.Float64Var(&co.SecondaryNodeEvictionRate, "secondary-node-eviction-rate", co.SecondaryNodeEvictionRate, "nodes per second given a NoExecute taint in a partially disrupted zone larger than --large-cluster-size-threshold")
	fs.IntVar(&co.LargeClusterSizeThreshold, "large-cluster-size-threshold", co.LargeClusterSizeThreshold, "zones of more nodes than this use --secondary-node-eviction-rate when partially disrupted; smaller ones stop tainting")
	fs.StringVar(&co.RootCAFile, "root-ca-file", "", "PEM-encoded CA bundle the root-ca-cert-publisher puts in every namespace's kube-root-ca.crt ConfigMap (ca.crt); when empty, the CA of --kubeconfig's cluster: its certificate-authority-data, else the certificate-authority file")
	fs.StringVar(&co.LocalPathHelperImage, "local-path-helper-image", co.LocalPathHelperImage, "image of the kubelab.io/local-path provisioner's helper pods, which remove a deleted volume's directory on its node (needs /usr/local/bin/kubelab-tool, as kubelab's nginx image has)")
	fs.Float64Var(&co.UnhealthyZoneThreshold, "unhealthy-zone-threshold", co.UnhealthyZoneThreshold, "fraction of not-ready nodes (more than 2) at which a zone counts as partially disrupted")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := o.leaderElection.Validate(); err != nil {
		return nil, err
	}
	for name, n := range map[string]int{
		"concurrent-deployment-syncs": co.ConcurrentDeploymentSyncs, "concurrent-replicaset-syncs": co.ConcurrentReplicaSetSyncs,
		"concurrent-gc-syncs": co.ConcurrentGCSyncs, "concurrent-namespace-syncs": co.ConcurrentNamespaceSyncs,
		"concurrent-resource-quota-syncs": co.ConcurrentResourceQuotaSyncs, "concurrent-job-syncs": co.ConcurrentJobSyncs,
		"concurrent-ttl-after-finished-syncs": co.ConcurrentTTLSyncs, "concurrent-cron-job-syncs": co.ConcurrentCronJobSyncs,
		"concurrent-service-endpoint-syncs": co.ConcurrentServiceEndpointSyncs, "concurrent-endpoint-syncs": co.ConcurrentEndpointSyncs,
		"max-endpoints-per-slice": co.MaxEndpointsPerSlice, "concurrent-daemonset-syncs": co.ConcurrentDaemonSetSyncs,
		"concurrent-statefulset-syncs": co.ConcurrentStatefulSetSyncs,
	} {
		if n < 1 {
			return nil, fmt.Errorf("--%s must be at least 1, got %d", name, n)
		}
	}
	// Upstream's limits: more workers than this only contend, and a slice holds at most 1000.
	if co.ConcurrentServiceEndpointSyncs > 50 {
		return nil, fmt.Errorf("--concurrent-service-endpoint-syncs must not be more than 50, got %d", co.ConcurrentServiceEndpointSyncs)
	}
	if co.MaxEndpointsPerSlice > endpointslice.MaxEndpointsPerSliceLimit {
		return nil, fmt.Errorf("--max-endpoints-per-slice must not be more than %d, got %d", endpointslice.MaxEndpointsPerSliceLimit, co.MaxEndpointsPerSlice)
	}
	if co.EndpointUpdatesBatchPeriod < 0 || co.EndpointSliceUpdatesBatchPeriod < 0 {
		return nil, errors.New("--endpoint-updates-batch-period and --endpointslice-updates-batch-period must not be negative")
	}
	if co.ResourceQuotaSyncPeriod < 0 {
		return nil, fmt.Errorf("--resource-quota-sync-period must not be negative, got %v", co.ResourceQuotaSyncPeriod)
	}
	if co.NodeEvictionRate < 0 || co.SecondaryNodeEvictionRate < 0 || co.LargeClusterSizeThreshold < 0 {
		return nil, fmt.Errorf("--node-eviction-rate, --secondary-node-eviction-rate and --large-cluster-size-threshold must not be negative")
	}
	if co.UnhealthyZoneThreshold <= 0 || co.UnhealthyZoneThreshold > 1 {
		return nil, fmt.Errorf("--unhealthy-zone-threshold must be in (0, 1], got %v", co.UnhealthyZoneThreshold)
	}
	if _, _, err := net.ParseCIDR(co.ClusterCIDR); err != nil {
		return nil, fmt.Errorf("--cluster-cidr: %w", err)
	}
	return o, nil
}

// EnabledControllers resolves a --controllers value against KnownControllers, as
// kube-controller-manager does: "*" turns every controller on, "name" one on, "-name" one
// off (a disabling entry wins). The result is sorted.
func EnabledControllers(spec string) ([]string, error) {
	all, on, off := false, map[string]bool{}, map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "*":
			all = true
		case strings.HasPrefix(item, "-"):
			name := item[1:]
			if !slices.Contains(KnownControllers, name) {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", name, strings.Join(KnownControllers, ", "))
			}
			off[name] = true
		default:
			if !slices.Contains(KnownControllers, item) {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", item, strings.Join(KnownControllers, ", "))
			}
			on[item] = true
		}
	}
	var out []string
	for _, name := range KnownControllers {
		if (all || on[name]) && !off[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Run is the controller-manager command: it parses args, then runs until ctx ends (nil) or
// something fails, including the loss of the leader lease (an error).
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	return o.run(ctx, stderr)
}

func (o *options) run(ctx context.Context, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Through a logsink: a stderr nobody reads any more costs log lines, not the controller-manager
	// (written directly, a full pipe would stall every goroutine that logs).
	logs := logsink.New(stderr, 8192)
	defer logs.Flush(time.Second)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("component", "controller-manager")
	enabled, err := EnabledControllers(o.controllers)
	if err != nil {
		return err
	}
	if slices.Contains(enabled, "root-ca-cert-publisher") {
		if o.controllerOp.RootCA, err = o.rootCA(); err != nil {
			return err
		}
	}
	cs, err := o.newClientset("kube-controller-manager")
	if err != nil {
		return err
	}
	defer cs.Close()

	serveErr := make(chan error, 1)
	if o.securePort != 0 {
		srv, err := o.serveHealth(log)
		if err != nil {
			return err
		}
		go func() { serveErr <- srv.Serve() }()
		defer srv.Close()
	}
	return o.leaderElection.Run(ctx, cs.Transport(), log, serveErr, func(ctx context.Context) error {
		return o.runControllers(ctx, cs, enabled, log)
	})
}

// newClientset connects to the apiserver as the --kubeconfig says, with the --kube-api-qps
// and --kube-api-burst budget.
func (o *options) newClientset(userAgent string) (*kube.Clientset, error) {
	return kube.NewForConfigFile(o.kubeconfig, kube.Options{
		GRPC: o.grpc, GRPCAddress: o.grpcAddress, QPS: float32(o.qps), Burst: o.burst, UserAgent: userAgent,
	})
}

// rootCA is the bundle the root-ca-cert-publisher publishes: --root-ca-file, else the CA
// the kubeconfig trusts the apiserver with (upstream takes its client configuration's CA
// data the same way). It is read once: a new CA takes a restart, as upstream.
func (o *options) rootCA() ([]byte, error) {
	if f := o.controllerOp.RootCAFile; f != "" {
		data, err := os.ReadFile(f)
		if err == nil {
			err = rootcacertpublisher.CheckBundle(data)
		}
		if err != nil {
			return nil, fmt.Errorf("error parsing root-ca-file at %s: %w", f, err)
		}
		return data, nil
	}
	cfg, _, err := kubeconfig.LoadDefault(o.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig for the root CA: %w", err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if len(rc.TLS.CAData) == 0 {
		return nil, errors.New("root-ca-cert-publisher: the kubeconfig names no certificate authority to publish; set --root-ca-file")
	}
	if err := rootcacertpublisher.CheckBundle(rc.TLS.CAData); err != nil {
		return nil, fmt.Errorf("root-ca-cert-publisher: the kubeconfig's certificate authority: %w", err)
	}
	return rc.TLS.CAData, nil
}

// runControllers builds the informers, recorders and enabled controllers, starts them and
// waits until ctx ends and every controller returned.
func (o *options) runControllers(ctx context.Context, cs *kube.Clientset, enabled []string, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(cs.Transport(), o.resync, informers.WithLogger(log))
	defer factory.Shutdown()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var recMu sync.Mutex
	recorders := map[string]*record.Recorder{}
	cc := &controllerctx.Context{
		Client:    cs,
		Informers: factory,
		Log:       log,
		Options:   o.controllerOp,
		Recorder: func(component string) *record.Recorder {
			recMu.Lock()
			defer recMu.Unlock()
			if r, ok := recorders[component]; ok {
				return r
			}
			r := record.New(record.Config{Client: cs.Transport(), Component: component, Log: log.With("recorder", component)})
			recorders[component] = r
			wg.Go(func() { r.Run(ctx) })
			return r
		},
	}
	inits := NewControllerInitializers()
	type started struct {
		name    string
		r       Runnable
		workers int
	}
	var runs []started
	for _, name := range enabled {
		initFn, ok := inits[name]
		if !ok {
			log.Warn("controller not built into this binary yet; skipping", "controller", name)
			continue
		}
		ccn := *cc
		ccn.Log = log.With("controller", name)
		// Each controller gets its own client, and so its own --kube-api-qps budget, as
		// kube-controller-manager's per-controller clients do: a busy controller cannot
		// starve the others. Informers stay shared on the manager's client.
		ccs, err := o.newClientset("kube-controller-manager/" + name)
		if err != nil {
			return fmt.Errorf("client for controller %s: %w", name, err)
		}
		defer ccs.Close()
		ccn.Client = ccs
		r, workers, err := initFn(ctx, &ccn)
		if err != nil {
			return fmt.Errorf("start controller %s: %w", name, err)
		}
		runs = append(runs, started{name, r, workers})
	}
	factory.Start(ctx)
	for _, s := range runs {
		log.Info("starting controller", "controller", s.name, "workers", s.workers)
		wg.Go(func() { s.r.Run(ctx, s.workers) })
	}
	if o.started != nil {
		o.started()
	}
	<-ctx.Done()
	return nil
}

// healthServer serves /healthz and /metrics.
type healthServer struct {
	ln  net.Listener
	srv *http.Server
}

func (h *healthServer) Serve() error {
	if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve /healthz and /metrics: %w", err)
	}
	return nil
}

func (h *healthServer) Close() { _ = h.srv.Close() }

// serveHealth listens on --bind-address:--secure-port. It serves plain HTTP: kubelab's
// controller-manager has no serving certificate of its own.
func (o *options) serveHealth(log *slog.Logger) (*healthServer, error) {
	addr := net.JoinHostPort(o.bindAddress, strconv.Itoa(o.securePort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.Handler())
	log.Info("serving /healthz and /metrics over HTTP", "address", ln.Addr().String())
	return &healthServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}
