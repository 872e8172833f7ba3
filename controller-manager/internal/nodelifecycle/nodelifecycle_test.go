package nodelifecycle

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllerctx"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var (
	nodeGVK = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Node"}
	podGVK  = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Pod"}
)

// fakeClock is the controller's injected clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func readyNode(name string, heartbeat time.Time) *corev1.Node {
	return &corev1.Node{Kind: "Node", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name},
		Spec: &corev1.NodeSpec{},
		Status: &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True", Reason: "KubeletReady",
			LastHeartbeatTime: &metav1.Time{Seconds: heartbeat.Unix()}, LastTransitionTime: &metav1.Time{Seconds: heartbeat.Unix()}}}}}
}

func lease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{Kind: "Lease", ApiVersion: "coordination.k8s.io/v1",
		Metadata: &metav1.ObjectMeta{Namespace: LeaseNamespace, Name: name, Uid: "lease-" + name},
		Spec:     &coordinationv1.LeaseSpec{HolderIdentity: proto.String(name), LeaseDurationSeconds: proto.Int32(40), RenewTime: &metav1.MicroTime{Seconds: renew.Unix()}}}
}

func podOn(node, name string, tols ...*corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name},
		Spec: &corev1.PodSpec{NodeName: node, Tolerations: tols}}
}

func newContext(ctx context.Context, t transport.Interface, clk *fakeClock) *controllerctx.Context {
	opts := controllerctx.DefaultOptions()
	opts.DefaultUnreachableTolerationSeconds = 300
	log := slog.New(slog.DiscardHandler)
	return &controllerctx.Context{
		Client:    kube.New(t),
		Informers: informers.NewSharedInformerFactory(t, 0),
		Recorder: func(component string) *record.Recorder {
			r := record.New(record.Config{Client: t, Component: component, Log: log})
			go r.Run(ctx)
			return r
		},
		Log: log, Options: opts, Clock: clk.Now,
	}
}

func fixture(t *testing.T, clk *fakeClock, objs ...runtime.Object) (*Controller, *cachetest.Transport, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	tr := cachetest.New()
	for _, o := range objs {
		tr.AddObject(o)
	}
	cc := newContext(ctx, tr, clk)
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	cc.Informers.Start(ctx)
	t.Cleanup(cc.Informers.Shutdown)
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		t.Fatal("cache did not sync")
	}
	return c, tr, ctx
}

func stored[T runtime.Object](t *testing.T, tr *cachetest.Transport, gvk runtime.GroupVersionKind, name string) (T, bool) {
	for _, o := range tr.Objects(gvk) {
		if o.GetMetadata().GetName() == name {
			return o.(T), true
		}
	}
	var zero T
	return zero, false
}

// syncWhenCached syncs once the cache holds the stored node's resourceVersion, so each step
// judges the latest state.
func syncWhenCached(t *testing.T, c *Controller, tr *cachetest.Transport, ctx context.Context, name string) {
	t.Helper()
	want, _ := stored[*corev1.Node](t, tr, nodeGVK, name)
	waitFor(t, "the cache to catch up", func() bool {
		n, err := c.nodes.Get(name)
		return err == nil && n.GetMetadata().GetResourceVersion() == want.GetMetadata().GetResourceVersion()
	})
	if err := c.sync(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func podNames(tr *cachetest.Transport) []string {
	var out []string
	for _, o := range tr.Objects(podGVK) {
		out = append(out, o.GetMetadata().GetName())
	}
	return out
}

func TestSyncStaleNodeTaintEvictRecover(t *testing.T) {
	clk := &fakeClock{now: t0}
	// n2 keeps heartbeating: a lone node going silent would be master disruption mode.
	c, tr, ctx := fixture(t, clk, readyNode("n1", t0), lease("n1", t0), readyNode("n2", t0), lease("n2", t0),
		podOn("n1", "quick", tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(0))),
		podOn("n1", "default"),
		podOn("n1", "forever", tol(TaintUnreachable, "Exists", EffectNoExecute, nil)),
		podOn("n2", "elsewhere"))

	syncWhenCached(t, c, tr, ctx, "n1")
	if n, _ := stored[*corev1.Node](t, tr, nodeGVK, "n1"); len(n.GetSpec().GetTaints()) != 0 {
		t.Fatalf("fresh node tainted: %v", n.GetSpec().GetTaints())
	}

	// Within the grace period nothing happens.
	clk.Step(39 * time.Second)
	syncWhenCached(t, c, tr, ctx, "n1")
	if n, _ := stored[*corev1.Node](t, tr, nodeGVK, "n1"); readyCondition(n).GetStatus() != "True" {
		t.Fatal("node marked before the grace period ended")
	}

	// Past it: Unknown, tainted, and the pod that tolerates for 0 s is evicted.
	clk.Step(2 * time.Second)
	monitorAfterBeats(t, c, tr, clk, "n2")
	syncWhenCached(t, c, tr, ctx, "n1")
	n, _ := stored[*corev1.Node](t, tr, nodeGVK, "n1")
	ready := readyCondition(n)
	if ready.GetStatus() != "Unknown" || ready.GetReason() != reasonNodeStatusUnknown || ready.GetMessage() != messageStopped {
		t.Fatalf("Ready = %v", ready)
	}
	if ready.GetLastHeartbeatTime().GetSeconds() != t0.Unix() {
		t.Fatalf("lastHeartbeatTime rewritten: %v", ready.GetLastHeartbeatTime())
	}
	if got := keys(n.GetSpec().GetTaints()); !slices.Equal(got, []string{TaintUnreachable + ":NoSchedule", TaintUnreachable + ":NoExecute"}) {
		t.Fatalf("taints = %v", got)
	}
	if got := podNames(tr); !slices.Equal(got, []string{"default", "elsewhere", "forever"}) {
		t.Fatalf("pods = %v, want quick evicted", got)
	}

	// The default toleration (300 s) runs out.
	clk.Step(299 * time.Second)
	monitorAfterBeats(t, c, tr, clk, "n2")
	syncWhenCached(t, c, tr, ctx, "n1")
	if got := podNames(tr); len(got) != 3 {
		t.Fatalf("pods = %v: evicted before the default toleration ran out", got)
	}
	clk.Step(2 * time.Second)
	monitorAfterBeats(t, c, tr, clk, "n2")
	syncWhenCached(t, c, tr, ctx, "n1")
	if got := podNames(tr); !slices.Equal(got, []string{"elsewhere", "forever"}) {
		t.Fatalf("pods = %v, want default evicted", got)
	}

	// The kubelet renews its lease: the taints go; the conditions are left to the kubelet.
	tr.UpdateObject(lease("n1", clk.Now()))
	waitFor(t, "the lease in the cache", func() bool {
		l, err := c.leases.Namespace(LeaseNamespace).Get("n1")
		return err == nil && l.GetSpec().GetRenewTime().GetSeconds() == clk.Now().Unix()
	})
	syncWhenCached(t, c, tr, ctx, "n1")
	n, _ = stored[*corev1.Node](t, tr, nodeGVK, "n1")
	if len(n.GetSpec().GetTaints()) != 0 {
		t.Fatalf("taints after the lease renewal = %v", keys(n.GetSpec().GetTaints()))
	}
	if readyCondition(n).GetStatus() != "Unknown" {
		t.Fatalf("the controller changed Ready on recovery: %v", readyCondition(n))
	}
}

func TestSyncNotReadyNode(t *testing.T) {
	clk := &fakeClock{now: t0}
	n := readyNode("n1", t0)
	n.Status.Conditions[0].Status = "False"
	c, tr, ctx := fixture(t, clk, n, readyNode("n2", t0), podOn("n1", "p"))
	monitorAfterBeats(t, c, tr, clk)
	syncWhenCached(t, c, tr, ctx, "n1")
	got, _ := stored[*corev1.Node](t, tr, nodeGVK, "n1")
	if k := keys(got.GetSpec().GetTaints()); !slices.Equal(k, []string{TaintNotReady + ":NoSchedule", TaintNotReady + ":NoExecute"}) {
		t.Fatalf("taints = %v", k)
	}
	if len(podNames(tr)) != 1 {
		t.Fatal("pod evicted before its default not-ready toleration ran out")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// monitorAfterBeats renews the leases of the nodes alive at the clock's time, then runs a
// monitor pass once the cache holds them and every stored node.
func monitorAfterBeats(t *testing.T, c *Controller, tr *cachetest.Transport, clk *fakeClock, alive ...string) {
	t.Helper()
	for _, name := range alive {
		tr.UpdateObject(lease(name, clk.Now()))
		waitFor(t, "the lease of "+name+" in the cache", func() bool {
			l, err := c.leases.Namespace(LeaseNamespace).Get(name)
			return err == nil && l.GetSpec().GetRenewTime().GetSeconds() == clk.Now().Unix()
		})
	}
	for _, o := range tr.Objects(nodeGVK) {
		waitFor(t, "the cache to catch up", func() bool {
			n, err := c.nodes.Get(o.GetMetadata().GetName())
			return err == nil && n.GetMetadata().GetResourceVersion() == o.GetMetadata().GetResourceVersion()
		})
	}
	c.monitor()
}

// syncAll syncs every stored node, as the workers would after a pass.
func syncAll(t *testing.T, c *Controller, tr *cachetest.Transport, ctx context.Context) {
	t.Helper()
	for _, o := range tr.Objects(nodeGVK) {
		syncWhenCached(t, c, tr, ctx, o.GetMetadata().GetName())
	}
}

// noExecuteOn lists the nodes that carry this controller's NoExecute taints.
func noExecuteOn(tr *cachetest.Transport) []string {
	var out []string
	for _, o := range tr.Objects(nodeGVK) {
		if hasOwnNoExecute(o.(*corev1.Node)) {
			out = append(out, o.GetMetadata().GetName())
		}
	}
	return out
}

func TestRateLimitedNoExecuteTainting(t *testing.T) {
	f := startNodes(t, []string{"n1", "n2", "n3", "n4"}, podOn("n2", "p", tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(0))))
	tr := f.tr

	// n1 and n2 go silent: the zone is Normal (2 of 4), its limiter (0.1/s, burst 1) lets
	// n1 through at once and n2 ten seconds later; both get NoSchedule at once.
	f.step(41*time.Second, "n3", "n4")
	if got := noExecuteOn(tr); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("NoExecute on %v, want [n1]", got)
	}
	if n, _ := stored[*corev1.Node](t, tr, nodeGVK, "n2"); !slices.Equal(keys(n.GetSpec().GetTaints()), []string{TaintUnreachable + ":NoSchedule"}) {
		t.Fatalf("n2 taints = %v, want NoSchedule only", keys(n.GetSpec().GetTaints()))
	}
	f.step(9*time.Second, "n3", "n4")
	if got := noExecuteOn(tr); !slices.Equal(got, []string{"n1"}) || len(podNames(tr)) != 1 {
		t.Fatalf("after 9s: NoExecute on %v, pods %v; want [n1] and p kept", got, podNames(tr))
	}
	f.step(time.Second, "n3", "n4")
	if got := noExecuteOn(tr); !slices.Equal(got, []string{"n1", "n2"}) || len(podNames(tr)) != 0 {
		t.Fatalf("after 10s: NoExecute on %v, pods %v; want [n1 n2] and p evicted", got, podNames(tr))
	}
}

func TestMasterDisruptionMode(t *testing.T) {
	zero := tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(0))
	f := startNodes(t, []string{"n1", "n2", "n3"}, podOn("n1", "p-n1", zero), podOn("n2", "p-n2", zero), podOn("n3", "p-n3", zero))
	tr := f.tr

	// n1 goes silent first: tainted, its pod evicted.
	f.step(41*time.Second, "n2", "n3")
	if got := noExecuteOn(tr); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("NoExecute on %v, want [n1]", got)
	}
	tr.AddObject(podOn("n1", "late", zero)) // would be evicted at once while n1 has the taint

	// Then all: master disruption mode. n1's taint goes, nobody else gets one, no pod is
	// evicted, however long it lasts; Unknown and NoSchedule stay.
	for _, step := range []time.Duration{41 * time.Second, time.Hour} {
		f.step(step)
		if got := noExecuteOn(tr); len(got) != 0 {
			t.Fatalf("NoExecute on %v in master disruption mode", got)
		}
		if got := podNames(tr); !slices.Equal(got, []string{"late", "p-n2", "p-n3"}) {
			t.Fatalf("pods = %v, want none evicted", got)
		}
		for _, name := range []string{"n1", "n2", "n3"} {
			n, _ := stored[*corev1.Node](t, tr, nodeGVK, name)
			if readyCondition(n).GetStatus() != "Unknown" || !slices.Equal(keys(n.GetSpec().GetTaints()), []string{TaintUnreachable + ":NoSchedule"}) {
				t.Fatalf("%s: Ready %v, taints %v", name, readyCondition(n).GetStatus(), keys(n.GetSpec().GetTaints()))
			}
		}
	}

	// n2 comes back: the mode ends and every node gets a fresh grace period.
	f.step(0, "n2")
	if got := noExecuteOn(tr); len(got) != 0 || len(podNames(tr)) != 3 {
		t.Fatalf("on leaving master mode: NoExecute on %v, pods %v", got, podNames(tr))
	}
	// n1 and n3 stay silent past it: tainting resumes, one at once, the other 10 s later.
	f.step(41*time.Second, "n2")
	if got := noExecuteOn(tr); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("NoExecute on %v, want [n1]", got)
	}
	f.step(10*time.Second, "n2")
	if got := noExecuteOn(tr); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("NoExecute on %v, want [n1 n3]", got)
	}
	if got := podNames(tr); !slices.Equal(got, []string{"p-n2"}) {
		t.Fatalf("pods = %v, want those of n1 and n3 evicted", got)
	}
}

// nodesFixture is a fixture of Ready nodes with leases, all heard from at t0.
type nodesFixture struct {
	t   *testing.T
	c   *Controller
	tr  *cachetest.Transport
	ctx context.Context
	clk *fakeClock
}

func startNodes(t *testing.T, names []string, objs ...runtime.Object) *nodesFixture {
	f := &nodesFixture{t: t, clk: &fakeClock{now: t0}}
	for _, n := range names {
		objs = append(objs, readyNode(n, t0), lease(n, t0))
	}
	f.c, f.tr, f.ctx = fixture(t, f.clk, objs...)
	f.step(0)
	return f
}

// step moves the clock on by d, lets the alive nodes heartbeat, runs a monitor pass and
// syncs every node.
func (f *nodesFixture) step(d time.Duration, alive ...string) {
	f.t.Helper()
	f.clk.Step(d)
	monitorAfterBeats(f.t, f.c, f.tr, f.clk, alive...)
	syncAll(f.t, f.c, f.tr, f.ctx)
}

// An evicted pod is first marked as upstream's taint manager marks it, so a Job's
// podFailurePolicy can match the eviction; a pod already marked is not written again.
func TestMarkDisruptionTarget(t *testing.T) {
	clk := &fakeClock{now: t0}
	p := &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "u"},
		Spec: &corev1.PodSpec{NodeName: "n1"}, Status: &corev1.PodStatus{Phase: "Running"}}
	c, tr, ctx := fixture(t, clk, p)
	if err := c.markDisruptionTarget(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, _ := stored[*corev1.Pod](t, tr, podGVK, "p")
	conds := got.GetStatus().GetConditions()
	if len(conds) != 1 || conds[0].GetType() != "DisruptionTarget" || conds[0].GetStatus() != "True" ||
		conds[0].GetReason() != "DeletionByTaintManager" || conds[0].GetMessage() != "Taint manager: deleting due to NoExecute taint" {
		t.Fatalf("conditions = %v", conds)
	}
	rv := got.GetMetadata().GetResourceVersion()
	if err := c.markDisruptionTarget(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := stored[*corev1.Pod](t, tr, podGVK, "p"); again.GetMetadata().GetResourceVersion() != rv {
		t.Fatal("a marked pod was written again")
	}
}
