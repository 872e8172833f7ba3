// Package garbagecollector is the garbage collector: it keeps a graph of ownerReferences
// from the informers of every served kind and deletes what has lost its owners, as
// Kubernetes' does.
//
//   - Background: once every owner of an object is gone, the object is deleted; an object
//     that keeps an owner only loses its references to the gone ones.
//   - Foreground: an owner deleted with propagationPolicy Foreground carries the
//     foregroundDeletion finalizer; its dependents are deleted (in the foreground
//     themselves when they own objects too), and the finalizer is removed once no
//     dependent with blockOwnerDeletion is left, which lets the apiserver delete the owner.
//   - Orphan: an owner with the orphan finalizer has its references removed from every
//     dependent, then loses the finalizer.
//
// Owners are never judged gone from the cache alone: a live GET (by name, compared by uid)
// confirms it, and deletes carry a uid precondition, so a stale cache or a re-created
// object of the same name is never acted on. Owners seen only through references are
// "virtual" nodes until an informer shows them or a lookup finds them absent.
//
// The graph is built by one goroutine that applies informer events in order; workers take
// uids from two queues (attempt to delete, attempt to orphan). It lives only in memory: after
// a restart the informers' first lists rebuild it, and workers start only once that is done.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controllerctx"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Controller is the garbage collector.
type Controller struct {
	client transport.Interface
	log    *slog.Logger
	graph  *graph

	changes   workqueue.Interface[*graphEvent]
	toDelete  workqueue.Interface[string]
	toOrphan  workqueue.Interface[string]
	hasSynced []func() bool
}

// New registers a handler on the informer of every served kind: any of them may own or be
// owned.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	log := cc.Log
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{
		client:   cc.Client.Transport(),
		log:      log.With("controller", "garbagecollector"),
		graph:    newGraph(),
		changes:  workqueue.New(workqueue.Config[*graphEvent]{Name: "garbage_collector_graph_changes"}),
		toDelete: workqueue.New(workqueue.Config[string]{Name: "garbage_collector_attempt_to_delete"}),
		toOrphan: workqueue.New(workqueue.Config[string]{Name: "garbage_collector_attempt_to_orphan"}),
	}
	for _, m := range scheme.Mappings {
		inf := cc.Informers.ForMapping(m)
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj runtime.Object) {
				c.changes.Add(&graphEvent{kind: upsertEvent, obj: obj, mapping: m})
			},
			UpdateFunc: func(oldObj, newObj runtime.Object) {
				if oldObj.GetMetadata().GetResourceVersion() == newObj.GetMetadata().GetResourceVersion() {
					return
				}
				c.changes.Add(&graphEvent{kind: upsertEvent, obj: newObj, mapping: m})
			},
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				if o, ok := obj.(runtime.Object); ok {
					c.changes.Add(&graphEvent{kind: deleteEvent, obj: o, mapping: m})
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("garbage collector: watch %s: %w", m.Plural, err)
		}
		c.hasSynced = append(c.hasSynced, inf.HasSynced, reg.HasSynced)
	}
	return c, nil
}

// attemptToDelete and attemptToOrphan make the controller the graph's queues.
func (c *Controller) attemptToDelete(uid string) { c.toDelete.Add(uid) }
func (c *Controller) attemptToOrphan(uid string) { c.toOrphan.Add(uid) }

// Run builds the graph from the informers' first lists, then runs workers on both queues
// until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	defer func() {
		c.shutDown()
		wg.Wait()
	}()
	wg.Go(func() {
		for c.processGraphChange() {
		}
	})
	if !cache.WaitForCacheSync(ctx, c.hasSynced...) {
		return
	}
	// Every first-list event is queued now; wait until the graph holds them all, or a
	// foreground owner could look dependent-free and be let go before its dependents.
	barrier := make(chan struct{})
	c.changes.Add(&graphEvent{kind: barrierEvent, barrier: barrier})
	select {
	case <-barrier:
	case <-ctx.Done():
		return
	}
	for range max(workers, 1) {
		wg.Go(func() {
			for c.processNext(ctx, c.toDelete, c.attemptToDeleteItem) {
			}
		})
		wg.Go(func() {
			for c.processNext(ctx, c.toOrphan, c.orphanDependents) {
			}
		})
	}
	<-ctx.Done()
}

func (c *Controller) shutDown() {
	c.changes.ShutDown()
	c.toDelete.ShutDown()
	c.toOrphan.ShutDown()
}

func (c *Controller) processGraphChange() bool {
	ev, shutdown := c.changes.Get()
	if shutdown {
		return false
	}
	defer c.changes.Done(ev)
	c.graph.apply(ev, c)
	return true
}

func (c *Controller) processNext(ctx context.Context, q workqueue.Interface[string], sync func(context.Context, string) error) bool {
	uid, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(uid)
	if err := sync(ctx, uid); err != nil {
		c.log.Info("garbage collection failed; retrying", "uid", uid, "err", err)
		q.AddRateLimited(uid)
		return true
	}
	q.Forget(uid)
	return true
}

// get reads ref live. A missing object, or one with another uid, is reported as NotFound
// (found=false) without an error.
func (c *Controller) get(ctx context.Context, ref objectRef) (obj runtime.Object, found bool, _ error) {
	obj, err := c.client.Get(ctx, transport.Ref{Mapping: ref.mapping, Namespace: ref.namespace, Name: ref.name})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s %s: %w", ref.mapping.Singular, describe(ref), err)
	}
	if obj.GetMetadata().GetUid() != ref.uid {
		return nil, false, nil
	}
	return obj, true, nil
}

func describe(ref objectRef) string {
	if ref.namespace == "" {
		return ref.name
	}
	return ref.namespace + "/" + ref.name
}

// attemptToDeleteItem decides about the object uid: see decide. Virtual owners are
// looked up, and removed from the graph (waking their dependents) when absent.
func (c *Controller) attemptToDeleteItem(ctx context.Context, uid string) error {
	n, ok := c.graph.view(uid)
	if !ok {
		return nil
	}
	if !n.ref.known {
		c.log.Warn("owner of an unserved kind; its dependents are left alone", "uid", uid, "name", n.ref.name)
		return nil
	}
	if n.virtual {
		_, found, err := c.get(ctx, n.ref)
		if err != nil {
			return err
		}
		if !found {
			c.changes.Add(&graphEvent{kind: absentEvent, uid: uid})
		}
		// Found: the informer will show it; the graph then holds it as a real node.
		return nil
	}
	if n.beingDeleted && !n.deletingDependents {
		return nil // its deletion is under way; nothing for the collector to add
	}
	latest, found, err := c.get(ctx, n.ref)
	if err != nil || !found {
		return err // gone: the informer's delete event updates the graph
	}
	if n.deletingDependents {
		return c.processDeletingDependents(ctx, n)
	}
	owners := latest.GetMetadata().GetOwnerReferences()
	if len(owners) == 0 {
		return nil
	}
	states := make([]ownerState, len(owners))
	for i, r := range owners {
		ref := resolveRef(r, n.ref.namespace)
		if !ref.known {
			states[i] = ownerSolid // cannot be looked up: never assume it is gone
			continue
		}
		owner, found, err := c.get(ctx, ref)
		switch {
		case err != nil:
			return err
		case !found:
			states[i] = ownerDangling
		case owner.GetMetadata().GetDeletionTimestamp() != nil && hasFinalizer(owner.GetMetadata(), FinalizerDeleteDependents):
			states[i] = ownerWaiting
		default:
			states[i] = ownerSolid
		}
	}
	dependentWaiting := slices.ContainsFunc(n.dependents, func(d dependentView) bool { return d.deletingDependents })
	act := decide(owners, states, len(n.dependents) > 0, dependentWaiting, latest.GetMetadata().GetFinalizers())
	switch act.kind {
	case actionRemoveRefs:
		c.log.Info("removing references to absent or waiting owners", "object", describe(n.ref), "kind", n.ref.mapping.Kind.Kind, "owners", act.removeUIDs)
		return c.removeOwnerRefs(ctx, n.ref, act.removeUIDs)
	case actionDelete:
		if act.unblockOwners {
			c.log.Info("an owner and a dependent both wait for dependents; making the object's owner references non-blocking to break a possible cycle", "object", describe(n.ref), "kind", n.ref.mapping.Kind.Kind)
			if err := c.unblockOwnerRefs(ctx, n.ref); err != nil {
				return err
			}
		}
		c.log.Info("deleting object whose owners are gone", "object", describe(n.ref), "kind", n.ref.mapping.Kind.Kind, "propagationPolicy", act.policy)
		return c.delete(ctx, n.ref, act.policy)
	}
	return nil
}

// processDeletingDependents finishes a foreground deletion once no dependent blocks it, and
// otherwise makes sure the blocking ones are being deleted.
func (c *Controller) processDeletingDependents(ctx context.Context, n nodeView) error {
	blocking := 0
	for _, d := range n.dependents {
		if !blocksOwner(d.owners, n.ref.uid) {
			continue
		}
		blocking++
		if !d.deletingDependents {
			c.toDelete.Add(d.ref.uid)
		}
	}
	if blocking > 0 {
		return nil // their deletions wake this owner again
	}
	return c.removeFinalizer(ctx, n.ref, FinalizerDeleteDependents)
}

// orphanDependents removes the references to the owner uid from all its dependents, then
// the owner's orphan finalizer.
func (c *Controller) orphanDependents(ctx context.Context, uid string) error {
	n, ok := c.graph.view(uid)
	if !ok || n.virtual {
		return nil
	}
	var errs []error
	for _, d := range n.dependents {
		if err := c.removeOwnerRefs(ctx, d.ref, []string{uid}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.removeFinalizer(ctx, n.ref, FinalizerOrphan)
}

// removeOwnerRefs drops the references to ownerUIDs from the object ref (a read-modify-write
// retried on conflict; the object being gone is success).
func (c *Controller) removeOwnerRefs(ctx context.Context, ref objectRef, ownerUIDs []string) error {
	return c.update(ctx, ref, func(m *metav1.ObjectMeta) bool {
		var changed bool
		m.OwnerReferences, changed = withoutOwners(m.OwnerReferences, ownerUIDs)
		return changed
	})
}

// unblockOwnerRefs clears blockOwnerDeletion on every owner reference of the object ref.
func (c *Controller) unblockOwnerRefs(ctx context.Context, ref objectRef) error {
	return c.update(ctx, ref, func(m *metav1.ObjectMeta) bool {
		var changed bool
		m.OwnerReferences, changed = unblocked(m.OwnerReferences)
		return changed
	})
}

// removeFinalizer drops finalizer from the object ref; removing the last one of an object
// being deleted lets the apiserver delete it.
func (c *Controller) removeFinalizer(ctx context.Context, ref objectRef, finalizer string) error {
	return c.update(ctx, ref, func(m *metav1.ObjectMeta) bool {
		before := len(m.Finalizers)
		m.Finalizers = removeString(m.Finalizers, finalizer)
		return len(m.Finalizers) != before
	})
}

func removeString(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// update re-reads ref and writes it back after mutate, when mutate reports a change. The
// write is conditional on the read's resourceVersion and uid.
func (c *Controller) update(ctx context.Context, ref objectRef, mutate func(*metav1.ObjectMeta) bool) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj, found, err := c.get(ctx, ref)
		if err != nil || !found {
			return err
		}
		next := proto.Clone(obj).(runtime.Object)
		if !mutate(runtime.Meta(next)) {
			return nil
		}
		_, err = c.client.Update(ctx, transport.Ref{Mapping: ref.mapping, Namespace: ref.namespace, Name: ref.name}, next, "")
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update %s %s: %w", ref.mapping.Singular, describe(ref), err)
	}
	return nil
}

// delete deletes exactly the object ref names (uid precondition) with policy.
func (c *Controller) delete(ctx context.Context, ref objectRef, policy string) error {
	uid := ref.uid
	_, err := c.client.Delete(ctx, transport.Ref{Mapping: ref.mapping, Namespace: ref.namespace, Name: ref.name}, &metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{Uid: &uid},
		PropagationPolicy: &policy,
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by another object of that name
	}
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", ref.mapping.Singular, describe(ref), err)
	}
	return nil
}
