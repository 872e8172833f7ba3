package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
)

// rollingUpdate replaces pods of older templates (update.go's rollingUpdate): the pure
// plan below decides, syncNodes carries it out.
func (c *Controller) rollingUpdate(ctx context.Context, key string, ds *appsv1.DaemonSet, selector labels.Selector, nodes []*corev1.Node, hash string) error {
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, selector, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.GetMetadata().GetName(), err)
	}
	del, create, err := planRollingUpdate(ds, nodes, nodeToPods, hash, c.now())
	if err != nil {
		return err
	}
	return c.syncNodes(ctx, key, ds, del, create, hash)
}

// planRollingUpdate returns the old pods to delete and the nodes to give a new pod for one
// step of ds's rolling update. It reads nodeToPods (adding an empty entry for each desired
// node without pods) and changes nothing else.
//
// Without surge, old pods are deleted (the manage pass then creates their replacements)
// while fewer than maxUnavailable desired nodes lack an available pod; an old pod that is
// not available is replaced at once. With surge, a new pod is created beside an available
// old one on up to maxSurge nodes at a time, and the old one deleted once the new one is
// available; an unavailable old pod gets its replacement at once. Deleted pods count as
// neither, so an update goes on while nodes are down.
func planRollingUpdate(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) (del []*corev1.Pod, create []string, _ error) {
	maxSurge, maxUnavailable, desired, err := updatedDesiredNodeCounts(ds, nodes, nodeToPods)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't get unavailable numbers: %w", err)
	}
	minReady := ds.GetSpec().GetMinReadySeconds()
	available := func(p *corev1.Pod) bool { return controller.IsPodAvailable(p, minReady, now) }
	// Nodes in name order, so a plan is the same on every sync (upstream walks a map).
	nodeNames := slices.Sorted(maps.Keys(nodeToPods))

	if maxSurge == 0 {
		var numUnavailable int
		var replacements, candidates []*corev1.Pod
		for _, nodeName := range nodeNames {
			newPod, oldPod, ok := findUpdatedPodsOnNode(ds, nodeToPods[nodeName], hash)
			switch {
			case !ok:
				// Excess pods: the manage pass prunes them; the node counts as unavailable.
				numUnavailable++
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				// The manage pass creates or deletes here.
				numUnavailable++
			case newPod != nil:
				if !available(newPod) {
					numUnavailable++
				}
			case !available(oldPod):
				// An old pod that is not available anyway: replace it now.
				replacements = append(replacements, oldPod)
				numUnavailable++
			case numUnavailable < maxUnavailable:
				candidates = append(candidates, oldPod)
			}
		}
		remaining := min(max(maxUnavailable-numUnavailable, 0), len(candidates))
		return append(replacements, candidates[:remaining]...), nil, nil
	}

	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.GetMetadata().GetName()] = n
	}
	// shouldRun is false for a node that is gone: its pods are the pod garbage collector's
	// to remove (after its quarantine), and the rollout need not wait for them.
	shouldRun := func(nodeName string) bool {
		n, ok := byName[nodeName]
		if !ok {
			return false
		}
		run, _ := NodeShouldRunDaemonPod(n, ds)
		return run
	}
	var shouldNotRun []*corev1.Pod
	var candidateNodes, allowedNodes []string
	var numSurge, numAvailable int
	for _, nodeName := range nodeNames {
		newPod, oldPod, ok := findUpdatedPodsOnNode(ds, nodeToPods[nodeName], hash)
		if !ok {
			numSurge++ // the manage pass prunes the excess
			continue
		}
		if (oldPod != nil && available(oldPod)) || (oldPod == nil && newPod != nil && available(newPod)) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
			// Nothing to replace; the manage pass creates a missing pod.
		case newPod == nil && !available(oldPod):
			if !shouldRun(nodeName) {
				del = append(del, oldPod)
				continue
			}
			allowedNodes = append(allowedNodes, nodeName)
		case newPod == nil:
			if !shouldRun(nodeName) {
				shouldNotRun = append(shouldNotRun, oldPod)
				continue
			}
			if numSurge < maxSurge {
				candidateNodes = append(candidateNodes, nodeName)
			}
		case !available(newPod):
			numSurge++ // surged here, waiting for the new pod
		default:
			del = append(del, oldPod) // the new pod is available: the old one goes
		}
	}
	// With surge the owner expects full availability: old pods on nodes the daemon no
	// longer fits go only as far as pods elsewhere are available beyond the desired count.
	if deletable := min(numAvailable-desired, len(shouldNotRun)); deletable > 0 {
		del = append(del, shouldNotRun[:deletable]...)
	}
	remaining := min(max(maxSurge-numSurge, 0), len(candidateNodes))
	return del, append(allowedNodes, candidateNodes[:remaining]...), nil
}

// findUpdatedPodsOnNode returns a node's one pod of the current template and one of an
// older one (ignoring pods being deleted); ok is false when there are more of either, for
// the manage pass to prune first.
func findUpdatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.GetMetadata().GetDeletionTimestamp() != nil {
			continue
		}
		if isPodUpdated(p, hash, ds) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// updatedDesiredNodeCounts returns maxSurge and maxUnavailable resolved against the number
// of desired nodes, adding an empty entry to nodeToPods for each desired node without pods.
// A spec allowing neither (which validation refuses) gets maxUnavailable 1.
func updatedDesiredNodeCounts(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod) (maxSurge, maxUnavailable, desired int, _ error) {
	for _, n := range nodes {
		if run, _ := NodeShouldRunDaemonPod(n, ds); !run {
			continue
		}
		desired++
		if _, ok := nodeToPods[n.GetMetadata().GetName()]; !ok {
			nodeToPods[n.GetMetadata().GetName()] = nil
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("invalid value for MaxUnavailable: %w", err)
	}
	maxSurge, err = surgeCount(ds, desired)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("invalid value for MaxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable, desired, nil
}
