package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type fakeRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *fakeRecorder) Eventf(_ runtime.Object, typ, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typ+" "+reason+" "+fmt.Sprintf(format, args...))
}

func (r *fakeRecorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.events)
	sort.Strings(out)
	return out
}

// fixture is a controller over a fake client with caches the test fills directly: the
// informers are never started, so the caches hold exactly what the test put there.
type fixture struct {
	t     *testing.T
	fake  *controllertest.Transport
	rec   *fakeRecorder
	c     *Controller
	inf   *informers.SharedInformerFactory
	now   time.Time
	queue *workqueue.Queue[string]
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, fake: controllertest.NewTransport(), rec: &fakeRecorder{}, now: epoch.Add(time.Hour)}
	f.inf = informers.NewSharedInformerFactory(f.fake, 0)
	f.queue = workqueue.NewNamed[string]("test")
	t.Cleanup(f.queue.ShutDown)
	c, err := NewController(Config{
		Client:     kube.New(f.fake),
		ReplicaSet: f.inf.ReplicaSets().Informer(),
		Pod:        f.inf.Pods().Informer(),
		Recorder:   f.rec,
		Now:        func() time.Time { return f.now },
		Queue:      f.queue,
		Log:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// add puts obj both in the fake server and in the cache, as a synced informer would have it.
func (f *fixture) add(obj runtime.Object) runtime.Object {
	f.t.Helper()
	stored := f.fake.AddObject(obj)
	var err error
	switch stored.(type) {
	case *appsv1.ReplicaSet:
		err = f.inf.ReplicaSets().Informer().GetIndexer().Add(stored)
	case *corev1.Pod:
		err = f.inf.Pods().Informer().GetIndexer().Add(stored)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return stored
}

func (f *fixture) sync(key string) error {
	f.t.Helper()
	return f.c.sync(context.Background(), key)
}

func (f *fixture) expectActions(want ...string) {
	f.t.Helper()
	sort.Strings(want)
	if got := f.fake.Actions(); !slices.Equal(got, want) {
		f.t.Fatalf("actions:\n  got  %q\n  want %q", got, want)
	}
}

func (f *fixture) storedRS(name string) *appsv1.ReplicaSet {
	f.t.Helper()
	obj, err := f.fake.Get(context.Background(), transport.Ref{Mapping: kube.New(f.fake).ReplicaSets("").Mapping(), Namespace: "default", Name: name})
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*appsv1.ReplicaSet)
}

func (f *fixture) storedPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range f.fake.Objects(kube.New(f.fake).Pods("").Mapping().Kind) {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		Kind: "ReplicaSet", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name, Generation: 1},
		Spec: &appsv1.ReplicaSetSpec{
			Replicas: proto.Int32(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}, Annotations: map[string]string{"a": "b"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

func ownedBy(rs *appsv1.ReplicaSet) podOpt {
	return func(p *corev1.Pod) {
		p.Metadata.OwnerReferences = []*metav1.OwnerReference{controller.NewControllerRef(rs, Kind)}
	}
}
func labelled(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Metadata.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Metadata.Labels[kv[i]] = kv[i+1]
		}
	}
}
func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func readyAt(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = controller.PodRunning
		p.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(t)}}
	}
}
func createdAt(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.Metadata.CreationTimestamp = controller.NewTime(t) }
}

func newPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name, CreationTimestamp: controller.NewTime(epoch)},
		Spec:     &corev1.PodSpec{}, Status: &corev1.PodStatus{Phase: controller.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestSyncCreatesPods(t *testing.T) {
	f := newFixture(t)
	rs := f.add(newRS("web", 3)).(*appsv1.ReplicaSet)
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	f.expectActions("create pods default/", "create pods default/", "create pods default/", "update replicasets default/web/status")
	for _, p := range f.storedPods() {
		m := p.GetMetadata()
		ref := controller.GetControllerOf(p)
		if !strings.HasPrefix(m.GetName(), "web-") || m.GetGenerateName() != "web-" || m.GetLabels()["tier"] != "web" || m.GetAnnotations()["a"] != "b" ||
			ref.GetUid() != rs.GetMetadata().GetUid() || ref.GetKind() != "ReplicaSet" || ref.GetApiVersion() != "apps/v1" || !ref.GetBlockOwnerDeletion() ||
			p.GetSpec().GetContainers()[0].GetImage() != "nginx:1.14.2" {
			t.Fatalf("pod %v", p)
		}
	}
	if got := f.rec.Events(); len(got) != 3 || !strings.HasPrefix(got[0], "Normal SuccessfulCreate Created pod: web-") {
		t.Fatalf("events = %q", got)
	}
	st := f.storedRS("web").GetStatus()
	if st.GetReplicas() != 0 || st.GetObservedGeneration() != 1 {
		t.Fatalf("status = %v (the cache has no pods yet)", st)
	}
	// The cache has not seen the pods: expectations stop a second round of creations.
	f.add(f.storedRS("web"))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.Actions()); n != 4 {
		t.Fatalf("second sync wrote: %q", f.fake.Actions())
	}
	for range 3 {
		f.c.expectations.CreationObserved("default/web")
	}
	if !f.c.expectations.Satisfied("default/web") {
		t.Fatal("expectations not satisfied after the creations were observed")
	}
}

func TestSyncSlowStartOnFailure(t *testing.T) {
	f := newFixture(t)
	f.fake.CreateErr = apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, "", fmt.Errorf("exceeded quota"))
	f.add(newRS("web", 10))
	if err := f.sync("default/web"); err == nil {
		t.Fatal("no error from a failing creation")
	}
	// One call in the first batch, then stop; the status says why.
	f.expectActions("create pods default/", "update replicasets default/web/status")
	if got := f.rec.Events(); len(got) != 1 || !strings.HasPrefix(got[0], "Warning FailedCreate Error creating: ") {
		t.Fatalf("events = %q", got)
	}
	if !f.c.expectations.Satisfied("default/web") {
		t.Fatal("failed creations left expectations pending")
	}
	conds := f.storedRS("web").GetStatus().GetConditions()
	if len(conds) != 1 || conds[0].GetType() != "ReplicaFailure" || conds[0].GetReason() != "FailedCreate" {
		t.Fatalf("conditions = %v", conds)
	}
}

func TestSyncDeletesInOrder(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	f.add(rs)
	sel := labelled("app", "web")
	f.add(newPod("ready-old", ownedBy(rs), sel, onNode("n1"), readyAt(epoch)))
	f.add(newPod("ready-new", ownedBy(rs), sel, onNode("n2"), readyAt(epoch), createdAt(epoch.Add(time.Minute))))
	f.add(newPod("notready", ownedBy(rs), sel, onNode("n3"), func(p *corev1.Pod) { p.Status.Phase = controller.PodRunning }))
	f.add(newPod("unscheduled", ownedBy(rs), sel))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	f.expectActions("delete pods default/unscheduled", "delete pods default/notready", "update replicasets default/web/status")
	if got := f.rec.Events(); !slices.Equal(got, []string{"Normal SuccessfulDelete Deleted pod: notready", "Normal SuccessfulDelete Deleted pod: unscheduled"}) {
		t.Fatalf("events = %q", got)
	}
	if adds, dels := f.c.expectations.Pending("default/web"); adds != 0 || dels != 2 {
		t.Fatalf("expectations = %d, %d", adds, dels)
	}
}

func TestSyncAdoptsAndReleases(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	f.add(rs)
	f.add(newPod("orphan", labelled("app", "web")))
	f.add(newPod("mine-relabelled", ownedBy(rs), labelled("app", "other")))
	f.add(newPod("mine", ownedBy(rs), labelled("app", "web")))
	f.add(newPod("theirs", ownedBy(newRS("db", 1)), labelled("app", "web")))
	f.add(newPod("orphan-deleting", labelled("app", "web"), func(p *corev1.Pod) { p.Metadata.DeletionTimestamp = controller.NewTime(epoch) }))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	// orphan adopted, mine-relabelled released; with mine that makes 2: nothing to create.
	f.expectActions("patch pods default/orphan", "patch pods default/mine-relabelled", "update replicasets default/web/status")
	for _, p := range f.storedPods() {
		ref := controller.GetControllerOf(p)
		switch p.GetMetadata().GetName() {
		case "orphan":
			if ref.GetUid() != "uid-web" || !ref.GetController() || !ref.GetBlockOwnerDeletion() {
				t.Fatalf("orphan not adopted: %v", p.GetMetadata().GetOwnerReferences())
			}
		case "mine-relabelled":
			if len(p.GetMetadata().GetOwnerReferences()) != 0 {
				t.Fatalf("pod not released: %v", p.GetMetadata().GetOwnerReferences())
			}
		case "theirs":
			if ref.GetUid() != "uid-db" {
				t.Fatal("someone else's pod was touched")
			}
		}
	}
	if st := f.storedRS("web").GetStatus(); st.GetReplicas() != 2 || st.GetFullyLabeledReplicas() != 0 {
		// The template also asks for tier=web, which neither pod has.
		t.Fatalf("status = %v", st)
	}
}

func TestSyncNoAdoptionWhileDeleting(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	rs.Metadata.DeletionTimestamp = controller.NewTime(epoch)
	f.add(rs)
	f.add(newPod("orphan", labelled("app", "web")))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	f.expectActions("update replicasets default/web/status") // observedGeneration only: no adoption, no creation
}

func TestSyncStatus(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 30
	f.add(rs)
	full := labelled("app", "web", "tier", "web")
	f.add(newPod("a", ownedBy(rs), full, onNode("n"), readyAt(f.now.Add(-time.Minute))))    // available
	f.add(newPod("b", ownedBy(rs), full, onNode("n"), readyAt(f.now.Add(-10*time.Second)))) // ready, not yet available
	f.add(newPod("c", ownedBy(rs), labelled("app", "web"), onNode("n")))                    // not ready
	f.add(newPod("done", ownedBy(rs), full, func(p *corev1.Pod) { p.Status.Phase = controller.PodSucceeded }))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	f.expectActions("update replicasets default/web/status")
	st := f.storedRS("web").GetStatus()
	want := &appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 1}
	if !proto.Equal(st, want) {
		t.Fatalf("status = %v, want %v", st, want)
	}
	// Unchanged status: no write.
	f.add(f.storedRS("web"))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.Actions()); n != 1 {
		t.Fatalf("unchanged status written again: %q", f.fake.Actions())
	}
}

func TestSyncRequeuesUntilAvailable(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 1)
	rs.Spec.MinReadySeconds = 1
	f.add(rs)
	f.add(newPod("a", ownedBy(rs), labelled("app", "web"), readyAt(f.now)))
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	// The real queue hands the key back after minReadySeconds.
	got := make(chan string, 1)
	go func() { k, _ := f.queue.Get(); got <- k }()
	select {
	case k := <-got:
		if k != "default/web" {
			t.Fatalf("requeued %q", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not requeued after minReadySeconds")
	}
}

func TestSyncMissingReplicaSet(t *testing.T) {
	f := newFixture(t)
	f.c.expectations.ExpectCreations("default/gone", 2)
	if err := f.sync("default/gone"); err != nil {
		t.Fatal(err)
	}
	f.expectActions()
	if !f.c.expectations.Satisfied("default/gone") {
		t.Fatal("expectations of a deleted ReplicaSet kept")
	}
}

func TestHandlers(t *testing.T) {
	f := newFixture(t)
	rs := f.add(newRS("web", 1)).(*appsv1.ReplicaSet)
	f.add(newRS("other", 1))
	keys := func() []string { return controllertest.DrainQueue(f.queue) }
	owned := newPod("p", ownedBy(rs), labelled("app", "web"))
	owned.Metadata.ResourceVersion = "10"
	f.c.expectations.ExpectCreations("default/web", 1)
	f.c.addPod(owned)
	if got := keys(); !slices.Equal(got, []string{"default/web"}) || !f.c.expectations.Satisfied("default/web") {
		t.Fatalf("add owned: %v", got)
	}
	orphan := newPod("o", labelled("app", "other"))
	f.c.addPod(orphan)
	if got := keys(); !slices.Equal(got, []string{"default/other"}) {
		t.Fatalf("add orphan: %v", got)
	}
	f.c.updatePod(owned, owned) // resync: same resourceVersion
	if got := keys(); len(got) != 0 {
		t.Fatalf("resync enqueued %v", got)
	}
	f.c.expectations.ExpectDeletions("default/web", []string{"default/p"})
	f.c.deletePod(cacheTombstone(owned))
	if got := keys(); !slices.Equal(got, []string{"default/web"}) || !f.c.expectations.Satisfied("default/web") {
		t.Fatalf("delete tombstone: %v", got)
	}
	// An owned pod relabelled to match "other" and released: both hear of it.
	moved := proto.Clone(owned).(*corev1.Pod)
	moved.Metadata.ResourceVersion = "11"
	moved.Metadata.OwnerReferences = nil
	moved.Metadata.Labels = map[string]string{"app": "other"}
	f.c.updatePod(owned, moved)
	if got := keys(); !slices.Equal(got, []string{"default/other", "default/web"}) {
		t.Fatalf("release: %v", got)
	}
}

func cacheTombstone(obj runtime.Object) any {
	return cache.DeletedFinalStateUnknown{Key: obj.GetMetadata().GetNamespace() + "/" + obj.GetMetadata().GetName(), Obj: obj}
}

// A namespace being deleted refuses every creation with the NamespaceTerminating cause: the
// controller creates quietly (no FailedCreate event, no ReplicaFailure condition, no error to
// retry) and leaves the expectations pending, so later syncs do not try again.
func TestSyncIgnoresTerminatingNamespace(t *testing.T) {
	f := newFixture(t)
	f.fake.CreateErr = apierrors.NewNamespaceTerminating(apierrors.GroupResource{Resource: "pods"}, "", "default")
	f.add(newRS("web", 3))
	if err := f.sync("default/web"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	f.expectActions("create pods default/", "create pods default/", "create pods default/", "update replicasets default/web/status")
	if got := f.rec.Events(); len(got) != 0 {
		t.Fatalf("events = %q, want none", got)
	}
	if conds := f.storedRS("web").GetStatus().GetConditions(); len(conds) != 0 {
		t.Fatalf("conditions = %v, want none", conds)
	}
	if f.c.expectations.Satisfied("default/web") {
		t.Fatal("expectations satisfied: the next sync would create again")
	}
	if err := f.sync("default/web"); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	// No new creation; the status is written again only because the test's cache still
	// holds the ReplicaSet as it was before the first write.
	f.expectActions("create pods default/", "create pods default/", "create pods default/",
		"update replicasets default/web/status", "update replicasets default/web/status")
}
