package deployment

import (
	"context"

	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// claimReplicaSets is Kubernetes' ReplicaSetControllerRefManager.ClaimReplicaSets for one
// deployment: it returns the replica sets d controls after adopting the matching orphans
// and releasing the ones it controls that stopped matching selector (controller.RefManager
// has the rules). Before the first adoption, d is re-read from the API (not the cache) so a
// deployment deleted or replaced meanwhile adopts nothing.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector, rsList []*appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, error) {
	ns, name, uid := d.GetMetadata().GetNamespace(), d.GetMetadata().GetName(), d.GetMetadata().GetUid()
	m := &controller.RefManager[*appsv1.ReplicaSet]{
		Patch: func(ctx context.Context, ns, name string, data []byte) (*appsv1.ReplicaSet, error) {
			return c.client.ReplicaSets(ns).Patch(ctx, name, transport.StrategicMerge, data)
		},
		Kind: "replica set", Controller: d, ControllerKind: deploymentKind, Selector: selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
			return c.client.Deployments(ns).Get(ctx, name)
		}, uid),
	}
	return m.Claim(ctx, rsList)
}
