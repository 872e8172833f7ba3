package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/storage"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// Finalizers the garbage collector acts on, set here from a delete's propagation policy.
const (
	FinalizerOrphan     = "orphan"
	FinalizerForeground = "foregroundDeletion"
)

// Propagation policies.
const (
	PropagationOrphan     = "Orphan"
	PropagationBackground = "Background"
	PropagationForeground = "Foreground"
)

// DeleteResult says what a delete did.
type DeleteResult struct {
	// Object is the last state (when Deleted) or the object now waiting for its grace period
	// or finalizers.
	Object runtime.Object
	// Deleted is true when the object is gone from storage.
	Deleted bool
}

// Delete removes an object, or starts its removal: an object with finalizers, a delete that
// asks the garbage collector to orphan or to delete dependents first, and a graceful kind
// (pods) within its grace period all get a deletionTimestamp and stay until that work is
// done. A second delete may shorten a grace period, never lengthen it.
func (s *Store) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) (*DeleteResult, error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if s.Resource.DeleteForbidden != nil {
		if err := s.Resource.DeleteForbidden(name); err != nil {
			return nil, err
		}
	}
	policy, err := propagationPolicy(opts)
	if err != nil {
		return nil, err
	}
	key := s.Resource.Key(namespace, name)
	current, err := s.Storage.Get(ctx, key)
	if err != nil {
		return nil, s.storageError(err, name)
	}
	if err := checkPreconditions(current, opts.GetPreconditions(), s.gr(), name); err != nil {
		return nil, err
	}
	attrs := s.attributes(ctx, admission.Delete, "", nil, current)
	attrs.DryRun = dryRun(opts)
	if err := s.Admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	if err := s.Admission.Validate(ctx, attrs); err != nil {
		return nil, err
	}

	grace := int64(0)
	if s.Resource.GracePeriod != nil {
		grace = s.Resource.GracePeriod(current, opts.GracePeriodSeconds)
	}
	finalizer := ""
	switch policy {
	case PropagationOrphan:
		finalizer = FinalizerOrphan
	case PropagationForeground:
		finalizer = FinalizerForeground
	}
	blocked := s.Resource.DeletionBlocked != nil && s.Resource.DeletionBlocked(current)
	immediate := grace == 0 && finalizer == "" && !blocked && len(current.GetMetadata().GetFinalizers()) == 0
	if dryRun(opts) {
		return s.dryRunDelete(current, immediate, grace, finalizer), nil
	}
	if immediate {
		pre := preconditions(opts.GetPreconditions())
		if pre == nil {
			// Delete exactly what was checked, so a racing recreate is not removed.
			pre = &storage.Preconditions{UID: current.GetMetadata().GetUid()}
		}
		out, err := s.deleteStored(ctx, key, pre)
		if err != nil {
			return nil, s.storageError(err, name)
		}
		return &DeleteResult{Object: out, Deleted: true}, nil
	}

	now := s.now()
	out, err := s.guaranteedUpdate(ctx, key, preconditions(opts.GetPreconditions()), func(cur runtime.Object) (runtime.Object, error) {
		return s.markDeleting(cur, now, grace, finalizer), nil
	})
	if err != nil {
		return nil, s.storageError(err, name)
	}
	out, deleted, err := s.finishDeletionIfDone(ctx, out)
	if err != nil {
		return nil, err
	}
	return &DeleteResult{Object: out, Deleted: deleted}, nil
}

// markDeleting returns a copy of cur as a delete leaves it when the object cannot go at
// once: the propagation finalizer added, and the deletionTimestamp set (or moved earlier
// when the new grace period is shorter than the pending one).
func (s *Store) markDeleting(cur runtime.Object, now time.Time, grace int64, finalizer string) runtime.Object {
	next := proto.Clone(cur).(runtime.Object)
	m := runtime.Meta(next)
	if finalizer != "" && !slices.Contains(m.Finalizers, finalizer) {
		// One policy at a time: the newest request decides.
		m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool {
			return f == FinalizerOrphan || f == FinalizerForeground
		})
		m.Finalizers = append(m.Finalizers, finalizer)
	}
	deadline := now.Add(time.Duration(grace) * time.Second).Unix()
	if m.DeletionTimestamp == nil || (m.DeletionGracePeriodSeconds != nil && grace < *m.DeletionGracePeriodSeconds) {
		m.DeletionTimestamp = &metav1.Time{Seconds: deadline}
		m.DeletionGracePeriodSeconds = proto.Int64(grace)
	}
	if s.Resource.MarkDeleting != nil {
		s.Resource.MarkDeleting(next)
	}
	return next
}

// dryRunDelete answers a dry-run delete as Kubernetes does: with the object as the delete
// would leave it, written nowhere. A graceful pod delete thus comes back with its
// deletionTimestamp and grace period and Deleted false, so a client cannot mistake the
// rehearsal of a graceful delete for an object that is already gone.
func (s *Store) dryRunDelete(current runtime.Object, immediate bool, grace int64, finalizer string) *DeleteResult {
	if immediate {
		return &DeleteResult{Object: current, Deleted: true}
	}
	next := s.markDeleting(current, s.now(), grace, finalizer)
	return &DeleteResult{Object: next, Deleted: s.deletionDone(next)}
}

// DeleteCollection deletes every object of a namespace that matches the options, one by
// one, and returns those it deleted or started deleting.
func (s *Store) DeleteCollection(ctx context.Context, namespace string, listOpts ListOptions, opts *metav1.DeleteOptions) (runtime.ListObject, error) {
	list, err := s.List(ctx, namespace, listOpts)
	if err != nil {
		return nil, err
	}
	var done []runtime.Object
	for _, item := range runtime.Items(list) {
		m := item.GetMetadata()
		if s.Resource.DeleteForbidden != nil && s.Resource.DeleteForbidden(m.GetName()) != nil {
			continue
		}
		res, err := s.Delete(ctx, m.GetNamespace(), m.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		done = append(done, res.Object)
	}
	runtime.SetItems(list, done)
	return list, nil
}

func propagationPolicy(opts *metav1.DeleteOptions) (string, error) {
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return "", apierrors.NewInvalid("DeleteOptions", "", "", apierrors.FieldErrors{
			apierrors.Invalid("propagationPolicy", opts.GetPropagationPolicy(), "orphanDependents and deletionPropagation cannot be both set"),
		})
	}
	if opts.OrphanDependents != nil {
		if *opts.OrphanDependents {
			return PropagationOrphan, nil
		}
		return PropagationBackground, nil
	}
	switch p := opts.GetPropagationPolicy(); p {
	case "", PropagationBackground:
		return PropagationBackground, nil
	case PropagationOrphan, PropagationForeground:
		return p, nil
	default:
		return "", apierrors.NewInvalid("DeleteOptions", "", "", apierrors.FieldErrors{
			apierrors.NotSupported("propagationPolicy", p, []string{PropagationForeground, PropagationBackground, PropagationOrphan}),
		})
	}
}

func dryRun(opts *metav1.DeleteOptions) bool { return slices.Contains(opts.GetDryRun(), "All") }

func preconditions(p *metav1.Preconditions) *storage.Preconditions {
	if p == nil || (p.Uid == nil && p.ResourceVersion == nil) {
		return nil
	}
	return &storage.Preconditions{UID: p.GetUid(), ResourceVersion: p.GetResourceVersion()}
}

// checkPreconditions answers a failed delete precondition as Kubernetes does: 409 Conflict.
func checkPreconditions(obj runtime.Object, p *metav1.Preconditions, gr apierrors.GroupResource, name string) error {
	if p == nil {
		return nil
	}
	m := obj.GetMetadata()
	if p.Uid != nil && *p.Uid != m.GetUid() {
		return apierrors.NewConflict(gr, name, errors.New("Precondition failed: UID in precondition: "+*p.Uid+", UID in object meta: "+m.GetUid()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(gr, name, errors.New("Precondition failed: ResourceVersion in precondition: "+*p.ResourceVersion+", ResourceVersion in object meta: "+m.GetResourceVersion()))
	}
	return nil
}
