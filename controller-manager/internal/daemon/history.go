package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// A DaemonSet's history is its ControllerRevisions (upstream's history.go): one per pod
// template it has had, named <daemonset>-<hash of the template>, labelled with that hash,
// owned by the DaemonSet, numbered in the order the templates were current. Its data is the
// strategic merge patch that puts the template back, which is what `kubectl rollout undo`
// sends.

// match reports whether revision holds ds's current template.
func match(ds *appsv1.DaemonSet, revision *appsv1.ControllerRevision) (bool, error) {
	patch, err := controller.TemplatePatch(ds)
	if err != nil {
		return false, err
	}
	return controller.RevisionHolds(revision, patch), nil
}

// controlledHistories claims the ControllerRevisions of ds: the ones it controls that its
// selector matches, and orphans it adopts.
func (c *Controller) controlledHistories(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	ns, name := ds.GetMetadata().GetNamespace(), ds.GetMetadata().GetName()
	all, err := c.revLister.Namespace(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	controller.SortByName(all)
	m := &controller.RefManager[*appsv1.ControllerRevision]{
		Patch: func(ctx context.Context, ns, name string, data []byte) (*appsv1.ControllerRevision, error) {
			return c.client.ControllerRevisions(ns).Patch(ctx, name, transport.StrategicMerge, data)
		},
		Kind: "controller revision", Controller: ds, ControllerKind: Kind, Selector: selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
			return c.client.DaemonSets(ns).Get(ctx, name)
		}, ds.GetMetadata().GetUid()),
	}
	return m.Claim(ctx, all)
}

// constructHistory finds the revision of ds's current template (creating it, or
// renumbering it to be the newest) and returns it with the older ones (constructHistory).
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	histories, err := c.controlledHistories(ctx, ds, selector)
	if err != nil {
		return nil, nil, err
	}
	ns := ds.GetMetadata().GetNamespace()
	var current []*appsv1.ControllerRevision
	for _, h := range histories {
		// A revision without the hash label gets its name as the label, as upstream:
		// names, unlike recomputed hashes, cannot collide.
		if _, ok := h.GetMetadata().GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			next := proto.Clone(h).(*appsv1.ControllerRevision)
			if next.Metadata.Labels == nil {
				next.Metadata.Labels = map[string]string{}
			}
			next.Metadata.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = next.GetMetadata().GetName()
			if h, err = c.client.ControllerRevisions(ns).Update(ctx, next); err != nil {
				return nil, nil, err
			}
		}
		ok, err := match(ds, h)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			current = append(current, h)
		} else {
			old = append(old, h)
		}
	}
	next := controller.MaxRevision(old) + 1
	if len(current) == 0 {
		cur, err = c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	if cur, err = c.dedupCurHistories(ctx, ds, selector, current); err != nil {
		return nil, nil, err
	}
	if cur.GetRevision() < next {
		// A rollback to an older template makes its revision the newest again.
		renumbered := proto.Clone(cur).(*appsv1.ControllerRevision)
		renumbered.Revision = next
		if cur, err = c.client.ControllerRevisions(ns).Update(ctx, renumbered); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// snapshot creates the revision of ds's current template. A revision of that name holding
// another template is a hash collision: the DaemonSet's status.collisionCount goes up (once
// the cached collisionCount is confirmed current) and the sync is retried, with a new hash.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	patch, err := controller.TemplatePatch(ds)
	if err != nil {
		return nil, err
	}
	m := ds.GetMetadata()
	hash := controller.ComputeHash(ds.GetSpec().GetTemplate(), collisionCount(ds))
	cr := controller.NewControllerRevision(ds, Kind, ds.GetSpec().GetTemplate().GetMetadata().GetLabels(), patch, revision, hash)
	client := c.client.ControllerRevisions(m.GetNamespace())
	created, err := client.Create(ctx, cr)
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	existing, getErr := client.Get(ctx, cr.GetMetadata().GetName())
	if getErr != nil {
		return nil, getErr
	}
	if ok, _ := match(ds, existing); ok && controller.IsControlledBy(existing, ds) {
		return existing, nil
	}
	// A collision. Bump collisionCount only if the one hashed with is still current.
	dsClient := c.client.DaemonSets(m.GetNamespace())
	fresh, getErr := dsClient.Get(ctx, m.GetName())
	if getErr != nil {
		return nil, getErr
	}
	if !equalCounts(collisionCount(fresh), collisionCount(ds)) {
		return nil, fmt.Errorf("found a stale collision count (%d, expected %d) of DaemonSet %q while processing; will retry until it is updated",
			ds.GetStatus().GetCollisionCount(), fresh.GetStatus().GetCollisionCount(), m.GetName())
	}
	if fresh.Status == nil {
		fresh.Status = &appsv1.DaemonSetStatus{}
	}
	fresh.Status.CollisionCount = proto.Int32(fresh.GetStatus().GetCollisionCount() + 1)
	if _, err := dsClient.UpdateStatus(ctx, fresh); err != nil {
		return nil, err
	}
	c.log.Info("hash collision: bumped collisionCount", "namespace", m.GetNamespace(), "name", m.GetName(), "collisionCount", fresh.GetStatus().GetCollisionCount())
	return nil, fmt.Errorf("revision %s: %w", cr.GetMetadata().GetName(), err) // AlreadyExists: retried with the new hash
}

// collisionCount is ds's status.collisionCount, nil when unset.
func collisionCount(ds *appsv1.DaemonSet) *int32 {
	if st := ds.GetStatus(); st != nil {
		return st.CollisionCount
	}
	return nil
}

// equalCounts compares optional counts as upstream's reflect.DeepEqual does: unset is not 0.
func equalCounts(a, b *int32) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// dedupCurHistories keeps the highest-numbered of several revisions of the current
// template, relabels the pods of the others with its hash and deletes them.
func (c *Controller) dedupCurHistories(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, current []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	if len(current) == 1 {
		return current[0], nil
	}
	keep := current[0]
	for _, cr := range current[1:] {
		if cr.GetRevision() >= keep.GetRevision() {
			keep = cr
		}
	}
	keepHash := keep.GetMetadata().GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey]
	ns := ds.GetMetadata().GetNamespace()
	var errs []error
	for _, cr := range current {
		if cr == keep {
			continue
		}
		pods, err := c.daemonPods(ctx, ds, selector)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if p.GetMetadata().GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey] == keepHash {
				continue
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: keepHash}}})
			if _, err := c.client.Pods(ns).Patch(ctx, p.GetMetadata().GetName(), transport.StrategicMerge, patch); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		if _, err := c.client.ControllerRevisions(ns).Delete(ctx, cr.GetMetadata().GetName(), nil); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return keep, errors.Join(errs...)
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit, sparing those a
// pod still runs (terminal and terminating pods included).
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, old []*appsv1.ControllerRevision) error {
	limit := 10
	if l := ds.GetSpec().RevisionHistoryLimit; l != nil {
		limit = int(*l)
	}
	toKill := len(old) - limit
	if toKill <= 0 {
		return nil
	}
	pods, err := c.daemonPods(ctx, ds, selector)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.GetMetadata().GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	old = slices.Clone(old)
	controller.SortControllerRevisions(old)
	for _, cr := range old {
		if toKill <= 0 {
			break
		}
		if live[cr.GetMetadata().GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if _, err := c.client.ControllerRevisions(ds.GetMetadata().GetNamespace()).Delete(ctx, cr.GetMetadata().GetName(), nil); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		toKill--
	}
	return nil
}
