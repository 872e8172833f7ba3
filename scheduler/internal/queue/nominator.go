package queue

import (
	"slices"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// nominator records the pods nominated to nodes (kube-scheduler's nominator, which also
// lives in its scheduling queue): pods that preempted others on a node and wait there for
// the victims to leave. Filter counts them on their node (framework.PodNominator), so the
// room they were promised is not given to a pod of lower priority meanwhile. It is fed
// from the pods' status.nominatedNodeName by the informer's events, and ahead of the API
// by the scheduler right after a preemption. Guarded by Queue.mu.
type nominator struct {
	byNode map[string][]*framework.PodInfo
	byPod  map[string]string // pod key → node
}

func (n *nominator) deleteLocked(key string) {
	node, ok := n.byPod[key]
	if !ok {
		return
	}
	delete(n.byPod, key)
	n.byNode[node] = slices.DeleteFunc(n.byNode[node], func(pi *framework.PodInfo) bool { return pi.Key == key })
	if len(n.byNode[node]) == 0 {
		delete(n.byNode, node)
	}
}

// addLocked nominates pod to node, replacing any nomination it had; node "" only removes.
func (n *nominator) addLocked(pod *corev1.Pod, node string) {
	key := framework.PodKey(pod)
	n.deleteLocked(key)
	if node == "" || pod.GetSpec().GetNodeName() != "" {
		return
	}
	if n.byNode == nil {
		n.byNode, n.byPod = map[string][]*framework.PodInfo{}, map[string]string{}
	}
	n.byNode[node] = append(n.byNode[node], framework.NewPodInfo(pod))
	n.byPod[key] = node
}

// updateLocked follows a new version of a pod. An update that neither sets nor clears
// status.nominatedNodeName keeps the nomination the scheduler made in memory: it may
// simply predate the scheduler's status write.
func (n *nominator) updateLocked(oldPod, newPod *corev1.Pod) {
	node := newPod.GetStatus().GetNominatedNodeName()
	if node == "" && oldPod.GetStatus().GetNominatedNodeName() == "" {
		node = n.byPod[framework.PodKey(oldPod)]
	}
	n.addLocked(newPod, node)
}

// AddNominatedPod nominates pod to node ("" drops its nomination), ahead of the API.
func (q *Queue) AddNominatedPod(pod *corev1.Pod, node string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nominated.addLocked(pod, node)
}

// DeleteNominatedPodIfExists drops pod's nomination (it was assumed on a node, bound or
// deleted).
func (q *Queue) DeleteNominatedPodIfExists(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nominated.deleteLocked(framework.PodKey(pod))
}

// NominatedPodsForNode returns the pods nominated to node.
func (q *Queue) NominatedPodsForNode(node string) []*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.nominated.byNode[node])
}

// NominatedNodeName is the node pod is nominated to, "" when none.
func (q *Queue) NominatedNodeName(pod *corev1.Pod) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nominated.byPod[framework.PodKey(pod)]
}

var _ framework.PodNominator = (*Queue)(nil)
