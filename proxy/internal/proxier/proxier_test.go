package proxier_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proxy/internal/conntrack"
	"kubelab.io/proxy/internal/iptables"
	"kubelab.io/proxy/internal/metrics"
	"kubelab.io/proxy/internal/proxier"
	"kubelab.io/proxy/internal/proxytest"
	"kubelab.io/proxy/internal/rules"
)

// fixture is a proxier on a fake transport and a fake iptables.
type fixture struct {
	api     *cachetest.Transport
	ipt     *iptables.Fake
	ct      *fakeConntrack
	m       *metrics.Metrics
	clock   *testingclock.FakeClock
	p       *proxier.Proxier
	factory *informers.SharedInformerFactory
	ctx     context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{api: cachetest.New(), ipt: iptables.NewFake(), ct: &fakeConntrack{}, m: metrics.New(),
		clock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), ctx: ctx}
	factory := informers.NewSharedInformerFactory(f.api, 0)
	p, err := proxier.New(proxier.Config{
		NodeName: "node-a", Rules: rules.Config{ClusterCIDR: "10.244.0.0/16"},
		MinSyncPeriod: time.Second, SyncPeriod: 30 * time.Second,
		IPTables: f.ipt, Conntrack: f.ct, Metrics: f.m, Clock: f.clock,
		Log: slog.New(slog.DiscardHandler),
	}, factory)
	if err != nil {
		t.Fatal(err)
	}
	f.p, f.factory = p, factory
	factory.Start(ctx)
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.WaitForCacheSync(ctx)
	return f
}

// settle waits until the informers' caches hold what the transport holds: its watches
// deliver asynchronously.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	versions := func(objs []runtime.Object) map[string]string {
		m := map[string]string{}
		for _, o := range objs {
			m[o.GetMetadata().GetNamespace()+"/"+o.GetMetadata().GetName()] = o.GetMetadata().GetResourceVersion()
		}
		return m
	}
	for kind, inf := range map[string]cache.SharedIndexInformer{
		"Service": f.factory.Services().Informer(), "EndpointSlice": f.factory.EndpointSlices().Informer(),
	} {
		group := scheme.GroupCore
		if kind == "EndpointSlice" {
			group = scheme.GroupDiscovery
		}
		gvk := runtime.GroupVersionKind{Group: group, Version: "v1", Kind: kind}
		waitFor(t, "the informers to catch up", func() bool {
			return maps.Equal(versions(inf.GetStore().List()), versions(f.api.Objects(gvk)))
		})
	}
}

// sync waits for the informers to see the transport's objects, then syncs.
func (f *fixture) sync(t *testing.T) {
	t.Helper()
	f.settle(t)
	if err := f.p.Sync(f.ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

type fakeConntrack struct {
	mu      sync.Mutex
	cleared []conntrack.Filter
}

func (c *fakeConntrack) ClearUDP(_ context.Context, f conntrack.Filter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleared = append(c.cleared, f)
	return nil
}

func (c *fakeConntrack) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, f := range c.cleared {
		out = append(out, f.String())
	}
	c.cleared = nil
	slices.Sort(out)
	return out
}

func TestSyncRulesJumpsAndStaleChains(t *testing.T) {
	f := newFixture(t)
	svc := f.api.AddObject(proxytest.Service("default", "web", "10.96.0.10", []proxytest.Port{{Port: 80}}))
	f.api.AddObject(proxytest.Slice("default", "web", "web-1", []proxytest.SlicePort{{Port: 80}}, proxytest.Endpoint{IP: "10.244.1.5", Node: "node-b"}))
	f.sync(t)
	f.sync(t) // twice: the jumps must not be doubled

	svcChain := rules.ServiceChain("default/web", "TCP")
	if !f.ipt.HasChain("nat", svcChain) {
		t.Fatalf("no %s after a sync", svcChain)
	}
	for _, j := range rules.Jumps {
		n := 0
		for _, r := range f.ipt.Rules(j.Table, j.Chain) {
			if r == strings.Join(j.Args(), " ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s/%s jumps to %s %d times, want 1", j.Table, j.Chain, j.Target, n)
		}
	}

	// The service goes: its chains are deleted by the next sync.
	f.api.DeleteObject(svc)
	f.sync(t)
	if f.ipt.HasChain("nat", svcChain) {
		t.Errorf("%s survived its service", svcChain)
	}
	for _, r := range f.ipt.Rules("nat", rules.ServicesChain) {
		if strings.Contains(r, "default/web") {
			t.Errorf("KUBE-SERVICES still has %q", r)
		}
	}

	// Cleanup removes the jumps and every chain of the proxy.
	if err := proxier.Cleanup(f.ctx, f.ipt); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"filter", "nat"} {
		chains, _ := f.ipt.Chains(f.ctx, table)
		for _, c := range chains {
			if strings.HasPrefix(c, "KUBE-") {
				t.Errorf("Cleanup left %s/%s", table, c)
			}
			for _, r := range f.ipt.Rules(table, c) {
				if strings.Contains(r, "KUBE-") {
					t.Errorf("Cleanup left %s/%s: %s", table, c, r)
				}
			}
		}
	}
}

// TestConntrackUDP: a UDP endpoint that goes has its flows cleared; a UDP port that gets
// its first endpoint has the flows to it cleared (they were being rejected); TCP never.
func TestConntrackUDP(t *testing.T) {
	f := newFixture(t)
	f.api.AddObject(proxytest.Service("kube-system", "dns", "10.96.0.12", []proxytest.Port{{Name: "dns", Port: 53, Protocol: "UDP", NodePort: 30053}}, proxytest.NodePort("Cluster")))
	f.api.AddObject(proxytest.Service("default", "web", "10.96.0.10", []proxytest.Port{{Port: 80}}))
	dns := f.api.AddObject(proxytest.Slice("kube-system", "dns", "dns-1", []proxytest.SlicePort{{Name: "dns", Port: 53, Protocol: "UDP"}},
		proxytest.Endpoint{IP: "10.244.0.2", Node: "node-a"}, proxytest.Endpoint{IP: "10.244.1.2", Node: "node-b"}))
	web := f.api.AddObject(proxytest.Slice("default", "web", "web-1", []proxytest.SlicePort{{Port: 80}},
		proxytest.Endpoint{IP: "10.244.0.3", Node: "node-a"}, proxytest.Endpoint{IP: "10.244.1.3", Node: "node-b"}))
	f.sync(t)
	// A restarted proxy does not know what the endpoints were before: a UDP endpoint that
	// went while it was down may still hold flows, so the first sync clears every flow to
	// a UDP port with endpoints (they pick an endpoint again with their next packet).
	want := []string{"udp dport=30053", "udp dst=10.96.0.12"}
	if got := f.ct.take(); !slices.Equal(got, want) {
		t.Errorf("first sync cleared %v, want %v", got, want)
	}

	dns = f.api.UpdateObject(proxytest.Slice("kube-system", "dns", "dns-1", []proxytest.SlicePort{{Name: "dns", Port: 53, Protocol: "UDP"}},
		proxytest.Endpoint{IP: "10.244.0.2", Node: "node-a"}))
	f.api.UpdateObject(proxytest.Slice("default", "web", "web-1", []proxytest.SlicePort{{Port: 80}}, proxytest.Endpoint{IP: "10.244.0.3", Node: "node-a"}))
	f.sync(t)
	want = []string{"udp dport=30053 nat-to=10.244.1.2", "udp dst=10.96.0.12 nat-to=10.244.1.2"}
	if got := f.ct.take(); !slices.Equal(got, want) {
		t.Errorf("after an endpoint went: cleared %v, want %v", got, want)
	}

	// The endpoint keeps its address and moves port: flows NATed to the old port are stale.
	dns = f.api.UpdateObject(proxytest.Slice("kube-system", "dns", "dns-1", []proxytest.SlicePort{{Name: "dns", Port: 5353, Protocol: "UDP"}},
		proxytest.Endpoint{IP: "10.244.0.2", Node: "node-a"}))
	f.sync(t)
	want = []string{"udp dport=30053 nat-to=10.244.0.2", "udp dst=10.96.0.12 nat-to=10.244.0.2"}
	if got := f.ct.take(); !slices.Equal(got, want) {
		t.Errorf("after the endpoint's port changed: cleared %v, want %v", got, want)
	}

	f.api.DeleteObject(dns)
	f.sync(t)
	f.ct.take()
	f.api.AddObject(proxytest.Slice("kube-system", "dns", "dns-2", []proxytest.SlicePort{{Name: "dns", Port: 53, Protocol: "UDP"}},
		proxytest.Endpoint{IP: "10.244.1.9", Node: "node-b"}))
	f.sync(t)
	want = []string{"udp dport=30053", "udp dst=10.96.0.12"}
	if got := f.ct.take(); !slices.Equal(got, want) {
		t.Errorf("after the port got an endpoint: cleared %v, want %v", got, want)
	}
	_ = web
}

func TestSyncFailure(t *testing.T) {
	f := newFixture(t)
	f.ipt.FailRestore(errors.New("boom"))
	if err := f.p.Sync(f.ctx); err == nil {
		t.Fatal("Sync succeeded with a failing iptables-restore")
	}
	mfs, _ := f.m.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() == "kubeproxy_sync_proxy_rules_iptables_restore_failures_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("restore failures = %v, want 1", v)
			}
			return
		}
	}
	t.Error("no restore failures metric")
}

// TestRunRateLimits: Run syncs once the caches are filled, then batches changes into at
// most one sync per MinSyncPeriod, resyncs every SyncPeriod, and /healthz turns
// unhealthy when a change waits more than twice the SyncPeriod.
func TestRunRateLimits(t *testing.T) {
	f := newFixture(t)
	done := make(chan error, 1)
	go func() { done <- f.p.Run(f.ctx) }()
	restores := func() int { return len(f.ipt.Restores()) }
	waitFor(t, "the first sync", func() bool { return restores() == 1 })

	// Three changes within the min sync period: one sync, a second later.
	for i, name := range []string{"a", "b", "c"} {
		f.api.AddObject(proxytest.Service("default", name, "10.96.0."+string(rune('1'+i)), []proxytest.Port{{Port: 80}}))
	}
	f.settle(t)
	if n := restores(); n != 1 {
		t.Fatalf("%d restores before the min sync period passed, want 1", n)
	}
	waitFor(t, "a timer", f.clock.HasWaiters)
	f.clock.Step(time.Second)
	waitFor(t, "the batched sync", func() bool { return restores() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := restores(); n != 2 {
		t.Errorf("%d restores after one batch, want 2", n)
	}
	if data := string(f.ipt.Restores()[1]); !strings.Contains(data, "default/a") || !strings.Contains(data, "default/c") {
		t.Errorf("the batched sync lacks a service:\n%s", data)
	}

	// Nothing changes: the next sync is the periodic one.
	waitFor(t, "a timer", f.clock.HasWaiters)
	f.clock.Step(29 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := restores(); n != 2 {
		t.Errorf("%d restores before the sync period, want 2", n)
	}
	f.clock.Step(time.Second)
	waitFor(t, "the periodic sync", func() bool { return restores() == 3 })
	if ok, _ := f.p.Healthy(); !ok {
		t.Error("unhealthy after syncing")
	}

	// Restores fail: a change stays unsynced, and after 2×SyncPeriod the proxy is unhealthy.
	f.ipt.FailRestore(errors.New("boom"))
	f.api.AddObject(proxytest.Service("default", "d", "10.96.0.9", []proxytest.Port{{Port: 80}}))
	f.settle(t)
	f.clock.Step(61 * time.Second)
	if ok, _ := f.p.Healthy(); ok {
		t.Error("healthy with a change unsynced for 61s (sync period 30s)")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestCanaryForcesResync: the proxy keeps KUBE-PROXY-CANARY in mangle, nat and filter; when
// iptables is flushed under it, the next canary check (every SyncPeriod) syncs at once,
// ahead of the periodic sync, and sets the canaries up again.
func TestCanaryForcesResync(t *testing.T) {
	f := newFixture(t)
	f.api.AddObject(proxytest.Service("default", "web", "10.96.0.10", []proxytest.Port{{Port: 80}}))
	f.settle(t)
	done := make(chan error, 1)
	go func() { done <- f.p.Run(f.ctx) }()
	restores := func() int { return len(f.ipt.Restores()) }
	canaries := func() bool {
		for _, table := range rules.CanaryTables {
			if !f.ipt.HasChain(table, rules.CanaryChain) {
				return false
			}
		}
		return true
	}
	waitFor(t, "the first sync", func() bool { return restores() == 1 })
	waitFor(t, "the canaries", canaries)

	// A change 20s in moves the periodic sync to 50s; the canary is checked at 30s.
	waitFor(t, "the sync and canary timers", func() bool { return f.clock.Waiters() == 2 })
	f.clock.Step(20 * time.Second)
	f.api.AddObject(proxytest.Service("default", "api", "10.96.0.11", []proxytest.Port{{Port: 443}}))
	waitFor(t, "the change's sync", func() bool { return restores() == 2 })

	for _, table := range rules.CanaryTables {
		f.ipt.Flush(table)
	}
	if f.ipt.HasChain(rules.TableNAT, rules.ServicesChain) {
		t.Fatal("the flush left KUBE-SERVICES")
	}
	waitFor(t, "the sync and canary timers", func() bool { return f.clock.Waiters() == 2 })
	f.clock.Step(10 * time.Second)
	waitFor(t, "the forced sync", func() bool { return restores() == 3 })
	waitFor(t, "the canaries again", canaries)
	if !f.ipt.HasChain(rules.TableNAT, rules.ServicesChain) || len(f.ipt.Rules(rules.TableNAT, "PREROUTING")) == 0 {
		t.Errorf("no KUBE-SERVICES or no jump to it after the forced sync: %q", f.ipt.Rules(rules.TableNAT, "PREROUTING"))
	}
	if data := string(f.ipt.Restores()[2]); !strings.Contains(data, "default/api") || !strings.Contains(data, "default/web") {
		t.Errorf("the forced sync lacks a service:\n%s", data)
	}

	// Canaries intact: the next check (at 60s) finds them and forces nothing; the one sync
	// is the periodic one, 30s after the forced sync.
	waitFor(t, "the sync and canary timers", func() bool { return f.clock.Waiters() == 2 })
	f.clock.Step(30 * time.Second)
	waitFor(t, "the periodic sync", func() bool { return restores() == 4 })
	waitFor(t, "the sync and canary timers", func() bool { return f.clock.Waiters() == 2 })
	if n := restores(); n != 4 {
		t.Errorf("%d restores after the canary check found them, want 4", n)
	}
}
