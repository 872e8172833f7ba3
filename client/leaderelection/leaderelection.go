// Package leaderelection lets several replicas of a component agree on one active leader
// through a coordination.k8s.io/v1 Lease, as client-go's leaderelection does: the leader
// renews the lease every RetryPeriod; the others take it over once it has not been renewed
// for LeaseDuration, as measured by their own clocks (never by comparing timestamps written by
// another machine, whose clock may differ).
package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/transport"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Callbacks are called as leadership changes.
type Callbacks struct {
	// OnStartedLeading runs in its own goroutine when this replica becomes leader. Its ctx
	// is cancelled the moment leadership is lost: all work must stop then.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading runs when Run returns after having led.
	OnStoppedLeading func()
	// OnNewLeader runs when the observed leader changes (including to this replica).
	OnNewLeader func(identity string)
}

// Config configures an elector. Zero durations take client-go's defaults (15 s, 10 s, 2 s).
type Config struct {
	Client    transport.Interface
	Namespace string
	Name      string
	// Identity must be unique per replica (hostname + a random suffix, say).
	Identity string
	// LeaseDuration is how long others wait after the last observed renewal before taking
	// over; RenewDeadline is how long the leader keeps trying to renew before giving up;
	// RetryPeriod is the pause between attempts. LeaseDuration > RenewDeadline > RetryPeriod.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// ReleaseOnCancel clears the holder when ctx ends, so a standby takes over at once
	// instead of after LeaseDuration.
	ReleaseOnCancel bool
	Callbacks       Callbacks
	// Clock is injected for tests; nil means time.Now.
	Clock func() time.Time
	Log   *slog.Logger
}

// Elector runs one replica's side of the election.
type Elector struct {
	cfg Config
	ref transport.Ref
	// leader is the last observed holder; read by IsLeader from any goroutine.
	leader  atomic.Value // string
	observe struct {
		at      time.Time // local time when the record last changed
		version string
	}
}

// New validates cfg and fills its defaults.
func New(cfg Config) (*Elector, error) {
	if cfg.Client == nil || cfg.Name == "" || cfg.Namespace == "" || cfg.Identity == "" {
		return nil, errors.New("leaderelection: Client, Namespace, Name and Identity are required")
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 15 * time.Second
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = 10 * time.Second
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = 2 * time.Second
	}
	if !(cfg.LeaseDuration > cfg.RenewDeadline && cfg.RenewDeadline > cfg.RetryPeriod) {
		return nil, fmt.Errorf("leaderelection: need LeaseDuration (%v) > RenewDeadline (%v) > RetryPeriod (%v)",
			cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupCoordination, Version: "v1", Kind: "Lease"})
	return &Elector{cfg: cfg, ref: transport.Ref{Mapping: m, Namespace: cfg.Namespace, Name: cfg.Name}}, nil
}

// Run campaigns until it leads, leads until it loses the lease or ctx ends, then returns.
// A replica that lost the lease must exit (crash-only): its caches and queues may hold work
// another leader now owns.
func (e *Elector) Run(ctx context.Context) {
	if !e.acquire(ctx) {
		return
	}
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if e.cfg.Callbacks.OnStartedLeading != nil {
		go e.cfg.Callbacks.OnStartedLeading(leadCtx)
	}
	e.renew(leadCtx)
	cancel()
	if e.cfg.ReleaseOnCancel && ctx.Err() != nil {
		e.release()
	}
	if e.cfg.Callbacks.OnStoppedLeading != nil {
		e.cfg.Callbacks.OnStoppedLeading()
	}
}

// IsLeader reports whether this replica held the lease at its last attempt.
func (e *Elector) IsLeader() bool { return e.Leader() == e.cfg.Identity }

// Leader is the last observed holder of the lease ("" when none).
func (e *Elector) Leader() string {
	s, _ := e.leader.Load().(string)
	return s
}

// acquire retries until the lease is ours; false when ctx ended first.
func (e *Elector) acquire(ctx context.Context) bool {
	e.cfg.Log.Info("campaigning for leadership", "lease", e.cfg.Namespace+"/"+e.cfg.Name, "identity", e.cfg.Identity)
	for {
		if e.tryAcquireOrRenew(ctx) {
			e.cfg.Log.Info("acquired leadership", "lease", e.cfg.Namespace+"/"+e.cfg.Name, "identity", e.cfg.Identity)
			return true
		}
		if !sleep(ctx, jitter(e.cfg.RetryPeriod)) {
			return false
		}
	}
}

// renew keeps the lease until a renewal fails for RenewDeadline or ctx ends.
func (e *Elector) renew(ctx context.Context) {
	for {
		deadline := e.cfg.Clock().Add(e.cfg.RenewDeadline)
		renewed := false
		for !renewed {
			attemptCtx, cancel := context.WithDeadline(ctx, deadline)
			renewed = e.tryAcquireOrRenew(attemptCtx)
			cancel()
			if renewed || ctx.Err() != nil || !e.cfg.Clock().Before(deadline) {
				break
			}
			if !sleep(ctx, e.cfg.RetryPeriod/2) {
				return
			}
		}
		if !renewed {
			if ctx.Err() == nil {
				e.cfg.Log.Warn("lost leadership: could not renew the lease in time",
					"lease", e.cfg.Namespace+"/"+e.cfg.Name, "identity", e.cfg.Identity)
			}
			return
		}
		if !sleep(ctx, e.cfg.RetryPeriod) {
			return
		}
	}
}

// tryAcquireOrRenew makes one attempt to take or keep the lease.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := e.cfg.Clock()
	micro := &metav1.MicroTime{Seconds: now.Unix(), Nanos: int32(now.Nanosecond() / 1000 * 1000)}
	obj, err := e.cfg.Client.Get(ctx, e.ref)
	if apierrors.IsNotFound(err) {
		lease := &coordinationv1.Lease{
			Kind: "Lease", ApiVersion: "coordination.k8s.io/v1",
			Metadata: &metav1.ObjectMeta{Name: e.cfg.Name, Namespace: e.cfg.Namespace},
			Spec: &coordinationv1.LeaseSpec{
				HolderIdentity:       proto.String(e.cfg.Identity),
				LeaseDurationSeconds: proto.Int32(int32(e.cfg.LeaseDuration / time.Second)),
				AcquireTime:          micro, RenewTime: micro, LeaseTransitions: proto.Int32(0),
			},
		}
		if _, err := e.cfg.Client.Create(ctx, e.ref, lease); err != nil {
			return false
		}
		e.observed(lease, now)
		return true
	}
	if err != nil {
		e.cfg.Log.Warn("reading the lease failed", "lease", e.cfg.Namespace+"/"+e.cfg.Name, "err", err)
		return false
	}
	lease := obj.(*coordinationv1.Lease)
	if e.observe.version != lease.GetMetadata().GetResourceVersion() {
		e.observed(lease, now)
	}
	holder := lease.GetSpec().GetHolderIdentity()
	if holder != "" && holder != e.cfg.Identity && now.Before(e.observe.at.Add(e.cfg.LeaseDuration)) {
		return false // someone else holds a lease that has not expired by our clock
	}
	next := proto.Clone(lease).(*coordinationv1.Lease)
	if next.Spec == nil {
		next.Spec = &coordinationv1.LeaseSpec{}
	}
	if holder != e.cfg.Identity {
		next.Spec.AcquireTime = micro
		next.Spec.LeaseTransitions = proto.Int32(lease.GetSpec().GetLeaseTransitions() + 1)
	}
	next.Spec.HolderIdentity = proto.String(e.cfg.Identity)
	next.Spec.LeaseDurationSeconds = proto.Int32(int32(e.cfg.LeaseDuration / time.Second))
	next.Spec.RenewTime = micro
	out, err := e.cfg.Client.Update(ctx, e.ref, next, "")
	if err != nil {
		return false // a conflict means another replica wrote first: it won this round
	}
	e.observed(out.(*coordinationv1.Lease), now)
	return true
}

// observed records a lease state and the local time it was first seen.
func (e *Elector) observed(lease *coordinationv1.Lease, now time.Time) {
	e.observe.at = now
	e.observe.version = lease.GetMetadata().GetResourceVersion()
	holder := lease.GetSpec().GetHolderIdentity()
	if holder != e.Leader() {
		e.leader.Store(holder)
		if e.cfg.Callbacks.OnNewLeader != nil && holder != "" {
			e.cfg.Callbacks.OnNewLeader(holder)
		}
	}
}

// release gives the lease up so a standby need not wait for it to expire.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RenewDeadline)
	defer cancel()
	obj, err := e.cfg.Client.Get(ctx, e.ref)
	if err != nil {
		return
	}
	lease := proto.Clone(obj).(*coordinationv1.Lease)
	if lease.GetSpec().GetHolderIdentity() != e.cfg.Identity {
		return
	}
	lease.Spec.HolderIdentity = proto.String("")
	lease.Spec.LeaseDurationSeconds = proto.Int32(1)
	if _, err := e.cfg.Client.Update(ctx, e.ref, lease, ""); err != nil {
		e.cfg.Log.Warn("releasing the lease failed", "lease", e.cfg.Namespace+"/"+e.cfg.Name, "identity", e.cfg.Identity, "err", err)
		return
	}
	e.cfg.Log.Info("released leadership", "lease", e.cfg.Namespace+"/"+e.cfg.Name, "identity", e.cfg.Identity)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Float64()*0.2*float64(d))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
