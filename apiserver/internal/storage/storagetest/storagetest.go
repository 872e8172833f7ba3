// Package storagetest helps tests and benchmarks of code built on kubelab's storage: a
// throwaway embedded etcd, a representative Pod, and latency percentiles reported the same
// way by every benchmark (ops/s, p50-ms, p99-ms), so raw etcd and the apiserver compare.
package storagetest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/apiserver/internal/storage"
)

// StartEtcd starts an embedded etcd for tb and returns it with a client; both are closed when
// tb ends. An empty cfg.DataDir means a fresh tb.TempDir(); a nil cfg.Logger logs warnings
// and errors to stderr. Set cfg.UnsafeNoFsync for speed when durability does not matter.
func StartEtcd(tb testing.TB, cfg storage.EmbeddedConfig) (*storage.Embedded, *clientv3.Client) {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = QuietLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := storage.StartEmbedded(ctx, cfg)
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	tb.Cleanup(e.Close)
	c, err := e.NewClient()
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return e, c
}

// QuietLogger logs warnings and errors to stderr.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
