package cache

import (
	"fmt"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	corev1 "kubelab.io/proto/api/core/v1"
	tu "kubelab.io/scheduler/internal/testutil"
)

func newCache() (*Cache, *testingclock.FakeClock) {
	clk := testingclock.NewFakeClock(time.Unix(1_700_000_000, 0))
	return New(clk, 30*time.Second, nil), clk
}

func requestedCPU(t *testing.T, c *Cache, s *Snapshotter, node string) int64 {
	t.Helper()
	ni := c.UpdateSnapshot(s).Get(node)
	if ni == nil {
		t.Fatalf("node %s not in snapshot", node)
	}
	return ni.Requested.MilliCPU
}

func bound(p *corev1.Pod, node string) *corev1.Pod {
	p.Spec.NodeName = node
	return p
}

func TestAssumeConfirm(t *testing.T) {
	c, _ := newCache()
	s := NewSnapshotter()
	c.AddNode(tu.Node("n1").Obj())
	pod := bound(tu.Pod("p").Req("cpu", "500m").Obj(), "n1")
	if err := c.AssumePod(pod); err != nil {
		t.Fatal(err)
	}
	if !c.IsAssumedPod(pod) || requestedCPU(t, c, s, "n1") != 500 {
		t.Fatal("assumed pod not accounted")
	}
	if err := c.AssumePod(pod); err == nil {
		t.Fatal("assumed twice")
	}
	c.FinishBinding(pod)
	c.AddPod(pod) // the informer reports the bound pod
	if c.IsAssumedPod(pod) || requestedCPU(t, c, s, "n1") != 500 {
		t.Fatal("confirmation lost or doubled the accounting")
	}
	if _, pods, assumed := c.Counts(); pods != 1 || assumed != 0 {
		t.Fatalf("pods %d assumed %d", pods, assumed)
	}
}

func TestForget(t *testing.T) {
	c, _ := newCache()
	s := NewSnapshotter()
	c.AddNode(tu.Node("n1").Obj())
	pod := bound(tu.Pod("p").Req("cpu", "1").Obj(), "n1")
	_ = c.AssumePod(pod)
	if err := c.ForgetPod(pod); err != nil {
		t.Fatal(err)
	}
	if c.IsAssumedPod(pod) || requestedCPU(t, c, s, "n1") != 0 {
		t.Fatal("forget left the pod accounted")
	}
	// A confirmed pod cannot be forgotten.
	c.AddPod(pod)
	if err := c.ForgetPod(pod); err == nil {
		t.Fatal("forgot a bound pod")
	}
}

func TestExpire(t *testing.T) {
	c, clk := newCache()
	s := NewSnapshotter()
	c.AddNode(tu.Node("n1").Obj())
	pending := bound(tu.Pod("binding").Req("cpu", "1").Obj(), "n1")
	lost := bound(tu.Pod("lost").Req("cpu", "2").Obj(), "n1")
	_ = c.AssumePod(pending) // bind still in flight: never expires
	_ = c.AssumePod(lost)
	c.FinishBinding(lost)
	clk.Step(30 * time.Second)
	c.CleanupExpiredAssumedPods()
	if requestedCPU(t, c, s, "n1") != 3000 {
		t.Fatal("expired at the deadline, not after it")
	}
	clk.Step(time.Second)
	c.CleanupExpiredAssumedPods()
	if c.IsAssumedPod(lost) || !c.IsAssumedPod(pending) || requestedCPU(t, c, s, "n1") != 1000 {
		t.Fatal("wrong assumptions expired")
	}
}

func TestBoundElsewhere(t *testing.T) {
	c, _ := newCache()
	s := NewSnapshotter()
	c.AddNode(tu.Node("n1").Obj())
	c.AddNode(tu.Node("n2").Obj())
	_ = c.AssumePod(bound(tu.Pod("p").Req("cpu", "1").Obj(), "n1"))
	c.AddPod(bound(tu.Pod("p").Req("cpu", "1").Obj(), "n2"))
	if requestedCPU(t, c, s, "n1") != 0 || requestedCPU(t, c, s, "n2") != 1000 {
		t.Fatal("pod not moved to the node it was bound to")
	}
}

func TestPodsBeforeNodeAndNodeRemoval(t *testing.T) {
	c, _ := newCache()
	s := NewSnapshotter()
	c.AddPod(bound(tu.Pod("early").Req("cpu", "1").Obj(), "n1"))
	if c.UpdateSnapshot(s).NumNodes() != 0 {
		t.Fatal("a node without a Node object is in the snapshot")
	}
	c.AddNode(tu.Node("n1").Obj())
	if requestedCPU(t, c, s, "n1") != 1000 {
		t.Fatal("pod seen before its node not accounted")
	}
	c.RemoveNode(tu.Node("n1").Obj())
	if c.UpdateSnapshot(s).NumNodes() != 0 {
		t.Fatal("removed node still in snapshot")
	}
}

func TestSnapshotIncremental(t *testing.T) {
	c, _ := newCache()
	s := NewSnapshotter()
	for i := range 5 {
		c.AddNode(tu.Node(fmt.Sprintf("n%d", i)).Images(100, "nginx:1").Obj())
	}
	snap := c.UpdateSnapshot(s)
	before := map[string]any{}
	for _, ni := range snap.List {
		before[ni.Name()] = ni
	}
	if snap.ImageNumNodes["nginx:1"] != 5 {
		t.Fatalf("image spread %v", snap.ImageNumNodes)
	}
	c.AddPod(bound(tu.Pod("p").Req("cpu", "1").Obj(), "n2"))
	snap = c.UpdateSnapshot(s)
	for i, ni := range snap.List {
		if want := fmt.Sprintf("n%d", i); ni.Name() != want {
			t.Fatalf("list order %d: %s", i, ni.Name())
		}
		changed := before[ni.Name()] != any(ni)
		if changed != (ni.Name() == "n2") {
			t.Errorf("%s: cloned=%v; only n2 changed", ni.Name(), changed)
		}
	}
	if snap.Get("n2").Requested.MilliCPU != 1000 || snap.NodeInfoMap["n2"] != snap.List[2] {
		t.Fatal("n2 not updated in both map and list")
	}
	// The cache changing does not change the snapshot's clones.
	c.AddPod(bound(tu.Pod("q").Req("cpu", "1").Obj(), "n2"))
	if snap.Get("n2").Requested.MilliCPU != 1000 {
		t.Fatal("snapshot clone shares state with the cache")
	}
	c.AddNode(tu.Node("n9").Obj())
	c.RemoveNode(tu.Node("n0").Obj())
	snap = c.UpdateSnapshot(s)
	if snap.NumNodes() != 5 || snap.Get("n0") != nil || snap.Get("n9") == nil || snap.Get("n2").Requested.MilliCPU != 2000 {
		t.Fatalf("after add/remove: %d nodes", snap.NumNodes())
	}
	if snap.ImageNumNodes["nginx:1"] != 4 {
		t.Fatalf("image spread after removal %v", snap.ImageNumNodes)
	}
}
