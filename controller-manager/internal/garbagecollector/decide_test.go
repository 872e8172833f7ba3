package garbagecollector

import (
	"slices"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

func ownerRef(uid string, block bool) *metav1.OwnerReference {
	return &metav1.OwnerReference{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs-" + uid, Uid: uid, BlockOwnerDeletion: proto.Bool(block)}
}

func TestDecide(t *testing.T) {
	a, b := ownerRef("a", true), ownerRef("b", false)
	for _, tc := range []struct {
		name          string
		owners        []*metav1.OwnerReference
		states        []ownerState
		hasDependents bool
		// dependentWaiting: a dependent of the item waits for its own dependents.
		dependentWaiting bool
		finalizers       []string
		want             action
	}{
		{"no owners", nil, nil, false, false, nil, action{kind: actionNone}},
		{"solid owner", []*metav1.OwnerReference{a}, []ownerState{ownerSolid}, false, false, nil, action{kind: actionNone}},
		{"owner gone", []*metav1.OwnerReference{a}, []ownerState{ownerDangling}, false, false, nil, action{kind: actionDelete, policy: PolicyBackground}},
		{"one of two gone", []*metav1.OwnerReference{a, b}, []ownerState{ownerDangling, ownerSolid}, false, false, nil, action{kind: actionRemoveRefs, removeUIDs: []string{"a"}}},
		{"waiting and solid", []*metav1.OwnerReference{a, b}, []ownerState{ownerWaiting, ownerSolid}, true, false, nil, action{kind: actionRemoveRefs, removeUIDs: []string{"a"}}},
		{"waiting, with dependents", []*metav1.OwnerReference{a}, []ownerState{ownerWaiting}, true, false, nil, action{kind: actionDelete, policy: PolicyForeground}},
		{"waiting, no dependents", []*metav1.OwnerReference{a}, []ownerState{ownerWaiting}, false, false, nil, action{kind: actionDelete, policy: PolicyBackground}},
		{"gone, own orphan finalizer", []*metav1.OwnerReference{a}, []ownerState{ownerDangling}, true, false, []string{FinalizerOrphan}, action{kind: actionDelete, policy: PolicyOrphan}},
		{"gone, own foreground finalizer", []*metav1.OwnerReference{a}, []ownerState{ownerDangling}, true, false, []string{FinalizerDeleteDependents}, action{kind: actionDelete, policy: PolicyForeground}},
		// A owns B owns A, A deleted in the foreground: B's owner A waits, and so does its
		// dependent A. B unblocks its references, or A and B would wait for each other.
		{"waiting, with a waiting dependent", []*metav1.OwnerReference{a}, []ownerState{ownerWaiting}, true, true, nil, action{kind: actionDelete, policy: PolicyForeground, unblockOwners: true}},
		{"waiting, with a waiting dependent, nothing blocking", []*metav1.OwnerReference{b}, []ownerState{ownerWaiting}, true, true, nil, action{kind: actionDelete, policy: PolicyForeground}},
		{"solid owner, with a waiting dependent", []*metav1.OwnerReference{a}, []ownerState{ownerSolid}, true, true, nil, action{kind: actionNone}},
		{"gone owner, with a waiting dependent", []*metav1.OwnerReference{a}, []ownerState{ownerDangling}, true, true, nil, action{kind: actionDelete, policy: PolicyBackground}},
		{"all gone or waiting", []*metav1.OwnerReference{a, b}, []ownerState{ownerDangling, ownerWaiting}, false, false, nil, action{kind: actionDelete, policy: PolicyBackground}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.owners, tc.states, tc.hasDependents, tc.dependentWaiting, tc.finalizers)
			if got.kind != tc.want.kind || got.policy != tc.want.policy || got.unblockOwners != tc.want.unblockOwners || !slices.Equal(got.removeUIDs, tc.want.removeUIDs) {
				t.Fatalf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUnblocked(t *testing.T) {
	a, b := ownerRef("a", true), ownerRef("b", false)
	got, changed := unblocked([]*metav1.OwnerReference{a, b})
	if !changed || len(got) != 2 || got[0].GetUid() != "a" || got[0].GetBlockOwnerDeletion() || got[1] != b {
		t.Fatalf("unblocked = %v, %v", got, changed)
	}
	if !a.GetBlockOwnerDeletion() {
		t.Fatal("unblocked changed its input")
	}
	if _, changed := unblocked([]*metav1.OwnerReference{b}); changed {
		t.Fatal("unblocked reports a change for non-blocking references")
	}
}

func TestOwnersDiff(t *testing.T) {
	added, removed, unblocked := ownersDiff(
		[]*metav1.OwnerReference{ownerRef("a", true), ownerRef("b", true)},
		[]*metav1.OwnerReference{ownerRef("b", false), ownerRef("c", false)})
	if len(added) != 1 || added[0].GetUid() != "c" || len(removed) != 1 || removed[0].GetUid() != "a" || !slices.Equal(unblocked, []string{"b"}) {
		t.Fatalf("ownersDiff = %v, %v, %v", added, removed, unblocked)
	}
}

// recorder is a queues fake.
type recorder struct{ del, orphan []string }

func (r *recorder) attemptToDelete(uid string) { r.del = append(r.del, uid) }
func (r *recorder) attemptToOrphan(uid string) { r.orphan = append(r.orphan, uid) }

func (r *recorder) take() (del, orphan []string) {
	del, orphan = r.del, r.orphan
	sort.Strings(del)
	r.del, r.orphan = nil, nil
	return del, orphan
}

func mapping(kind string) scheme.Mapping {
	for _, m := range scheme.Mappings {
		if m.Kind.Kind == kind {
			return m
		}
	}
	panic(kind)
}

func meta(name, uid string, owners ...*metav1.OwnerReference) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Namespace: "ns", Name: name, Uid: uid, OwnerReferences: owners}
}

func TestGraphTransitions(t *testing.T) {
	g := newGraph()
	q := &recorder{}
	upsert := func(obj runtime.Object) {
		g.apply(&graphEvent{kind: upsertEvent, obj: obj, mapping: mapping(obj.GetKind())}, q)
	}
	pod := func(m *metav1.ObjectMeta) runtime.Object {
		return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: m}
	}
	rs := func(m *metav1.ObjectMeta) runtime.Object {
		return &appsv1.ReplicaSet{Kind: "ReplicaSet", ApiVersion: "apps/v1", Metadata: m}
	}

	// A dependent whose owner is unknown makes a virtual owner, queued for a lookup.
	upsert(pod(meta("p1", "p1", ownerRef("rs", true))))
	if del, _ := q.take(); !slices.Equal(del, []string{"rs"}) {
		t.Fatalf("queued %v, want the virtual owner rs", del)
	}
	if v, _ := g.view("rs"); !v.virtual || len(v.dependents) != 1 || v.ref.namespace != "ns" {
		t.Fatalf("virtual owner = %+v", v)
	}
	// The owner appears: no longer virtual.
	upsert(rs(meta("rs-rs", "rs")))
	if v, _ := g.view("rs"); v.virtual {
		t.Fatal("owner still virtual after the informer showed it")
	}
	q.take()
	// Foreground deletion starts: dependents and owner are queued.
	m := meta("rs-rs", "rs")
	m.DeletionTimestamp, m.Finalizers = &metav1.Time{Seconds: 1}, []string{FinalizerDeleteDependents}
	upsert(rs(m))
	if del, _ := q.take(); !slices.Equal(del, []string{"p1", "rs"}) {
		t.Fatalf("foreground start queued %v, want [p1 rs]", del)
	}
	// The dependent goes: the waiting owner is queued.
	g.apply(&graphEvent{kind: deleteEvent, obj: pod(meta("p1", "p1", ownerRef("rs", true)))}, q)
	if del, _ := q.take(); !slices.Equal(del, []string{"rs"}) {
		t.Fatalf("dependent deletion queued %v, want [rs]", del)
	}
	// Orphan finalizer: queued for orphaning.
	m = meta("rs-rs", "rs")
	m.DeletionTimestamp, m.Finalizers = &metav1.Time{Seconds: 1}, []string{FinalizerOrphan}
	upsert(rs(m))
	if _, orphan := q.take(); !slices.Equal(orphan, []string{"rs"}) {
		t.Fatalf("orphan queued %v", orphan)
	}
	// An owner's deletion queues its dependents.
	upsert(pod(meta("p2", "p2", ownerRef("rs", true))))
	q.take()
	g.apply(&graphEvent{kind: deleteEvent, obj: rs(meta("rs-rs", "rs"))}, q)
	if del, _ := q.take(); !slices.Equal(del, []string{"p2"}) {
		t.Fatalf("owner deletion queued %v, want [p2]", del)
	}
	// An absent virtual owner is dropped and its dependents queued.
	upsert(pod(meta("p3", "p3", ownerRef("ghost", false))))
	q.take()
	g.apply(&graphEvent{kind: absentEvent, uid: "ghost"}, q)
	if _, ok := g.view("ghost"); ok {
		t.Fatal("absent virtual owner still in the graph")
	}
	if del, _ := q.take(); !slices.Equal(del, []string{"p3"}) {
		t.Fatalf("absent owner queued %v, want [p3]", del)
	}
}
