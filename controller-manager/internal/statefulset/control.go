package statefulset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// Event reasons, as Kubernetes' StatefulPodControl records them ("create Pod web-0 in
// StatefulSet web successful").
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = controller.EventSuccessfulDelete
	FailedDelete     = controller.EventFailedDelete
	SuccessfulUpdate = "SuccessfulUpdate"
	FailedUpdate     = "FailedUpdate"
)

// update is one sync's pass over a StatefulSet, upstream's updateStatefulSet: it sorts the
// pods into replicas (one slot per ordinal in range, a placeholder where none exists) and
// condemned (ordinals beyond the range, highest first), then
//
//  1. replaces failed and finished pods, creates missing ones, and fixes identities;
//  2. deletes the condemned, highest ordinal first;
//  3. with RollingUpdate, deletes the highest-ordinal pod at or above the partition that is
//     not of the update revision (its replacement is created by step 1 of a later sync).
//
// With OrderedReady (monotonic) each step stops at the first pod it changed or must wait for:
// a pod is created only once every lower ordinal is Running and Ready (and available after
// minReadySeconds), and a condemned pod is deleted only once the higher ones are gone. With
// Parallel, steps 1 and 2 act on every pod at once. Step 3 goes one pod at a time in both.
//
// It returns the status the pods now warrant; the error of a write is returned with it.
// Names are deterministic, so a create racing a stale cache fails with AlreadyExists rather
// than making a second pod.
func (c *Controller) update(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, collisionCount int32) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return nil, err
	}
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.GetMetadata().GetGeneration(),
		CurrentRevision:    current.GetMetadata().GetName(),
		UpdateRevision:     update.GetMetadata().GetName(),
		CollisionCount:     proto.Int32(collisionCount),
		Conditions:         set.GetStatus().GetConditions(),
	}
	now := c.now()
	mrs := set.GetSpec().GetMinReadySeconds()

	start := startOrdinal(set)
	replicas := make([]*corev1.Pod, replicasOf(set))
	var condemned []*corev1.Pod
	for _, p := range pods {
		switch o := ordinalOf(p); {
		case inOrdinalRange(p, set):
			replicas[o-start] = p
		case o >= 0:
			condemned = append(condemned, p)
		}
	}
	for i := range replicas {
		if replicas[i] == nil {
			replicas[i] = newVersionedPod(currentSet, updateSet, current.GetMetadata().GetName(), update.GetMetadata().GetName(), start+i)
		}
	}
	slices.SortFunc(condemned, func(a, b *corev1.Pod) int { return ordinalOf(b) - ordinalOf(a) })

	// The first unhealthy pod, in the order pods are made: replicas upward, then the
	// condemned from the lowest. Only it may be deleted for a scale-down while unhealthy.
	var firstUnhealthy *corev1.Pod
	for _, p := range slices.Concat(replicas, reversed(condemned)) {
		if !isHealthy(p) {
			firstUnhealthy = p
			break
		}
	}
	finish := func(err error) (*appsv1.StatefulSetStatus, error) {
		countReplicas(status, mrs, now, current, update, replicas, condemned)
		return status, err
	}
	if set.GetMetadata().GetDeletionTimestamp() != nil {
		return finish(nil)
	}
	monotonic := set.GetSpec().GetPodManagementPolicy() != appsv1.ParallelPodManagement

	if exit, err := runForAll(len(replicas), monotonic, func(i int) (bool, error) {
		return c.processReplica(ctx, set, updateSet, replicas[i], monotonic, now)
	}); exit || err != nil {
		return finish(err)
	}
	if exit, err := c.fixCondemnedClaims(ctx, updateSet, condemned, monotonic); exit || err != nil {
		return finish(err)
	}
	if exit, err := runForAll(len(condemned), monotonic, func(i int) (bool, error) {
		return c.processCondemned(ctx, set, condemned[i], firstUnhealthy, monotonic, now)
	}); exit || err != nil {
		return finish(err)
	}
	countReplicas(status, mrs, now, current, update, replicas, condemned)

	if set.GetSpec().GetUpdateStrategy().GetType() == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil // pods are replaced when someone deletes them
	}
	for target := len(replicas) - 1; target >= partition(set); target-- {
		p := replicas[target]
		if revisionOf(p) != update.GetMetadata().GetName() && !isTerminating(p) {
			c.log.Info("deleting pod for update", "namespace", set.GetMetadata().GetNamespace(), "statefulset", set.GetMetadata().GetName(), "pod", p.GetMetadata().GetName())
			status.CurrentReplicas--
			return status, c.deletePod(ctx, set, p)
		}
		if !isHealthy(p) {
			return status, nil // wait for it before touching the next one down
		}
	}
	return status, nil
}

func reversed(pods []*corev1.Pod) []*corev1.Pod {
	out := slices.Clone(pods)
	slices.Reverse(out)
	return out
}

// processReplica brings one in-range pod toward its desired state. exit says a monotonic
// pass must stop here (it acted, or must wait for this pod).
func (c *Controller) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, pod *corev1.Pod, monotonic bool, now time.Time) (exit bool, _ error) {
	// A failed or finished pod is deleted; the next sync, once it is gone, makes it anew
	// (restartPolicy Always, so finishing is never the goal).
	if isFailed(pod) || isSucceeded(pod) {
		if !isTerminating(pod) {
			c.log.Info("deleting failed pod", "namespace", set.GetMetadata().GetNamespace(), "statefulset", set.GetMetadata().GetName(), "pod", pod.GetMetadata().GetName(), "phase", pod.GetStatus().GetPhase())
			if err := c.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		// A claim still owned by an earlier pod of this name is about to be collected:
		// wait for it to go rather than start on it.
		if stale, err := c.claimIsStale(set, pod); err != nil || stale {
			return true, err
		}
		if err := c.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if monotonic {
			return true, nil
		}
	}
	// A pending pod may be waiting for a claim deleted since it was made: make it again.
	if isCreated(pod) && pod.GetStatus().GetPhase() == controller.PodPending {
		if err := c.createClaims(ctx, set, pod); err != nil {
			return true, err
		}
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isRunningAndAvailable(pod, set.GetSpec().GetMinReadySeconds(), now)) {
		return true, nil
	}
	if !isCreated(pod) {
		return false, nil
	}
	// An error here is expected of a pod not yet fully updated; it counts as matching.
	retentionMatches, err := c.claimsMatchRetention(updateSet, pod)
	if err != nil {
		retentionMatches = true
	}
	if identityMatches(set, pod) && storageMatches(set, pod) && retentionMatches {
		return false, nil
	}
	return false, c.updateStatefulPod(ctx, updateSet, pod)
}

// fixCondemnedClaims gives the claims of pods beyond the range the owners the retention
// policy asks for before any is deleted, so that with whenScaled Delete a claim is owned by
// its pod and goes with it (upstream's fixPodClaim pass).
func (c *Controller) fixCondemnedClaims(ctx context.Context, set *appsv1.StatefulSet, condemned []*corev1.Pod, monotonic bool) (bool, error) {
	return runForAll(len(condemned), monotonic, func(i int) (bool, error) {
		match, err := c.claimsMatchRetention(set, condemned[i])
		if err != nil {
			return true, err
		}
		if !match {
			if err := c.updateClaimsForRetention(ctx, set, condemned[i]); err != nil {
				return true, err
			}
		}
		return false, nil
	})
}

// processCondemned deletes one pod beyond the range. In a monotonic pass it waits for a pod
// already terminating, and deletes an unhealthy one only if it is the first unhealthy pod
// (so a scale-down is never blocked by the very pod it removes).
func (c *Controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, pod, firstUnhealthy *corev1.Pod, monotonic bool, now time.Time) (exit bool, _ error) {
	if isTerminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != firstUnhealthy &&
		(!isRunningAndReady(pod) || !isRunningAndAvailable(pod, set.GetSpec().GetMinReadySeconds(), now)) {
		return true, nil
	}
	c.log.Info("deleting pod for scale down", "namespace", set.GetMetadata().GetNamespace(), "statefulset", set.GetMetadata().GetName(), "pod", pod.GetMetadata().GetName())
	return true, c.deletePod(ctx, set, pod)
}

// runForAll calls fn for 0..n-1: in order, stopping at the first exit or error, when
// monotonic; else in slow-start batches (1, 2, 4, … at once), stopping after a batch with an
// error, and exit is ignored.
func runForAll(n int, monotonic bool, fn func(i int) (bool, error)) (bool, error) {
	if monotonic {
		for i := range n {
			if exit, err := fn(i); exit || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	var next atomic.Int64
	if _, err := controller.SlowStartBatch(n, controller.SlowStartInitialBatchSize, func() error {
		_, err := fn(int(next.Add(1) - 1))
		return err
	}); err != nil {
		return true, err
	}
	return false, nil
}

// countReplicas sets status's counts from the pods (placeholders count for nothing), as
// upstream's updateStatus: replicas created, ready (Running and Ready), available (Ready
// for minReadySeconds), and of those not terminating, how many are of each revision.
func countReplicas(status *appsv1.StatefulSetStatus, minReadySeconds int32, now time.Time, current, update *appsv1.ControllerRevision, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas, status.CurrentReplicas, status.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, list := range lists {
		for _, p := range list {
			if !isCreated(p) {
				continue
			}
			status.Replicas++
			if isRunningAndReady(p) {
				status.ReadyReplicas++
				if isRunningAndAvailable(p, minReadySeconds, now) {
					status.AvailableReplicas++
				}
			}
			if isTerminating(p) {
				continue
			}
			switch rev := revisionOf(p); {
			case rev == current.GetMetadata().GetName() && rev == update.GetMetadata().GetName():
				status.CurrentReplicas++
				status.UpdatedReplicas++
			case rev == current.GetMetadata().GetName():
				status.CurrentReplicas++
			case rev == update.GetMetadata().GetName():
				status.UpdatedReplicas++
			}
		}
	}
}

// completeRollingUpdate makes the update revision current once every replica runs it and is
// ready (completeRollingUpdate).
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	n := int32(replicasOf(set))
	if set.GetSpec().GetUpdateStrategy().GetType() == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == n && status.ReadyReplicas == n && status.Replicas == n {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// --- pod writes, with upstream's events ---

// createPod makes pod's claims, then pod (upstream's CreateStatefulPod), then gives the
// claims the owners the retention policy asks for now that the pod has a uid.
func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.createClaims(ctx, set, pod); err != nil {
		c.podEvent("create", set, pod, err)
		return err
	}
	created, err := c.client.Pods(set.GetMetadata().GetNamespace()).Create(ctx, pod)
	if apierrors.IsAlreadyExists(err) {
		// A stale cache: the pod exists and the next sync will see it. No event, as upstream.
		return fmt.Errorf("create pod %s: %w", pod.GetMetadata().GetName(), err)
	}
	if err == nil {
		if err := c.updateClaimsForRetention(ctx, set, created); err != nil {
			c.podEvent("update", set, pod, err)
			return err
		}
	}
	c.podEvent("create", set, pod, err)
	return err
}

// deletePod deletes pod on the condition that it is still the one seen (uid): a namesake
// made since is not touched. A pod already gone is no error.
func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	m := pod.GetMetadata()
	_, err := c.client.Pods(m.GetNamespace()).Delete(ctx, m.GetName(), &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: proto.String(m.GetUid())}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	c.podEvent("delete", set, pod, err)
	return err
}

// updateStatefulPod brings pod (from the cache, so changed on a copy) back to its set's invariants
// (upstream's UpdateStatefulPod): its identity labels; its claim volumes, making any missing
// claim (the apiserver refuses to change a pod's volumes, so such an update fails with a
// FailedUpdate event, as upstream's does); and its claims' owners for the retention policy.
// It writes the pod only when identity or storage changed or claims were fixed, retrying
// once on a conflict with the pod read again.
func (c *Controller) updateStatefulPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	client := c.client.Pods(set.GetMetadata().GetNamespace())
	next := proto.Clone(pod).(*corev1.Pod)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		consistent := true
		if !identityMatches(set, next) {
			updateIdentity(set, next)
			consistent = false
		}
		if !storageMatches(set, next) {
			updateStorage(set, next)
			consistent = false
			if err = c.createClaims(ctx, set, next); err != nil {
				break
			}
		}
		match, merr := c.claimsMatchRetention(set, next)
		if merr != nil {
			err = merr
			break
		}
		if !match {
			if err = c.updateClaimsForRetention(ctx, set, next); err != nil {
				break
			}
			consistent = false
		}
		if consistent {
			return nil
		}
		if _, err = client.Update(ctx, next); !apierrors.IsConflict(err) {
			break
		}
		fresh, gerr := client.Get(ctx, pod.GetMetadata().GetName())
		if gerr != nil {
			err = errors.Join(err, gerr)
			break
		}
		next = fresh
	}
	c.podEvent("update", set, next, err)
	return err
}

func (c *Controller) podEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	reason := map[string][2]string{
		"create": {SuccessfulCreate, FailedCreate}, "delete": {SuccessfulDelete, FailedDelete}, "update": {SuccessfulUpdate, FailedUpdate},
	}[verb]
	if err == nil {
		c.recorder.Eventf(set, "Normal", reason[0], "%s Pod %s in StatefulSet %s successful", verb, pod.GetMetadata().GetName(), set.GetMetadata().GetName())
		return
	}
	c.recorder.Eventf(set, "Warning", reason[1], "%s Pod %s in StatefulSet %s failed error: %s", verb, pod.GetMetadata().GetName(), set.GetMetadata().GetName(), err)
}
