package scheduler

import (
	"maps"

	kcache "kubelab.io/client/cache"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/scheduler/internal/plugins"
	"kubelab.io/scheduler/internal/queue"
)

// Events that re-activate unschedulable pods.
const (
	EventNodeAdd           = "NodeAdd"
	EventNodeUpdate        = "NodeUpdate"
	EventAssignedPodDelete = "AssignedPodDelete"
	// EventAssignedPodAdd and EventAssignedPodUpdate (its labels changed) can only help
	// pods that InterPodAffinity or PodTopologySpread rejected (a pod in the least-loaded
	// domain raises the minimum the skew is measured from).
	EventAssignedPodAdd    = "AssignedPodAdd"
	EventAssignedPodUpdate = "AssignedPodUpdate"
	// EventNodeDelete can only help pods that PodTopologySpread rejected (the domain that
	// held the minimum down may go with the node).
	EventNodeDelete = "NodeDelete"
)

func assigned(p *corev1.Pod) bool { return p.GetSpec().GetNodeName() != "" }

func terminal(p *corev1.Pod) bool {
	ph := p.GetStatus().GetPhase()
	return ph == "Succeeded" || ph == "Failed"
}

func unwrap[T runtime.Object](obj any) (T, bool) {
	if d, ok := obj.(kcache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

func (s *Scheduler) onPodAdd(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	switch {
	case assigned(pod):
		if !terminal(pod) {
			s.cache.AddPod(pod)
			s.queue.MoveRejectedBy(EventAssignedPodAdd, plugins.InterPodAffinityName, plugins.PodTopologySpreadName)
		}
	case s.responsible(pod) && pod.GetMetadata().GetDeletionTimestamp() == nil && !terminal(pod):
		s.queue.Add(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj runtime.Object) {
	oldPod, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || oldPod.GetMetadata().GetResourceVersion() == pod.GetMetadata().GetResourceVersion() {
		return
	}
	if !assigned(pod) {
		if s.responsible(pod) && !terminal(pod) {
			s.queue.Update(oldPod, pod)
		}
		return
	}
	if !assigned(oldPod) {
		// Bound (by us, which confirms the assumption, or by someone else).
		s.queue.Delete(pod)
		if !terminal(pod) {
			s.cache.AddPod(pod)
			s.queue.MoveRejectedBy(EventAssignedPodAdd, plugins.InterPodAffinityName, plugins.PodTopologySpreadName)
		}
		return
	}
	if terminal(pod) {
		if !terminal(oldPod) {
			s.cache.RemovePod(pod)
			s.assignedPodGone(pod)
		}
		return
	}
	s.cache.UpdatePod(oldPod, pod)
	if !maps.Equal(oldPod.GetMetadata().GetLabels(), pod.GetMetadata().GetLabels()) {
		s.queue.MoveRejectedBy(EventAssignedPodUpdate, plugins.InterPodAffinityName, plugins.PodTopologySpreadName)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	pod, ok := unwrap[*corev1.Pod](obj)
	if !ok {
		return
	}
	if assigned(pod) {
		s.cache.RemovePod(pod)
		s.assignedPodGone(pod)
		return
	}
	s.queue.Delete(pod)
}

// assignedPodGone requeues the unschedulable pods that gone's leaving its node (deleted,
// or finished) may help, as upstream's queueing hints for Pod/Delete decide: a pod is
// moved when any plugin that rejected it says it may help (PodTopologySpread and
// InterPodAffinity look at gone's labels and terms; the other plugins always say yes), or
// when no plugin rejected it.
func (s *Scheduler) assignedPodGone(gone *corev1.Pod) {
	s.queue.MoveIf(EventAssignedPodDelete, func(p *queue.QueuedPodInfo) bool {
		fwk := s.frameworkFor(p.Pod)
		if fwk == nil || len(p.UnschedulablePlugins) == 0 {
			return true
		}
		for name := range p.UnschedulablePlugins {
			if fwk.AssignedPodGoneMayHelp(name, p.Pod, gone) {
				return true
			}
		}
		return false
	})
}

func (s *Scheduler) onNodeAdd(obj runtime.Object) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	s.cache.AddNode(node)
	s.queue.MoveAllToActiveOrBackoffQueue(EventNodeAdd)
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj runtime.Object) {
	oldNode, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 || oldNode.GetMetadata().GetResourceVersion() == node.GetMetadata().GetResourceVersion() {
		return
	}
	s.cache.UpdateNode(oldNode, node)
	if schedulingChanged(oldNode, node) {
		s.queue.MoveAllToActiveOrBackoffQueue(EventNodeUpdate)
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if node, ok := unwrap[*corev1.Node](obj); ok {
		s.cache.RemoveNode(node)
		s.queue.MoveRejectedBy(EventNodeDelete, plugins.PodTopologySpreadName)
	}
}

// schedulingChanged reports node changes that could make a pending pod fit: allocatable,
// labels, taints, schedulability, images (heartbeats alone do not).
func schedulingChanged(a, b *corev1.Node) bool {
	if a.GetSpec().GetUnschedulable() != b.GetSpec().GetUnschedulable() {
		return true
	}
	if !mapsEqual(a.GetMetadata().GetLabels(), b.GetMetadata().GetLabels()) {
		return true
	}
	if len(a.GetSpec().GetTaints()) != len(b.GetSpec().GetTaints()) {
		return true
	}
	for i, t := range a.GetSpec().GetTaints() {
		u := b.GetSpec().GetTaints()[i]
		if t.GetKey() != u.GetKey() || t.GetValue() != u.GetValue() || t.GetEffect() != u.GetEffect() {
			return true
		}
	}
	qa, qb := a.GetStatus().GetAllocatable(), b.GetStatus().GetAllocatable()
	if len(qa) != len(qb) {
		return true
	}
	for k, v := range qa {
		if w, ok := qb[k]; !ok || w.GetString_() != v.GetString_() {
			return true
		}
	}
	return len(a.GetStatus().GetImages()) != len(b.GetStatus().GetImages())
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
