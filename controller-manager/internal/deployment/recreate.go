package deployment

import (
	"context"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

// rolloutRecreate moves a Recreate deployment on: scale every old replica set to 0, wait
// until none of their pods runs, then create (if need be) and scale up the new one.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, podMap map[string][]*corev1.Pod) error {
	// No new replica set yet: it must not get pods before the old ones are gone.
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	allRSs := append(oldRSs, newRS)

	scaledDown := false
	for _, rs := range filterActive(oldRSs) {
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown || OldPodsRunning(newRS, oldRSs, podMap) {
		return c.syncRolloutStatus(ctx, d, allRSs, newRS)
	}
	if newRS == nil {
		if newRS, oldRSs, err = c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, true); err != nil {
			return err
		}
		allRSs = append(oldRSs, newRS)
	}
	if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, desired(d), d); err != nil {
		return err
	}
	if DeploymentComplete(d, d.Status) {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, allRSs, newRS)
}

// OldPodsRunning reports whether an old replica set still has pods, per its status or
// per podMap (pods by replica set uid): any pod not Succeeded or Failed counts, including
// one being deleted, since its containers may still run.
func OldPodsRunning(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, podMap map[string][]*corev1.Pod) bool {
	if actualReplicas(oldRSs) > 0 {
		return true
	}
	for uid, pods := range podMap {
		if newRS != nil && newRS.GetMetadata().GetUid() == uid {
			continue
		}
		for _, p := range pods {
			switch p.GetStatus().GetPhase() {
			case controller.PodSucceeded, controller.PodFailed:
			default:
				return true
			}
		}
	}
	return false
}
