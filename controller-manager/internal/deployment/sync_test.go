package deployment

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var podKind = runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}

// fakeTransport is the in-memory cachetest transport plus what the apiserver does on
// create and the controller depends on: AlreadyExists for a taken name, a uid and a
// creationTimestamp.
type fakeTransport struct {
	*cachetest.Transport
	now func() time.Time
}

func (f *fakeTransport) Create(ctx context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	name := obj.GetMetadata().GetName()
	ns := obj.GetMetadata().GetNamespace()
	if _, err := f.Get(ctx, transport.Ref{Mapping: ref.Mapping, Namespace: ns, Name: name}); err == nil {
		return nil, apierrors.NewAlreadyExists(apierrors.GroupResource{Group: ref.Mapping.Kind.Group, Resource: ref.Mapping.Plural}, name)
	}
	obj = proto.Clone(obj).(runtime.Object)
	m := runtime.Meta(obj)
	if m.Uid == "" {
		m.Uid = "uid-" + name
	}
	if m.CreationTimestamp == nil {
		m.CreationTimestamp = controller.NewTime(f.now())
	}
	return f.AddObject(obj), nil
}

// fakeQueue records the requeues a sync asks for; the other queue methods are not used
// by sync.
type fakeQueue struct {
	workqueue.Interface[string]
	added       []string
	after       []time.Duration
	rateLimited []string
}

func (q *fakeQueue) Add(key string) { q.added = append(q.added, key) }
func (q *fakeQueue) AddAfter(key string, d time.Duration) {
	q.after = append(q.after, d)
}
func (q *fakeQueue) AddRateLimited(key string) { q.rateLimited = append(q.rateLimited, key) }

type fakeRecorder struct{ events []string }

func (r *fakeRecorder) Eventf(_ runtime.Object, eventType, reason, format string, args ...any) {
	r.events = append(r.events, eventType+" "+reason+" "+fmt.Sprintf(format, args...))
}

type fixture struct {
	t        *testing.T
	ft       *fakeTransport
	inf      *informers.SharedInformerFactory
	c        *Controller
	queue    *fakeQueue
	recorder *fakeRecorder
	now      time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, now: t0, queue: &fakeQueue{}, recorder: &fakeRecorder{}}
	f.ft = &fakeTransport{Transport: cachetest.New(), now: func() time.Time { return f.now }}
	for _, o := range objs {
		f.ft.AddObject(o)
	}
	f.inf = informers.NewSharedInformerFactory(f.ft, 0)
	c, err := New(context.Background(), &controllerctx.Context{
		Client: kube.New(f.ft), Informers: f.inf, Clock: func() time.Time { return f.now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.queue, c.recorder = f.queue, f.recorder
	f.c = c
	return f
}

// refresh loads the stored objects into the informer caches, as their watches would.
func (f *fixture) refresh() {
	f.t.Helper()
	for _, gvk := range []runtime.GroupVersionKind{deploymentKind, replicaSetKind, podKind} {
		m, _ := scheme.MappingFor(gvk)
		if err := f.inf.ForMapping(m).GetIndexer().Replace(f.ft.Objects(gvk)); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) sync(name string) {
	f.t.Helper()
	f.refresh()
	if err := f.c.sync(context.Background(), "default/"+name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	f.refresh()
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	f.t.Helper()
	for _, o := range f.ft.Objects(deploymentKind) {
		if o.GetMetadata().GetName() == name {
			return proto.Clone(o).(*appsv1.Deployment)
		}
	}
	f.t.Fatalf("no deployment %s", name)
	return nil
}

func (f *fixture) replicaSets() []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, o := range f.ft.Objects(replicaSetKind) {
		out = append(out, proto.Clone(o).(*appsv1.ReplicaSet))
	}
	slices.SortFunc(out, compareCreation)
	return out
}

// updateDeployment edits the stored deployment as a user would (generation bumped).
func (f *fixture) updateDeployment(name string, edit func(d *appsv1.Deployment)) {
	d := f.deployment(name)
	edit(d)
	d.Metadata.Generation++
	f.ft.UpdateObject(d)
}

// settle plays the replicaset controller and kubelet: every replica set has its pods,
// all ready and available.
func (f *fixture) settle() {
	for _, rs := range f.replicaSets() {
		n := replicas(rs)
		rs.Status = &appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, FullyLabeledReplicas: n,
			ObservedGeneration: rs.GetMetadata().GetGeneration()}
		f.ft.UpdateObject(rs)
	}
	f.now = f.now.Add(time.Second)
}

// setPods gives replica set name status pods, available of them available.
func (f *fixture) setPods(rs *appsv1.ReplicaSet, pods, available int32) {
	rs = proto.Clone(rs).(*appsv1.ReplicaSet)
	rs.Status = &appsv1.ReplicaSetStatus{Replicas: pods, ReadyReplicas: available, AvailableReplicas: available}
	f.ft.UpdateObject(rs)
}

func (f *fixture) wantEvents(want ...string) {
	f.t.Helper()
	for _, w := range want {
		if !slices.Contains(f.recorder.events, w) {
			f.t.Errorf("no event %q in %q", w, f.recorder.events)
		}
	}
}

func condition(d *appsv1.Deployment, typ string) string {
	c := GetCondition(d.GetStatus(), typ)
	if c == nil {
		return "<none>"
	}
	return c.GetStatus() + " " + c.GetReason() + " " + c.GetMessage()
}

func TestSyncNewDeploymentCreatesReplicaSet(t *testing.T) {
	f := newFixture(t, testDeployment("example", 3, "25%", "25%"))
	f.sync("example")

	rss := f.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("got %d replica sets, want 1", len(rss))
	}
	rs := rss[0]
	hash := controller.ComputeHash(testDeployment("example", 3, "25%", "25%").Spec.Template, nil)
	if rs.Metadata.Name != "example-"+hash || replicas(rs) != 3 {
		t.Errorf("replica set %s with %d replicas, want example-%s with 3", rs.Metadata.Name, replicas(rs), hash)
	}
	for what, l := range map[string]map[string]string{
		"labels": rs.Metadata.Labels, "selector": rs.Spec.Selector.MatchLabels, "template labels": rs.Spec.Template.Metadata.Labels,
	} {
		if l[controller.DefaultPodTemplateHashLabel] != hash || l["app"] != "example" {
			t.Errorf("%s = %v", what, l)
		}
	}
	if ref := controller.GetControllerOf(rs); ref == nil || ref.GetUid() != "uid-example" || ref.GetKind() != "Deployment" || !ref.GetBlockOwnerDeletion() {
		t.Errorf("controller ref = %v", ref)
	}
	a := rs.Metadata.Annotations
	if a[RevisionAnnotation] != "1" || a[DesiredReplicasAnnotation] != "3" || a[MaxReplicasAnnotation] != "4" {
		t.Errorf("annotations = %v", a)
	}
	f.wantEvents("Normal ScalingReplicaSet Scaled up replica set " + rs.Metadata.Name + " from 0 to 3")

	d := f.deployment("example")
	if d.Metadata.Annotations[RevisionAnnotation] != "1" || d.Status.ObservedGeneration != 1 {
		t.Errorf("deployment revision %q, observedGeneration %d", d.Metadata.Annotations[RevisionAnnotation], d.Status.ObservedGeneration)
	}
	if got, want := condition(d, ConditionProgressing), `True NewReplicaSetCreated Created new replica set "`+rs.Metadata.Name+`"`; got != want {
		t.Errorf("Progressing = %s, want %s", got, want)
	}
	if got := condition(d, ConditionAvailable); got != "False MinimumReplicasUnavailable "+MessageMinimumUnavailable {
		t.Errorf("Available = %s", got)
	}

	f.settle()
	f.sync("example")
	d = f.deployment("example")
	s := d.Status
	if s.Replicas != 3 || s.UpdatedReplicas != 3 || s.ReadyReplicas != 3 || s.AvailableReplicas != 3 || s.UnavailableReplicas != 0 {
		t.Errorf("status = %v", s)
	}
	if got := condition(d, ConditionAvailable); got != "True MinimumReplicasAvailable "+MessageMinimumAvailable {
		t.Errorf("Available = %s", got)
	}
	if got, want := condition(d, ConditionProgressing), `True NewReplicaSetAvailable ReplicaSet "`+rs.Metadata.Name+`" has successfully progressed.`; got != want {
		t.Errorf("Progressing = %s, want %s", got, want)
	}

	// Nothing changed: no write at all.
	rv := f.ft.ResourceVersion()
	f.sync("example")
	if f.ft.ResourceVersion() != rv {
		t.Errorf("an idle sync wrote something")
	}
}

// rollOut syncs and settles until the deployment is complete, checking the rolling-update
// bounds at every step: never more than replicas+maxSurge pods asked for, and once the
// pods have come and gone, never fewer available than replicas-maxUnavailable (or than
// were available before, while still below that).
func rollOut(t *testing.T, f *fixture, name string) {
	t.Helper()
	for i := 0; i < 50; i++ {
		before := availableReplicas(f.replicaSets())
		f.sync(name)
		d := f.deployment(name)
		if total, limit := specReplicas(f.replicaSets()), desired(d)+MaxSurge(d); total > limit && isRollingUpdate(d) {
			t.Fatalf("step %d: %d pods asked for, more than replicas+maxSurge %d", i, total, limit)
		}
		if DeploymentComplete(d, d.Status) && GetCondition(d.Status, ConditionProgressing).GetReason() == ReasonNewReplicaSetAvailable {
			return
		}
		f.settle()
		f.refresh()
		if avail, floor := availableReplicas(f.replicaSets()), desired(d)-MaxUnavailable(d); avail < min(floor, before) && isRollingUpdate(d) {
			t.Fatalf("step %d: %d pods available, fewer than replicas-maxUnavailable %d", i, avail, floor)
		}
	}
	t.Fatalf("rollout did not complete: %v", f.deployment(name).Status)
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

func TestSyncRollingUpdateAndRollback(t *testing.T) {
	for _, tc := range []struct {
		replicas           int32
		surge, unavailable string
	}{
		{3, "1", "0"}, {3, "0", "1"}, {10, "25%", "25%"}, {5, "2", "2"},
	} {
		t.Run(fmt.Sprintf("%d/%s/%s", tc.replicas, tc.surge, tc.unavailable), func(t *testing.T) {
			f := newFixture(t, testDeployment("web", tc.replicas, tc.surge, tc.unavailable))
			rollOut(t, f, "web")
			first := f.replicaSets()[0]

			f.updateDeployment("web", setImage("nginx:1.16.1"))
			rollOut(t, f, "web")
			rss := f.replicaSets()
			if len(rss) != 2 {
				t.Fatalf("got %d replica sets, want 2", len(rss))
			}
			second := rss[1]
			if replicas(rss[0]) != 0 || replicas(second) != tc.replicas || Revision(second) != 2 {
				t.Errorf("after rollout: old %d, new %d (revision %d)", replicas(rss[0]), replicas(second), Revision(second))
			}
			if tc.replicas == 3 && tc.surge == "1" {
				f.wantEvents("Normal ScalingReplicaSet Scaled up replica set "+second.Metadata.Name+" from 0 to 1",
					"Normal ScalingReplicaSet Scaled down replica set "+first.Metadata.Name+" from 3 to 2")
			}

			// rollout undo: kubectl writes the first template back.
			f.updateDeployment("web", func(d *appsv1.Deployment) {
				tmpl := proto.Clone(first.Spec.Template).(*corev1.PodTemplateSpec)
				delete(tmpl.Metadata.Labels, controller.DefaultPodTemplateHashLabel)
				d.Spec.Template = tmpl
			})
			rollOut(t, f, "web")
			rss = f.replicaSets()
			if len(rss) != 2 || rss[0].Metadata.Name != first.Metadata.Name {
				t.Fatalf("rollback made a new replica set: %d replica sets", len(rss))
			}
			back := rss[0]
			if replicas(back) != tc.replicas || Revision(back) != 3 || back.Metadata.Annotations[RevisionHistoryAnnotation] != "1" {
				t.Errorf("rolled-back replica set: %d replicas, annotations %v", replicas(back), back.Metadata.Annotations)
			}
			if got := f.deployment("web").Metadata.Annotations[RevisionAnnotation]; got != "3" {
				t.Errorf("deployment revision = %q, want 3", got)
			}
		})
	}
}

func TestSyncProportionalScaling(t *testing.T) {
	f := newFixture(t, testDeployment("web", 3, "1", "0"))
	rollOut(t, f, "web")
	f.updateDeployment("web", setImage("nginx:1.16.1"))
	f.sync("web") // the new replica set gets 1 pod, which never becomes available
	rss := f.replicaSets()
	old, cur := rss[0], rss[1]
	if replicas(old) != 3 || replicas(cur) != 1 {
		t.Fatalf("mid-rollout sizes %d/%d, want 3/1", replicas(old), replicas(cur))
	}
	f.setPods(cur, 1, 0)

	f.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(6) })
	f.sync("web")
	rss = f.replicaSets()
	if replicas(rss[0]) != 5 || replicas(rss[1]) != 2 {
		t.Errorf("after scaling to 6: old %d, new %d; want 5 and 2 (7 = 6+maxSurge, proportionally)", replicas(rss[0]), replicas(rss[1]))
	}
	f.wantEvents("Normal ScalingReplicaSet Scaled up replica set "+old.Metadata.Name+" from 3 to 5",
		"Normal ScalingReplicaSet Scaled up replica set "+cur.Metadata.Name+" from 1 to 2")
	if a := rss[0].Metadata.Annotations; a[DesiredReplicasAnnotation] != "6" || a[MaxReplicasAnnotation] != "7" {
		t.Errorf("annotations after scaling = %v", a)
	}
}

func TestSyncPausedAndResumed(t *testing.T) {
	f := newFixture(t, testDeployment("web", 3, "1", "0"))
	rollOut(t, f, "web")
	f.updateDeployment("web", func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		setImage("nginx:1.16.1")(d)
	})
	f.sync("web")
	if n := len(f.replicaSets()); n != 1 {
		t.Fatalf("a paused deployment rolled out: %d replica sets", n)
	}
	if got := condition(f.deployment("web"), ConditionProgressing); got != "Unknown DeploymentPaused "+MessagePaused {
		t.Errorf("Progressing = %s", got)
	}

	// Scaling still happens while paused.
	f.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(5) })
	f.sync("web")
	if rss := f.replicaSets(); len(rss) != 1 || replicas(rss[0]) != 5 {
		t.Errorf("paused deployment not scaled: %v", rss)
	}
	f.settle()

	f.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	rollOut(t, f, "web")
	rss := f.replicaSets()
	if len(rss) != 2 || replicas(rss[1]) != 5 || replicas(rss[0]) != 0 {
		t.Errorf("resumed rollout did not complete: %v", rss)
	}
}

func testPod(name string, rs *appsv1.ReplicaSet, phase string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name,
			Labels:          rs.Spec.Template.Metadata.Labels,
			OwnerReferences: []*metav1.OwnerReference{controller.NewControllerRef(rs, replicaSetKind)}},
		Spec:   &corev1.PodSpec{},
		Status: &corev1.PodStatus{Phase: phase},
	}
}

func TestSyncRecreate(t *testing.T) {
	d := testDeployment("web", 2, "1", "0")
	d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: RecreateStrategy}
	f := newFixture(t, d)
	rollOut(t, f, "web")
	old := f.replicaSets()[0]
	f.ft.AddObject(testPod("web-a", old, "Running"))
	f.ft.AddObject(testPod("web-b", old, "Succeeded"))

	f.updateDeployment("web", setImage("nginx:1.16.1"))
	f.sync("web")
	rss := f.replicaSets()
	if len(rss) != 1 || replicas(rss[0]) != 0 {
		t.Fatalf("want only the old replica set, scaled to 0: %v", rss)
	}
	f.wantEvents("Normal ScalingReplicaSet Scaled down replica set " + old.Metadata.Name + " from 2 to 0")

	f.settle() // the old replica set reports no pods, but pod web-a still runs
	f.sync("web")
	if n := len(f.replicaSets()); n != 1 {
		t.Fatalf("new replica set created while an old pod runs")
	}

	f.ft.DeleteObject(testPod("web-a", old, ""))
	f.sync("web")
	rss = f.replicaSets()
	if len(rss) != 2 || replicas(rss[1]) != 2 {
		t.Fatalf("want the new replica set with 2 replicas once old pods are gone: %v", rss)
	}
	rollOut(t, f, "web")
}

func TestSyncProgressDeadline(t *testing.T) {
	d := testDeployment("web", 2, "1", "0")
	d.Spec.ProgressDeadlineSeconds = proto.Int32(60)
	f := newFixture(t, d)
	f.sync("web") // new replica set; its pods never become available

	f.now = f.now.Add(20 * time.Second)
	f.sync("web")
	if len(f.queue.after) == 0 || f.queue.after[len(f.queue.after)-1] != 41*time.Second {
		t.Errorf("requeues %v, want one after the remaining 40s (+1s)", f.queue.after)
	}
	f.now = f.now.Add(time.Minute)
	f.sync("web")
	if got := condition(f.deployment("web"), ConditionProgressing); !strings.HasPrefix(got, "False ProgressDeadlineExceeded ReplicaSet ") ||
		!strings.HasSuffix(got, " has timed out progressing.") {
		t.Errorf("Progressing = %s", got)
	}
	// Progress afterwards is reported again.
	f.settle()
	f.sync("web")
	if got := condition(f.deployment("web"), ConditionProgressing); !strings.HasPrefix(got, "True NewReplicaSetAvailable") {
		t.Errorf("after progress, Progressing = %s", got)
	}
}

func TestSyncHashCollision(t *testing.T) {
	d := testDeployment("web", 1, "1", "0")
	taken := NewReplicaSetFor(d)
	taken.Metadata.OwnerReferences = nil
	taken.Metadata.Labels = map[string]string{"app": "other"}
	taken.Spec.Template.Metadata.Labels = map[string]string{"app": "other"}
	f := newFixture(t, d, taken)
	f.refresh()
	if err := f.c.sync(context.Background(), "default/web"); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("sync = %v, want AlreadyExists", err)
	}
	if cc := f.deployment("web").Status.CollisionCount; cc == nil || *cc != 1 {
		t.Fatalf("collisionCount = %v, want 1", cc)
	}
	f.sync("web")
	rss := f.replicaSets()
	if len(rss) != 2 || rss[1].Metadata.Name == taken.Metadata.Name || controller.GetControllerOf(rss[1]) == nil {
		t.Errorf("want a second, differently named replica set: %v", rss)
	}
}

func TestSyncRevisionHistoryLimit(t *testing.T) {
	d := testDeployment("web", 1, "1", "0")
	d.Spec.RevisionHistoryLimit = proto.Int32(1)
	f := newFixture(t, d)
	rollOut(t, f, "web")
	for _, image := range []string{"nginx:2", "nginx:3", "nginx:4"} {
		f.updateDeployment("web", setImage(image))
		rollOut(t, f, "web")
		f.sync("web")
	}
	rss := f.replicaSets()
	if len(rss) != 2 {
		t.Fatalf("got %d replica sets, want the new one and 1 old", len(rss))
	}
	if Revision(rss[0]) != 3 || Revision(rss[1]) != 4 {
		t.Errorf("kept revisions %d and %d, want 3 and 4", Revision(rss[0]), Revision(rss[1]))
	}
}

func TestSyncSelectingAll(t *testing.T) {
	d := testDeployment("web", 1, "1", "0")
	d.Spec.Selector = &metav1.LabelSelector{}
	d.Metadata.Generation = 2
	f := newFixture(t, d)
	f.sync("web")
	if len(f.replicaSets()) != 0 || f.deployment("web").Status.ObservedGeneration != 2 {
		t.Errorf("a select-all deployment must be observed and left alone")
	}
	f.wantEvents("Warning SelectingAll This deployment is selecting all pods. A non-empty selector is required.")
}

func TestSyncDeletedDeploymentIsNoop(t *testing.T) {
	f := newFixture(t)
	f.sync("gone")
}
