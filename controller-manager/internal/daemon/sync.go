package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// sync makes the DaemonSet key's pods and history match its spec and writes its status
// (syncDaemonSet). It returns nil when the DaemonSet is gone or its selector unusable (an
// event says so), and any transient error for the queue to retry with backoff.
func (c *Controller) sync(ctx context.Context, key string) error {
	start := c.now()
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	ds, err := c.dsLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.log.Debug("daemonset deleted", "namespace", ns, "name", name)
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { c.log.Debug("synced", "namespace", ns, "name", name, "duration", c.now().Sub(start)) }()

	selector, err := labels.FromLabelSelector(ds.GetSpec().GetSelector())
	if err != nil {
		c.recorder.Eventf(ds, "Warning", InvalidSelector, "Invalid selector: %v", err)
		return nil
	}
	if sel := ds.GetSpec().GetSelector(); len(sel.GetMatchLabels()) == 0 && len(sel.GetMatchExpressions()) == 0 {
		c.recorder.Eventf(ds, "Warning", SelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	controller.SortByName(nodes)

	// A DaemonSet being deleted may already have lost (or orphaned) its revisions, so
	// nothing can be told about them: leave it to the garbage collector.
	if ds.GetMetadata().GetDeletionTimestamp() != nil {
		return nil
	}
	cur, old, err := c.constructHistory(ctx, ds, selector)
	if err != nil {
		return fmt.Errorf("failed to construct revisions of DaemonSet: %w", err)
	}
	hash := cur.GetMetadata().GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey]

	if !c.expectations.Satisfied(key) {
		// Only the status: the generation was not acted on, so observedGeneration stays.
		return c.updateStatus(ctx, ds, selector, nodes, hash, false)
	}
	err = c.update(ctx, key, ds, selector, nodes, hash, old)
	statusErr := c.updateStatus(ctx, ds, selector, nodes, hash, true)
	if err != nil {
		if statusErr != nil {
			c.log.Error("update status", "namespace", ns, "name", name, "err", statusErr)
		}
		return err
	}
	return statusErr
}

// update is one pass of updateDaemonSet: pods where they are missing or must go, then (if
// that changed nothing still in flight) the rolling update, then history cleanup.
func (c *Controller) update(ctx context.Context, key string, ds *appsv1.DaemonSet, selector labels.Selector, nodes []*corev1.Node, hash string, old []*appsv1.ControllerRevision) error {
	if err := c.manage(ctx, key, ds, selector, nodes, hash); err != nil {
		return err
	}
	if c.expectations.Satisfied(key) && ds.GetSpec().GetUpdateStrategy().GetType() == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, key, ds, selector, nodes, hash); err != nil {
			return err
		}
	}
	if err := c.cleanupHistory(ctx, ds, selector, old); err != nil {
		return fmt.Errorf("failed to clean up revisions of DaemonSet: %w", err)
	}
	return nil
}

// daemonPods claims the pods of ds: those it controls that its selector matches, and
// orphans it adopts; finished and terminating ones included.
func (c *Controller) daemonPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	ns, name := ds.GetMetadata().GetNamespace(), ds.GetMetadata().GetName()
	all, err := c.podLister.Namespace(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	controller.SortByName(all)
	m := &controller.PodControllerRefManager{
		Client: c.client, Controller: ds, ControllerKind: Kind, Selector: selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (runtime.Object, error) {
			return c.client.DaemonSets(ns).Get(ctx, name)
		}, ds.GetMetadata().GetUid()),
	}
	return m.ClaimPods(ctx, all)
}

// nodesToDaemonPods groups ds's pods by the node they are for (getNodesToDaemonPods).
// Finished pods already being deleted are left out unless includeDeletedTerminal: the
// kubelet or whoever deletes them has them in hand.
func (c *Controller) nodesToDaemonPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, includeDeletedTerminal bool) (map[string][]*corev1.Pod, error) {
	pods, err := c.daemonPods(ctx, ds, selector)
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if !includeDeletedTerminal && controller.IsPodTerminal(p) && p.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		node, err := targetNodeName(p)
		if err != nil {
			c.log.Info("failed to get target node name of pod in DaemonSet", "pod", p.GetMetadata().GetName(), "err", err)
			continue
		}
		out[node] = append(out[node], p)
	}
	return out, nil
}

// manage creates daemon pods on the nodes that lack one and deletes those that must go.
func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, selector labels.Selector, nodes []*corev1.Node, hash string) error {
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, selector, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.GetMetadata().GetName(), err)
	}
	var create []string
	var del []*corev1.Pod
	for _, node := range nodes {
		c2, d := c.podsShouldBeOnNode(node, nodeToPods, ds, hash)
		create = append(create, c2...)
		del = append(del, d...)
	}
	del = append(del, unscheduledPodsWithoutNode(nodes, nodeToPods)...)
	return c.syncNodes(ctx, key, ds, del, create, hash)
}

// podsShouldBeOnNode is what one node needs: a pod created, or pods deleted (failed or
// succeeded ones, duplicates, or all when the node no longer takes the daemon).
func (c *Controller) podsShouldBeOnNode(node *corev1.Node, nodeToPods map[string][]*corev1.Pod, ds *appsv1.DaemonSet, hash string) (create []string, del []*corev1.Pod) {
	shouldRun, shouldContinue := NodeShouldRunDaemonPod(node, ds)
	nodeName := node.GetMetadata().GetName()
	pods, exists := nodeToPods[nodeName]
	switch {
	case shouldRun && !exists:
		create = append(create, nodeName)
	case shouldContinue:
		var running []*corev1.Pod
		for _, p := range pods {
			if p.GetMetadata().GetDeletionTimestamp() != nil {
				continue
			}
			switch p.GetStatus().GetPhase() {
			case controller.PodFailed:
				// The kubelet may keep rejecting this pod: back off rather than fight it.
				backoffKey := string(ds.GetMetadata().GetUid()) + "/" + nodeName
				now := c.now()
				if c.failedPodsBackoff.InBackoffSinceUpdate(backoffKey, now) {
					delay := c.failedPodsBackoff.Get(backoffKey)
					c.log.Debug("deleting failed pod held back", "pod", p.GetMetadata().GetName(), "node", nodeName, "delay", delay)
					c.enqueueAfter(ds, delay)
					continue
				}
				c.failedPodsBackoff.Next(backoffKey, now)
				c.recorder.Eventf(ds, "Warning", FailedDaemonPod, "Found failed daemon pod %s/%s on node %s, will try to kill it",
					p.GetMetadata().GetNamespace(), p.GetMetadata().GetName(), nodeName)
				del = append(del, p)
			case controller.PodSucceeded:
				c.recorder.Eventf(ds, "Normal", SucceededDaemonPod, "Found succeeded daemon pod %s/%s on node %s, will try to delete it",
					p.GetMetadata().GetNamespace(), p.GetMetadata().GetName(), nodeName)
				del = append(del, p)
			default:
				running = append(running, p)
			}
		}
		if len(running) <= 1 {
			// With surge, a node whose pods all went needs one again.
			if len(running) == 0 && shouldRun && allowsSurge(ds) {
				create = append(create, nodeName)
			}
			break
		}
		slices.SortFunc(running, byCreation)
		if !allowsSurge(ds) {
			// One pod per node: the oldest stays.
			return create, append(del, running[1:]...)
		}
		// With surge a node may run the oldest new pod beside the oldest old one while the
		// new one is not yet available and the old one still ready; anything else goes.
		var oldestNew, oldestOld *corev1.Pod
		for _, p := range running {
			if p.GetMetadata().GetLabels()[appsv1.ControllerRevisionHashLabelKey] == hash {
				if oldestNew == nil {
					oldestNew = p
					continue
				}
			} else if oldestOld == nil {
				oldestOld = p
				continue
			}
			del = append(del, p)
		}
		if oldestNew != nil && oldestOld != nil {
			if !controller.IsPodReady(oldestOld) || controller.IsPodAvailable(oldestNew, ds.GetSpec().GetMinReadySeconds(), c.now()) {
				del = append(del, oldestOld)
			}
		}
	case !shouldContinue && exists:
		for _, p := range pods {
			if p.GetMetadata().GetDeletionTimestamp() == nil {
				del = append(del, p)
			}
		}
	}
	return create, del
}

// unscheduledPodsWithoutNode are the unbound pods meant for nodes that no longer exist:
// no scheduler will ever bind them.
func unscheduledPodsWithoutNode(nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod) []*corev1.Pod {
	exists := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		exists[n.GetMetadata().GetName()] = true
	}
	var out []*corev1.Pod
	for node, pods := range nodeToPods {
		if exists[node] {
			continue
		}
		for _, p := range pods {
			if p.GetSpec().GetNodeName() == "" {
				out = append(out, p)
			}
		}
	}
	controller.SortByName(out)
	return out
}

// syncNodes creates a pod of the current template for each of nodes and deletes del, at
// most burstReplicas of each, with expectations set first. Creations go in slow-start
// batches, so a template every create refuses costs a few calls.
func (c *Controller) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, del []*corev1.Pod, nodes []string, hash string) error {
	nodes = nodes[:min(len(nodes), c.burstReplicas)]
	del = del[:min(len(del), c.burstReplicas)]
	podKeys := make([]string, len(del))
	for i, p := range del {
		podKeys[i], _ = controller.KeyFunc(p) // pods from the cache always have a key
	}
	// Expect before acting: the informer may see a pod before Create returns.
	c.expectations.Expect(key, len(nodes), podKeys)

	ns, name := ds.GetMetadata().GetNamespace(), ds.GetMetadata().GetName()
	var errs []error
	if len(nodes) > 0 {
		c.log.Info("creating daemon pods", "namespace", ns, "name", name, "nodes", nodes)
		template := podTemplate(ds, hash)
		ref := controller.NewControllerRef(ds, Kind)
		next := make(chan string, len(nodes))
		for _, n := range nodes {
			next <- n
		}
		successes, err := controller.SlowStartBatch(len(nodes), controller.SlowStartInitialBatchSize, func() error {
			pod := controller.PodFromTemplate(template, ds, ref)
			pinToNode(pod.Spec, <-next)
			created, err := c.client.Pods(ns).Create(ctx, pod)
			if apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
				// Every creation in a namespace being deleted fails, and the namespace takes
				// the DaemonSet too: no event, no retry. The expectation stays pending until
				// it expires, so syncs meanwhile do not try again.
				return nil
			}
			if err != nil {
				c.recorder.Eventf(ds, "Warning", FailedCreate, "Error creating: %v", err)
				return err
			}
			c.recorder.Eventf(ds, "Normal", SuccessfulCreate, "Created pod: %s", created.GetMetadata().GetName())
			return nil
		})
		// Creations that failed or were skipped will never be observed.
		for range len(nodes) - successes {
			c.expectations.CreationObserved(key)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("create pods of daemonset %s: %w", key, err))
		}
	}
	if len(del) > 0 {
		c.log.Info("deleting daemon pods", "namespace", ns, "name", name, "count", len(del))
		var wg sync.WaitGroup
		delErrs := make([]error, len(del))
		for i, p := range del {
			wg.Go(func() {
				deleted, err := c.deletePodAPI(ctx, ds, p)
				if !deleted {
					c.expectations.DeletionObserved(key, podKeys[i])
				}
				delErrs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(delErrs...); err != nil {
			errs = append(errs, fmt.Errorf("delete pods of daemonset %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// deletePodAPI deletes pod, conditional on its uid (controller.DeletePod).
func (c *Controller) deletePodAPI(ctx context.Context, ds *appsv1.DaemonSet, pod *corev1.Pod) (deleted bool, _ error) {
	return controller.DeletePod(ctx, c.client, c.recorder, ds, pod)
}

// counts is a DaemonSet's status arithmetic.
type counts struct {
	desired, current, misscheduled, ready, updated, available int32
}

// computeCounts judges every node (updateDaemonSetStatus): desired nodes, and of them those
// with a pod, whose oldest pod is ready, available and of the current template; and the
// undesired ones that have a pod anyway.
func computeCounts(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) counts {
	var n counts
	for _, node := range nodes {
		shouldRun, _ := NodeShouldRunDaemonPod(node, ds)
		pods := nodeToPods[node.GetMetadata().GetName()]
		if !shouldRun {
			if len(pods) > 0 {
				n.misscheduled++
			}
			continue
		}
		n.desired++
		if len(pods) == 0 {
			continue
		}
		n.current++
		pod := slices.MinFunc(pods, byCreation)
		if controller.IsPodReady(pod) {
			n.ready++
			if controller.IsPodAvailable(pod, ds.GetSpec().GetMinReadySeconds(), now) {
				n.available++
			}
		}
		if isPodUpdated(pod, hash, ds) {
			n.updated++
		}
	}
	return n
}

// updateStatus writes ds's status from the pods the cache holds, unless it already says
// that (storeDaemonSetStatus); observedGeneration moves only when the sync acted on this
// generation. A conflict re-reads the DaemonSet once and tries again; anything else goes
// back to the queue.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, nodes []*corev1.Node, hash string, updateObservedGen bool) error {
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, selector, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.GetMetadata().GetName(), err)
	}
	n := computeCounts(ds, nodes, nodeToPods, hash, c.now())
	unavailable := n.desired - n.available
	if mrs := ds.GetSpec().GetMinReadySeconds(); mrs > 0 && n.ready != n.available {
		// Look again once the ready pods may have become available.
		defer c.enqueueAfter(ds, time.Duration(mrs)*time.Second)
	}
	st := ds.GetStatus()
	if st.GetDesiredNumberScheduled() == n.desired && st.GetCurrentNumberScheduled() == n.current &&
		st.GetNumberMisscheduled() == n.misscheduled && st.GetNumberReady() == n.ready &&
		st.GetUpdatedNumberScheduled() == n.updated && st.GetNumberAvailable() == n.available &&
		st.GetNumberUnavailable() == unavailable && st.GetObservedGeneration() >= ds.GetMetadata().GetGeneration() {
		return nil
	}
	client := c.client.DaemonSets(ds.GetMetadata().GetNamespace())
	next := proto.Clone(ds).(*appsv1.DaemonSet)
	for attempt := 0; ; attempt++ {
		if next.Status == nil {
			next.Status = &appsv1.DaemonSetStatus{}
		}
		s := next.Status
		if updateObservedGen {
			s.ObservedGeneration = ds.GetMetadata().GetGeneration()
		}
		s.DesiredNumberScheduled, s.CurrentNumberScheduled, s.NumberMisscheduled = n.desired, n.current, n.misscheduled
		s.NumberReady, s.UpdatedNumberScheduled, s.NumberAvailable, s.NumberUnavailable = n.ready, n.updated, n.available, unavailable
		c.log.Info("updating status", "namespace", next.GetMetadata().GetNamespace(), "name", next.GetMetadata().GetName(),
			"desired", n.desired, "current", n.current, "misscheduled", n.misscheduled, "ready", n.ready,
			"updated", n.updated, "available", n.available, "observedGeneration", s.GetObservedGeneration())
		_, err := client.UpdateStatus(ctx, next)
		if err == nil {
			return nil
		}
		if attempt > 0 || !apierrors.IsConflict(err) {
			return fmt.Errorf("error storing status for daemon set %s/%s: %w", ds.GetMetadata().GetNamespace(), ds.GetMetadata().GetName(), err)
		}
		if next, err = client.Get(ctx, ds.GetMetadata().GetName()); err != nil {
			return fmt.Errorf("error storing status for daemon set %s/%s: %w", ds.GetMetadata().GetNamespace(), ds.GetMetadata().GetName(), err)
		}
	}
}
