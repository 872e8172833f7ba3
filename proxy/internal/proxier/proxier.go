// Package proxier is the node proxy's loop: it watches Services and EndpointSlices through
// shared informers and, after any change (at most once per MinSyncPeriod) and every
// SyncPeriod anyway, rewrites all of its iptables rules from the informers' caches in one
// iptables-restore (servicemap → rules → iptables), as kube-proxy's iptables mode does.
//
// It is crash-only: it keeps no state of its own. A sync reads the API objects from the
// caches and the names of the chains in the kernel, and writes everything; so the first
// sync after a restart, or after someone flushed the tables, converges like any other.
package proxier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proxy/internal/conntrack"
	"kubelab.io/proxy/internal/iptables"
	"kubelab.io/proxy/internal/metrics"
	"kubelab.io/proxy/internal/rules"
	"kubelab.io/proxy/internal/servicemap"
)

// Config configures a Proxier.
type Config struct {
	// NodeName is this node: its endpoints are the local ones.
	NodeName string
	// Rules are the rendering options (cluster CIDR, masquerade-all).
	Rules rules.Config
	// NodePortCIDRs limit node ports to this node's addresses in them
	// (--nodeport-addresses); nil serves them on every non-loopback local address.
	NodePortCIDRs []*net.IPNet
	// NodeIPs lists this node's addresses (default: every interface's).
	NodeIPs func() ([]net.IP, error)
	// MinSyncPeriod is the least time between two syncs (default 1s); SyncPeriod the most
	// (default 30s).
	MinSyncPeriod, SyncPeriod time.Duration
	IPTables                  iptables.Interface
	// Conntrack clears stale UDP entries; nil leaves them to expire.
	Conntrack conntrack.Interface
	Metrics   *metrics.Metrics
	Clock     clock.WithTicker
	Log       *slog.Logger
}

// Proxier keeps this node's service rules in step with the API.
type Proxier struct {
	cfg      Config
	services informers.Informer[*corev1.Service]
	slices   informers.Informer[*discoveryv1.EndpointSlice]
	trigger  chan struct{}
	// force asks Run for a sync at once, past MinSyncPeriod: iptables was flushed.
	force chan struct{}

	mu sync.Mutex
	// queuedAt is when the oldest change not yet synced arrived (zero: none).
	queuedAt   time.Time
	lastSynced time.Time
	// lastData is the last restore input applied, to log only syncs that changed something.
	lastData []byte
	// udp is what the last sync programmed for UDP service ports, for conntrack; nil until
	// the first sync, which (knowing nothing of the time before a restart) counts every
	// UDP port as newly given endpoints.
	udp map[string]udpPort
}

// New returns a Proxier on factory's Service and EndpointSlice informers; start the
// factory, then Run.
func New(cfg Config, factory *informers.SharedInformerFactory) (*Proxier, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("proxier: NodeName is required")
	}
	if cfg.IPTables == nil {
		return nil, errors.New("proxier: IPTables is required")
	}
	if cfg.MinSyncPeriod <= 0 {
		cfg.MinSyncPeriod = time.Second
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 30 * time.Second
	}
	if cfg.SyncPeriod < cfg.MinSyncPeriod {
		return nil, fmt.Errorf("proxier: sync period %v is shorter than the min sync period %v", cfg.SyncPeriod, cfg.MinSyncPeriod)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.NodeIPs == nil {
		cfg.NodeIPs = interfaceIPs
	}
	p := &Proxier{
		cfg: cfg, services: factory.Services(), slices: factory.EndpointSlices(),
		trigger: make(chan struct{}, 1), force: make(chan struct{}, 1),
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc: func(runtime.Object) { p.changed() },
		UpdateFunc: func(o, n runtime.Object) {
			// Resyncs and re-lists repeat objects unchanged; the periodic sync covers them.
			if o.GetMetadata().GetResourceVersion() != n.GetMetadata().GetResourceVersion() {
				p.changed()
			}
		},
		DeleteFunc: func(any) { p.changed() },
	}
	for _, inf := range []cache.SharedIndexInformer{p.services.Informer(), p.slices.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("proxier: %w", err)
		}
	}
	return p, nil
}

// changed asks for a sync; it never blocks (a pending request covers any number).
func (p *Proxier) changed() {
	p.mu.Lock()
	if p.queuedAt.IsZero() {
		p.queuedAt = p.cfg.Clock.Now()
	}
	p.mu.Unlock()
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Run syncs until ctx ends: once the informers have listed everything (rules written from
// a partial list would cut off services), then after changes, no more often than
// MinSyncPeriod, and at least every SyncPeriod. A failed sync is retried after a back-off
// of 1s, doubling up to SyncPeriod. Meanwhile it watches the iptables canary
// (monitorCanary) and syncs at once when it is gone.
func (p *Proxier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { p.monitorCanary(ctx) })
	if !cache.WaitForCacheSync(ctx, p.services.Informer().HasSynced, p.slices.Informer().HasSynced) {
		return nil
	}
	var last time.Time
	pending, retry := true, time.Duration(0)
	for {
		delay := p.cfg.SyncPeriod
		if pending {
			delay = max(p.cfg.MinSyncPeriod, retry)
		}
		if wait := last.Add(delay).Sub(p.cfg.Clock.Now()); wait > 0 {
			t := p.cfg.Clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-p.trigger:
				t.Stop()
				pending = true
				continue
			case <-p.force:
				t.Stop()
			case <-t.C():
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-p.trigger:
		default:
		}
		last, pending = p.cfg.Clock.Now(), false
		if err := p.Sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			retry = min(max(2*retry, time.Second), p.cfg.SyncPeriod)
			pending = true
			p.cfg.Log.Error("sync proxy rules failed", "err", err, "retryIn", retry)
			continue
		}
		retry = 0
	}
}

// Sync writes the rules for the informers' current state: the jumps from the built-in
// chains, then every chain of the proxy in one iptables-restore, then clears conntrack
// entries of UDP endpoints that went away.
func (p *Proxier) Sync(ctx context.Context) error {
	start := p.cfg.Clock.Now()
	svcs, err := p.services.Lister().List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	sliceList, err := p.slices.Lister().List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	ports := servicemap.Build(svcs, sliceList, p.cfg.NodeName)

	ipt := p.cfg.IPTables
	for _, j := range rules.Jumps {
		if err := ipt.EnsureChain(ctx, j.Table, j.Target); err != nil {
			return fmt.Errorf("ensure chain %s/%s: %w", j.Table, j.Target, err)
		}
		if err := ipt.EnsureRule(ctx, j.Table, j.Chain, j.Args()...); err != nil {
			return fmt.Errorf("ensure jump %s/%s → %s: %w", j.Table, j.Chain, j.Target, err)
		}
	}
	existing, err := ipt.Chains(ctx, rules.TableNAT)
	if err != nil {
		// Rules can still be written; stale chains wait for the next sync.
		p.cfg.Log.Warn("list nat chains: stale chains not deleted this time", "err", err)
	}
	rcfg := p.cfg.Rules
	if p.cfg.NodePortCIDRs != nil {
		rcfg.RestrictNodePorts = true
		rcfg.NodePortIPs, err = p.nodePortIPs()
		if err != nil {
			p.cfg.Log.Error("list node addresses for --nodeport-addresses: node ports may not work", "err", err)
		}
	}
	res := rules.Render(rcfg, ports, existing)
	if err := ipt.Restore(ctx, res.Data); err != nil {
		p.cfg.Metrics.RestoreFailed()
		return fmt.Errorf("iptables-restore: %w", err)
	}
	end := p.cfg.Clock.Now()
	p.cfg.Metrics.Synced(end.Sub(start), end, res.FilterRules, res.NATRules, res.NoLocalInternal, res.NoLocalExternal)

	p.mu.Lock()
	changed := !bytes.Equal(res.Data, p.lastData)
	p.lastData = res.Data
	if !p.queuedAt.After(start) {
		p.queuedAt = time.Time{}
	}
	p.lastSynced = end
	prev := p.udp
	p.udp = udpPorts(ports)
	cur := p.udp
	p.mu.Unlock()

	endpoints := 0
	for i := range ports {
		endpoints += len(servicemap.Categorize(&ports[i]).AllReachable)
	}
	level := slog.LevelDebug
	if changed {
		level = slog.LevelInfo
	}
	p.cfg.Log.Log(ctx, level, "synced proxy rules", "servicePorts", len(ports), "endpoints", endpoints,
		"natRules", res.NATRules, "filterRules", res.FilterRules, "deletedChains", len(res.DeletedChains),
		"duration", end.Sub(start).Round(time.Microsecond))
	if p.cfg.Conntrack != nil {
		p.clearStaleUDP(ctx, prev, cur)
	}
	return nil
}

// Canary flush timing, upstream's iptablesFlushPollTime and iptablesFlushTimeout: once the
// first table's canary is gone, the others are waited for (a flush of several tables is
// several commands) so the resync does not run between them.
const (
	canaryFlushPoll    = 100 * time.Millisecond
	canaryFlushTimeout = 5 * time.Second
)

// monitorCanary is kube-proxy's iptables Monitor: it keeps an empty KUBE-PROXY-CANARY
// chain in the mangle, nat and filter tables and checks the mangle one every SyncPeriod.
// When it is gone, someone flushed iptables and every service rule went with it, so it
// asks Run for a sync at once rather than at the next periodic one, then sets the canaries
// up again. Nobody but the proxy writes to mangle, which is why it is watched.
func (p *Proxier) monitorCanary(ctx context.Context) {
	ipt, tables := p.cfg.IPTables, rules.CanaryTables
	for {
		for !p.ensureCanaries(ctx) {
			if !p.sleep(ctx, p.cfg.SyncPeriod) {
				return
			}
		}
		for {
			if !p.sleep(ctx, p.cfg.SyncPeriod) {
				return
			}
			ok, err := ipt.ChainExists(ctx, tables[0], rules.CanaryChain)
			if err != nil {
				p.cfg.Log.Warn("check iptables canary", "table", tables[0], "chain", rules.CanaryChain, "err", err)
				continue
			}
			if !ok {
				break
			}
		}
		p.cfg.Log.Info("iptables canary deleted", "table", tables[0], "chain", rules.CanaryChain)
		for deadline := p.cfg.Clock.Now().Add(canaryFlushTimeout); !p.canariesGone(ctx, tables[1:]); {
			if !p.cfg.Clock.Now().Before(deadline) {
				p.cfg.Log.Warn("inconsistent iptables state detected: canary gone from some tables only")
				break
			}
			if !p.sleep(ctx, canaryFlushPoll) {
				return
			}
		}
		p.cfg.Log.Info("reloading proxy rules after iptables flush")
		select {
		case p.force <- struct{}{}:
		default:
		}
	}
}

// ensureCanaries creates the canary in every table; false when one could not be.
func (p *Proxier) ensureCanaries(ctx context.Context) bool {
	for _, table := range rules.CanaryTables {
		if err := p.cfg.IPTables.EnsureChain(ctx, table, rules.CanaryChain); err != nil {
			if ctx.Err() == nil {
				p.cfg.Log.Error("set up iptables canary", "table", table, "chain", rules.CanaryChain, "err", err)
			}
			return false
		}
	}
	return true
}

// canariesGone reports whether the canary is gone from every table in tables; one that
// cannot be checked counts as still there.
func (p *Proxier) canariesGone(ctx context.Context, tables []string) bool {
	for _, table := range tables {
		if ok, err := p.cfg.IPTables.ChainExists(ctx, table, rules.CanaryChain); ok || err != nil {
			return false
		}
	}
	return true
}

// sleep waits d on the clock; false when ctx ended first.
func (p *Proxier) sleep(ctx context.Context, d time.Duration) bool {
	t := p.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// Healthy reports whether the rules keep up with the API: no change has waited longer
// than twice the sync period (kube-proxy's /healthz), and when the last sync was.
func (p *Proxier) Healthy() (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.queuedAt.IsZero() || p.cfg.Clock.Since(p.queuedAt) < 2*p.cfg.SyncPeriod
	return ok, p.lastSynced
}

func (p *Proxier) nodePortIPs() ([]string, error) {
	ips, err := p.cfg.NodeIPs()
	var out []string
	for _, ip := range ips {
		if ip.To4() == nil || ip.IsLoopback() {
			continue
		}
		for _, n := range p.cfg.NodePortCIDRs {
			if n.Contains(ip) {
				out = append(out, ip.String())
				break
			}
		}
	}
	return out, err
}

func interfaceIPs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	return ips, nil
}

// udpPort is what a sync programmed for a UDP service port.
type udpPort struct {
	clusterIP   string
	externalIPs []string
	nodePort    int32
	// endpoints are the endpoints reachable from this node, by ip:port as upstream's
	// endpoints map keys them: an endpoint whose port changed is one gone and one new,
	// and flows still NATed to the old port must be cleared.
	endpoints map[string]servicemap.Endpoint
}

func udpPorts(ports []servicemap.ServicePort) map[string]udpPort {
	out := map[string]udpPort{}
	for i := range ports {
		sp := &ports[i]
		if sp.Name.Protocol != corev1.ProtocolUDP {
			continue
		}
		u := udpPort{clusterIP: sp.ClusterIP, externalIPs: sp.ExternalIPs, nodePort: sp.NodePort, endpoints: map[string]servicemap.Endpoint{}}
		for _, e := range servicemap.Categorize(sp).AllReachable {
			u.endpoints[net.JoinHostPort(e.IP, strconv.Itoa(int(e.Port)))] = e
		}
		out[sp.Name.String()] = u
	}
	return out
}

// clearStaleUDP deletes the conntrack entries the last sync made wrong: flows NATed to an
// endpoint that is gone, and flows to a service port that had no endpoint (they were
// rejected, and would stay so) now that it has one. prev is nil on the first sync: then
// every flow to a UDP port with endpoints is cleared, since one may still be NATed to an
// endpoint that went away while the proxy was down.
func (p *Proxier) clearStaleUDP(ctx context.Context, prev, cur map[string]udpPort) {
	var filters []conntrack.Filter
	for name, old := range prev {
		now, still := cur[name]
		for key, ep := range old.endpoints {
			if _, kept := now.endpoints[key]; still && kept {
				continue
			}
			// The conntrack tool matches the NAT target by address only: an endpoint that
			// moved port clears its address's flows, as upstream's ClearEntriesForNAT.
			for _, ip := range append([]string{old.clusterIP}, old.externalIPs...) {
				filters = append(filters, conntrack.Filter{OrigDst: ip, DstNAT: ep.IP})
			}
			if old.nodePort != 0 {
				filters = append(filters, conntrack.Filter{OrigPortDst: old.nodePort, DstNAT: ep.IP})
			}
		}
	}
	for name, now := range cur {
		if old, ok := prev[name]; len(now.endpoints) == 0 || (ok && len(old.endpoints) > 0) {
			continue
		}
		for _, ip := range append([]string{now.clusterIP}, now.externalIPs...) {
			filters = append(filters, conntrack.Filter{OrigDst: ip})
		}
		if now.nodePort != 0 {
			filters = append(filters, conntrack.Filter{OrigPortDst: now.nodePort})
		}
	}
	done := map[conntrack.Filter]bool{}
	for _, f := range filters {
		if done[f] {
			continue // two ports of one address went
		}
		done[f] = true
		if err := p.cfg.Conntrack.ClearUDP(ctx, f); err != nil {
			p.cfg.Log.Warn("clear stale conntrack entries", "filter", f.String(), "err", err)
		} else {
			p.cfg.Log.Debug("cleared stale conntrack entries", "filter", f.String())
		}
	}
}

// Cleanup removes every rule and chain the proxy made (proxy --cleanup): the jumps from
// the built-in chains first, so the chains can then be emptied and deleted in one restore,
// and the canaries.
func Cleanup(ctx context.Context, ipt iptables.Interface) error {
	var errs []error
	existing := map[string][]string{}
	for _, table := range []string{rules.TableFilter, rules.TableNAT} {
		chains, err := ipt.Chains(ctx, table)
		if err != nil {
			return fmt.Errorf("list %s chains: %w", table, err)
		}
		existing[table] = chains
	}
	for _, j := range rules.Jumps {
		if !slices.Contains(existing[j.Table], j.Target) {
			continue // no chain, so no jump to it
		}
		for {
			deleted, err := ipt.DeleteRule(ctx, j.Table, j.Chain, j.Args()...)
			if err != nil {
				errs = append(errs, fmt.Errorf("delete jump %s/%s → %s: %w", j.Table, j.Chain, j.Target, err))
			}
			if !deleted || err != nil {
				break
			}
		}
	}
	if data := rules.Cleanup(existing); data != nil {
		if err := ipt.Restore(ctx, data); err != nil {
			errs = append(errs, fmt.Errorf("delete chains: %w", err))
		}
	}
	for _, table := range rules.CanaryTables {
		if err := ipt.DeleteChain(ctx, table, rules.CanaryChain); err != nil {
			errs = append(errs, fmt.Errorf("delete %s/%s: %w", table, rules.CanaryChain, err))
		}
	}
	return errors.Join(errs...)
}
