package statefulset

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
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// apiTransport is the recording fake with what the controller relies on from a real
// apiserver: a create of an existing name is AlreadyExists, and a new pod is Pending.
type apiTransport struct {
	*controllertest.Transport
}

func (t *apiTransport) Create(ctx context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	name := obj.GetMetadata().GetName()
	if _, err := t.Transport.Transport.Get(ctx, transport.Ref{Mapping: ref.Mapping, Namespace: ref.Namespace, Name: name}); err == nil {
		return nil, apierrors.NewAlreadyExists(apierrors.GroupResource{Group: ref.Mapping.Kind.Group, Resource: ref.Mapping.Plural}, name)
	}
	if pod, ok := obj.(*corev1.Pod); ok && pod.GetStatus().GetPhase() == "" {
		pod = proto.Clone(pod).(*corev1.Pod)
		pod.Status = &corev1.PodStatus{Phase: controller.PodPending}
		obj = pod
	}
	return t.Transport.Create(ctx, ref, obj)
}

// fixture is a controller over the fake apiserver whose caches the test fills: the
// informers never run, and refresh plays a caught-up watch.
type fixture struct {
	t   *testing.T
	tr  *apiTransport
	cs  *kube.Clientset
	inf *informers.SharedInformerFactory
	rec *controllertest.Recorder
	c   *Controller
	now time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, tr: &apiTransport{Transport: controllertest.NewTransport()}, rec: &controllertest.Recorder{}, now: epoch.Add(time.Hour)}
	f.cs = kube.New(f.tr)
	f.inf = informers.NewSharedInformerFactory(f.tr, 0)
	q := workqueue.NewNamed[string]("test")
	t.Cleanup(q.ShutDown)
	c, err := NewController(Config{Client: f.cs, StatefulSet: f.inf.StatefulSets().Informer(), Pod: f.inf.Pods().Informer(),
		Revision: f.inf.ControllerRevisions().Informer(), Claim: f.inf.PersistentVolumeClaims().Informer(), Recorder: f.rec, Queue: q,
		Now: func() time.Time { return f.now }, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	controllertest.Put(t, f.tr.Transport, f.inf, objs...)
	return f
}

// refresh makes the caches hold what the fake apiserver holds, as caught-up informers would.
func (f *fixture) refresh() {
	f.t.Helper()
	for _, kind := range []struct {
		gvk runtime.GroupVersionKind
		idx interface{ Replace([]runtime.Object) error }
	}{
		{Kind, f.inf.StatefulSets().Informer().GetIndexer()},
		{runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}, f.inf.Pods().Informer().GetIndexer()},
		{runtime.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ControllerRevision"}, f.inf.ControllerRevisions().Informer().GetIndexer()},
		{runtime.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, f.inf.PersistentVolumeClaims().Informer().GetIndexer()},
	} {
		if err := kind.idx.Replace(f.tr.Objects(kind.gvk)); err != nil {
			f.t.Fatal(err)
		}
	}
}

// sync runs one sync of default/web on the refreshed caches and returns the writes it made.
func (f *fixture) sync() []string {
	f.t.Helper()
	f.refresh()
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		f.t.Fatal(err)
	}
	return f.tr.TakeActions()
}

func (f *fixture) set() *appsv1.StatefulSet {
	f.t.Helper()
	set, err := f.cs.StatefulSets("default").Get(context.Background(), "web")
	if err != nil {
		f.t.Fatal(err)
	}
	return set
}

// edit changes the stored StatefulSet as a user's update would (generation bumped on a spec
// change).
func (f *fixture) edit(mutate func(*appsv1.StatefulSet)) {
	f.t.Helper()
	set := f.set()
	mutate(set)
	set.Metadata.Generation++
	f.tr.UpdateObject(set)
}

func (f *fixture) pod(name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.cs.Pods("default").Get(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// podNames lists the pods in the fake apiserver, sorted.
func (f *fixture) podNames() []string {
	var out []string
	for _, o := range f.tr.Objects(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}) {
		out = append(out, o.GetMetadata().GetName())
	}
	slices.Sort(out)
	return out
}

// ready marks pods Running and Ready for a minute, as their kubelet would report.
func (f *fixture) ready(names ...string) {
	f.t.Helper()
	for _, name := range names {
		p := f.pod(name)
		p.Status = &corev1.PodStatus{Phase: controller.PodRunning, Conditions: []*corev1.PodCondition{{
			Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(f.now.Add(-time.Minute)),
		}}}
		f.tr.UpdateObject(p)
	}
}

func (f *fixture) messages() []string {
	var out []string
	for _, e := range f.rec.Take() {
		out = append(out, e.Type+" "+e.Reason+" "+e.Message)
	}
	return out
}

func newSet(replicas int32, mutate ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		Kind: "StatefulSet", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Uid: "set-uid", Generation: 1},
		Spec: &appsv1.StatefulSetSpec{
			Replicas: proto.Int32(replicas), ServiceName: "nginx",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}},
			},
		},
	}
	for _, m := range mutate {
		m(set)
	}
	defaults.StatefulSet(set)
	return set
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n  got  %q\n  want %q", what, got, want)
	}
}

func TestOrderedReadyCreatesOneAtATime(t *testing.T) {
	f := newFixture(t, newSet(3))
	expect(t, "first sync", f.sync(), "create controllerrevisions default/", "create pods default/", "update statefulsets default/web/status")
	expect(t, "pods", f.podNames(), "web-0")
	if got, want := f.messages(), []string{"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful"}; !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}

	p, set := f.pod("web-0"), f.set()
	rev := set.GetStatus().GetUpdateRevision()
	if !strings.HasPrefix(rev, "web-") || set.GetStatus().GetCurrentRevision() != rev ||
		set.GetStatus().GetObservedGeneration() != 1 || set.GetStatus().CollisionCount == nil {
		t.Fatalf("status = %v", set.GetStatus())
	}
	m := p.GetMetadata()
	if m.GetLabels()["statefulset.kubernetes.io/pod-name"] != "web-0" || m.GetLabels()["apps.kubernetes.io/pod-index"] != "0" ||
		m.GetLabels()["controller-revision-hash"] != rev || m.GetLabels()["app"] != "nginx" || m.GetGenerateName() != "web-" ||
		!controller.IsControlledBy(p, set) || p.GetSpec().GetHostname() != "web-0" || p.GetSpec().GetSubdomain() != "nginx" {
		t.Fatalf("pod web-0 = %v", p)
	}

	// Pending: nothing more until it is Running and Ready. (The pod a sync creates counts
	// from the next sync on, which its creation event queues.)
	expect(t, "web-0 pending", f.sync(), "update statefulsets default/web/status")
	if st := f.set().GetStatus(); st.GetReplicas() != 1 || st.GetCurrentReplicas() != 1 || st.GetUpdatedReplicas() != 1 || st.GetReadyReplicas() != 0 {
		t.Fatalf("status = %v", st)
	}
	expect(t, "still pending", f.sync())
	f.ready("web-0")
	expect(t, "web-0 ready", f.sync(), "create pods default/", "update statefulsets default/web/status")
	expect(t, "pods", f.podNames(), "web-0", "web-1")
	f.ready("web-1")
	f.sync()
	f.ready("web-2")
	expect(t, "all ready", f.sync(), "update statefulsets default/web/status")
	st := f.set().GetStatus()
	if st.GetReplicas() != 3 || st.GetReadyReplicas() != 3 || st.GetAvailableReplicas() != 3 || st.GetCurrentReplicas() != 3 || st.GetUpdatedReplicas() != 3 {
		t.Fatalf("status = %v", st)
	}
	// Level-based: a sync with nothing to do writes nothing.
	expect(t, "steady", f.sync())
}

func TestOrderedReadyWaitsForMinReadySeconds(t *testing.T) {
	f := newFixture(t, newSet(2, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 120 }))
	f.sync()
	f.ready("web-0") // ready for a minute only
	expect(t, "ready, not available", f.sync(), "update statefulsets default/web/status")
	f.now = f.now.Add(time.Minute)
	expect(t, "available", f.sync(), "create pods default/", "update statefulsets default/web/status")
}

func TestOrderedReadyScalesDownFromTheTop(t *testing.T) {
	f := newFixture(t, newSet(3))
	for _, p := range []string{"web-0", "web-1", "web-2"} {
		f.sync()
		f.ready(p)
	}
	f.sync()
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(1) })
	expect(t, "scale down", f.sync(), "delete pods default/web-2", "update statefulsets default/web/status")
	expect(t, "next", f.sync(), "delete pods default/web-1", "update statefulsets default/web/status")
	expect(t, "pods", f.podNames(), "web-0")
	if got := f.messages(); !slices.Contains(got, "Normal SuccessfulDelete delete Pod web-2 in StatefulSet web successful") {
		t.Errorf("events = %q", got)
	}
}

func TestParallelActsOnAllPods(t *testing.T) {
	f := newFixture(t, newSet(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Parallel" }))
	f.sync()
	expect(t, "pods", f.podNames(), "web-0", "web-1", "web-2")
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(1) })
	expect(t, "scale down", f.sync(), "delete pods default/web-1", "delete pods default/web-2", "update statefulsets default/web/status")
}

func TestFailedPodIsReplaced(t *testing.T) {
	f := newFixture(t, newSet(1))
	f.sync()
	p := f.pod("web-0")
	p.Status = &corev1.PodStatus{Phase: controller.PodFailed}
	f.tr.UpdateObject(p)
	expect(t, "failed", f.sync(), "delete pods default/web-0", "update statefulsets default/web/status")
	expect(t, "replaced", f.sync(), "create pods default/", "update statefulsets default/web/status")
	if f.pod("web-0").GetStatus().GetPhase() != controller.PodPending {
		t.Fatal("web-0 was not made again")
	}
}

// readySet is a fixture whose three pods are all Running and Ready at the first revision.
func readySet(t *testing.T, mutate ...func(*appsv1.StatefulSet)) *fixture {
	f := newFixture(t, newSet(3, mutate...))
	for _, p := range []string{"web-0", "web-1", "web-2"} {
		f.sync()
		f.ready(p)
	}
	f.sync()
	return f
}

func TestRollingUpdateHonoursPartition(t *testing.T) {
	f := readySet(t)
	oldRev := f.set().GetStatus().GetCurrentRevision()
	f.edit(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "nginx:1.16"
		s.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(1)
	})
	expect(t, "update starts at the top", f.sync(), "create controllerrevisions default/", "delete pods default/web-2", "update statefulsets default/web/status")
	st := f.set().GetStatus()
	newRev := st.GetUpdateRevision()
	if newRev == oldRev || st.GetCurrentRevision() != oldRev || st.GetObservedGeneration() != 2 {
		t.Fatalf("status = %v", st)
	}
	expect(t, "recreated", f.sync(), "create pods default/", "update statefulsets default/web/status")
	if p := f.pod("web-2"); revisionOf(p) != newRev || p.GetSpec().GetContainers()[0].GetImage() != "nginx:1.16" {
		t.Fatalf("web-2 = %v", p)
	}
	expect(t, "waits for web-2", f.sync(), "update statefulsets default/web/status")
	expect(t, "still waiting", f.sync())
	f.ready("web-2")
	expect(t, "next one down", f.sync(), "delete pods default/web-1", "update statefulsets default/web/status")
	f.sync()
	f.ready("web-1")
	expect(t, "partition reached", f.sync(), "update statefulsets default/web/status")
	expect(t, "steady", f.sync())
	if p := f.pod("web-0"); revisionOf(p) != oldRev || p.GetSpec().GetContainers()[0].GetImage() != "nginx:1.14.2" {
		t.Fatalf("web-0 below the partition changed: %v", p)
	}
	st = f.set().GetStatus()
	if st.GetCurrentRevision() != oldRev || st.GetCurrentReplicas() != 1 || st.GetUpdatedReplicas() != 2 || st.GetReadyReplicas() != 3 {
		t.Fatalf("status = %v", st)
	}
	// Partition 0: web-0 goes too, and the update revision becomes current.
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(0) })
	expect(t, "last one", f.sync(), "delete pods default/web-0", "update statefulsets default/web/status")
	f.sync()
	f.ready("web-0")
	f.sync()
	if st := f.set().GetStatus(); st.GetCurrentRevision() != newRev || st.GetCurrentReplicas() != 3 || st.GetUpdatedReplicas() != 3 {
		t.Fatalf("status after the rollout = %v", st)
	}
}

func TestOnDeleteWaitsForDeletion(t *testing.T) {
	f := readySet(t, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"}
	})
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "nginx:1.16" })
	expect(t, "no pod replaced", f.sync(), "create controllerrevisions default/", "update statefulsets default/web/status")
	f.tr.DeleteObject(f.pod("web-1"))
	expect(t, "deleted one recreated", f.sync(), "create pods default/", "update statefulsets default/web/status")
	if img := f.pod("web-1").GetSpec().GetContainers()[0].GetImage(); img != "nginx:1.16" {
		t.Fatalf("web-1 image = %s", img)
	}
	if img := f.pod("web-2").GetSpec().GetContainers()[0].GetImage(); img != "nginx:1.14.2" {
		t.Fatalf("web-2 image = %s", img)
	}
}

func TestRollbackReusesRevisionAndHistoryIsTruncated(t *testing.T) {
	f := readySet(t, func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = proto.Int32(0) })
	first := f.set().GetStatus().GetCurrentRevision()
	roll := func(image string) {
		f.edit(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = image })
		for _, p := range []string{"web-2", "web-1", "web-0"} {
			f.sync() // delete
			f.sync() // create
			f.ready(p)
		}
		f.sync() // the update revision becomes current
		f.sync() // the status write queues one more sync, which truncates
	}
	roll("nginx:1.16")
	second := f.set().GetStatus().GetCurrentRevision()
	revs := f.tr.Objects(runtime.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ControllerRevision"})
	if len(revs) != 1 || revs[0].GetMetadata().GetName() != second {
		t.Fatalf("revisions after the rollout with revisionHistoryLimit 0: %v", revs)
	}
	roll("nginx:1.14.2")
	if got := f.set().GetStatus().GetCurrentRevision(); got != first {
		t.Fatalf("rolled back to %s, want the first revision's name %s", got, first)
	}
	revs = f.tr.Objects(runtime.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ControllerRevision"})
	if len(revs) != 1 || revs[0].(*appsv1.ControllerRevision).GetRevision() != 3 {
		t.Fatalf("revisions after the rollback: %v", revs)
	}
}

func TestRestartedControllerMakesNothingTwice(t *testing.T) {
	f := newFixture(t, newSet(2, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Parallel" }))
	f.sync()
	// A controller whose cache missed the pods it made: the creates fail, nothing is
	// duplicated, and the sync is retried.
	f.refresh()
	if err := f.inf.Pods().Informer().GetIndexer().Replace(nil); err != nil {
		t.Fatal(err)
	}
	err := f.c.sync(context.Background(), "default/web")
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("sync on a stale cache: %v, want AlreadyExists", err)
	}
	expect(t, "pods", f.podNames(), "web-0", "web-1")
}

func TestParentAndOrdinal(t *testing.T) {
	for name, want := range map[string]struct {
		parent  string
		ordinal int
	}{
		"web-0": {"web", 0}, "web-12": {"web", 12}, "my-web-3": {"my-web", 3}, "web": {"", -1}, "web-x": {"", -1}, "web-": {"", -1},
		"web-99999999999": {"", -1},
	} {
		p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name}}
		if parent, ordinal := parentAndOrdinal(p); parent != want.parent || ordinal != want.ordinal {
			t.Errorf("%s: (%q, %d), want (%q, %d)", name, parent, ordinal, want.parent, want.ordinal)
		}
	}
}

func TestNewVersionedPod(t *testing.T) {
	cur := newSet(4, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} })
	cur.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(2)
	upd := proto.Clone(cur).(*appsv1.StatefulSet)
	upd.Spec.Template.Spec.Containers[0].Image = "new"
	for ordinal, want := range map[int]string{5: "cur", 6: "cur", 7: "upd", 8: "upd"} {
		p := newVersionedPod(cur, upd, "cur", "upd", ordinal)
		if revisionOf(p) != want || p.GetMetadata().GetName() != fmt.Sprintf("web-%d", ordinal) {
			t.Errorf("ordinal %d: %s at %s", ordinal, p.GetMetadata().GetName(), revisionOf(p))
		}
	}
}

func TestOrphanRevisionIsAdoptedNotDuplicated(t *testing.T) {
	set := newSet(1)
	patch, err := controller.TemplatePatch(set)
	if err != nil {
		t.Fatal(err)
	}
	orphan := controller.NewControllerRevision(set, Kind, set.Spec.Template.Metadata.Labels, patch, 1, "orphaned")
	orphan.Metadata.OwnerReferences = nil
	orphan.Metadata.Uid = "rev-uid"
	f := newFixture(t, set, orphan)
	expect(t, "adopted", f.sync(), "create pods default/", "patch controllerrevisions default/web-orphaned", "update statefulsets default/web/status")
	if rev := revisionOf(f.pod("web-0")); rev != "web-orphaned" {
		t.Fatalf("web-0 made from %q, want the adopted revision", rev)
	}
}
