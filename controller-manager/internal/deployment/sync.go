package deployment

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/record"
	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

func cloneDeployment(d *appsv1.Deployment) *appsv1.Deployment {
	d = proto.Clone(d).(*appsv1.Deployment)
	if d.Metadata == nil {
		d.Metadata = &metav1.ObjectMeta{}
	}
	if d.Spec == nil {
		d.Spec = &appsv1.DeploymentSpec{}
	}
	if d.Status == nil {
		d.Status = &appsv1.DeploymentStatus{}
	}
	return d
}

func cloneRS(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet { return proto.Clone(rs).(*appsv1.ReplicaSet) }

// syncDeployment reconciles d, a private copy of the cached deployment that the sync
// updates as it writes (metadata and status), so later writes carry the latest
// resourceVersion.
func (c *Controller) syncDeployment(ctx context.Context, d *appsv1.Deployment) error {
	sel := d.GetSpec().GetSelector()
	if sel != nil && len(sel.GetMatchLabels())+len(sel.GetMatchExpressions()) == 0 {
		// A permanently bad spec: say so, mark it observed, and do not retry.
		c.recorder.Eventf(d, record.Warning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Metadata.Generation {
			d.Status.ObservedGeneration = d.Metadata.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}
	selector, err := labels.FromLabelSelector(sel)
	if err != nil {
		c.recorder.Eventf(d, record.Warning, "InvalidSelector", "Invalid selector: %v", err)
		return nil
	}
	rsList, err := c.replicaSetsFor(ctx, d, selector)
	if err != nil {
		return err
	}
	if d.Metadata.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch t := d.Spec.GetStrategy().GetType(); t {
	case RecreateStrategy:
		return c.rolloutRecreate(ctx, d, rsList, c.podsByReplicaSet(d, selector, rsList))
	case RollingUpdateStrategy:
		return c.rolloutRolling(ctx, d, rsList)
	default:
		c.recorder.Eventf(d, record.Warning, "UnsupportedStrategy", "Unexpected deployment strategy type: %s", t)
		return nil
	}
}

// replicaSetsFor returns the replica sets d controls, adopting and releasing as needed.
func (c *Controller) replicaSetsFor(ctx context.Context, d *appsv1.Deployment, selector labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.Namespace(d.Metadata.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return c.claimReplicaSets(ctx, d, selector, all)
}

// podsByReplicaSet maps the uid of each replica set of rsList to the pods it controls
// that match d's selector (the ones Recreate waits for).
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, selector labels.Selector, rsList []*appsv1.ReplicaSet) map[string][]*corev1.Pod {
	m := make(map[string][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		m[rs.GetMetadata().GetUid()] = nil
	}
	pods, err := c.podLister.Namespace(d.Metadata.Namespace).List(selector)
	if err != nil {
		return m
	}
	for _, p := range pods {
		ref := controller.GetControllerOf(p)
		if ref == nil || ref.GetKind() != replicaSetKind.Kind {
			continue
		}
		if list, ok := m[ref.GetUid()]; ok {
			m[ref.GetUid()] = append(list, p)
		}
	}
	return m
}

// checkPausedConditions sets the Progressing condition to Unknown/DeploymentPaused when d
// is paused, and to Unknown/DeploymentResumed when it is resumed, unless the rollout has
// already been reported as timed out.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !HasProgressDeadline(d) {
		return nil
	}
	cond := GetCondition(d.Status, ConditionProgressing)
	if cond != nil && cond.GetReason() == ReasonProgressDeadlineExceeded {
		return nil
	}
	paused := cond != nil && cond.GetReason() == ReasonDeploymentPaused
	switch {
	case d.Spec.Paused && !paused:
		SetCondition(d.Status, NewCondition(ConditionProgressing, controller.ConditionUnknown, ReasonDeploymentPaused, MessagePaused, c.now()))
	case !d.Spec.Paused && paused:
		SetCondition(d.Status, NewCondition(ConditionProgressing, controller.ConditionUnknown, ReasonDeploymentResumed, MessageResumed, c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}

// isScalingEvent reports whether d's replicas changed since its active replica sets were
// last sized (their desired-replicas annotation).
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range filterActive(append(oldRSs, newRS)) {
		if want, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && want != desired(d) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles a resize or a paused deployment: it scales the replica sets without
// moving the rollout on, cleans up old ones of a paused deployment, and updates the status.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, append(oldRSs, newRS), newRS)
}

// syncStatusOnly only updates the status (a deployment being deleted).
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncStatus(ctx, d, append(oldRSs, newRS), newRS)
}

// getAllReplicaSetsAndSyncRevision splits rsList into the new replica set (the one running
// d's template; created when create is set and there is none) and the old ones, and brings
// the new one's revision and the deployment's up to date.
func (c *Controller) getAllReplicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	oldRSs := FindOldReplicaSets(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

// getNewReplicaSet returns the replica set of d's template, with its revision (max old
// revision + 1, so a replica set that becomes new again gets the next revision), its
// annotations and minReadySeconds up to date; or creates it when create is set. A name
// taken by a replica set with another template is a hash collision: collisionCount is
// bumped so the next attempt hashes differently.
func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	existing := FindNewReplicaSet(d, rsList)
	newRevision := MaxRevision(oldRSs) + 1
	if existing != nil {
		rs := cloneRS(existing)
		annotationsChanged := SetNewReplicaSetAnnotations(d, rs, newRevision, true)
		if annotationsChanged || rs.GetSpec().GetMinReadySeconds() != d.Spec.GetMinReadySeconds() {
			rs.Spec.MinReadySeconds = d.Spec.GetMinReadySeconds()
			return c.client.ReplicaSets(rs.Metadata.Namespace).Update(ctx, rs)
		}
		if err := c.setDeploymentRevision(ctx, d, rs.Metadata.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		if HasProgressDeadline(d) && GetCondition(d.Status, ConditionProgressing) == nil {
			msg := fmt.Sprintf("Found new replica set %q", rs.Metadata.Name)
			SetCondition(d.Status, NewCondition(ConditionProgressing, controller.ConditionTrue, ReasonFoundNewReplicaSet, msg, c.now()))
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	newRS := NewReplicaSetFor(d)
	allRSs := append(oldRSs, newRS)
	n, err := NewRSNewReplicas(d, allRSs, newRS)
	if err != nil {
		return nil, err
	}
	newRS.Spec.Replicas = proto.Int32(n)
	SetNewReplicaSetAnnotations(d, newRS, newRevision, false)

	created, err := c.client.ReplicaSets(d.Metadata.Namespace).Create(ctx, newRS)
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		rs, getErr := c.client.ReplicaSets(d.Metadata.Namespace).Get(ctx, newRS.Metadata.Name)
		if getErr != nil {
			return nil, getErr
		}
		if controller.IsControlledBy(rs, d) && EqualIgnoreHash(rs.GetSpec().GetTemplate(), d.Spec.GetTemplate()) {
			created = rs // ours, seen before the cache caught up
			break
		}
		// A hash collision: another template already has this name.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = proto.Int32(0)
		}
		*d.Status.CollisionCount++
		if uerr := c.updateStatus(ctx, d); uerr == nil {
			c.log.Info("hash collision; bumped collisionCount", "deployment", d.Metadata.Namespace+"/"+d.Metadata.Name,
				"replicaSet", newRS.Metadata.Name, "collisionCount", *d.Status.CollisionCount)
		}
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", newRS.Metadata.Name, err)
		if HasProgressDeadline(d) {
			SetCondition(d.Status, NewCondition(ConditionProgressing, controller.ConditionFalse, ReasonReplicaSetCreateError, msg, c.now()))
			_ = c.updateStatus(ctx, d) // best effort: the create error is what is returned
		}
		c.recorder.Eventf(d, record.Warning, ReasonReplicaSetCreateError, "%s", msg)
		return nil, err
	}
	if !alreadyExists && n > 0 {
		c.recorder.Eventf(d, record.Normal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Metadata.Name, n)
	}
	if err := c.setDeploymentRevision(ctx, d, strconv.FormatInt(newRevision, 10)); err != nil {
		return nil, err
	}
	if !alreadyExists && HasProgressDeadline(d) {
		msg := fmt.Sprintf("Created new replica set %q", created.Metadata.Name)
		SetCondition(d.Status, NewCondition(ConditionProgressing, controller.ConditionTrue, ReasonNewReplicaSetCreated, msg, c.now()))
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// NewReplicaSetFor builds (without replicas and annotations) the replica set of d's
// template: named <deployment>-<hash>, with the pod-template-hash label on itself, its
// selector and its template, and a controller reference to d.
func NewReplicaSetFor(d *appsv1.Deployment) *appsv1.ReplicaSet {
	template := proto.Clone(d.Spec.GetTemplate()).(*corev1.PodTemplateSpec)
	if template.Metadata == nil {
		template.Metadata = &metav1.ObjectMeta{}
	}
	hash := controller.ComputeHash(d.Spec.GetTemplate(), d.Status.CollisionCount)
	template.Metadata.Labels = withLabel(template.Metadata.Labels, controller.DefaultPodTemplateHashLabel, hash)
	selector := proto.Clone(d.Spec.GetSelector()).(*metav1.LabelSelector)
	selector.MatchLabels = withLabel(selector.MatchLabels, controller.DefaultPodTemplateHashLabel, hash)
	return &appsv1.ReplicaSet{
		Kind: "ReplicaSet", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{
			Name:            d.Metadata.Name + "-" + hash,
			Namespace:       d.Metadata.Namespace,
			Labels:          withLabel(template.Metadata.Labels, "", ""),
			OwnerReferences: []*metav1.OwnerReference{controller.NewControllerRef(d, deploymentKind)},
		},
		Spec: &appsv1.ReplicaSetSpec{
			Replicas:        proto.Int32(0),
			MinReadySeconds: d.Spec.GetMinReadySeconds(),
			Selector:        selector,
			Template:        template,
		},
	}
}

// withLabel returns a copy of m with key=value added (nothing added for an empty key).
func withLabel(m map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	if key != "" {
		out[key] = value
	}
	return out
}

// setDeploymentRevision writes the revision annotation on d when it differs. kubelab's
// status subresource (unlike Kubernetes') keeps the stored metadata, so this is an update
// of the deployment itself; d takes the stored metadata back.
func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, revision string) error {
	if revision == "" || d.Metadata.Annotations[RevisionAnnotation] == revision {
		return nil
	}
	upd := proto.Clone(d).(*appsv1.Deployment)
	if upd.Metadata.Annotations == nil {
		upd.Metadata.Annotations = map[string]string{}
	}
	upd.Metadata.Annotations[RevisionAnnotation] = revision
	out, err := c.client.Deployments(d.Metadata.Namespace).Update(ctx, upd)
	if err != nil {
		return fmt.Errorf("set revision of deployment %s/%s: %w", d.Metadata.Namespace, d.Metadata.Name, err)
	}
	d.Metadata = out.GetMetadata()
	return nil
}

// updateStatus writes d's status through the status subresource and takes the new
// resourceVersion back into d.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	out, err := c.client.Deployments(d.Metadata.Namespace).UpdateStatus(ctx, d)
	if err != nil {
		return fmt.Errorf("update status of deployment %s/%s: %w", d.Metadata.Namespace, d.Metadata.Name, err)
	}
	d.Metadata.ResourceVersion = out.GetMetadata().GetResourceVersion()
	return nil
}

// syncStatus writes the status computed from the replica sets, when it changed.
func (c *Controller) syncStatus(ctx context.Context, d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	s := CalculateStatus(d, allRSs, newRS, c.now())
	if proto.Equal(d.Status, s) {
		return nil
	}
	d.Status = s
	return c.updateStatus(ctx, d)
}

// syncRolloutStatus is syncStatus with the Progressing condition of a rollout in progress;
// when the rollout is neither complete nor timed out it requeues d for when the progress
// deadline will have passed.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := c.now()
	s := RolloutStatus(d, allRSs, newRS, now)
	if proto.Equal(d.Status, s) {
		if after, ok := RequeueAfter(d, s, now); ok {
			c.requeueAfter(d, after)
		}
		return nil
	}
	d.Status = s
	return c.updateStatus(ctx, d)
}

// requeueAfter looks at d again after the given time; under a second it is rate limited
// (the deadline is about to pass), otherwise a second is added against clock skew.
func (c *Controller) requeueAfter(d *appsv1.Deployment, after time.Duration) {
	key := d.Metadata.Namespace + "/" + d.Metadata.Name
	if after < time.Second {
		c.queue.AddRateLimited(key)
		return
	}
	c.queue.AddAfter(key, after+time.Second)
}

// scale sizes the replica sets for d's replicas: the only active one (or the newest) gets
// them all; a saturated new one means the old ones go to 0; otherwise (mid-rollout) the
// change is spread proportionally.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	if rs := FindActiveOrLatest(newRS, oldRSs); rs != nil {
		if replicas(rs) == desired(d) {
			return nil
		}
		_, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, desired(d), d)
		return err
	}
	if IsSaturated(d, newRS) {
		for _, old := range filterActive(oldRSs) {
			if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	active := filterActive(append(oldRSs, newRS))
	sizes := ProportionalSizes(d, active)
	op := "up"
	if specReplicas(active) > desired(d)+MaxSurge(d) || desired(d) == 0 {
		op = "down"
	}
	for _, rs := range active {
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[rs.GetMetadata().GetName()], d, op); err != nil {
			return err
		}
	}
	return nil
}

// scaleReplicaSetAndRecordEvent scales rs to n (if it is not already) with a
// ScalingReplicaSet event.
func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if replicas(rs) == n {
		return false, rs, nil
	}
	op := "down"
	if replicas(rs) < n {
		op = "up"
	}
	return c.scaleReplicaSet(ctx, rs, n, d, op)
}

// scaleReplicaSet sets rs's replicas to n and its desired/max replica annotations to d's,
// when either differs; a size change is reported with a ScalingReplicaSet event.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment, op string) (bool, *appsv1.ReplicaSet, error) {
	sizeChanged := replicas(rs) != n
	maxReplicas := desired(d) + MaxSurge(d)
	if !sizeChanged && !ReplicasAnnotationsNeedUpdate(rs, desired(d), maxReplicas) {
		return false, rs, nil
	}
	from := replicas(rs)
	upd := cloneRS(rs)
	upd.Spec.Replicas = proto.Int32(n)
	SetReplicasAnnotations(upd, desired(d), maxReplicas)
	out, err := c.client.ReplicaSets(upd.Metadata.Namespace).Update(ctx, upd)
	if err != nil {
		return false, rs, fmt.Errorf("scale replica set %s/%s to %d: %w", upd.Metadata.Namespace, upd.Metadata.Name, n, err)
	}
	if sizeChanged {
		c.recorder.Eventf(d, record.Normal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, out.Metadata.Name, from, n)
	}
	return sizeChanged, out, nil
}

// cleanupDeployment deletes the oldest old replica sets beyond revisionHistoryLimit that
// have no replicas, no pods and an observed spec.
func (c *Controller) cleanupDeployment(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	for _, rs := range ReplicaSetsToCleanUp(oldRSs, *d.Spec.RevisionHistoryLimit) {
		_, err := c.client.ReplicaSets(rs.Metadata.Namespace).Delete(ctx, rs.Metadata.Name, nil)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replica set %s/%s: %w", rs.Metadata.Namespace, rs.Metadata.Name, err)
		}
	}
	return nil
}
