package podgc

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// cluster is a real apiserver and the controller running as the controller-manager's RBAC
// identity (so the bootstrap role must let it list pods and nodes, get nodes, patch
// pods/status and delete pods), on a fake clock the test steps a period at a time.
type cluster struct {
	t       *testing.T
	ctx     context.Context
	admin   *kube.Clientset
	clk     *clocktesting.FakeClock
	factory *informers.SharedInformerFactory
	c       *Controller
}

func startCluster(t *testing.T, threshold int) *cluster {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	cs := controllertest.ControllerManagerClient(t, srv, "pod-garbage-collector")
	ctx, cancel := context.WithTimeout(context.Background(), controllertest.Wait)
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	clk := clocktesting.NewFakeClock(time.Now())
	c, err := NewController(Config{Client: cs, Pods: factory.Pods(), Nodes: factory.Nodes(), TerminatedPodThreshold: threshold,
		Log: log, Clock: clk, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	factory.Start(runCtx)
	done := make(chan struct{})
	go func() { c.Run(runCtx, 1); close(done) }()
	t.Cleanup(func() { stop(); <-done; factory.Shutdown() })
	cl := &cluster{t: t, ctx: ctx, admin: srv.Clientset(true), clk: clk, factory: factory, c: c}
	cl.waitPass()
	return cl
}

// waitPass waits for a pass at the clock's current time.
func (cl *cluster) waitPass() {
	cl.t.Helper()
	controllertest.Eventually(cl.t, "a pass at "+cl.clk.Now().String(), func() (bool, string) {
		return cl.c.passedAt().Equal(cl.clk.Now()), "last pass at " + cl.c.passedAt().String()
	})
}

// period moves the clock on by one period and waits for that pass.
func (cl *cluster) period() {
	cl.t.Helper()
	cl.clk.Step(GCCheckPeriod)
	cl.waitPass()
}

// cached waits until the controller's caches agree with cond.
func (cl *cluster) cached(what string, cond func(pods []*corev1.Pod, nodes []*corev1.Node) bool) {
	cl.t.Helper()
	controllertest.Eventually(cl.t, what, func() (bool, string) {
		pods, _ := cl.factory.Pods().Lister().List(labels.Everything())
		nodes, _ := cl.factory.Nodes().Lister().List(labels.Everything())
		return cond(pods, nodes), fmt.Sprintf("%d pods, %d nodes cached", len(pods), len(nodes))
	})
}

func (cl *cluster) createPod(name, nodeName string, finalizers ...string) *corev1.Pod {
	cl.t.Helper()
	p, err := cl.admin.Pods("default").Create(cl.ctx, &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Finalizers: finalizers},
		Spec:     &corev1.PodSpec{NodeName: nodeName, Containers: []*corev1.Container{{Name: "web", Image: "nginx"}}},
	})
	if err != nil {
		cl.t.Fatal(err)
	}
	return p
}

func (cl *cluster) podNames() []string {
	cl.t.Helper()
	l, err := cl.admin.Pods("default").List(cl.ctx, transport.ListOptions{})
	if err != nil {
		cl.t.Fatal(err)
	}
	var names []string
	for _, p := range l.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			names = append(names, p.GetMetadata().GetName())
		}
	}
	slices.Sort(names)
	return names
}

// TestOrphanedPodGoneAfterQuarantine: pods bound to a node that was deleted are left for the
// quarantine and gone within the quarantine plus one period of the controller's clock, marked
// Failed with DisruptionTarget first (seen on a pod a finalizer holds).
func TestOrphanedPodGoneAfterQuarantine(t *testing.T) {
	cl := startCluster(t, DefaultTerminatedPodGCThreshold)
	if _, err := cl.admin.Nodes().Create(cl.ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	cl.createPod("web", "n1")
	cl.createPod("held", "n1", "example.com/hold")
	cl.cached("pods and node cached", func(pods []*corev1.Pod, nodes []*corev1.Node) bool { return len(pods) == 2 && len(nodes) == 1 })
	if _, err := cl.admin.Nodes().Delete(cl.ctx, "n1", nil); err != nil {
		t.Fatal(err)
	}
	cl.cached("node deletion cached", func(_ []*corev1.Pod, nodes []*corev1.Node) bool { return len(nodes) == 0 })

	// The node's absence is first seen by the next pass, at most a period after the delete;
	// the quarantine (two periods) runs from there.
	for range 2 {
		cl.period()
		if got := cl.podNames(); !slices.Equal(got, []string{"held", "web"}) {
			t.Fatalf("pods at %v: %q, want both during the quarantine", cl.clk.Now(), got)
		}
	}
	cl.period()
	if got := cl.podNames(); len(got) != 0 {
		t.Fatalf("pods after the quarantine and a period: %q, want none", got)
	}
	if _, err := cl.admin.Pods("default").Get(cl.ctx, "web"); !apierrors.IsNotFound(err) {
		t.Fatalf("pod web: %v, want NotFound", err)
	}
	held, err := cl.admin.Pods("default").Get(cl.ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	cond := controller.GetPodCondition(held, "DisruptionTarget")
	if held.GetStatus().GetPhase() != controller.PodFailed || cond.GetStatus() != controller.ConditionTrue || cond.GetReason() != ReasonDeletionByPodGC ||
		held.GetMetadata().GetDeletionGracePeriodSeconds() != 0 {
		t.Fatalf("held pod: phase %q, DisruptionTarget %v, grace %d; want Failed, True/DeletionByPodGC, 0",
			held.GetStatus().GetPhase(), cond, held.GetMetadata().GetDeletionGracePeriodSeconds())
	}
}

// TestTerminatedPodsTrimmedOldestFirst: with a threshold of 2, the oldest of three finished
// pods goes, though its name sorts last.
func TestTerminatedPodsTrimmedOldestFirst(t *testing.T) {
	cl := startCluster(t, 2)
	if _, err := cl.admin.Nodes().Create(cl.ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	finish := func(p *corev1.Pod) {
		p.Status.Phase = controller.PodSucceeded
		if _, err := cl.admin.Pods("default").UpdateStatus(cl.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	old := cl.createPod("c-old", "n1")
	finish(old)
	// creationTimestamp has whole seconds: the others must be created in a later one.
	created := controller.TimeOf(old.GetMetadata().GetCreationTimestamp())
	controllertest.Eventually(t, "the next second", func() (bool, string) { return time.Now().Unix() > created.Unix(), "" })
	finish(cl.createPod("a-new", "n1"))
	finish(cl.createPod("b-new", "n1"))
	cl.createPod("running", "n1")
	cl.cached("finished pods cached", func(pods []*corev1.Pod, _ []*corev1.Node) bool {
		n := 0
		for _, p := range pods {
			if p.GetStatus().GetPhase() == controller.PodSucceeded {
				n++
			}
		}
		return n == 3
	})
	cl.period()
	if got, want := cl.podNames(), []string{"a-new", "b-new", "running"}; !slices.Equal(got, want) {
		t.Fatalf("pods = %q, want %q", got, want)
	}
}
