package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// claimReplicaSets is Kubernetes' ReplicaSetControllerRefManager.ClaimReplicaSets for one
// deployment: it returns the replica sets d controls after adopting the matching orphans
// and releasing the ones it controls that stopped matching selector. Replica sets of other
// controllers are left alone; nothing is adopted or released while d is being deleted, and
// an orphan being deleted is never adopted. Before the first adoption, d is re-read from
// the API (not the cache) so a deployment deleted or replaced meanwhile adopts nothing.
//
// (controller.PodControllerRefManager does the same for pods; the replica set case is
// here until that package has a kind-generic one.)
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector, rsList []*appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, error) {
	uid := d.GetMetadata().GetUid()
	deleting := d.GetMetadata().GetDeletionTimestamp() != nil
	canAdopt := controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
		return c.client.Deployments(d.GetMetadata().GetNamespace()).Get(ctx, d.GetMetadata().GetName())
	}, uid)
	var adoptChecked bool
	var adoptErr error
	var claimed []*appsv1.ReplicaSet
	var errs []error
	for _, rs := range rsList {
		match := selector.Matches(rs.GetMetadata().GetLabels())
		if ref := controller.GetControllerOf(rs); ref != nil {
			switch {
			case ref.GetUid() != uid:
			case match:
				claimed = append(claimed, rs)
			case !deleting:
				if err := c.patchOwnerRef(ctx, rs, d, false); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
			continue
		}
		if deleting || !match || rs.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		if !adoptChecked {
			adoptChecked, adoptErr = true, canAdopt(ctx)
		}
		if adoptErr != nil {
			errs = append(errs, fmt.Errorf("can't adopt replica set %s: %w", rs.GetMetadata().GetName(), adoptErr))
			continue
		}
		if err := c.patchOwnerRef(ctx, rs, d, true); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		// The adopted replica set is used as read; the patch only added the reference.
		claimed = append(claimed, rs)
	}
	return claimed, errors.Join(errs...)
}

// patchOwnerRef adds (adopt) or removes d's controller reference on rs with a strategic
// merge patch on ownerReferences (merged by uid) that carries rs's uid as a precondition,
// so a replica set recreated under the same name is not touched.
func (c *Controller) patchOwnerRef(ctx context.Context, rs *appsv1.ReplicaSet, d *appsv1.Deployment, adopt bool) error {
	var ref map[string]any
	if adopt {
		r := controller.NewControllerRef(d, deploymentKind)
		ref = map[string]any{
			"apiVersion": r.GetApiVersion(), "kind": r.GetKind(), "name": r.GetName(), "uid": r.GetUid(),
			"controller": true, "blockOwnerDeletion": true,
		}
	} else {
		ref = map[string]any{"$patch": "delete", "uid": d.GetMetadata().GetUid()}
	}
	patch := map[string]any{"metadata": map[string]any{
		"ownerReferences": []any{ref},
		"uid":             rs.GetMetadata().GetUid(),
	}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	verb := "release"
	if adopt {
		verb = "adopt"
	}
	ns, name := rs.GetMetadata().GetNamespace(), rs.GetMetadata().GetName()
	if _, err := c.client.ReplicaSets(ns).Patch(ctx, name, transport.StrategicMerge, data); err != nil {
		return fmt.Errorf("%s replica set %s/%s: %w", verb, ns, name, err)
	}
	return nil
}
