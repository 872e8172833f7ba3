package deployment

import (
	"context"

	appsv1 "kubelab.io/proto/api/apps/v1"
)

// rolloutRolling moves a RollingUpdate deployment one step on: grow the new replica set
// within maxSurge, else shrink old ones within maxUnavailable, and once the rollout is
// complete delete replica sets beyond the history limit. Every step ends with the status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	allRSs := append(oldRSs, newRS)

	scaledUp, err := c.reconcileNewReplicaSet(ctx, d, allRSs, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, allRSs, newRS)
	}
	scaledDown, oldRSs, err := c.reconcileOldReplicaSets(ctx, d, filterActive(oldRSs), newRS, oldRSs)
	if err != nil {
		return err
	}
	allRSs = append(oldRSs, newRS)
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, allRSs, newRS)
	}
	if DeploymentComplete(d, d.Status) {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, allRSs, newRS)
}

// reconcileNewReplicaSet scales the new replica set toward the desired replicas, as far
// as maxSurge allows (or down, when it has more than desired).
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if replicas(newRS) == desired(d) {
		return false, nil
	}
	if replicas(newRS) > desired(d) {
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, desired(d), d)
		return scaled, err
	}
	n, err := NewRSNewReplicas(d, allRSs, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, n, d)
	return scaled, err
}

// reconcileOldReplicaSets scales old replica sets down without letting fewer than
// replicas-maxUnavailable pods be available: first their unavailable pods, then available
// ones beyond the minimum. It returns the old replica sets as they now are (all of them,
// allOld with the scaled ones replaced).
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *appsv1.Deployment, activeOld []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, allOld []*appsv1.ReplicaSet) (bool, []*appsv1.ReplicaSet, error) {
	if specReplicas(activeOld) == 0 {
		return false, allOld, nil // nothing left to scale down
	}
	allRSs := append(append([]*appsv1.ReplicaSet{}, allOld...), newRS)
	maxScaledDown := MaxScaledDown(d, allRSs, newRS)
	if maxScaledDown <= 0 {
		return false, allOld, nil
	}
	updated := map[string]*appsv1.ReplicaSet{}
	apply := func(sizes map[string]int32, rss []*appsv1.ReplicaSet) error {
		for _, rs := range rss {
			n, ok := sizes[rs.GetMetadata().GetName()]
			if !ok {
				continue
			}
			_, out, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, n, d)
			if err != nil {
				return err
			}
			updated[out.GetMetadata().GetName()] = out
		}
		return nil
	}
	replace := func(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
		out := make([]*appsv1.ReplicaSet, len(rss))
		for i, rs := range rss {
			if u, ok := updated[rs.GetMetadata().GetName()]; ok {
				rs = u
			}
			out[i] = rs
		}
		return out
	}

	// Unhealthy old pods first: they count against the surge but serve nothing.
	sizes, cleaned := CleanupUnhealthy(activeOld, maxScaledDown)
	if err := apply(sizes, activeOld); err != nil {
		return false, replace(allOld), err
	}
	activeOld = replace(activeOld)
	sizes, scaled := ScaleDownOld(d, append(append([]*appsv1.ReplicaSet{}, activeOld...), newRS), activeOld)
	if err := apply(sizes, activeOld); err != nil {
		return false, replace(allOld), err
	}
	return cleaned+scaled > 0, replace(allOld), nil
}
