// Package app is the node proxy command: flags named as kube-proxy's (iptables mode), one
// clientset (gRPC by default, as the kubelet's; the node's kubelet kubeconfig will do, the
// system:nodes group may list and watch services and endpointslices), /healthz on
// --healthz-bind-address and /metrics on --metrics-bind-address, both plain HTTP as
// kube-proxy's.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/proto/logsink"
	"kubelab.io/proxy/internal/conntrack"
	"kubelab.io/proxy/internal/iptables"
	"kubelab.io/proxy/internal/metrics"
	"kubelab.io/proxy/internal/proxier"
	"kubelab.io/proxy/internal/rules"
)

type options struct {
	kubeconfig        string
	grpc              bool
	grpcAddress       string
	hostnameOverride  string
	clusterCIDR       string
	nodePortAddresses string
	masqueradeAll     bool
	syncPeriod        time.Duration
	minSyncPeriod     time.Duration
	healthzAddress    string
	metricsAddress    string
	cleanup           bool
	logLevel          string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig with the proxy's credentials (a node's kubelet kubeconfig will do)")
	fs.BoolVar(&o.grpc, "grpc", true, "talk to the apiserver over gRPC/protobuf (false: REST/JSON)")
	fs.StringVar(&o.grpcAddress, "grpc-address", "", "host:port of the apiserver's gRPC port (default: the kubeconfig server's host, port 6444)")
	fs.StringVar(&o.hostnameOverride, "hostname-override", "", "this node's name, whose endpoints are local (default: the hostname)")
	fs.StringVar(&o.clusterCIDR, "cluster-cidr", "", "the pods' range: traffic to a cluster IP from outside it is masqueraded (empty: none is)")
	fs.StringVar(&o.nodePortAddresses, "nodeport-addresses", "", "comma-separated CIDRs: serve node ports only on this node's addresses in them (default: every local address but loopback)")
	fs.BoolVar(&o.masqueradeAll, "masquerade-all", false, "masquerade all traffic sent to cluster IPs")
	fs.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "the longest time between two full rewrites of the rules")
	fs.DurationVar(&o.minSyncPeriod, "min-sync-period", time.Second, "the shortest time between two rewrites: changes arriving faster are batched")
	fs.StringVar(&o.healthzAddress, "healthz-bind-address", "0.0.0.0:10256", "ip:port of /healthz and /livez (empty: off)")
	fs.StringVar(&o.metricsAddress, "metrics-bind-address", "127.0.0.1:10249", "ip:port of /metrics (empty: off)")
	fs.BoolVar(&o.cleanup, "cleanup", false, "remove every iptables rule and chain the proxy made, then exit")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.minSyncPeriod <= 0 || o.syncPeriod < o.minSyncPeriod {
		return nil, fmt.Errorf("--sync-period (%v) must be at least --min-sync-period (%v), which must be positive", o.syncPeriod, o.minSyncPeriod)
	}
	if o.clusterCIDR != "" {
		if _, n, err := net.ParseCIDR(o.clusterCIDR); err != nil || n.IP.To4() == nil {
			return nil, fmt.Errorf("--cluster-cidr %q is not an IPv4 CIDR", o.clusterCIDR)
		}
	}
	return o, nil
}

func parseCIDRs(s string) ([]*net.IPNet, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := []*net.IPNet{}
	for _, c := range strings.Split(s, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("--nodeport-addresses: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

// Run is the proxy command: it parses args, then keeps the node's rules until ctx ends
// (nil), or with --cleanup removes them and returns.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Through a logsink: a stderr nobody reads any more costs log lines, not the proxy.
	logs := logsink.New(stderr, 8192)
	defer logs.Flush(time.Second)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("component", "proxy")

	if err := iptables.Available(); err != nil {
		return fmt.Errorf("iptables tools: %w", err)
	}
	ipt := iptables.NewExec()
	if o.cleanup {
		if err := proxier.Cleanup(ctx, ipt); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		log.Info("removed the proxy's iptables rules and chains")
		return nil
	}

	nodePortCIDRs, err := parseCIDRs(o.nodePortAddresses)
	if err != nil {
		return err
	}
	nodeName := strings.ToLower(o.hostnameOverride)
	if nodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		nodeName = strings.ToLower(h)
	}
	warnHostSetup(log, o)
	var ct conntrack.Interface
	if tool, err := conntrack.Find(); err != nil {
		log.Warn("stale UDP conntrack entries will not be cleared", "err", err)
	} else {
		ct = tool
	}

	cs, err := kube.NewForConfigFile(o.kubeconfig, kube.Options{
		GRPC: o.grpc, GRPCAddress: o.grpcAddress, UserAgent: "kube-proxy/" + nodeName, QPS: 20, Burst: 40,
	})
	if err != nil {
		return err
	}
	defer cs.Close()

	m := metrics.New()
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	p, err := proxier.New(proxier.Config{
		NodeName: nodeName, NodePortCIDRs: nodePortCIDRs,
		Rules:         rules.Config{ClusterCIDR: o.clusterCIDR, MasqueradeAll: o.masqueradeAll},
		MinSyncPeriod: o.minSyncPeriod, SyncPeriod: o.syncPeriod,
		IPTables: ipt, Conntrack: ct, Metrics: m, Log: log,
	}, factory)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var servers []*http.Server
	for _, s := range []struct {
		addr, what string
		handler    http.Handler
	}{
		{o.healthzAddress, "/healthz", HealthzHandler(p)},
		{o.metricsAddress, "/metrics", MetricsHandler(m)},
	} {
		if s.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("serve %s: %w", s.what, err)
		}
		srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		log.Info("serving "+s.what, "address", ln.Addr().String())
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", s.what, err)
			}
		}()
	}
	defer func() {
		for _, s := range servers {
			sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.Shutdown(sctx)
			c()
		}
	}()

	log.Info("starting", "node", nodeName, "clusterCIDR", o.clusterCIDR, "syncPeriod", o.syncPeriod, "minSyncPeriod", o.minSyncPeriod)
	factory.Start(ctx)
	defer factory.Shutdown()
	go func() { errc <- p.Run(ctx) }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// warnHostSetup says what on this host keeps services from working as they should, as
// kube-proxy does at start.
func warnHostSetup(log *slog.Logger, o *options) {
	if b, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil || strings.TrimSpace(string(b)) != "1" {
		log.Warn("missing br_netfilter module or unset sysctl net.bridge.bridge-nf-call-iptables: a pod reaching a service whose endpoint is on its own bridge may not work")
	}
	if o.clusterCIDR == "" && !o.masqueradeAll {
		log.Warn("no --cluster-cidr or --masquerade-all: traffic to cluster IPs from outside the cluster is not masqueraded")
	}
}

// HealthzHandler serves /healthz and /livez as kube-proxy: 200 while the rules keep up
// with the API, 503 once a change has waited more than twice the sync period, with
// {"lastUpdated": …, "currentTime": …}.
func HealthzHandler(p *proxier.Proxier) http.Handler {
	h := func(w http.ResponseWriter, _ *http.Request) {
		ok, last := p.Healthy()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		var lastUpdated string
		if !last.IsZero() {
			lastUpdated = last.UTC().Format(time.RFC3339Nano)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"lastUpdated": lastUpdated, "currentTime": time.Now().UTC().Format(time.RFC3339Nano), "nodeEligible": true,
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", h)
	mux.HandleFunc("/livez", h)
	return mux
}

// MetricsHandler serves /metrics.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	return mux
}
