// Package app is the kubelet command: flags, wiring and servers.
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
	"strings"
	"time"

	"kubelab.io/client/kube"
	"kubelab.io/kubelet/internal/cni"
	"kubelab.io/kubelet/internal/kubelet"
	"kubelab.io/kubelet/internal/preload"
	"kubelab.io/kubelet/internal/server"
	krt "kubelab.io/kubelet/runtime"
	"kubelab.io/proto/logsink"
	"kubelab.io/proto/resource"
)

// Options are the kubelet's flags.
type Options struct {
	Kubeconfig        string
	GRPCAddress       string
	HostnameOverride  string
	NodeIP            string
	RuntimeEndpoint   string
	CNIConfDir        string
	CNIBridge         string
	RootDir           string
	PodLogDir         string
	NodeLabels        string
	RegisterNode      bool
	HealthzPort       int
	Address           string
	Port              int
	TLSCertFile       string
	TLSKeyFile        string
	ClientCAFile      string
	SystemReserved    string
	MaxPods           int
	CgroupParent      string
	ClusterDNS        string
	ClusterDomain     string
	ResolvConf        string
	LogLevel          string
	RuntimeReqTimeout time.Duration
	PreloadImages     string
}

func (o *Options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the node's credentials")
	fs.StringVar(&o.GRPCAddress, "grpc-address", "", "apiserver gRPC address host:port (default: the kubeconfig server's host, port 6444)")
	fs.StringVar(&o.HostnameOverride, "hostname-override", "", "node name (default: the hostname)")
	fs.StringVar(&o.NodeIP, "node-ip", "", "the node's InternalIP (default: the first non-loopback address)")
	fs.StringVar(&o.RuntimeEndpoint, "container-runtime-endpoint", krt.DefaultEndpoint, "CRI socket")
	fs.StringVar(&o.CNIConfDir, "cni-conf-dir", cni.DefaultConfDir, "where to write the CNI configuration once the node has a podCIDR (empty: do not manage pod networking)")
	fs.StringVar(&o.CNIBridge, "cni-bridge", "kubelab0", "the CNI bridge's name (one per node sharing a host)")
	fs.StringVar(&o.RootDir, "root-dir", "/var/lib/kubelet", "the kubelet's state directory")
	fs.StringVar(&o.PodLogDir, "pod-log-dir", "/var/log/pods", "root of the pods' log directories")
	fs.StringVar(&o.NodeLabels, "node-labels", "", "labels to add to the node, k=v,k=v")
	fs.BoolVar(&o.RegisterNode, "register-node", true, "register the node with the apiserver")
	fs.IntVar(&o.HealthzPort, "healthz-port", 10248, "plain HTTP /healthz port (0 disables)")
	fs.StringVar(&o.Address, "address", "0.0.0.0", "address of the kubelet server")
	fs.IntVar(&o.Port, "port", 10250, "kubelet server HTTPS port, client-certificate auth: /healthz, /pods, /containerLogs, /exec, /attach, /portForward (0 disables)")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serving certificate (default: a self-signed one kept in <root-dir>/pki)")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", "", "serving key")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "CA whose client certificates the server requires (without it every request is refused)")
	fs.StringVar(&o.SystemReserved, "system-reserved", "cpu=100m,memory=100Mi", "resources held back from allocatable")
	fs.IntVar(&o.MaxPods, "max-pods", 110, "pods capacity")
	fs.StringVar(&o.CgroupParent, "cgroup-parent", "", "cgroup parent of pod sandboxes (empty: the runtime's default)")
	fs.StringVar(&o.ClusterDNS, "cluster-dns", "", "comma-separated cluster DNS servers for ClusterFirst pods")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
	fs.StringVar(&o.ResolvConf, "resolv-conf", "/etc/resolv.conf", "resolver configuration for Default DNS policy pods")
	fs.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.PreloadImages, "preload-images", "", "directory of image tarballs (docker-archive or OCI) to import into containerd's k8s.io namespace, on the --container-runtime-endpoint socket, before the node reports Ready")
	fs.DurationVar(&o.RuntimeReqTimeout, "runtime-request-timeout", 2*time.Minute, "timeout of CRI calls but pulls")
}

func parseKV(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// Run runs the kubelet with args until ctx ends.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Through a logsink: a stderr nobody reads any more costs log lines, not the kubelet
	// (written directly, a full pipe would stall every goroutine that logs).
	logs := logsink.New(stderr, 8192)
	defer logs.Flush(time.Second)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("component", "kubelet")

	nodeName := strings.ToLower(o.HostnameOverride)
	if nodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		nodeName = strings.ToLower(h)
	}
	labels, err := parseKV(o.NodeLabels)
	if err != nil {
		return fmt.Errorf("--node-labels: %w", err)
	}
	reservedKV, err := parseKV(o.SystemReserved)
	if err != nil {
		return fmt.Errorf("--system-reserved: %w", err)
	}
	reserved := resource.List{}
	for k, v := range reservedKV {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("--system-reserved %s: %w", k, err)
		}
		reserved[k] = q
	}
	var dns []string
	for _, s := range strings.Split(o.ClusterDNS, ",") {
		if s = strings.TrimSpace(s); s != "" {
			dns = append(dns, s)
		}
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		return fmt.Errorf("--node-ip %q is not an IP address", o.NodeIP)
	}
	if err := os.MkdirAll(o.RootDir, 0o750); err != nil {
		return fmt.Errorf("--root-dir: %w", err)
	}

	client, err := kube.NewForConfigFile(o.Kubeconfig, kube.Options{GRPC: true, GRPCAddress: o.GRPCAddress, UserAgent: "kubelet/" + nodeName, QPS: 50, Burst: 100})
	if err != nil {
		return err
	}
	defer client.Close()
	rt, err := krt.NewRemote(o.RuntimeEndpoint, o.RuntimeReqTimeout)
	if err != nil {
		return err
	}
	defer rt.Close()

	var preloadFn func(context.Context) error
	if o.PreloadImages != "" {
		if _, err := os.Stat(o.PreloadImages); err != nil {
			return fmt.Errorf("--preload-images: %w", err)
		}
		preloadFn = func(ctx context.Context) error {
			_, err := preload.Import(ctx, preload.Config{Address: o.RuntimeEndpoint, Dir: o.PreloadImages, Log: log})
			return err
		}
	}
	k, err := kubelet.New(kubelet.Config{
		Preload:  preloadFn,
		NodeName: nodeName, Client: client, Runtime: rt, Log: log,
		NodeIP: o.NodeIP, NodeLabels: labels, RegisterNode: o.RegisterNode, Reserved: reserved, MaxPods: o.MaxPods, Port: o.Port,
		CNIConfDir: o.CNIConfDir, CNIBridge: o.CNIBridge, PodLogDir: o.PodLogDir, RootDir: o.RootDir, CgroupParent: o.CgroupParent,
		ResolvConf: o.ResolvConf, ClusterDNS: dns, ClusterDomain: o.ClusterDomain,
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var servers []*http.Server
	if o.HealthzPort > 0 {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
		srv := &http.Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.HealthzPort)), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { errc <- serve(srv, false) }()
	}
	if o.Port > 0 {
		// HTTPS only: pod data is never served on a plain port (no read-only port).
		hosts := []string{nodeName, "localhost", "127.0.0.1"}
		if ip := k.NodeIP(); ip != "" {
			hosts = append(hosts, ip)
		}
		srv, err := server.New(server.Config{
			Addr: net.JoinHostPort(o.Address, strconv.Itoa(o.Port)), Handler: k.Handler(),
			CertFile: o.TLSCertFile, KeyFile: o.TLSKeyFile, SelfSignedDir: filepath.Join(o.RootDir, "pki"), Hosts: hosts,
			ClientCAFile: o.ClientCAFile, Log: log,
		})
		if err != nil {
			return err
		}
		servers = append(servers, srv)
		go func() { errc <- serve(srv, true) }()
	}
	go func() { errc <- k.Run(ctx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	for _, s := range servers {
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(sctx)
		c()
	}
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

func serve(srv *http.Server, tls bool) error {
	var err error
	if tls {
		err = srv.ListenAndServeTLS("", "") // the certificate is in srv.TLSConfig
	} else {
		err = srv.ListenAndServe()
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", srv.Addr, err)
}
