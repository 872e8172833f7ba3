package plugins

import (
	"fmt"

	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/disruption"
	"kubelab.io/proto/labels"
	"kubelab.io/scheduler/internal/framework"
)

// listPDBs is every PodDisruptionBudget the scheduler knows of (none without a lister).
// They are read once per preemption, so every candidate node is judged on the same ones.
func (pl *DefaultPreemption) listPDBs() ([]*policyv1.PodDisruptionBudget, error) {
	if pl.pdbs == nil {
		return nil, nil
	}
	pdbs, err := pl.pdbs.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("%s: list PodDisruptionBudgets: %w", DefaultPreemptionName, err)
	}
	return pdbs, nil
}

// splitByPDBViolation divides potential victims, most important first, into those whose
// eviction would violate a PodDisruptionBudget and the rest, as kube-scheduler's
// filterPodsWithPDBViolation does. Every victim a budget covers spends one of the budget's
// status.disruptionsAllowed, in the order given (so the more important victims spend it
// first), and a victim that takes any budget below zero violates it. A victim already in a
// budget's status.disruptedPods has had its eviction granted and counted by the apiserver:
// counting it again would spend the budget twice, so it spends nothing there.
//
// The budgets' status may lag the cluster (the disruption controller writes it); like
// upstream, preemption takes it as it is, because budgets are a preference here, not a
// guarantee.
func splitByPDBViolation(pods []*framework.PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.GetStatus().GetDisruptionsAllowed()
	}
	for _, pi := range pods {
		violates := false
		// Upstream skips pods without labels outright, even for a selector of only
		// DoesNotExist expressions; so does kubelab, to pick the same victims.
		if len(pi.Pod.GetMetadata().GetLabels()) > 0 {
			for i, pdb := range pdbs {
				if !disruption.Covers(pdb, pi.Pod) {
					continue
				}
				if _, granted := pdb.GetStatus().GetDisruptedPods()[pi.Pod.GetMetadata().GetName()]; granted {
					continue
				}
				allowed[i]--
				if allowed[i] < 0 {
					violates = true
				}
			}
		}
		if violates {
			violating = append(violating, pi)
		} else {
			nonViolating = append(nonViolating, pi)
		}
	}
	return violating, nonViolating
}
