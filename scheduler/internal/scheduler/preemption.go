package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/scheduler/internal/framework"
	"kubelab.io/scheduler/internal/plugins"
)

// postFilter runs the PostFilter plugins (preemption) for a pod no node fit, and records
// the outcome: the node it was nominated to, or why preemption did not help (appended to
// the FailedScheduling message). Either way the pod goes back to the queue; once its
// victims are gone it is retried, its nominated node first.
func (s *Scheduler) postFilter(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *corev1.Pod, fitErr *framework.FitError) {
	if !fwk.HasPostFilterPlugins() {
		return
	}
	s.cfg.Metrics.PreemptionAttempt()
	node, st := fwk.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
	switch {
	case st.IsSuccess() && node != "":
		s.nominate(ctx, pod, node)
	case st.IsRejected():
		if st.Message() != "" {
			fitErr.Diagnosis.PostFilterMsg = st.Message()
		}
		if st.Code() == framework.UnschedulableAndUnresolvable {
			// Preemption cannot help anywhere: room held for the pod would be held for
			// nothing.
			s.nominate(ctx, pod, "")
		}
	case st.Code() == framework.Error:
		s.log.Error("preemption failed", "pod", framework.NamespacedName(pod), "err", st.AsError())
	}
}

// nominate records pod as nominated to node ("" clears the nomination): in the queue at
// once, so the next cycles hold the room, and in status.nominatedNodeName through the
// status subresource, in the background.
func (s *Scheduler) nominate(ctx context.Context, pod *corev1.Pod, node string) {
	had := s.queue.NominatedNodeName(pod)
	s.queue.AddNominatedPod(pod, node)
	if pod.GetStatus().GetNominatedNodeName() == node && (node != "" || had == "") {
		return
	}
	var value any
	if node != "" {
		value = node
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"nominatedNodeName": value}})
	if err != nil {
		return
	}
	m := pod.GetMetadata()
	s.binding.Go(func() {
		if err := s.cfg.Client.PatchPodStatus(ctx, m.GetNamespace(), m.GetName(), patch); err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			s.log.Warn("set nominatedNodeName", "pod", framework.NamespacedName(pod), "node", node, "err", err)
		}
	})
}

// PreemptVictims is the scheduler's framework.Preempter: it deletes each victim with its
// own grace period (as kube-scheduler does; the kubelet stops it and confirms), or rejects
// it when it is waiting at Permit and so holds only an assumption, and records a Preempted
// event on it. A victim it deletes first gets the DisruptionTarget condition
// (plugins.VictimCondition) through pods/status, as upstream's PrepareCandidate does, so
// whoever counts its end (a Job's podFailurePolicy) knows it was preempted; when that
// write fails the victim is left running and the preemption fails, to be retried. Pods of lower priority nominated to the same node lose their nomination:
// the room they were promised is going to preemptor.
func (s *Scheduler) PreemptVictims(ctx context.Context, preemptor *corev1.Pod, node string, victims []*corev1.Pod) error {
	uid := preemptor.GetMetadata().GetUid()
	for _, v := range victims {
		m := v.GetMetadata()
		if m.GetDeletionTimestamp() != nil {
			continue
		}
		if fwk := s.frameworkFor(v); fwk != nil && fwk.Reject(framework.PodKey(v), plugins.DefaultPreemptionName, "preempted") {
			s.cfg.Recorder.Eventf(v, "Normal", "Preempted", "Preempted by pod %s on node %s", uid, node)
			continue
		}
		if err := s.markVictim(ctx, preemptor, v); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("mark victim %s as a disruption target: %w", framework.NamespacedName(v), err)
		}
		if err := s.cfg.Client.DeletePod(ctx, m.GetNamespace(), m.GetName(), m.GetUid()); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("delete victim %s: %w", framework.NamespacedName(v), err)
		}
		s.log.Info("preempted", "victim", framework.NamespacedName(v), "preemptor", framework.NamespacedName(preemptor), "node", node)
		s.cfg.Recorder.Eventf(v, "Normal", "Preempted", "Preempted by pod %s on node %s", uid, node)
	}
	s.cfg.Metrics.PreemptionVictims(len(victims))
	prio := framework.PodPriority(preemptor)
	for _, pi := range s.queue.NominatedPodsForNode(node) {
		if framework.PodPriority(pi.Pod) < prio {
			s.nominate(ctx, pi.Pod, "")
		}
	}
	return nil
}

// markVictim adds plugins.VictimCondition to victim's status, unless it has it already.
func (s *Scheduler) markVictim(ctx context.Context, preemptor, victim *corev1.Pod) error {
	cond := plugins.VictimCondition(preemptor)
	cond.LastTransitionTime = &metav1.Time{Seconds: s.cfg.Clock.Now().Unix()}
	conds, changed := withCondition(victim.GetStatus().GetConditions(), cond)
	if !changed {
		return nil
	}
	patch, err := conditionsPatch(conds)
	if err != nil {
		return err
	}
	return s.cfg.Client.PatchPodStatus(ctx, victim.GetMetadata().GetNamespace(), victim.GetMetadata().GetName(), patch)
}

// withCondition is conds with c in place of the condition of its type (appended when
// none), and whether that changed anything, as upstream's UpdatePodCondition: an
// unchanged status keeps its lastTransitionTime, and one the same in status, reason and
// message is no change. conds is not modified.
func withCondition(conds []*corev1.PodCondition, c *corev1.PodCondition) ([]*corev1.PodCondition, bool) {
	out := make([]*corev1.PodCondition, 0, len(conds)+1)
	found := false
	for _, o := range conds {
		if o.GetType() != c.GetType() {
			out = append(out, o)
			continue
		}
		if o.GetStatus() == c.GetStatus() && o.GetReason() == c.GetReason() && o.GetMessage() == c.GetMessage() {
			return conds, false
		}
		if o.GetStatus() == c.GetStatus() {
			c = proto.Clone(c).(*corev1.PodCondition)
			c.LastTransitionTime = o.GetLastTransitionTime()
		}
		out = append(out, c)
		found = true
	}
	if !found {
		out = append(out, c)
	}
	return out, true
}

var _ framework.Preempter = (*Scheduler)(nil)
