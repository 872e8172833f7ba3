package statefulset

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// A StatefulSet's history is its ControllerRevisions (controller.NewControllerRevision): the
// current revision is what status.currentRevision names, the pods of [start, start+partition)
// keep it during a rolling update; the update revision holds the template the set has now.
// A pod's controller-revision-hash label is the name of the revision it was made from.

// maxCollisions bounds the search for a free revision name; each collision means a
// revision of that name holds another template, which with a 32-bit hash is rare.
const maxCollisions = 100

// claimRevisions returns set's ControllerRevisions, oldest first: the ones it controls that
// its selector matches, and orphans it adopts (adoptOrphanRevisions).
func (c *Controller) claimRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revLister.Namespace(set.GetMetadata().GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	controller.SortByName(all)
	m := &controller.RevisionControllerRefManager{Client: c.client, Controller: set, ControllerKind: Kind, Selector: selector, CanAdopt: c.canAdopt(set)}
	revisions, err := m.ClaimControllerRevisions(ctx, all)
	controller.SortControllerRevisions(revisions)
	return revisions, err
}

// canAdopt re-reads set from the apiserver before the first adoption of a sync, refusing
// when it is gone, replaced or being deleted.
func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(context.Context) error {
	ns, name := set.GetMetadata().GetNamespace(), set.GetMetadata().GetName()
	return controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
		return c.client.StatefulSets(ns).Get(ctx, name)
	}, set.GetMetadata().GetUid())
}

// revisions finds set's current and update revisions among revisions (sorted, oldest
// first), as upstream's getStatefulSetRevisions: the update revision is the newest if it
// holds the template; an older one that does (a rollback) is renumbered to be the newest;
// else a new revision is created. The current revision is the one status.currentRevision
// names, or the update revision when there is none (a new set). collisionCount is the
// count to write back into status: a name taken by another template raises it.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	collisionCount = set.GetStatus().GetCollisionCount()
	patch, err := controller.TemplatePatch(set)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revisions {
		if controller.RevisionHolds(r, patch) {
			equal = append(equal, r)
		}
	}
	next := controller.MaxRevision(revisions) + 1
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revisions[len(revisions)-1]:
		update = revisions[len(revisions)-1]
	case len(equal) > 0:
		renumbered := proto.Clone(equal[len(equal)-1]).(*appsv1.ControllerRevision)
		renumbered.Revision = next
		update, err = c.client.ControllerRevisions(set.GetMetadata().GetNamespace()).Update(ctx, renumbered)
		if err != nil {
			return nil, nil, collisionCount, fmt.Errorf("renumber revision %s: %w", renumbered.GetMetadata().GetName(), err)
		}
	default:
		update, err = c.createRevision(ctx, set, patch, next, &collisionCount)
		if err != nil {
			return nil, nil, collisionCount, err
		}
	}
	for _, r := range revisions {
		if r.GetMetadata().GetName() == set.GetStatus().GetCurrentRevision() {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// createRevision creates the revision numbered revision of set's template (patch). A
// revision of that name holding the same template is taken as created (a crash between the
// create and the status write, or a stale cache); one holding another template is a hash
// collision: collisionCount goes up and the next name is tried, as upstream's
// CreateControllerRevision does.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, patch []byte, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	client := c.client.ControllerRevisions(set.GetMetadata().GetNamespace())
	template := set.GetSpec().GetTemplate()
	for range maxCollisions {
		hash := controller.ComputeHash(template, collisionCount)
		cr := controller.NewControllerRevision(set, Kind, template.GetMetadata().GetLabels(), patch, revision, hash)
		created, err := client.Create(ctx, cr)
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return nil, fmt.Errorf("create revision %s: %w", cr.GetMetadata().GetName(), err)
			}
			return created, nil
		}
		existing, err := client.Get(ctx, cr.GetMetadata().GetName())
		if err != nil {
			return nil, fmt.Errorf("get revision %s: %w", cr.GetMetadata().GetName(), err)
		}
		if controller.RevisionHolds(existing, patch) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("no free revision name for statefulset %s/%s after %d collisions", set.GetMetadata().GetNamespace(), set.GetMetadata().GetName(), maxCollisions)
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit among those no
// pod runs and that are neither current nor update (truncateHistory). revisions is sorted,
// oldest first.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revisions []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{}
	for _, r := range []*appsv1.ControllerRevision{current, update} {
		if r != nil {
			live[r.GetMetadata().GetName()] = true
		}
	}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range revisions {
		if !live[r.GetMetadata().GetName()] {
			history = append(history, r)
		}
	}
	limit := 10
	if l := set.GetSpec().RevisionHistoryLimit; l != nil {
		limit = int(*l)
	}
	if len(history) <= limit {
		return nil
	}
	client := c.client.ControllerRevisions(set.GetMetadata().GetNamespace())
	for _, r := range history[:len(history)-limit] {
		if _, err := client.Delete(ctx, r.GetMetadata().GetName(), nil); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s: %w", r.GetMetadata().GetName(), err)
		}
	}
	return nil
}

// applyRevision is the set revision holds: a copy of set with the revision's template
// (the patch replaces spec.template), from which pods of that revision are made.
func applyRevision(set *appsv1.StatefulSet, revision *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	var patch struct {
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(revision.GetData().GetRaw(), &patch); err != nil {
		return nil, fmt.Errorf("revision %s: %w", revision.GetMetadata().GetName(), err)
	}
	template := &corev1.PodTemplateSpec{}
	if len(patch.Spec.Template) > 0 {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(patch.Spec.Template, &fields); err != nil {
			return nil, fmt.Errorf("revision %s: %w", revision.GetMetadata().GetName(), err)
		}
		delete(fields, "$patch")
		raw, _ := json.Marshal(fields)
		if _, err := runtime.UnmarshalJSON(raw, template); err != nil {
			return nil, fmt.Errorf("revision %s template: %w", revision.GetMetadata().GetName(), err)
		}
	}
	out := proto.Clone(set).(*appsv1.StatefulSet)
	out.Spec.Template = template
	return out, nil
}
