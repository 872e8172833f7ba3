// Package apiservertest starts a real apiserver, on a real embedded etcd, inside a test
// process, for the integration tests of other modules (controllers, scheduler, kubelet,
// kubectl). Only this package may be imported from outside the apiserver module; the server
// itself stays internal.
package apiservertest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/admission/serviceaccount"
	"kubelab.io/apiserver/internal/server"
	"kubelab.io/client/kube"
)

// Server is a running test apiserver.
type Server struct {
	tb                testing.TB
	dir               string
	srv               *server.Server
	disabledAdmission []string
}

// Start starts an apiserver on an embedded etcd in a temp dir, on free ports, with fsync
// off. It is stopped when the test ends. Set KUBELAB_TEST_LOG=1 to see its logs.
//
// Its ServiceAccount admission is off, as in Kubernetes' integration tests: no
// controller-manager runs to create each namespace's "default" account, without which no
// pod could be created. StartWithServiceAccounts turns it on.
func Start(tb testing.TB) *Server {
	return start(tb, []string{serviceaccount.PluginName})
}

// StartWithServiceAccounts starts an apiserver with every default admission plugin, so pods
// need their service account to exist and get its token volume, as in a real cluster.
func StartWithServiceAccounts(tb testing.TB) *Server {
	return start(tb, nil)
}

func start(tb testing.TB, disabledAdmission []string) *Server {
	tb.Helper()
	s := &Server{tb: tb, dir: tb.TempDir(), disabledAdmission: disabledAdmission}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	level := slog.LevelWarn
	if os.Getenv("KUBELAB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	srv, err := server.Start(context.Background(), server.Config{
		DataDir: s.dir, BindAddress: "127.0.0.1", SecurePort: 0, GRPCPort: 0, UnsafeNoFsync: true,
		DisableAdmissionPlugins: s.disabledAdmission,
		Log:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component", "apiserver"),
	})
	if err != nil {
		s.tb.Fatalf("start apiserver: %v", err)
	}
	s.srv = srv
}

// Stop stops the server; its data stays for Restart.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// Restart stops the server and starts it again on the same data (new ports).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Kubeconfig is the admin kubeconfig's path.
func (s *Server) Kubeconfig() string { return s.srv.AdminKubeconfig() }

// URL is the HTTPS address.
func (s *Server) URL() string { return s.srv.URL() }

// GRPCAddr is the gRPC address (host:port).
func (s *Server) GRPCAddr() string { return s.srv.GRPCAddr() }

// Clientset returns an admin clientset over gRPC (what components use) or REST.
func (s *Server) Clientset(grpc bool) *kube.Clientset {
	s.tb.Helper()
	cs, err := kube.NewForConfigFile(s.Kubeconfig(), kube.Options{GRPC: grpc, GRPCAddress: s.GRPCAddr(), QPS: -1})
	if err != nil {
		s.tb.Fatalf("clientset: %v", err)
	}
	s.tb.Cleanup(func() { _ = cs.Close() })
	return cs
}

// UserKubeconfig writes a kubeconfig for a user with a client certificate signed by the
// cluster CA (CN = user, O = groups) and returns its path.
func (s *Server) UserKubeconfig(user string, groups ...string) string {
	s.tb.Helper()
	certPEM, keyPEM, err := s.srv.Bundle().IssueClientCert(user, groups, 24*time.Hour)
	if err != nil {
		s.tb.Fatal(err)
	}
	path := filepath.Join(s.tb.TempDir(), strings.ReplaceAll(user, ":", "_")+".kubeconfig")
	if err := s.srv.Bundle().WriteKubeconfig(path, user, certPEM, keyPEM); err != nil {
		s.tb.Fatal(err)
	}
	return path
}
