package nodeipam

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var (
	nodeGVK  = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Node"}
	eventGVK = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Event"}
)

func node(name, cidr string) *corev1.Node {
	return &corev1.Node{Kind: "Node", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name},
		Spec:     &corev1.NodeSpec{PodCIDR: cidr}}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newContext is a controller context over t with its recorders running.
func newContext(ctx context.Context, t transport.Interface, cidr string, mask int) *controllerctx.Context {
	opts := controllerctx.DefaultOptions()
	opts.ClusterCIDR, opts.NodeCIDRMaskSize = cidr, mask
	return &controllerctx.Context{
		Client:    kube.New(t),
		Informers: informers.NewSharedInformerFactory(t, 0),
		Recorder: func(component string) *record.Recorder {
			r := record.New(record.Config{Client: t, Component: component, Log: quietLog()})
			go r.Run(ctx)
			return r
		},
		Log:     quietLog(),
		Options: opts,
	}
}

// fixture is a controller over a fake transport with a synced cache and a rebuilt table;
// tests call sync directly.
func fixture(t *testing.T, cidr string, mask int, objs ...runtime.Object) (*Controller, *cachetest.Transport, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	tr := cachetest.New()
	for _, o := range objs {
		tr.AddObject(o)
	}
	cc := newContext(ctx, tr, cidr, mask)
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	cc.Informers.Start(ctx)
	t.Cleanup(cc.Informers.Shutdown)
	if !cache.WaitForCacheSync(ctx, c.synced) {
		t.Fatal("cache did not sync")
	}
	c.rebuild()
	return c, tr, ctx
}

func storedCIDR(t *testing.T, tr *cachetest.Transport, name string) *corev1.NodeSpec {
	t.Helper()
	for _, o := range tr.Objects(nodeGVK) {
		if o.GetMetadata().GetName() == name {
			return o.(*corev1.Node).GetSpec()
		}
	}
	t.Fatalf("node %s not stored", name)
	return nil
}

func TestSyncAssignsNextFreeCIDR(t *testing.T) {
	c, tr, ctx := fixture(t, "10.244.0.0/16", 24, node("old", "10.244.0.0/24"), node("new", ""))
	if err := c.sync(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	spec := storedCIDR(t, tr, "new")
	if spec.GetPodCIDR() != "10.244.1.0/24" || len(spec.GetPodCIDRs()) != 1 || spec.GetPodCIDRs()[0] != "10.244.1.0/24" {
		t.Fatalf("new node spec = %v; want podCIDR(s) 10.244.1.0/24 (10.244.0.0/24 was in use before start)", spec)
	}
	// A second sync of the same Node, before the cache shows the write, must not allocate
	// again: it re-reads the Node.
	if err := c.sync(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if c.set.free() != 254 {
		t.Fatalf("free = %d after two syncs, want 254", c.set.free())
	}
}

func TestSyncFullRangeRecordsEventAndRetries(t *testing.T) {
	c, tr, ctx := fixture(t, "10.244.0.0/24", 24, node("a", "10.244.0.0/24"), node("b", ""))
	if err := c.sync(ctx, "b"); err == nil {
		t.Fatal("sync of a node with no CIDR left succeeded; want an error so it is retried")
	}
	waitFor(t, "a CIDRNotAvailable event", func() bool {
		for _, o := range tr.Objects(eventGVK) {
			ev := o.(*corev1.Event)
			if ev.GetReason() == ReasonCIDRNotAvailable && ev.GetInvolvedObject().GetName() == "b" {
				return true
			}
		}
		return false
	})
	// Deleting a frees its subnet for b.
	tr.DeleteObject(node("a", ""))
	waitFor(t, "the cache to drop a", func() bool { _, err := c.nodes.Get("a"); return err != nil })
	if err := c.sync(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := storedCIDR(t, tr, "b").GetPodCIDR(); got != "10.244.0.0/24" {
		t.Fatalf("b got %q after a was deleted, want 10.244.0.0/24", got)
	}
}

func TestSyncRecordsCIDRSetByOthers(t *testing.T) {
	c, tr, ctx := fixture(t, "10.244.0.0/23", 24)
	tr.AddObject(node("manual", "10.244.0.0/24"))
	tr.AddObject(node("auto", ""))
	waitFor(t, "the cache", func() bool { l, _ := c.nodes.List(nil); return len(l) == 2 })
	for _, n := range []string{"manual", "auto"} {
		if err := c.sync(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := storedCIDR(t, tr, "auto").GetPodCIDR(); got != "10.244.1.0/24" {
		t.Fatalf("auto got %q, want 10.244.1.0/24", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
