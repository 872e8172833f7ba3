package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture is a controller over a fake client whose caches the test fills: the informers
// never run, so a sync sees exactly what the test put there, and what the controller wrote
// reaches the caches only when the test calls catchUp (a lagging informer otherwise).
type fixture struct {
	t     *testing.T
	fake  *controllertest.Transport
	inf   *informers.SharedInformerFactory
	rec   *controllertest.Recorder
	c     *Controller
	now   time.Time
	queue *workqueue.Queue[string]
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, fake: controllertest.NewTransport(), rec: &controllertest.Recorder{}, now: epoch.Add(time.Hour)}
	f.inf = informers.NewSharedInformerFactory(f.fake, 0)
	f.queue = workqueue.NewNamed[string]("test")
	t.Cleanup(f.queue.ShutDown)
	c, err := NewController(Config{
		Client:             kube.New(f.fake),
		DaemonSet:          f.inf.DaemonSets().Informer(),
		ControllerRevision: f.inf.ControllerRevisions().Informer(),
		Pod:                f.inf.Pods().Informer(),
		Node:               f.inf.Nodes().Informer(),
		Recorder:           f.rec,
		Now:                func() time.Time { return f.now },
		Queue:              f.queue,
		Log:                slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	controllertest.Put(t, f.fake, f.inf, objs...)
	return f
}

// catchUp makes every cache hold what the fake server holds, and the expectations
// fulfilled, as the informers' handlers would have by then.
func (f *fixture) catchUp() {
	f.t.Helper()
	f.c.expectations.Delete("default/agent")
	f.refresh("DaemonSet", "ControllerRevision", "Pod", "Node")
}

// refresh makes the caches of kinds hold what the fake server holds.
func (f *fixture) refresh(kinds ...string) {
	f.t.Helper()
	for _, kind := range kinds {
		group := scheme.GroupApps
		if kind == "Pod" || kind == "Node" {
			group = scheme.GroupCore
		}
		m, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: group, Version: "v1", Kind: kind})
		if err := f.inf.ForMapping(m).GetIndexer().Replace(f.fake.Objects(m.Kind)); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "default/agent"); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) actions(want ...string) {
	f.t.Helper()
	slices.Sort(want)
	if got := f.fake.TakeActions(); !slices.Equal(got, want) {
		f.t.Fatalf("actions:\n  got  %q\n  want %q", got, want)
	}
}

func (f *fixture) events(want ...string) {
	f.t.Helper()
	var got []string
	for _, e := range f.rec.Take() {
		got = append(got, e.Type+" "+e.Reason+" "+e.Message)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		f.t.Fatalf("events:\n  got  %q\n  want %q", got, want)
	}
}

func (f *fixture) pods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range f.fake.Objects(controller.CoreMapping("Pod").Kind) {
		out = append(out, o.(*corev1.Pod))
	}
	controller.SortByName(out)
	return out
}

// podsByNode renders the pods as "node:name[:hash]" sorted, for comparing placement.
func (f *fixture) placement() []string {
	var out []string
	for _, p := range f.pods() {
		node, err := targetNodeName(p)
		if err != nil {
			f.t.Fatalf("pod %s: %v", p.GetMetadata().GetName(), err)
		}
		out = append(out, node+":"+p.GetMetadata().GetName())
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// nodesOf keeps the node of each "node:pod": pods after the first are created concurrently,
// so which name a node's pod got varies.
func nodesOf(placement []string) []string {
	out := make([]string, len(placement))
	for i, p := range placement {
		out[i], _, _ = strings.Cut(p, ":")
	}
	return out
}

func (f *fixture) ds() *appsv1.DaemonSet {
	f.t.Helper()
	for _, o := range f.fake.Objects(Kind) {
		if o.GetMetadata().GetName() == "agent" {
			return o.(*appsv1.DaemonSet)
		}
	}
	f.t.Fatal("no daemonset agent")
	return nil
}

func (f *fixture) revisions() []string {
	var out []string
	for _, o := range f.fake.Objects(runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "ControllerRevision"}) {
		cr := o.(*appsv1.ControllerRevision)
		out = append(out, fmt.Sprintf("%s=%d", cr.GetMetadata().GetName(), cr.GetRevision()))
	}
	slices.Sort(out)
	return out
}

// runPods plays the scheduler and the kubelet: every pod is bound to its node and, unless
// it finished, Running and Ready since at.
func (f *fixture) runPods(at time.Time) {
	f.t.Helper()
	for _, p := range f.pods() {
		p = proto.Clone(p).(*corev1.Pod)
		node, _ := targetNodeName(p)
		p.Spec.NodeName = node
		if p.Status == nil {
			p.Status = &corev1.PodStatus{}
		}
		if !controller.IsPodTerminal(p) && !controller.IsPodReady(p) {
			p.Status.Phase = controller.PodRunning
			p.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(at)}}
		}
		if p.GetMetadata().GetCreationTimestamp() == nil {
			p.Metadata.CreationTimestamp = controller.NewTime(at)
		}
		f.fake.UpdateObject(p)
	}
	f.catchUp()
}

func newNode(name string, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{Kind: "Node", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name, Labels: map[string]string{"role": "agent"}}, Spec: &corev1.NodeSpec{}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func tainted(key, effect string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, &corev1.Taint{Key: key, Effect: effect}) }
}

func unlabelled(n *corev1.Node) { n.Metadata.Labels = nil }

func newDS(opts ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		Kind: "DaemonSet", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "agent", Uid: "uid-agent", Generation: 1},
		Spec: &appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: &corev1.PodSpec{
					NodeSelector: map[string]string{"role": "agent"},
					Containers:   []*corev1.Container{{Name: "agent", Image: "nginx:1.14.2"}},
				},
			},
		},
	}
	for _, o := range opts {
		o(ds)
	}
	defaults.DaemonSet(ds)
	return ds
}

func withImage(image string, generation int64) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = image
		ds.Metadata.Generation = generation
	}
}

// setImage changes the stored DaemonSet's template as an update through the apiserver
// would (generation bumped) and lets the cache see it.
func (f *fixture) setImage(image string) {
	f.t.Helper()
	ds := proto.Clone(f.ds()).(*appsv1.DaemonSet)
	ds.Spec.Template.Spec.Containers[0].Image = image
	ds.Metadata.Generation++
	f.fake.UpdateObject(ds)
	f.catchUp()
}

// TestPlacement: one pod per eligible node, none on the node whose taint the template does
// not tolerate nor on the one its nodeSelector does not match; the daemon tolerations let a
// pod onto a not-ready, cordoned node. Each pod is pinned to its node by node affinity, with
// the revision's hash and the template generation, owned by the DaemonSet.
func TestPlacement(t *testing.T) {
	f := newFixture(t, newDS(),
		newNode("n1"),
		newNode("n2", tainted("dedicated", "NoSchedule")),
		newNode("n3", unlabelled),
		newNode("n4", tainted(taintNotReady, "NoExecute"), tainted(taintUnschedulable, "NoSchedule")),
		newNode("n5", tainted("dedicated", "PreferNoSchedule")))
	f.sync()
	f.actions("create controllerrevisions default/", "create pods default/", "create pods default/", "create pods default/",
		"update daemonsets default/agent/status")
	if got, want := f.placement(), []string{"n1:agent-00001", "n4:agent-00002", "n5:agent-00003"}; !slices.Equal(nodesOf(got), nodesOf(want)) {
		t.Fatalf("placement = %v, want pods on n1, n4, n5", got)
	}
	hash := controller.ComputeHash(f.ds().GetSpec().GetTemplate(), nil)
	if got := f.revisions(); !slices.Equal(got, []string{"agent-" + hash + "=1"}) {
		t.Fatalf("revisions = %v", got)
	}
	for _, p := range f.pods() {
		m := p.GetMetadata()
		ref := controller.GetControllerOf(p)
		if m.GetGenerateName() != "agent-" || m.GetLabels()["app"] != "agent" || m.GetLabels()[appsv1.ControllerRevisionHashLabelKey] != hash ||
			m.GetLabels()[TemplateGenerationLabel] != "1" || ref.GetKind() != "DaemonSet" || ref.GetUid() != "uid-agent" || !ref.GetBlockOwnerDeletion() ||
			p.GetSpec().GetNodeName() != "" {
			t.Fatalf("pod %v", p)
		}
		var tolerated []string
		for _, tol := range p.GetSpec().GetTolerations() {
			tolerated = append(tolerated, tol.GetKey()+":"+tol.GetEffect())
		}
		if want := []string{taintNotReady + ":NoExecute", taintUnreachable + ":NoExecute", taintDiskPressure + ":NoSchedule",
			taintMemoryPressure + ":NoSchedule", taintPIDPressure + ":NoSchedule", taintUnschedulable + ":NoSchedule"}; !slices.Equal(tolerated, want) {
			t.Fatalf("tolerations = %v, want %v", tolerated, want)
		}
	}
	f.events("Normal SuccessfulCreate Created pod: agent-00001", "Normal SuccessfulCreate Created pod: agent-00002", "Normal SuccessfulCreate Created pod: agent-00003")
	st := f.ds().GetStatus()
	if st.GetDesiredNumberScheduled() != 3 || st.GetCurrentNumberScheduled() != 0 || st.GetObservedGeneration() != 1 {
		t.Fatalf("status = %v", st)
	}

	// The cache still lacks the pods: the next sync creates none (expectations).
	f.refresh("DaemonSet", "ControllerRevision")
	f.sync()
	f.actions()
	if adds, _ := f.c.expectations.Pending("default/agent"); adds != 3 {
		t.Fatalf("pending creations = %d", adds)
	}

	// Once they run, the status counts them; the sync after that writes nothing.
	f.runPods(epoch)
	f.sync()
	f.actions("update daemonsets default/agent/status")
	st = f.ds().GetStatus()
	if st.GetDesiredNumberScheduled() != 3 || st.GetCurrentNumberScheduled() != 3 || st.GetNumberReady() != 3 || st.GetNumberAvailable() != 3 ||
		st.GetUpdatedNumberScheduled() != 3 || st.GetNumberUnavailable() != 0 || st.GetNumberMisscheduled() != 0 {
		t.Fatalf("status = %v", st)
	}
	f.catchUp()
	f.sync()
	f.actions()
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	hostNetwork := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }
	tolerating := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []*corev1.Toleration{{Key: "dedicated", Operator: "Exists"}}
	}
	onNode := func(name string) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = name }
	}
	for _, tc := range []struct {
		name                    string
		node                    *corev1.Node
		ds                      *appsv1.DaemonSet
		shouldRun, shouldContin bool
	}{
		{"plain", newNode("n"), newDS(), true, true},
		{"nodeSelector does not match", newNode("n", unlabelled), newDS(), false, false},
		{"NoSchedule taint: no new pod, the running one stays", newNode("n", tainted("dedicated", "NoSchedule")), newDS(), false, true},
		{"NoExecute taint: the pod goes", newNode("n", tainted("dedicated", "NoExecute")), newDS(), false, false},
		{"tolerated taint", newNode("n", tainted("dedicated", "NoExecute")), newDS(tolerating), true, true},
		{"PreferNoSchedule taint does not count", newNode("n", tainted("dedicated", "PreferNoSchedule")), newDS(), true, true},
		{"unreachable is tolerated", newNode("n", tainted(taintUnreachable, "NoExecute")), newDS(), true, true},
		{"memory pressure is tolerated", newNode("n", tainted(taintMemoryPressure, "NoSchedule")), newDS(), true, true},
		{"network unavailable only for host network", newNode("n", tainted(taintNetworkUnavailable, "NoSchedule")), newDS(), false, true},
		{"network unavailable, host network", newNode("n", tainted(taintNetworkUnavailable, "NoSchedule")), newDS(hostNetwork), true, true},
		{"template nodeName elsewhere", newNode("n"), newDS(onNode("m")), false, false},
		{"template nodeName here", newNode("n"), newDS(onNode("n")), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := NodeShouldRunDaemonPod(tc.node, tc.ds)
			if run != tc.shouldRun || cont != tc.shouldContin {
				t.Fatalf("got (%v, %v), want (%v, %v)", run, cont, tc.shouldRun, tc.shouldContin)
			}
		})
	}
}

// daemonPod is a running, ready pod of ds on node, created at created.
func daemonPod(ds *appsv1.DaemonSet, name, node string, created time.Time) *corev1.Pod {
	hash := controller.ComputeHash(ds.GetSpec().GetTemplate(), nil)
	tmpl := podTemplate(ds, hash)
	p := controller.PodFromTemplate(tmpl, ds, controller.NewControllerRef(ds, Kind))
	p.Metadata.Name, p.Metadata.Uid, p.Metadata.CreationTimestamp = name, "uid-"+name, controller.NewTime(created)
	pinToNode(p.Spec, node)
	p.Spec.NodeName = node
	p.Status = &corev1.PodStatus{Phase: controller.PodRunning, Conditions: []*corev1.PodCondition{{
		Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(created)}}}
	return p
}

// TestDeletesMisplacedAndDuplicates: a pod on a node the daemon no longer fits goes, and of
// two pods on one node the older stays.
func TestDeletesMisplacedAndDuplicates(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("n1"), newNode("n2", unlabelled),
		daemonPod(ds, "old", "n1", epoch), daemonPod(ds, "young", "n1", epoch.Add(time.Minute)), daemonPod(ds, "stray", "n2", epoch))
	f.sync()
	f.actions("create controllerrevisions default/", "delete pods default/stray", "delete pods default/young", "update daemonsets default/agent/status")
	f.events("Normal SuccessfulDelete Deleted pod: stray", "Normal SuccessfulDelete Deleted pod: young")
	st := f.ds().GetStatus()
	// The status is of the cache, which still holds the deleted pods.
	if st.GetDesiredNumberScheduled() != 1 || st.GetCurrentNumberScheduled() != 1 || st.GetNumberMisscheduled() != 1 {
		t.Fatalf("status = %v", st)
	}
	f.catchUp()
	f.sync()
	f.actions("update daemonsets default/agent/status")
	if st := f.ds().GetStatus(); st.GetNumberMisscheduled() != 0 || st.GetCurrentNumberScheduled() != 1 {
		t.Fatalf("status = %v", st)
	}
}

// TestFailedPodBackoff: a failed daemon pod is deleted (FailedDaemonPod) for the next sync
// to replace; a replacement failing again within the backoff is left until it has passed.
func TestFailedPodBackoff(t *testing.T) {
	ds := newDS()
	failed := daemonPod(ds, "a", "n1", epoch)
	failed.Status = &corev1.PodStatus{Phase: controller.PodFailed}
	f := newFixture(t, ds, newNode("n1"), failed)
	f.sync()
	f.actions("create controllerrevisions default/", "delete pods default/a", "update daemonsets default/agent/status")
	f.events("Warning FailedDaemonPod Found failed daemon pod default/a on node n1, will try to kill it", "Normal SuccessfulDelete Deleted pod: a")

	f.catchUp()
	f.sync()
	f.actions("create pods default/", "update daemonsets default/agent/status")
	f.events("Normal SuccessfulCreate Created pod: agent-00001")

	// The replacement fails too, half a second later: held back for the 1s backoff.
	f.catchUp()
	again := proto.Clone(f.pods()[0]).(*corev1.Pod)
	again.Status = &corev1.PodStatus{Phase: controller.PodFailed}
	again.Spec.NodeName = "n1"
	controllertest.Put(t, f.fake, f.inf, again)
	f.now = f.now.Add(500 * time.Millisecond)
	f.sync()
	f.actions("update daemonsets default/agent/status")
	f.events()
	if keys := controllertest.DrainQueue(f.queue); len(keys) != 0 {
		t.Fatalf("queued at once: %v", keys) // AddAfter the backoff, not now
	}
	f.now = f.now.Add(time.Second)
	f.sync()
	f.actions("delete pods default/agent-00001", "update daemonsets default/agent/status")
	f.events("Warning FailedDaemonPod Found failed daemon pod default/agent-00001 on node n1, will try to kill it", "Normal SuccessfulDelete Deleted pod: agent-00001")
	if d := f.c.failedPodsBackoff.Get(string(ds.GetMetadata().GetUid()) + "/n1"); d != 2*time.Second {
		t.Fatalf("backoff = %v, want 2s", d)
	}
}

// TestRollingUpdate: a template change replaces one pod at a time (maxUnavailable 1): the
// next is deleted only once the new one is available.
func TestRollingUpdate(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("n1"), newNode("n2"), newNode("n3"),
		daemonPod(ds, "p1", "n1", epoch), daemonPod(ds, "p2", "n2", epoch), daemonPod(ds, "p3", "n3", epoch))
	f.sync()
	f.actions("create controllerrevisions default/", "update daemonsets default/agent/status")
	f.catchUp()
	rev1 := f.revisions()

	f.setImage("nginx:1.16")
	f.sync()
	// A second revision; one old pod (by node name, n1) goes.
	f.actions("create controllerrevisions default/", "delete pods default/p1", "update daemonsets default/agent/status")
	if got := f.revisions(); len(got) != 2 || !slices.Contains(got, rev1[0]) {
		t.Fatalf("revisions = %v", got)
	}
	if st := f.ds().GetStatus(); st.GetUpdatedNumberScheduled() != 0 || st.GetObservedGeneration() != 2 {
		t.Fatalf("status = %v", st)
	}
	newHash := controller.ComputeHash(f.ds().GetSpec().GetTemplate(), nil)

	f.catchUp()
	f.sync()
	f.actions("create pods default/", "update daemonsets default/agent/status")
	f.catchUp()
	// Not yet running: nothing more is deleted.
	f.sync()
	f.actions("update daemonsets default/agent/status")
	var fresh *corev1.Pod
	for _, p := range f.pods() {
		if p.GetMetadata().GetLabels()[appsv1.ControllerRevisionHashLabelKey] == newHash {
			fresh = p
		}
	}
	if fresh == nil || fresh.GetMetadata().GetLabels()[TemplateGenerationLabel] != "2" ||
		fresh.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution().GetNodeSelectorTerms()[0].GetMatchFields()[0].GetValues()[0] != "n1" {
		t.Fatalf("new pod = %v", fresh)
	}
	f.runPods(f.now)
	f.sync()
	f.actions("delete pods default/p2", "update daemonsets default/agent/status")
	if st := f.ds().GetStatus(); st.GetUpdatedNumberScheduled() != 1 || st.GetNumberAvailable() != 3 {
		t.Fatalf("status = %v", st)
	}
}

// TestOnDelete: a template change replaces nothing until a pod is deleted by someone else.
func TestOnDelete(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	})
	p1 := daemonPod(ds, "p1", "n1", epoch)
	f := newFixture(t, ds, newNode("n1"), newNode("n2"), p1, daemonPod(ds, "p2", "n2", epoch))
	f.sync()
	f.catchUp()
	f.fake.TakeActions()
	f.setImage("nginx:1.16")
	f.sync()
	f.actions("create controllerrevisions default/", "update daemonsets default/agent/status")
	f.catchUp()
	controllertest.Remove(t, f.fake, f.inf, p1)
	f.sync()
	f.actions("create pods default/", "update daemonsets default/agent/status")
}

func TestPlanRollingUpdate(t *testing.T) {
	ds := newDS()
	updated := newDS(withImage("nginx:1.16", 2))
	hash := controller.ComputeHash(updated.GetSpec().GetTemplate(), nil)
	now := epoch.Add(time.Hour)
	old := func(name, node string) *corev1.Pod { return daemonPod(ds, name, node, epoch) }
	cur := func(name, node string) *corev1.Pod { return daemonPod(updated, name, node, epoch) }
	notReady := func(p *corev1.Pod) *corev1.Pod { p.Status.Conditions = nil; return p }
	nodes := []*corev1.Node{newNode("n1"), newNode("n2"), newNode("n3"), newNode("n4")}
	names := func(pods []*corev1.Pod) []string {
		var out []string
		for _, p := range pods {
			out = append(out, p.GetMetadata().GetName())
		}
		return out
	}
	surge := func(n int32) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: &metav1.IntOrString{IntVal: 0}, MaxSurge: &metav1.IntOrString{IntVal: n}}}
		}
	}
	unavailable := func(v *metav1.IntOrString) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: v}}
		}
	}
	for _, tc := range []struct {
		name       string
		opts       []func(*appsv1.DaemonSet)
		pods       []*corev1.Pod
		wantDelete []string
		wantCreate []string
	}{
		{name: "maxUnavailable 1: one old pod", pods: []*corev1.Pod{old("a", "n1"), old("b", "n2"), old("c", "n3"), old("d", "n4")}, wantDelete: []string{"a"}},
		{name: "a new pod not yet available uses up maxUnavailable", pods: []*corev1.Pod{notReady(cur("a", "n1")), old("b", "n2"), old("c", "n3"), old("d", "n4")}},
		{name: "a node still without its pod counts as unavailable", pods: []*corev1.Pod{old("b", "n2"), old("c", "n3"), old("d", "n4")}},
		{name: "an unavailable old pod is replaced at once, beyond maxUnavailable", pods: []*corev1.Pod{notReady(cur("a", "n1")), notReady(old("b", "n2")), old("c", "n3"), old("d", "n4")}, wantDelete: []string{"b"}},
		{name: "maxUnavailable 50%", opts: []func(*appsv1.DaemonSet){unavailable(&metav1.IntOrString{Type: 1, StrVal: "50%"})},
			pods: []*corev1.Pod{cur("a", "n1"), old("b", "n2"), old("c", "n3"), old("d", "n4")}, wantDelete: []string{"b", "c"}},
		{name: "all updated", pods: []*corev1.Pod{cur("a", "n1"), cur("b", "n2"), cur("c", "n3"), cur("d", "n4")}},
		{name: "surge 1: a new pod beside an old one", opts: []func(*appsv1.DaemonSet){surge(1)},
			pods: []*corev1.Pod{old("a", "n1"), old("b", "n2"), old("c", "n3"), old("d", "n4")}, wantCreate: []string{"n1"}},
		{name: "surge 1: waiting for the new pod", opts: []func(*appsv1.DaemonSet){surge(1)},
			pods: []*corev1.Pod{old("a", "n1"), notReady(cur("a2", "n1")), old("b", "n2"), old("c", "n3"), old("d", "n4")}},
		{name: "surge 1: the new pod is available, the old one goes and the next node surges", opts: []func(*appsv1.DaemonSet){surge(1)},
			pods: []*corev1.Pod{old("a", "n1"), cur("a2", "n1"), old("b", "n2"), old("c", "n3"), old("d", "n4")}, wantDelete: []string{"a"}, wantCreate: []string{"n2"}},
		{name: "surge: an unavailable old pod gets its new one at once", opts: []func(*appsv1.DaemonSet){surge(1)},
			pods: []*corev1.Pod{notReady(cur("a2", "n1")), old("a", "n1"), notReady(old("b", "n2")), old("c", "n3"), old("d", "n4")}, wantCreate: []string{"n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDS(append([]func(*appsv1.DaemonSet){withImage("nginx:1.16", 2)}, tc.opts...)...)
			nodeToPods := map[string][]*corev1.Pod{}
			for _, p := range tc.pods {
				nodeToPods[p.GetSpec().GetNodeName()] = append(nodeToPods[p.GetSpec().GetNodeName()], p)
			}
			del, create, err := planRollingUpdate(d, nodes, nodeToPods, hash, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(del); !slices.Equal(got, tc.wantDelete) {
				t.Errorf("delete %v, want %v", got, tc.wantDelete)
			}
			if !slices.Equal(create, tc.wantCreate) {
				t.Errorf("create %v, want %v", create, tc.wantCreate)
			}
		})
	}
}

// TestHistory: a rollback to an older template renumbers its revision as the newest (no
// new revision); revisions beyond revisionHistoryLimit go, oldest first, unless a pod still
// runs them.
func TestHistory(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.RevisionHistoryLimit = proto.Int32(1) })
	f := newFixture(t, ds, newNode("n1"))
	f.sync()
	f.catchUp()
	h1 := controller.ComputeHash(f.ds().GetSpec().GetTemplate(), nil)
	f.setImage("nginx:1.16")
	f.sync()
	f.catchUp()
	h2 := controller.ComputeHash(f.ds().GetSpec().GetTemplate(), nil)
	f.setImage("nginx:1.14.2") // back to the first template
	f.fake.TakeActions()
	f.sync()
	f.actions("create pods default/", "update controllerrevisions default/agent-"+h1, "update daemonsets default/agent/status")
	if got, want := f.revisions(), sorted("agent-"+h1+"=3", "agent-"+h2+"=2"); !slices.Equal(got, want) {
		t.Fatalf("revisions = %v, want %v", got, want)
	}

	// A third template: two old revisions, limit 1. Revision 2 is the oldest but a pod
	// still runs it: revision 3 goes instead.
	f.catchUp()
	f.setImage("nginx:1.17")
	for _, p := range f.pods() {
		controllertest.Remove(t, f.fake, f.inf, p)
	}
	pod := daemonPod(f.ds(), "p", "n1", epoch)
	pod.Metadata.Labels[appsv1.ControllerRevisionHashLabelKey] = h2
	controllertest.Put(t, f.fake, f.inf, pod)
	f.sync()
	h3 := controller.ComputeHash(f.ds().GetSpec().GetTemplate(), nil)
	if got, want := f.revisions(), sorted("agent-"+h2+"=2", "agent-"+h3+"=4"); !slices.Equal(got, want) {
		t.Fatalf("revisions = %v, want %v", got, want)
	}

	// Once no pod runs it, the oldest goes first.
	f.catchUp()
	controllertest.Remove(t, f.fake, f.inf, pod)
	f.setImage("nginx:1.18")
	f.sync()
	h4 := controller.ComputeHash(f.ds().GetSpec().GetTemplate(), nil)
	if got, want := f.revisions(), sorted("agent-"+h3+"=4", "agent-"+h4+"=5"); !slices.Equal(got, want) {
		t.Fatalf("revisions = %v, want %v", got, want)
	}
}

// TestRevisionData: the revision (controller.TemplatePatch) holds the patch kubectl rollout undo sends: the template
// with "$patch": "replace", keys sorted.
func TestRevisionData(t *testing.T) {
	patch, err := controller.TemplatePatch(newDS())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"image":"nginx:1.14.2","imagePullPolicy":"IfNotPresent",` +
		`"name":"agent","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst",` +
		`"nodeSelector":{"role":"agent"},"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`
	if string(patch) != want {
		t.Fatalf("patch:\n got  %s\n want %s", patch, want)
	}
}
