package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	tu "kubelab.io/scheduler/internal/testutil"
)

type event struct{ object, typ, reason, msg string }

type fakeRecorder struct {
	mu     sync.Mutex
	events []event
}

func (r *fakeRecorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := obj.GetMetadata()
	r.events = append(r.events, event{m.GetNamespace() + "/" + m.GetName(), typ, reason, fmt.Sprintf(format, args...)})
}

func (r *fakeRecorder) find(object, reason string) (event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.object == object && e.reason == reason {
			return e, true
		}
	}
	return event{}, false
}

// fakeClient binds by updating the pod in the fake apiserver, and records status patches.
type fakeClient struct {
	tx      *cachetest.Transport
	mu      sync.Mutex
	failFor map[string]error
	patches map[string][]byte
	// log lists every status patch and delete, in order: "patch ns/name {...}", "delete ns/name".
	log []string
}

func (c *fakeClient) Bind(_ context.Context, ns string, b *corev1.Binding) error {
	c.mu.Lock()
	err := c.failFor[b.GetMetadata().GetName()]
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, obj := range c.tx.Objects(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}) {
		p := obj.(*corev1.Pod)
		if p.GetMetadata().GetName() == b.GetMetadata().GetName() && p.GetMetadata().GetNamespace() == ns {
			p = proto.Clone(p).(*corev1.Pod)
			p.Spec.NodeName = b.GetTarget().GetName()
			c.tx.UpdateObject(p)
			return nil
		}
	}
	return errors.New("not found")
}

func (c *fakeClient) PatchPodStatus(_ context.Context, ns, name string, patch []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.patches[ns+"/"+name] = patch
	c.log = append(c.log, "patch "+ns+"/"+name+" "+string(patch))
	return nil
}

// DeletePod deletes at once, as if the kubelet had confirmed the graceful deletion.
func (c *fakeClient) DeletePod(_ context.Context, ns, name, uid string) error {
	c.mu.Lock()
	c.log = append(c.log, "delete "+ns+"/"+name)
	c.mu.Unlock()
	for _, obj := range c.tx.Objects(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}) {
		m := obj.GetMetadata()
		if m.GetName() == name && m.GetNamespace() == ns && m.GetUid() == uid {
			c.tx.DeleteObject(obj)
			return nil
		}
	}
	return apierrors.NewNotFound(apierrors.GroupResource{Resource: "pods"}, name)
}

func (c *fakeClient) actions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *fakeClient) patch(key string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.patches[key]
}

func setup(t *testing.T, objs ...runtime.Object) (*Scheduler, *fakeClient, *fakeRecorder, *cachetest.Transport) {
	t.Helper()
	tx := cachetest.New()
	for _, o := range objs {
		tx.AddObject(o)
	}
	client := &fakeClient{tx: tx, failFor: map[string]error{}, patches: map[string][]byte{}}
	rec := &fakeRecorder{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	factory := informers.NewSharedInformerFactory(tx, 0, informers.WithLogger(log))
	s, err := New(Config{Client: client, Informers: factory, Recorder: rec, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
	return s, client, rec, tx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScheduleAndConfirm(t *testing.T) {
	s, _, rec, _ := setup(t, tu.Node("n1").Obj(), tu.Pod("web").Req("cpu", "1").Obj())
	var ev event
	waitFor(t, "Scheduled event", func() (ok bool) { ev, ok = rec.find("default/web", "Scheduled"); return ok })
	if ev.msg != "Successfully assigned default/web to n1" || ev.typ != "Normal" {
		t.Errorf("event %+v", ev)
	}
	// The informer's update confirms the assumption.
	waitFor(t, "confirmation", func() bool { _, pods, assumed := s.Cache().Counts(); return pods == 1 && assumed == 0 })
}

func TestUnschedulableConditionAndEvent(t *testing.T) {
	_, client, rec, tx := setup(t, tu.Node("n1").Alloc("cpu", "1").Obj(), tu.Pod("big").Req("cpu", "2").Obj())
	var ev event
	waitFor(t, "FailedScheduling", func() (ok bool) { ev, ok = rec.find("default/big", "FailedScheduling"); return ok })
	if ev.msg != "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod." || ev.typ != "Warning" {
		t.Errorf("event %+v", ev)
	}
	waitFor(t, "status patch", func() bool { return client.patch("default/big") != nil })
	var patch struct {
		Status struct {
			Conditions []map[string]any `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(client.patch("default/big"), &patch); err != nil {
		t.Fatal(err)
	}
	c := patch.Status.Conditions
	if len(c) != 1 || c[0]["type"] != "PodScheduled" || c[0]["status"] != "False" || c[0]["reason"] != "Unschedulable" ||
		c[0]["message"] != "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod." || c[0]["lastTransitionTime"] == nil {
		t.Errorf("patch %s", client.patch("default/big"))
	}
	// A node that fits re-activates the pod.
	tx.AddObject(tu.Node("n2").Alloc("cpu", "4").Obj())
	waitFor(t, "Scheduled", func() (ok bool) { ev, ok = rec.find("default/big", "Scheduled"); return ok })
	if ev.msg != "Successfully assigned default/big to n2" {
		t.Errorf("event %+v", ev)
	}
}

func TestBindFailureForgetsAndRetries(t *testing.T) {
	s, client, rec, _ := setup(t, tu.Node("n1").Obj())
	client.mu.Lock()
	client.failFor["p"] = errors.New("etcd is down")
	client.mu.Unlock()
	client.tx.AddObject(tu.Pod("p").Req("cpu", "3").Obj())
	var ev event
	waitFor(t, "FailedScheduling", func() (ok bool) { ev, ok = rec.find("default/p", "FailedScheduling"); return ok })
	if ev.msg != "binding rejected: running Bind plugin \"DefaultBinder\": etcd is down" {
		t.Errorf("event %+v", ev)
	}
	// The assumption was forgotten: the node's cpu is free again.
	waitFor(t, "forget", func() bool { _, _, assumed := s.Cache().Counts(); return assumed == 0 })
	client.mu.Lock()
	delete(client.failFor, "p")
	client.mu.Unlock()
	// Retried after its backoff (an error goes to the backoff queue, not unschedulable).
	waitFor(t, "Scheduled", func() (ok bool) { _, ok = rec.find("default/p", "Scheduled"); return ok })
}

func TestPreemption(t *testing.T) {
	s, client, rec, _ := setup(t,
		tu.Node("n1").Alloc("cpu", "2").Obj(),
		tu.Pod("old").Req("cpu", "1").NodeName("n1").StartTime(100).Obj(),
		tu.Pod("new").Req("cpu", "1").NodeName("n1").StartTime(200).Obj(),
		tu.Pod("high").Req("cpu", "1").Priority(100).Obj())
	var ev event
	waitFor(t, "Scheduled", func() (ok bool) { ev, ok = rec.find("default/high", "Scheduled"); return ok })
	if ev.msg != "Successfully assigned default/high to n1" {
		t.Errorf("event %+v", ev)
	}
	pre, ok := rec.find("default/new", "Preempted")
	if !ok || pre.typ != "Normal" || pre.msg != "Preempted by pod uid-high on node n1" {
		t.Errorf("Preempted event %+v (found %v)", pre, ok)
	}
	if _, ok := rec.find("default/old", "Preempted"); ok {
		t.Error("old was preempted too")
	}
	// Exactly the newer pod is deleted, and the preemptor is nominated to its node.
	var deletes []string
	nominated := false
	for _, a := range client.actions() {
		switch {
		case strings.HasPrefix(a, "delete "):
			deletes = append(deletes, a)
		case a == `patch default/high {"status":{"nominatedNodeName":"n1"}}`:
			nominated = true
		}
	}
	if !slices.Equal(deletes, []string{"delete default/new"}) || !nominated {
		t.Errorf("actions %q", client.actions())
	}
	// Before it is deleted, the victim is marked a disruption target, as upstream's
	// PrepareCandidate does, keeping the conditions it had.
	marked, deleted := slices.IndexFunc(client.actions(), func(a string) bool {
		return strings.HasPrefix(a, "patch default/new ") && strings.Contains(a, `"type":"DisruptionTarget"`) &&
			strings.Contains(a, `"reason":"PreemptionByScheduler"`) &&
			strings.Contains(a, `"message":"default-scheduler: preempting to accommodate a higher priority pod"`)
	}), slices.Index(client.actions(), "delete default/new")
	if marked < 0 || marked > deleted {
		t.Errorf("no DisruptionTarget patch on the victim before its deletion: actions %q", client.actions())
	}
	// Bound, it holds no nomination any more.
	if n := s.Queue().NominatedNodeName(tu.Pod("high").Obj()); n != "" {
		t.Errorf("high still nominated to %q", n)
	}
	families, err := s.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "scheduler_preemption_attempts_total":
				got[f.GetName()] = m.GetCounter().GetValue()
			case "scheduler_preemption_victims":
				got[f.GetName()] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	if got["scheduler_preemption_attempts_total"] < 1 || got["scheduler_preemption_victims"] != 1 {
		t.Errorf("metrics %v", got)
	}
}

// A node's deletion can make a pod fit that PodTopologySpread rejected: the empty domain
// that held the minimum down goes with it. The pod is retried at once, not after
// MaxInUnschedulable.
func TestNodeDeleteRequeuesSpreadPods(t *testing.T) {
	const zone = "topology.kubernetes.io/zone"
	tainted := tu.Node("n2").Label(zone, "b").Taint("dedicated", "x", "NoSchedule").Obj()
	s, _, rec, tx := setup(t,
		tu.Node("n1").Label(zone, "a").Obj(), tainted,
		tu.Pod("w1").Label("app", "web").NodeName("n1").Obj(),
		tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, zone, "DoNotSchedule", "app", "web")).Obj())
	waitFor(t, "FailedScheduling", func() bool { _, ok := rec.find("default/p", "FailedScheduling"); return ok })
	waitFor(t, "p parked unschedulable", func() bool { return s.Queue().Pending()["unschedulable"] == 1 })
	tx.DeleteObject(tainted)
	waitFor(t, "Scheduled", func() bool { _, ok := rec.find("default/p", "Scheduled"); return ok })
}

// A claim deleted while PreBind waits for it to bind ends the wait at once (upstream's
// checkBindings finds it gone), rather than holding the pod on its node for the whole
// bind timeout.
func TestClaimDeleteEndsPreBindWait(t *testing.T) {
	class := &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "standard"}, Provisioner: "kubelab.io/local-path",
		VolumeBindingMode: ptrTo("WaitForFirstConsumer")}
	// Provisioning already started for n1, so PreBind writes nothing and only waits.
	claim := &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: "data", Namespace: "default", Uid: "uid-data", ResourceVersion: "1",
			Annotations: map[string]string{"volume.kubernetes.io/selected-node": "n1"}},
		Spec:   &corev1.PersistentVolumeClaimSpec{StorageClassName: ptrTo("standard"), AccessModes: []string{"ReadWriteOnce"}},
		Status: &corev1.PersistentVolumeClaimStatus{Phase: "Pending"}}
	pod := tu.Pod("p").Obj()
	pod.Spec.Volumes = []*corev1.Volume{{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}
	s, _, rec, tx := setup(t, tu.Node("n1").Label("kubernetes.io/hostname", "n1").Obj(), class, claim, pod)
	waitFor(t, "pod assumed while PreBind waits", func() bool { _, _, assumed := s.Cache().Counts(); return assumed == 1 })
	tx.DeleteObject(claim)
	var ev event
	waitFor(t, "FailedScheduling", func() (ok bool) { ev, ok = rec.find("default/p", "FailedScheduling"); return ok })
	if !strings.Contains(ev.msg, "not found") {
		t.Errorf("event %+v, want the claim not found", ev)
	}
}

func ptrTo[T any](v T) *T { return &v }
