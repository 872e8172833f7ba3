package nodeipam

import (
	"context"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
)

// startController runs a controller with its own informers over cs until the returned
// stop is called.
func startController(t *testing.T, cs *kube.Clientset, cidr string, mask int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cc := newContext(ctx, cs.Transport(), cidr, mask)
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	stop = func() { cancel(); <-done; cc.Informers.Shutdown() }
	t.Cleanup(stop)
	return stop
}

func podCIDR(t *testing.T, ctx context.Context, cs *kube.Clientset, name string) string {
	t.Helper()
	n, err := cs.Nodes().Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return n.GetSpec().GetPodCIDR()
}

func waitCIDR(t *testing.T, ctx context.Context, cs *kube.Clientset, name string) string {
	t.Helper()
	var got string
	waitFor(t, "a pod CIDR on "+name, func() bool { got = podCIDR(t, ctx, cs, name); return got != "" })
	return got
}

func createNode(t *testing.T, ctx context.Context, cs *kube.Clientset, name string) {
	t.Helper()
	n := node(name, "")
	n.Metadata.Uid = ""
	if _, err := cs.Nodes().Create(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationAllocateFreeRestart(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Two subnets in all, so freeing and never re-issuing are both visible.
	stop := startController(t, cs, "10.244.0.0/23", 24)

	createNode(t, ctx, cs, "node-a")
	createNode(t, ctx, cs, "node-b")
	a, b := waitCIDR(t, ctx, cs, "node-a"), waitCIDR(t, ctx, cs, "node-b")
	if a == b {
		t.Fatalf("node-a and node-b both got %s", a)
	}
	nb, _ := cs.Nodes().Get(ctx, "node-b")
	if got := nb.GetSpec().GetPodCIDRs(); len(got) != 1 || got[0] != b {
		t.Fatalf("node-b podCIDRs = %v, want [%s]", got, b)
	}

	// The range is full: node-c waits, with an event saying why.
	createNode(t, ctx, cs, "node-c")
	waitCIDRNotAvailable(t, ctx, cs, "node-c")

	// Deleting node-a frees its subnet, and node-c gets it.
	if _, err := cs.Nodes().Delete(ctx, "node-a", nil); err != nil {
		t.Fatal(err)
	}
	if c := waitCIDR(t, ctx, cs, "node-c"); c != a {
		t.Fatalf("node-c got %s, want node-a's freed %s", c, a)
	}

	// A restarted controller rebuilds its table from the Nodes: nothing is re-issued.
	stop()
	startController(t, cs, "10.244.0.0/23", 24)
	createNode(t, ctx, cs, "node-d")
	// The event proves the new controller has decided about node-d.
	waitCIDRNotAvailable(t, ctx, cs, "node-d")
	if d := podCIDR(t, ctx, cs, "node-d"); d != "" {
		t.Fatalf("node-d got %s after a restart, though node-b and node-c hold the whole range", d)
	}
	if _, err := cs.Nodes().Delete(ctx, "node-b", nil); err != nil {
		t.Fatal(err)
	}
	if d := waitCIDR(t, ctx, cs, "node-d"); d != b {
		t.Fatalf("node-d got %s, want node-b's freed %s", d, b)
	}
}

func waitCIDRNotAvailable(t *testing.T, ctx context.Context, cs *kube.Clientset, name string) {
	t.Helper()
	waitFor(t, "a CIDRNotAvailable event for "+name, func() bool {
		evs, err := cs.Events("default").List(ctx, transport.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.GetItems() {
			if ev.GetReason() == ReasonCIDRNotAvailable {
				return true
			}
		}
		return false
	})
}
