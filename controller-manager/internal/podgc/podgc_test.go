package podgc

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder is the controller-manager's fake transport that also keeps, per pod, the options
// of its delete and the body of its status patch.
type recorder struct {
	*controllertest.Transport
	mu      sync.Mutex
	deletes map[string]*metav1.DeleteOptions
	patches map[string]string
}

func (r *recorder) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	r.mu.Lock()
	r.deletes[ref.Namespace+"/"+ref.Name] = opts
	r.mu.Unlock()
	return r.Transport.Delete(ctx, ref, opts)
}

func (r *recorder) Patch(ctx context.Context, ref transport.Ref, pt transport.PatchType, data []byte, sub string) (runtime.Object, error) {
	r.mu.Lock()
	r.patches[ref.Namespace+"/"+ref.Name] = string(data)
	r.mu.Unlock()
	return r.Transport.Patch(ctx, ref, pt, data, sub)
}

type fixture struct {
	t   *testing.T
	tr  *recorder
	inf *informers.SharedInformerFactory
	clk *clocktesting.FakeClock
	c   *Controller
}

// newFixture builds the controller over a fake client whose caches the test fills directly
// (the informers never run); a pass is f.gc(), on a fake clock.
func newFixture(t *testing.T, threshold int) *fixture {
	f := &fixture{t: t, clk: clocktesting.NewFakeClock(epoch),
		tr: &recorder{Transport: controllertest.NewTransport(), deletes: map[string]*metav1.DeleteOptions{}, patches: map[string]string{}}}
	f.inf = informers.NewSharedInformerFactory(f.tr, 0)
	c, err := NewController(Config{Client: kube.New(f.tr), Pods: f.inf.Pods(), Nodes: f.inf.Nodes(), TerminatedPodThreshold: threshold,
		Log: slog.New(slog.DiscardHandler), Clock: f.clk, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func (f *fixture) put(objs ...runtime.Object) {
	f.t.Helper()
	controllertest.Put(f.t, f.tr.Transport, f.inf, objs...)
}

// gc runs one pass and returns the writes it made.
func (f *fixture) gc() []string {
	f.c.gc(context.Background())
	return f.tr.TakeActions()
}

func (f *fixture) count(ns, reason string) float64 {
	return testutil.ToFloat64(f.c.deleting.WithLabelValues(ns, reason))
}

type podOpt func(*corev1.Pod)

func on(node string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
func phase(ph string) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func created(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.Metadata.CreationTimestamp = controller.NewTime(epoch.Add(d)) }
}
func evicted() podOpt {
	return func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = controller.PodFailed, "Evicted" }
}
func terminating() podOpt {
	return func(p *corev1.Pod) { p.Metadata.DeletionTimestamp = controller.NewTime(epoch) }
}

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name, CreationTimestamp: controller.NewTime(epoch)},
		Spec:     &corev1.PodSpec{},
		Status:   &corev1.PodStatus{Phase: controller.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func node(name string, ready bool, taints ...string) *corev1.Node {
	status := controller.ConditionFalse
	if ready {
		status = controller.ConditionTrue
	}
	n := &corev1.Node{
		Kind: "Node", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name},
		Spec:     &corev1.NodeSpec{},
		Status:   &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: status}}},
	}
	for _, k := range taints {
		n.Spec.Taints = append(n.Spec.Taints, &corev1.Taint{Key: k, Effect: "NoExecute"})
	}
	return n
}

func TestTerminatedPodsBeyondThresholdOldestFirst(t *testing.T) {
	f := newFixture(t, 2)
	f.put(node("n1", true),
		pod("old-done", on("n1"), phase(controller.PodSucceeded), created(time.Minute)),
		pod("older-failed", on("n1"), phase(controller.PodFailed), created(0)),
		pod("new-done", on("n1"), phase(controller.PodSucceeded), created(3*time.Minute)),
		pod("newest-evicted", on("n1"), evicted(), created(4*time.Minute)),
		pod("newer-done", on("n1"), phase(controller.PodSucceeded), created(2*time.Minute)),
		pod("running", on("n1"), created(-time.Hour)),
		pod("pending", on("n1"), phase(controller.PodPending), created(-time.Hour)))
	// Five terminated, two may stay: the evicted one goes first, then the two oldest.
	want := []string{"delete pods default/newest-evicted", "delete pods default/old-done", "delete pods default/older-failed"}
	if got := f.gc(); !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	for name, opts := range f.tr.deletes {
		if opts.GetGracePeriodSeconds() != 0 || opts.GracePeriodSeconds == nil || opts.GetPreconditions().GetUid() != "uid-"+name[len("default/"):] {
			t.Errorf("delete of %s: options %v, want grace period 0 and its uid", name, opts)
		}
	}
	if n := f.count("default", reasonTerminated); n != 3 {
		t.Errorf("pod_gc_collector_force_delete_pods_total{reason=terminated} = %v, want 3", n)
	}
}

func TestTerminatedThresholdZeroKeepsAll(t *testing.T) {
	f := newFixture(t, 0)
	f.put(node("n1", true), pod("a", on("n1"), phase(controller.PodSucceeded)), pod("b", on("n1"), phase(controller.PodFailed)))
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("actions = %q, want none", got)
	}
}

// TestOrphanedPodAfterQuarantine: a pod bound to a node that is not there is left alone for
// the quarantine, then marked Failed with DisruptionTarget and deleted.
func TestOrphanedPodAfterQuarantine(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	f.put(node("n1", true), pod("ok", on("n1")), pod("orphan", on("gone")))
	for range 2 { // t = 0 s, 20 s
		if got := f.gc(); len(got) != 0 {
			t.Fatalf("at %v: actions = %q, want none during the quarantine", f.clk.Since(epoch), got)
		}
		f.clk.Step(GCCheckPeriod)
	}
	want := []string{"delete pods default/orphan", "patch pods default/orphan/status"}
	if got := f.gc(); !slices.Equal(got, want) { // t = 40 s
		t.Fatalf("actions = %q, want %q", got, want)
	}
	patch := f.tr.patches["default/orphan"]
	wantPatch := `{"metadata":{"uid":"uid-orphan"},"status":{"phase":"Failed","conditions":[{"type":"DisruptionTarget","status":"True","lastTransitionTime":"2026-01-01T00:00:40Z","reason":"DeletionByPodGC","message":"PodGC: node no longer exists"}]}}`
	if patch != wantPatch {
		t.Errorf("status patch = %s\nwant %s", patch, wantPatch)
	}
	if opts := f.tr.deletes["default/orphan"]; opts.GracePeriodSeconds == nil || opts.GetGracePeriodSeconds() != 0 || opts.GetPreconditions().GetUid() != "uid-orphan" {
		t.Errorf("delete options = %v, want grace period 0 and the pod's uid", opts)
	}
	if n := f.count("default", reasonOrphaned); n != 1 {
		t.Errorf("pod_gc_collector_force_delete_pods_total{reason=orphaned} = %v, want 1", n)
	}
}

// TestOrphanQuarantineSparesNodesThatExist: a node the cache learns of during the quarantine,
// or one the cache lacks but a GET finds, keeps its pods.
func TestOrphanQuarantineSparesNodesThatExist(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	f.put(pod("late", on("late-node")), pod("lagging", on("lagging-node")))
	f.gc()
	f.clk.Step(GCCheckPeriod)
	f.put(node("late-node", true))
	f.tr.UpdateObject(node("lagging-node", true)) // in the apiserver, not in the cache
	f.gc()
	f.clk.Step(QuarantineTime)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("actions = %q, want none", got)
	}
	// Still missing from the cache: quarantined again, and spared again by the GET.
	f.clk.Step(QuarantineTime)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("actions = %q, want none", got)
	}
}

// TestOrphanedFinishedPodIsOnlyDeleted: a pod that already finished keeps its status.
func TestOrphanedFinishedPodIsOnlyDeleted(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	f.put(pod("done", on("gone"), phase(controller.PodSucceeded)))
	f.gc()
	f.clk.Step(QuarantineTime)
	if got, want := f.gc(), []string{"delete pods default/done"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
}

func TestTerminatingPodsOnOutOfServiceNodes(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	f.put(node("down", false, TaintNodeOutOfService), node("ready-oos", true, TaintNodeOutOfService), node("notready", false, "other"),
		pod("stuck", on("down"), terminating()),
		pod("running-on-down", on("down")),
		pod("stuck-on-ready", on("ready-oos"), terminating()),
		pod("stuck-on-notready", on("notready"), terminating()))
	want := []string{"delete pods default/stuck", "patch pods default/stuck/status"}
	if got := f.gc(); !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	if got, want := f.tr.patches["default/stuck"], `{"metadata":{"uid":"uid-stuck"},"status":{"phase":"Failed"}}`; got != want {
		t.Errorf("status patch = %s, want %s", got, want)
	}
	if n := f.count("default", reasonOutOfService); n != 1 {
		t.Errorf("pod_gc_collector_force_delete_pods_total{reason=out-of-service} = %v, want 1", n)
	}
}

// TestOutOfServiceTakesTerminatingNotFinished: upstream 1.32's gcTerminating picks pods by
// deletionTimestamp alone, whatever their phase: a finished pod nobody deleted stays (it is
// gcTerminated's, beyond the threshold), a finished one being deleted goes without a status
// patch, and a node whose Ready condition is Unknown or missing counts as not Ready.
func TestOutOfServiceTakesTerminatingNotFinished(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	unknown := node("unknown", true, TaintNodeOutOfService)
	unknown.Status.Conditions[0].Status = "Unknown"
	silent := node("silent", true, TaintNodeOutOfService)
	silent.Status.Conditions = nil
	f.put(node("down", false, TaintNodeOutOfService), unknown, silent,
		pod("done", on("down"), phase(controller.PodSucceeded)),
		pod("failed", on("down"), phase(controller.PodFailed)),
		pod("done-deleting", on("down"), phase(controller.PodSucceeded), terminating()),
		pod("on-unknown", on("unknown"), terminating()),
		pod("on-silent", on("silent"), terminating()))
	want := []string{"delete pods default/done-deleting", "delete pods default/on-silent", "delete pods default/on-unknown",
		"patch pods default/on-silent/status", "patch pods default/on-unknown/status"}
	got := f.gc()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	if n := f.count("default", reasonOutOfService); n != 3 {
		t.Errorf("pod_gc_collector_force_delete_pods_total{reason=out-of-service} = %v, want 3", n)
	}
}

func TestUnscheduledTerminatingPods(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	f.put(pod("stuck", terminating(), phase(controller.PodPending)), pod("waiting", phase(controller.PodPending)))
	want := []string{"delete pods default/stuck", "patch pods default/stuck/status"}
	if got := f.gc(); !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	if n := f.count("default", reasonUnscheduled); n != 1 {
		t.Errorf("pod_gc_collector_force_delete_pods_total{reason=unscheduled} = %v, want 1", n)
	}
}

// TestNamesakeIsSpared: the cache still holds a pod the apiserver has replaced by one of the
// same name; the uid preconditions keep the new pod, and that is no error.
func TestNamesakeIsSpared(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	old := pod("p", terminating())
	f.put(old)
	fresh := pod("p")
	fresh.Metadata.Uid = "uid-new"
	f.tr.UpdateObject(fresh)
	f.gc()
	if _, err := f.tr.Get(context.Background(), transport.Ref{Mapping: controller.CoreMapping("Pod"), Namespace: "default", Name: "p"}); err != nil {
		t.Fatalf("the new pod is gone: %v", err)
	}
	if n := testutil.ToFloat64(f.c.errors.WithLabelValues("default", reasonUnscheduled)); n != 0 {
		t.Errorf("errors = %v, want 0", n)
	}
}

// TestRunPassesOnTheClock: Run makes a pass at once and one per period of its clock.
func TestRunPassesOnTheClock(t *testing.T) {
	f := newFixture(t, DefaultTerminatedPodGCThreshold)
	f.put(pod("orphan", on("gone")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.c.synced = nil // the caches were filled by hand
	go func() { f.c.Run(ctx, 1); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := range 3 {
		at := epoch.Add(time.Duration(i) * GCCheckPeriod)
		controllertest.Eventually(t, "a pass at "+at.String(), func() (bool, string) {
			last := f.c.passedAt()
			return last.Equal(at), "last pass at " + last.String()
		})
		if i < 2 {
			f.clk.Step(GCCheckPeriod)
		}
	}
	if got, want := f.tr.TakeActions(), []string{"delete pods default/orphan", "patch pods default/orphan/status"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
}

func TestSortForGC(t *testing.T) {
	pods := []*corev1.Pod{
		pod("b", phase(controller.PodSucceeded), created(time.Minute)),
		pod("a", phase(controller.PodSucceeded), created(time.Minute)),
		pod("evicted-new", evicted(), created(time.Hour)),
		pod("oldest", phase(controller.PodFailed), created(0)),
	}
	SortForGC(pods)
	var got []string
	for _, p := range pods {
		got = append(got, p.GetMetadata().GetName())
	}
	if want := []string{"evicted-new", "oldest", "a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("order = %q, want %q", got, want)
	}
}
