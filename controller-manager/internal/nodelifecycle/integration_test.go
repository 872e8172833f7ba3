package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// cluster is a real apiserver with nodes whose kubelets are faked (a heartbeat is a Lease
// update) and the controller running on a fake clock.
type cluster struct {
	t   *testing.T
	ctx context.Context
	cs  *kube.Clientset
	clk *fakeClock
	c   *Controller
}

// startCluster creates Ready nodes, their leases, and on each node a pod tolerating
// unreachable for tolerationSeconds, then starts the controller.
func startCluster(t *testing.T, tolerationSeconds int64, names ...string) *cluster {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	start := time.Now()
	for _, name := range names {
		n := readyNode(name, start)
		n.Metadata.Uid = ""
		if _, err := cs.Nodes().Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		l := lease(name, start)
		l.Metadata.Uid = ""
		if _, err := cs.Leases(LeaseNamespace).Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		p := podOn(name, "web-"+name, tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(tolerationSeconds)))
		p.Metadata.Uid = ""
		p.Spec.Containers = []*corev1.Container{{Name: "web", Image: "nginx"}}
		if _, err := cs.Pods("default").Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	clk := &fakeClock{now: start}
	runCtx, stop := context.WithCancel(ctx)
	cc := newContext(runCtx, cs.Transport(), clk)
	cc.Options.NodeMonitorPeriod = 20 * time.Millisecond // real time: how often the fake clock is looked at
	c, err := New(runCtx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(runCtx)
	done := make(chan struct{})
	go func() { c.Run(runCtx, 2); close(done) }()
	t.Cleanup(func() { stop(); <-done; cc.Informers.Shutdown() })
	cl := &cluster{t: t, ctx: ctx, cs: cs, clk: clk, c: c}
	for _, name := range names {
		cl.waitObserved(name)
	}
	return cl
}

func (cl *cluster) node(name string) *corev1.Node {
	n, err := cl.cs.Nodes().Get(cl.ctx, name)
	if err != nil {
		cl.t.Fatal(err)
	}
	return n
}

func (cl *cluster) hasNoExecute(name string) bool { return hasOwnNoExecute(cl.node(name)) }

// waitObserved waits until the controller has heard name's last heartbeat at the clock's
// current time.
func (cl *cluster) waitObserved(name string) {
	waitFor(cl.t, "the controller to observe "+name, func() bool {
		cl.c.mu.Lock()
		defer cl.c.mu.Unlock()
		rec := cl.c.healthByNode[name]
		return rec != nil && rec.probe.Equal(cl.clk.Now())
	})
}

// waitJudged waits until every node has been synced at the clock's current time.
func (cl *cluster) waitJudged(names ...string) {
	for _, name := range names {
		waitFor(cl.t, "a sync of "+name, func() bool {
			cl.c.mu.Lock()
			defer cl.c.mu.Unlock()
			rec := cl.c.healthByNode[name]
			return rec != nil && !rec.judged.Before(cl.clk.Now())
		})
	}
}

// beat renews name's lease at the clock's time and waits for the controller to hear it.
func (cl *cluster) beat(name string) {
	cur, err := cl.cs.Leases(LeaseNamespace).Get(cl.ctx, name)
	if err != nil {
		cl.t.Fatal(err)
	}
	next := proto.Clone(cur).(*coordinationv1.Lease)
	next.Spec.RenewTime = &metav1.MicroTime{Seconds: cl.clk.Now().Unix()}
	if _, err := cl.cs.Leases(LeaseNamespace).Update(cl.ctx, next); err != nil {
		cl.t.Fatal(err)
	}
	cl.waitObserved(name)
}

func (cl *cluster) podGone(name string) bool {
	pod, err := cl.cs.Pods("default").Get(cl.ctx, name)
	return err != nil || pod.GetMetadata().GetDeletionTimestamp() != nil
}

// advance moves the clock on by d in steps of at most 20 s (half the grace period), the
// alive nodes heartbeating after each, so no pass ever sees them silent.
func (cl *cluster) advance(d time.Duration, alive ...string) {
	for d > 0 {
		s := min(d, 20*time.Second)
		cl.clk.Step(s)
		d -= s
		for _, n := range alive {
			cl.beat(n)
		}
	}
}

// silenceN1 lets n1 go past the grace period while n2 and n3 stay fresh.
func (cl *cluster) silenceN1() {
	cl.advance(41*time.Second, "n2", "n3")
	waitFor(cl.t, "Ready=Unknown and the unreachable NoExecute taint on n1", func() bool {
		return readyCondition(cl.node("n1")).GetStatus() == "Unknown" && cl.hasNoExecute("n1")
	})
}

func TestIntegrationStaleNode(t *testing.T) {
	cl := startCluster(t, 60, "n1", "n2", "n3")
	cl.silenceN1()
	if r := readyCondition(cl.node("n1")); r.GetReason() != reasonNodeStatusUnknown || r.GetMessage() != messageStopped {
		t.Fatalf("Ready = %v", r)
	}
	if cl.podGone("web-n1") {
		t.Fatal("pod evicted before its toleration ran out")
	}

	// 60 s of toleration later the pod is evicted (deleted gracefully: it is bound).
	cl.advance(61*time.Second, "n2", "n3")
	waitFor(t, "the pod's eviction", func() bool { return cl.podGone("web-n1") })
	waitFor(t, "a TaintManagerEviction event", func() bool {
		evs, err := cl.cs.Events("default").List(cl.ctx, transport.ListOptions{FieldSelector: "involvedObject.name=web-n1"})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(evs.GetItems(), func(e *corev1.Event) bool { return e.GetReason() == ReasonTaintManagerEviction })
	})
	cl.waitJudged("n2", "n3")
	if cl.podGone("web-n2") || cl.podGone("web-n3") || cl.hasNoExecute("n2") || cl.hasNoExecute("n3") {
		t.Fatal("the healthy nodes were tainted or lost their pods")
	}

	// The kubelet comes back: renewing its lease removes the taints.
	cl.beat("n1")
	waitFor(t, "the taints to go", func() bool { return len(cl.node("n1").GetSpec().GetTaints()) == 0 })
}

func TestIntegrationAllNodesSilent(t *testing.T) {
	cl := startCluster(t, 60, "n1", "n2", "n3")
	// n1 alone first: it is tainted as usual.
	cl.silenceN1()

	// Then nobody heartbeats: master disruption mode removes n1's taint and adds none.
	cl.clk.Step(41 * time.Second)
	waitFor(t, "all nodes Unknown and n1's NoExecute taint gone", func() bool {
		for _, n := range []string{"n1", "n2", "n3"} {
			if readyCondition(cl.node(n)).GetStatus() != "Unknown" {
				return false
			}
		}
		return !cl.hasNoExecute("n1")
	})
	// Long past every toleration, after a sync of every node, no pod is evicted.
	cl.clk.Step(10 * time.Minute)
	cl.waitJudged("n1", "n2", "n3")
	for _, n := range []string{"n1", "n2", "n3"} {
		if cl.hasNoExecute(n) {
			t.Errorf("%s has a NoExecute taint in master disruption mode: %v", n, keys(cl.node(n).GetSpec().GetTaints()))
		}
		if cl.podGone("web-" + n) {
			t.Errorf("pod web-%s was evicted in master disruption mode", n)
		}
	}
}
