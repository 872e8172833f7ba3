package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"kubelab.io/client/freeport"
)

// DefaultCompactionRetention is how much history the embedded etcd keeps. It matches
// Kubernetes, whose apiserver compacts etcd every 5 minutes: continue tokens and watch
// resourceVersions stay valid for at least that long, whatever the write rate, and history
// stays bounded by what 5 minutes of writes produce. (A revision count would instead make
// their lifetime shrink as the write rate grows.)
const DefaultCompactionRetention = 5 * time.Minute

// EmbeddedConfig configures an etcd server run inside this process.
type EmbeddedConfig struct {
	// DataDir holds etcd's WAL and database. Starting again on the same DataDir keeps the data.
	DataDir string
	// ClientURL and PeerURL are the URLs etcd listens on ("http://127.0.0.1:2379"). Empty
	// means a free 127.0.0.1 port.
	ClientURL, PeerURL string
	// CompactionRetention is the history kept by periodic auto-compaction: 0 means
	// DefaultCompactionRetention, a negative value disables auto-compaction.
	CompactionRetention time.Duration
	// UnsafeNoFsync skips fsync: fast, and loses data on a crash. For tests only.
	UnsafeNoFsync bool
	// ReadyTimeout bounds how long StartEmbedded waits for etcd to serve; 0 means 10 s.
	ReadyTimeout time.Duration
	// Logger receives etcd's warnings and errors; nil means slog.Default().
	Logger *slog.Logger
}

// Embedded is a running single-member etcd.
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
	log       *slog.Logger
	muted     *atomic.Bool // silences etcd's logs while it shuts down
	closeOnce sync.Once
}

// StartEmbedded starts a single-member etcd and returns once it serves requests (or fails
// after cfg.ReadyTimeout, or when ctx ends). Close it when done.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("start etcd: DataDir is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "etcd")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil { // etcd warns about wider permissions
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	muted := new(atomic.Bool)
	start := time.Now()
	var (
		ec *embed.Config
		e  *embed.Etcd
	)
	// A port picked here can still be bound by another process before etcd binds it; only
	// then, and only for ports this function picked, is a fresh pick the right answer.
	for attempt := 1; ; attempt++ {
		var err error
		if ec, err = embedConfig(cfg, log, muted); err != nil {
			return nil, fmt.Errorf("start etcd: %w", err)
		}
		e, err = embed.StartEtcd(ec)
		if err == nil {
			break
		}
		if picked := cfg.ClientURL == "" || cfg.PeerURL == ""; !picked || !freeport.IsAddrInUse(err) || attempt == maxPortAttempts {
			return nil, fmt.Errorf("start etcd in %s: %w", cfg.DataDir, err)
		}
		log.Warn("etcd port taken before etcd bound it; picking another", "error", err, "attempt", attempt)
	}
	fail := func(err error) (*Embedded, error) {
		muted.Store(true)
		e.Close()
		return nil, fmt.Errorf("start etcd in %s: %w", cfg.DataDir, err)
	}
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fail(err)
	case <-timer.C:
		return fail(fmt.Errorf("not ready after %s", timeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	endpoints := make([]string, 0, len(ec.ListenClientUrls))
	for _, u := range ec.ListenClientUrls {
		endpoints = append(endpoints, u.String())
	}
	log.Info("etcd ready", "dataDir", cfg.DataDir, "endpoints", endpoints,
		"took", time.Since(start).Round(time.Millisecond))
	return &Embedded{etcd: e, endpoints: endpoints, log: log, muted: muted}, nil
}

func embedConfig(cfg EmbeddedConfig, log *slog.Logger, muted *atomic.Bool) (*embed.Config, error) {
	ec := embed.NewConfig()
	ec.Name = "kubelab"
	ec.Dir = cfg.DataDir
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	// A single member has no peer to wait for: short ticks make the first election, and so
	// the start, take a few tens of milliseconds instead of a second.
	ec.TickMs, ec.ElectionMs = 10, 100
	ec.EnableGRPCGateway = false
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(newSlogCore(log, zap.ErrorLevel, muted)))
	switch r := cfg.CompactionRetention; {
	case r < 0:
		ec.AutoCompactionRetention = "0"
	case r == 0:
		ec.AutoCompactionMode, ec.AutoCompactionRetention = embed.CompactorModePeriodic, DefaultCompactionRetention.String()
	default:
		ec.AutoCompactionMode, ec.AutoCompactionRetention = embed.CompactorModePeriodic, r.String()
	}
	client, err := listenURL(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("client URL: %w", err)
	}
	peer, err := listenURL(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("peer URL: %w", err)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	return ec, nil
}

// maxPortAttempts bounds how often StartEmbedded re-picks ports that were taken under it.
const maxPortAttempts = 5

// listenURL parses raw, or picks a free 127.0.0.1 port when raw is empty.
func listenURL(raw string) (*url.URL, error) {
	if raw != "" {
		return url.Parse(raw)
	}
	port, err := freeport.Pick("127.0.0.1")
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, nil
}

// Endpoints are the client URLs to give clientv3.
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// NewClient returns a client of this etcd that logs nothing; close it before Close.
func (e *Embedded) NewClient() (*clientv3.Client, error) {
	return NewClient(e.endpoints)
}

// NewClient returns an etcd client of endpoints with kubelab's settings: a short dial
// timeout and no logging of its own (errors come back to the caller).
func NewClient(endpoints []string) (*clientv3.Client, error) {
	return NewTLSClient(endpoints, nil)
}

// NewTLSClient is NewClient for an etcd cluster that requires TLS (https:// endpoints with
// client certificates); a nil tlsCfg means plain connections.
func NewTLSClient(endpoints []string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		TLS:         tlsCfg,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}

// Close stops etcd and waits for it to release its data directory. It may be called more
// than once.
func (e *Embedded) Close() {
	e.closeOnce.Do(func() {
		e.muted.Store(true)
		e.etcd.Close()
		e.log.Info("etcd stopped", "endpoints", e.endpoints)
	})
}
