// Command apiserver serves the kubelab API over HTTPS (REST, as Kubernetes) and gRPC, on an
// embedded or external etcd.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"kubelab.io/apiserver/internal/server"
	"kubelab.io/proto/logsink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "apiserver:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var etcdServers, admission, disabledAdmission, authorization, logLevel string
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the embedded etcd's data (used when --etcd-servers is empty)")
	fs.StringVar(&cfg.CertDir, "cert-dir", "", "directory for the CA, serving and admin certificates and admin.kubeconfig (default DATA_DIR/pki)")
	fs.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address to serve HTTPS on")
	fs.IntVar(&cfg.SecurePort, "secure-port", 6443, "port to serve HTTPS on (0 picks a free port)")
	fs.IntVar(&cfg.GRPCPort, "grpc-port", 6444, "port to serve gRPC on, with the HTTPS certificates (0 picks a free port)")
	fs.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "address clients reach this server at (default 127.0.0.1)")
	fs.StringVar(&etcdServers, "etcd-servers", "", "comma-separated etcd client URLs; empty starts an embedded etcd in --data-dir")
	fs.StringVar(&cfg.AuditLogPath, "audit-log-path", "", "append one JSON line per request (user, verb, resource, namespace/name, code, latency) to this file")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle that verifies the external etcd's serving certificates")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd")
	fs.StringVar(&cfg.KubeletClientCertFile, "kubelet-client-certificate", "", "client certificate presented to kubelets (default: one for kube-apiserver-kubelet-client, issued by the cluster CA into --cert-dir)")
	fs.StringVar(&cfg.KubeletClientKeyFile, "kubelet-client-key", "", "key of --kubelet-client-certificate")
	fs.StringVar(&cfg.KubeletCAFile, "kubelet-certificate-authority", "", "CA bundle that verifies kubelets' serving certificates (default: the cluster CA in --cert-dir)")
	fs.StringVar(&admission, "enable-admission-plugins", strings.Join(server.DefaultAdmissionPlugins, ","), "admission plugins to run, in order")
	fs.StringVar(&disabledAdmission, "disable-admission-plugins", "", "admission plugins to turn off, even if enabled (e.g. ServiceAccount, when no controller-manager creates the default service accounts)")
	notReadySeconds := fs.Int64("default-not-ready-toleration-seconds", 300, "how long a pod tolerates node.kubernetes.io/not-ready:NoExecute, by the toleration the DefaultTolerationSeconds admission plugin adds to every pod that has none")
	unreachableSeconds := fs.Int64("default-unreachable-toleration-seconds", 300, "how long a pod tolerates node.kubernetes.io/unreachable:NoExecute, by the toleration the DefaultTolerationSeconds admission plugin adds to every pod that has none")
	fs.StringVar(&authorization, "authorization-mode", strings.Join(server.DefaultAuthorizationModes, ","), "authorizers to ask, in order: Node, RBAC, AlwaysAllow, AlwaysDeny (members of system:masters are always allowed)")
	fs.StringVar(&cfg.TokenAuthFile, "token-auth-file", "", "static bearer tokens, CSV: token,user,uid,\"group1,group2\"")
	fs.StringVar(&cfg.BasicAuthFile, "basic-auth-file", "", "INSECURE static passwords for HTTP basic auth, CSV: password,user,uid,\"group1,group2\" (off when empty)")
	fs.BoolVar(&cfg.AnonymousAuth, "anonymous-auth", false, "let requests without credentials through as system:anonymous (group system:unauthenticated); off, they get 401")
	fs.StringVar(&cfg.ServiceAccountSigningKeyFile, "service-account-signing-key-file", "", "PEM RSA private key that signs service account tokens (default: sa.key in --cert-dir, generated on first start)")
	fs.Var((*listFlag)(&cfg.ServiceAccountKeyFiles), "service-account-key-file", "PEM file of public keys (or certificates, or private keys) that verify service account tokens; repeatable or comma-separated (default: the signing key)")
	fs.Var((*listFlag)(&cfg.ServiceAccountIssuers), "service-account-issuer", "issuer (iss) of service account tokens; repeatable, the first is written into new tokens and all are accepted (default https://kubernetes.default.svc.cluster.local)")
	fs.Var((*listFlag)(&cfg.APIAudiences), "api-audiences", "audiences the API accepts tokens for, comma-separated; tokens requested without audiences get these (default: the issuers)")
	fs.DurationVar(&cfg.ServiceAccountMaxTokenExpiration, "service-account-max-token-expiration", 0, "longest lifetime a requested service account token gets; longer requests are shortened (0: no cap)")
	fs.StringVar(&cfg.ServiceClusterIPRange, "service-cluster-ip-range", "10.96.0.0/12", "IPv4 CIDR range Services' cluster IPs are allocated from; its first address is the kubernetes service's")
	fs.StringVar(&cfg.ServiceNodePortRange, "service-node-port-range", "30000-32767", "port range NodePort and LoadBalancer Services' node ports are allocated from")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Every request logs a line. Through a logsink, a stderr nobody reads any more costs
	// log lines, not the server: written directly, a full pipe would stall every request.
	logs := logsink.New(stderr, 8192)
	defer logs.Flush(time.Second)
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})).With("component", "apiserver")
	if etcdServers != "" {
		cfg.EtcdServers = strings.Split(etcdServers, ",")
	}
	cfg.AdmissionPlugins = splitList(admission)
	cfg.DefaultNotReadyTolerationSeconds, cfg.DefaultUnreachableTolerationSeconds = notReadySeconds, unreachableSeconds
	cfg.DisableAdmissionPlugins = splitList(disabledAdmission)
	cfg.AuthorizationModes = splitList(authorization)
	if len(cfg.AuthorizationModes) == 0 {
		return errors.New("--authorization-mode: at least one mode is required")
	}
	s, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	s.Wait(ctx)
	return nil
}

// listFlag is a flag that may be repeated, each value a comma-separated list, as
// kube-apiserver's string-slice flags.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
