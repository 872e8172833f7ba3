package leaderelection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"kubelab.io/client/transport"
)

// ErrLeaseLost is what Options.Run returns when this replica stopped being the leader while
// its ctx was still alive. The process must exit (crash-only): its caches and queues may hold
// work the new leader now owns.
var ErrLeaseLost = errors.New("leaderelection lost")

// Options are the --leader-elect* flags kube-controller-manager and kube-scheduler share
// (component-base's LeaderElectionConfiguration), with their names and defaults.
type Options struct {
	LeaderElect       bool
	LeaseDuration     time.Duration
	RenewDeadline     time.Duration
	RetryPeriod       time.Duration
	ResourceNamespace string
	ResourceName      string
	// Identity is this replica's holder identity in the Lease; "" means hostname_random.
	Identity string
}

// AddFlags registers --leader-elect (usage leadUsage) and the --leader-elect-* flags on fs:
// on by default, 15 s / 10 s / 2 s, Lease kube-system/resourceName. --leader-elect-identity
// is not among them: the components that have it register it themselves.
func (o *Options) AddFlags(fs *flag.FlagSet, resourceName, leadUsage string) {
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, leadUsage)
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long standbys wait after the leader's last renewal before taking over")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it gives up (and exits)")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "pause between attempts to acquire or renew the lease")
	fs.StringVar(&o.ResourceNamespace, "leader-elect-resource-namespace", "kube-system", "namespace of the leader Lease")
	fs.StringVar(&o.ResourceName, "leader-elect-resource-name", resourceName, "name of the leader Lease")
}

// Validate checks the durations when leader election is on, naming the flags.
func (o *Options) Validate() error {
	if o.LeaderElect && !(o.LeaseDuration > o.RenewDeadline && o.RenewDeadline > o.RetryPeriod && o.RetryPeriod > 0) {
		return fmt.Errorf("need --leader-elect-lease-duration (%v) > --leader-elect-renew-deadline (%v) > --leader-elect-retry-period (%v) > 0",
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod)
	}
	return nil
}

// Run is a replicated component's main loop, the crash-only way kube-controller-manager and
// kube-scheduler run (client-go's RunOrDie): with LeaderElect off it calls run at once; with
// it on it campaigns for the Lease ResourceNamespace/ResourceName and calls run once, when this
// replica first leads, with a context cancelled the moment the lease is lost.
//
// Run returns when ctx ends, run returns, the lease is lost, or failed (the component's other
// servers; nil: never) yields an error. Whichever comes first, run's context is cancelled and
// run has returned before Run does, and only then does a leader release the lease (unless it
// was lost), so a standby takes over at once but never while this replica still works. Run
// returns run's error, joined with failed's error, or wrapped in ErrLeaseLost: the process must
// exit then.
func (o Options) Run(ctx context.Context, client transport.Interface, log *slog.Logger, failed <-chan error, run func(context.Context) error) error {
	if !o.LeaderElect {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- run(ctx) }()
		select {
		case err := <-done:
			return err
		case err := <-failed:
			cancel()
			return errors.Join(err, <-done)
		}
	}
	identity := o.Identity
	if identity == "" {
		identity = DefaultIdentity()
	}
	electCtx, stopElecting := context.WithCancel(ctx)
	defer stopElecting()
	var (
		mu      sync.Mutex
		stopped bool // set once the elector returned: run may not start after
		started bool // run was called
		quit    bool // run returned before its context ended
		done    = make(chan error, 1)
	)
	elector, err := New(Config{
		Client: client, Namespace: o.ResourceNamespace, Name: o.ResourceName, Identity: identity,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Log: log,
		Callbacks: Callbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				mu.Lock()
				if stopped {
					mu.Unlock()
					return
				}
				started = true
				mu.Unlock()
				err := run(leadCtx)
				if leadCtx.Err() == nil {
					mu.Lock()
					quit = true
					mu.Unlock()
					stopElecting()
				}
				done <- err
			},
			OnNewLeader: func(holder string) {
				log.Info("new leader observed", "identity", identity, "leader", holder)
			},
		},
	})
	if err != nil {
		return err
	}
	elected := make(chan struct{})
	go func() { elector.Run(electCtx); close(elected) }()
	var failure error
	select {
	case <-elected:
	case failure = <-failed:
		stopElecting()
		<-elected
	}
	// The elector cancelled run's context as it returned: wait for run to stop before a
	// standby can take over.
	mu.Lock()
	stopped = true
	wait := started
	mu.Unlock()
	var runErr error
	if wait {
		runErr = <-done
	}
	mu.Lock()
	lost := ctx.Err() == nil && failure == nil && !quit
	mu.Unlock()
	if !lost && elector.IsLeader() {
		elector.release()
	}
	switch {
	case failure != nil:
		return errors.Join(failure, runErr)
	case lost:
		return errors.Join(ErrLeaseLost, runErr)
	default:
		return runErr
	}
}

// DefaultIdentity is hostname_random: unique per process, and says which host leads.
func DefaultIdentity() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "_" + hex.EncodeToString(b[:])
}
