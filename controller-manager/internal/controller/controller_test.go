package controller

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func node(n string) podOpt   { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph string) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func created(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.Metadata.CreationTimestamp = NewTime(epoch.Add(d)) }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []*corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}
func readySince(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []*corev1.PodCondition{{Type: PodReady, Status: ConditionTrue, LastTransitionTime: NewTime(t)}}
	}
}
func ready() podOpt { return readySince(epoch) }

func newPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Uid: "uid-" + name, CreationTimestamp: NewTime(epoch)},
		Spec:     &corev1.PodSpec{}, Status: &corev1.PodStatus{},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestIsPodAvailable(t *testing.T) {
	now := epoch.Add(time.Minute)
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		mrs  int32
		want bool
	}{
		{"not ready", newPod("a"), 0, false},
		{"ready, no minReadySeconds", newPod("a", ready()), 0, true},
		{"ready long enough", newPod("a", readySince(now.Add(-10*time.Second))), 10, true},
		{"ready not long enough", newPod("a", readySince(now.Add(-9*time.Second))), 10, false},
		{"ready false", newPod("a", func(p *corev1.Pod) {
			p.Status.Conditions = []*corev1.PodCondition{{Type: PodReady, Status: ConditionFalse}}
		}), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPodAvailable(tc.pod, tc.mrs, now); got != tc.want {
				t.Fatalf("IsPodAvailable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDeletionOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first *corev1.Pod // deleted before second
		then  *corev1.Pod
	}{
		{"unscheduled before scheduled", newPod("a", phase(PodRunning), ready()), newPod("b", node("n1"), phase(PodPending))},
		{"pending before unknown", newPod("a", node("n"), phase(PodPending)), newPod("b", node("n"), phase(PodUnknown))},
		{"unknown before running", newPod("a", node("n"), phase(PodUnknown)), newPod("b", node("n"), phase(PodRunning))},
		{"not ready before ready", newPod("a", node("n"), phase(PodRunning), created(-time.Hour)), newPod("b", node("n"), phase(PodRunning), ready())},
		{"more restarts first", newPod("a", node("n"), phase(PodRunning), ready(), restarts(3), created(-time.Hour)), newPod("b", node("n"), phase(PodRunning), ready(), restarts(1))},
		{"newer first", newPod("a", node("n"), phase(PodRunning), ready(), created(time.Hour)), newPod("b", node("n"), phase(PodRunning), ready())},
		{"no timestamp first", newPod("a", node("n"), func(p *corev1.Pod) { p.Metadata.CreationTimestamp = nil }), newPod("b", node("n"), created(time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, pods := range [][]*corev1.Pod{{tc.first, tc.then}, {tc.then, tc.first}} {
				pods = slices.Clone(pods)
				SortForDeletion(pods)
				if pods[0] != tc.first {
					t.Fatalf("deleted first: %s, want %s", pods[0].Metadata.Name, tc.first.Metadata.Name)
				}
			}
		})
	}
	t.Run("rank after readiness, before restarts", func(t *testing.T) {
		s := ActivePodsWithRanks{
			Pods: []*corev1.Pod{newPod("lone", node("a"), restarts(5)), newPod("doubled", node("b"))},
			Rank: []int{1, 2},
		}
		if !s.Less(1, 0) || s.Less(0, 1) {
			t.Fatal("a pod doubled up on a node should go before a lone one with more restarts")
		}
	})
}

func TestComputeHash(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "nginx", "tier": "web", "z": "1"}},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}},
	}
	h := ComputeHash(tmpl, nil)
	for i := range 20 {
		// A fresh copy each time: map order must not matter.
		if got := ComputeHash(proto.Clone(tmpl).(*corev1.PodTemplateSpec), nil); got != h {
			t.Fatalf("run %d: hash %q, want %q", i, got, h)
		}
	}
	for _, r := range h {
		if !slices.Contains([]rune(safeAlphanums), r) {
			t.Fatalf("hash %q has %q outside the safe alphabet", h, r)
		}
	}
	zero, one := int32(0), int32(1)
	if ComputeHash(tmpl, &zero) == h || ComputeHash(tmpl, &zero) == ComputeHash(tmpl, &one) {
		t.Fatal("collisionCount does not change the hash")
	}
	other := proto.Clone(tmpl).(*corev1.PodTemplateSpec)
	other.Spec.Containers[0].Image = "nginx:1.16.1"
	if ComputeHash(other, nil) == h {
		t.Fatal("a different image gives the same hash")
	}
	// SafeEncodeString is Kubernetes': rune value modulo 27 into the alphabet ('0' = 48 → 21 → '4').
	if got, want := SafeEncodeString("0123456789"), "456789bcdf"; got != want {
		t.Fatalf("SafeEncodeString = %q, want %q", got, want)
	}
}

func TestSlowStartBatch(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name          string
		count, failAt int // failAt: calls from this one (1-based) on fail; 0 never
		wantCalls     int
		wantOK        int
	}{
		{"all succeed", 10, 0, 10, 10},
		{"zero", 0, 0, 0, 0},
		{"first fails", 10, 1, 1, 0},
		{"fails in third batch", 10, 4, 7, 3}, // batches 1, 2, 4: calls 4..7 fail
		{"fails in last partial batch", 10, 8, 10, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			n := 0
			ok, err := SlowStartBatch(tc.count, 1, func() error {
				calls.Add(1)
				mu.Lock()
				n++
				mine := n
				mu.Unlock()
				if tc.failAt > 0 && mine >= tc.failAt {
					return errBoom
				}
				return nil
			})
			if int(calls.Load()) != tc.wantCalls || ok != tc.wantOK {
				t.Fatalf("calls = %d, successes = %d; want %d, %d", calls.Load(), ok, tc.wantCalls, tc.wantOK)
			}
			if (err != nil) != (tc.failAt > 0 && tc.failAt <= tc.count) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestExpectations(t *testing.T) {
	now := epoch
	e := NewExpectations(func() time.Time { return now })
	const rs = "default/web"
	if !e.Satisfied(rs) {
		t.Fatal("no expectations: not satisfied")
	}
	e.ExpectCreations(rs, 2)
	if e.Satisfied(rs) {
		t.Fatal("2 creations pending: satisfied")
	}
	e.CreationObserved(rs)
	e.CreationObserved(rs)
	e.CreationObserved(rs) // an extra observation does not go negative in effect
	if !e.Satisfied(rs) {
		t.Fatal("all creations observed: not satisfied")
	}

	e.ExpectDeletions(rs, []string{"default/a", "default/b"})
	e.DeletionObserved(rs, "default/a")
	e.DeletionObserved(rs, "default/a") // deletionTimestamp update, then the delete: once
	e.DeletionObserved(rs, "default/x") // not one we deleted
	if adds, dels := e.Pending(rs); adds != 0 || dels != 1 || e.Satisfied(rs) {
		t.Fatalf("pending = %d adds, %d dels; satisfied %v", adds, dels, e.Satisfied(rs))
	}
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied(rs) {
		t.Fatal("expired expectations: not satisfied")
	}
	e.Expect(rs, 1, []string{"default/c"})
	e.CreationObserved(rs)
	if e.Satisfied(rs) {
		t.Fatal("a deletion still pending: satisfied")
	}
	e.DeletionObserved(rs, "default/c")
	if !e.Satisfied(rs) {
		t.Fatal("creation and deletion observed: not satisfied")
	}
	e.ExpectCreations(rs, 1)
	e.Delete(rs)
	if !e.Satisfied(rs) {
		t.Fatal("deleted expectations: not satisfied")
	}
}

func TestControllerRefs(t *testing.T) {
	owner := newPod("owner") // any object works as an owner
	gvk := cacheGVK()
	ref := NewControllerRef(owner, gvk)
	if !ref.GetController() || !ref.GetBlockOwnerDeletion() || ref.GetUid() != "uid-owner" || ref.GetApiVersion() != "apps/v1" || ref.GetKind() != "ReplicaSet" {
		t.Fatalf("ref = %v", ref)
	}
	p := newPod("p")
	p.Metadata.OwnerReferences = []*metav1.OwnerReference{{Uid: "other", Name: "x"}, ref}
	if GetControllerOf(p) != ref || !IsControlledBy(p, owner) {
		t.Fatal("controller ref not found")
	}
	tmpl := &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: &corev1.PodSpec{NodeName: "n"}}
	pod := PodFromTemplate(tmpl, owner, ref)
	if pod.Metadata.GenerateName != "owner-" || pod.Metadata.Labels["a"] != "b" || pod.Spec.NodeName != "n" || GetControllerOf(pod).GetUid() != "uid-owner" {
		t.Fatalf("pod = %v", pod)
	}
	pod.Metadata.Labels["a"] = "changed"
	if tmpl.Metadata.Labels["a"] != "b" {
		t.Fatal("PodFromTemplate shares the template's labels")
	}
}

func TestKeysAndTombstones(t *testing.T) {
	p := newPod("web-1")
	if k, err := KeyFunc(cache.DeletedFinalStateUnknown{Key: "default/web-1", Obj: p}); err != nil || k != "default/web-1" {
		t.Fatalf("key = %q, %v", k, err)
	}
	if o, ok := ObjectFromTombstone(cache.DeletedFinalStateUnknown{Key: "default/web-1", Obj: p}); !ok || o != p {
		t.Fatal("tombstone not unwrapped")
	}
	if _, ok := ObjectFromTombstone("junk"); ok {
		t.Fatal("junk unwrapped")
	}
	q := &fakeQueue{}
	if err := Enqueue(q, p); err != nil || !slices.Equal(q.keys, []string{"default/web-1"}) {
		t.Fatalf("enqueued %v, %v", q.keys, err)
	}
	same := proto.Clone(p).(*corev1.Pod)
	p.Metadata.ResourceVersion, same.Metadata.ResourceVersion = "5", "5"
	if !IsResync(p, same) {
		t.Fatal("same resourceVersion is not a resync")
	}
}

type fakeQueue struct{ keys []string }

func (q *fakeQueue) Add(k string) { q.keys = append(q.keys, k) }

func cacheGVK() runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "ReplicaSet"}
}

func TestUpdatePodCondition(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { return NewTime(epoch.Add(d)) }
	target := &corev1.PodCondition{Type: "DisruptionTarget", Status: ConditionTrue, Reason: "DeletionByPodGC"}
	for _, tc := range []struct {
		name        string
		conds       []*corev1.PodCondition
		want        []*corev1.PodCondition
		wantChanged bool
	}{
		{"added", []*corev1.PodCondition{{Type: PodReady, Status: ConditionTrue}},
			[]*corev1.PodCondition{{Type: PodReady, Status: ConditionTrue}, {Type: "DisruptionTarget", Status: ConditionTrue, Reason: "DeletionByPodGC", LastTransitionTime: at(time.Minute)}}, true},
		{"status flips: new transition time", []*corev1.PodCondition{{Type: "DisruptionTarget", Status: ConditionFalse, LastTransitionTime: at(0)}},
			[]*corev1.PodCondition{{Type: "DisruptionTarget", Status: ConditionTrue, Reason: "DeletionByPodGC", LastTransitionTime: at(time.Minute)}}, true},
		{"reason changes: transition time kept", []*corev1.PodCondition{{Type: "DisruptionTarget", Status: ConditionTrue, Reason: "Other", LastTransitionTime: at(0)}},
			[]*corev1.PodCondition{{Type: "DisruptionTarget", Status: ConditionTrue, Reason: "DeletionByPodGC", LastTransitionTime: at(0)}}, true},
		{"unchanged", []*corev1.PodCondition{{Type: "DisruptionTarget", Status: ConditionTrue, Reason: "DeletionByPodGC", LastTransitionTime: at(0)}},
			[]*corev1.PodCondition{{Type: "DisruptionTarget", Status: ConditionTrue, Reason: "DeletionByPodGC", LastTransitionTime: at(0)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &corev1.PodStatus{Conditions: tc.conds}
			changed := UpdatePodCondition(st, target, epoch.Add(time.Minute))
			if changed != tc.wantChanged || !slices.EqualFunc(st.GetConditions(), tc.want, func(a, b *corev1.PodCondition) bool { return proto.Equal(a, b) }) {
				t.Fatalf("got %v, %v; want %v, %v", st.GetConditions(), changed, tc.want, tc.wantChanged)
			}
			if target.LastTransitionTime != nil {
				t.Fatal("the condition passed in was modified")
			}
		})
	}
}
