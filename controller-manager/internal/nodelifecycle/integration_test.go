package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/transport"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestIntegrationStaleNode(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The kubelet's side: a Ready node, its lease, and a pod bound to it.
	start := time.Now()
	n := readyNode("n1", start)
	n.Metadata.Uid = ""
	if _, err := cs.Nodes().Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	l := lease("n1", start)
	l.Metadata.Uid = ""
	if _, err := cs.Leases(LeaseNamespace).Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	p := podOn("n1", "web", tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(60)))
	p.Metadata.Uid = ""
	p.Spec.Containers = []*corev1.Container{{Name: "web", Image: "nginx"}}
	if _, err := cs.Pods("default").Create(ctx, p); err != nil {
		t.Fatal(err)
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
	defer func() { stop(); <-done; cc.Informers.Shutdown() }()

	node := func() *corev1.Node {
		n, err := cs.Nodes().Get(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	hasUnreachable := func() bool {
		return slices.ContainsFunc(node().GetSpec().GetTaints(), func(t *corev1.Taint) bool {
			return t.GetKey() == TaintUnreachable && t.GetEffect() == EffectNoExecute
		})
	}
	// Let the controller see the node at its start time, then stop heartbeating.
	waitFor(t, "the controller to observe n1", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.healthByNode["n1"] != nil
	})
	clk.Step(41 * time.Second)
	waitFor(t, "Ready=Unknown and the unreachable taint", func() bool {
		return readyCondition(node()).GetStatus() == "Unknown" && hasUnreachable()
	})
	if r := readyCondition(node()); r.GetReason() != reasonNodeStatusUnknown || r.GetMessage() != messageStopped {
		t.Fatalf("Ready = %v", r)
	}
	pod, err := cs.Pods("default").Get(ctx, "web")
	if err != nil || pod.GetMetadata().GetDeletionTimestamp() != nil {
		t.Fatalf("pod evicted before its toleration ran out: %v, %v", pod.GetMetadata(), err)
	}

	// 60 s of toleration later the pod is evicted (deleted gracefully: it is bound).
	clk.Step(61 * time.Second)
	waitFor(t, "the pod's eviction", func() bool {
		pod, err := cs.Pods("default").Get(ctx, "web")
		return err != nil || pod.GetMetadata().GetDeletionTimestamp() != nil
	})
	waitFor(t, "a TaintManagerEviction event", func() bool {
		evs, err := cs.Events("default").List(ctx, transport.ListOptions{FieldSelector: "involvedObject.name=web"})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(evs.GetItems(), func(e *corev1.Event) bool { return e.GetReason() == ReasonTaintManagerEviction })
	})

	// The kubelet comes back: renewing its lease removes the taints.
	cur, err := cs.Leases(LeaseNamespace).Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(cur).(*coordinationv1.Lease)
	next.Spec.RenewTime = &metav1.MicroTime{Seconds: clk.Now().Unix()}
	if _, err := cs.Leases(LeaseNamespace).Update(ctx, next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the taints to go", func() bool { return len(node().GetSpec().GetTaints()) == 0 })
}
