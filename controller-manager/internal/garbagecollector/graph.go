package garbagecollector

import (
	"slices"
	"strings"
	"sync"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// objectRef identifies an object for a live lookup.
type objectRef struct {
	mapping   scheme.Mapping
	known     bool // mapping was resolved; an unserved kind cannot be looked up
	namespace string
	name      string
	uid       string
}

// node is one object of the ownership graph. Fields are guarded by graph.mu.
type node struct {
	ref objectRef
	// virtual nodes are owners seen only through a dependent's reference; a worker checks
	// whether they exist.
	virtual            bool
	owners             []*metav1.OwnerReference
	dependents         map[*node]struct{}
	beingDeleted       bool
	deletingDependents bool
}

// graph is the ownership graph, built only by the single graph-change goroutine and read by
// workers.
type graph struct {
	mu    sync.RWMutex
	nodes map[string]*node
}

func newGraph() *graph { return &graph{nodes: map[string]*node{}} }

// resolveRef maps an owner reference to a lookup identity; namespaced owners live in their
// dependent's namespace (cross-namespace ownership is not allowed).
func resolveRef(r *metav1.OwnerReference, dependentNamespace string) objectRef {
	gvk := runtime.GroupVersionKind{Version: r.GetApiVersion(), Kind: r.GetKind()}
	if g, v, ok := strings.Cut(r.GetApiVersion(), "/"); ok {
		gvk.Group, gvk.Version = g, v
	}
	m, ok := scheme.MappingFor(gvk)
	ref := objectRef{mapping: m, known: ok, name: r.GetName(), uid: r.GetUid()}
	if ok && m.Namespaced {
		ref.namespace = dependentNamespace
	}
	return ref
}

// nodeView is a copy of what a worker needs from a node, taken under the read lock.
type nodeView struct {
	ref                objectRef
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []dependentView
}

type dependentView struct {
	ref                objectRef
	owners             []*metav1.OwnerReference
	deletingDependents bool
}

// view returns a copy of the node uid, or false when the graph does not hold it.
func (g *graph) view(uid string) (nodeView, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	v := nodeView{ref: n.ref, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for d := range n.dependents {
		v.dependents = append(v.dependents, dependentView{ref: d.ref, owners: slices.Clone(d.owners), deletingDependents: d.deletingDependents})
	}
	return v, true
}

func hasFinalizer(m *metav1.ObjectMeta, f string) bool { return slices.Contains(m.GetFinalizers(), f) }

// graphEvent is one change the graph goroutine applies, in informer order.
type graphEvent struct {
	kind    eventKind
	obj     runtime.Object
	mapping scheme.Mapping
	// uid names the node of an absentEvent.
	uid string
	// barrier is closed when the event is reached (barrierEvent).
	barrier chan struct{}
}

type eventKind int

const (
	upsertEvent eventKind = iota
	deleteEvent
	// absentEvent removes a virtual node a worker found absent.
	absentEvent
	barrierEvent
)

// queues is where graph changes send work: uids to check for deletion or to orphan.
type queues interface {
	attemptToDelete(uid string)
	attemptToOrphan(uid string)
}

// apply applies one change to the graph and queues the work it implies.
func (g *graph) apply(ev *graphEvent, q queues) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch ev.kind {
	case barrierEvent:
		close(ev.barrier)
	case upsertEvent:
		g.upsertLocked(ev.obj, ev.mapping, q)
	case deleteEvent:
		if n, ok := g.nodes[ev.obj.GetMetadata().GetUid()]; ok {
			g.removeLocked(n, q)
		}
	case absentEvent:
		if n, ok := g.nodes[ev.uid]; ok && n.virtual {
			g.removeLocked(n, q)
		}
	}
}

func (g *graph) upsertLocked(obj runtime.Object, m scheme.Mapping, q queues) {
	meta := obj.GetMetadata()
	uid := meta.GetUid()
	refs := meta.GetOwnerReferences()
	n, ok := g.nodes[uid]
	if !ok {
		n = &node{dependents: map[*node]struct{}{}}
		g.nodes[uid] = n
	}
	n.ref = objectRef{mapping: m, known: true, namespace: meta.GetNamespace(), name: meta.GetName(), uid: uid}
	n.virtual = false
	added, removed, unblocked := ownersDiff(n.owners, refs)
	if !ok {
		added, removed, unblocked = refs, nil, nil
	}
	// Owners waiting for this dependent may proceed once it stops blocking them.
	for _, r := range removed {
		unblocked = append(unblocked, r.GetUid())
	}
	for _, u := range unblocked {
		if o, ok := g.nodes[u]; ok && o.deletingDependents {
			q.attemptToDelete(u)
		}
	}
	n.owners = slices.Clone(refs)
	for _, r := range removed {
		if o, ok := g.nodes[r.GetUid()]; ok {
			delete(o.dependents, n)
			g.dropIfUnusedVirtualLocked(o)
		}
	}
	for _, r := range added {
		o, ok := g.nodes[r.GetUid()]
		if !ok {
			o = &node{ref: resolveRef(r, meta.GetNamespace()), virtual: true, dependents: map[*node]struct{}{}}
			g.nodes[r.GetUid()] = o
			q.attemptToDelete(r.GetUid()) // does the owner exist?
		}
		o.dependents[n] = struct{}{}
		if o.deletingDependents {
			q.attemptToDelete(uid)
		}
	}

	deleting := meta.GetDeletionTimestamp() != nil
	n.beingDeleted = deleting
	if deleting && hasFinalizer(meta, FinalizerOrphan) {
		q.attemptToOrphan(uid)
	}
	if deleting && hasFinalizer(meta, FinalizerDeleteDependents) && !n.deletingDependents {
		n.deletingDependents = true
		for d := range n.dependents {
			q.attemptToDelete(d.ref.uid)
		}
		q.attemptToDelete(uid)
	}
}

// removeLocked drops n: its dependents lost an owner, and owners waiting for it may go on.
func (g *graph) removeLocked(n *node, q queues) {
	delete(g.nodes, n.ref.uid)
	for _, r := range n.owners {
		if o, ok := g.nodes[r.GetUid()]; ok {
			delete(o.dependents, n)
			if o.deletingDependents {
				q.attemptToDelete(o.ref.uid)
			}
			g.dropIfUnusedVirtualLocked(o)
		}
	}
	for d := range n.dependents {
		q.attemptToDelete(d.ref.uid)
	}
}

// dropIfUnusedVirtualLocked forgets a virtual owner nothing refers to any more.
func (g *graph) dropIfUnusedVirtualLocked(o *node) {
	if o.virtual && len(o.dependents) == 0 {
		delete(g.nodes, o.ref.uid)
	}
}
