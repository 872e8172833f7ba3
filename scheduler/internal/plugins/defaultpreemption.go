package plugins

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/disruption"
	"kubelab.io/scheduler/internal/framework"
)

// Preemption messages, as kube-scheduler words them.
const (
	ErrReasonNoVictims             = "No preemption victims found for incoming pod"
	ErrReasonPreemptionNotHelpful  = "Preemption is not helpful for scheduling"
	msgNotEligiblePreemptNever     = "not eligible due to preemptionPolicy=Never."
	msgNotEligibleTerminatingVictm = "not eligible due to a terminating pod on the nominated node."
	// PreemptNever is the preemptionPolicy of pods that never preempt.
	PreemptNever = "Never"
)

// ReasonPreemptionByScheduler is the reason of the DisruptionTarget condition a victim
// gets (k8s.io/api/core/v1's PodReasonPreemptionByScheduler).
const ReasonPreemptionByScheduler = "PreemptionByScheduler"

// VictimCondition is the condition each victim of preemptor gets before it is deleted, as
// upstream's PrepareCandidate words it: DisruptionTarget=True, naming the preemptor's
// scheduler. It tells a preempted pod from one that failed (a Job's podFailurePolicy
// rule on DisruptionTarget matches it). Its lastTransitionTime is the caller's to set.
func VictimCondition(preemptor *corev1.Pod) *corev1.PodCondition {
	return &corev1.PodCondition{
		Type: disruption.PodConditionDisruptionTarget, Status: "True", Reason: ReasonPreemptionByScheduler,
		Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", preemptor.GetSpec().GetSchedulerName()),
	}
}

// Bounds on how many candidate nodes a preemption dry-runs, as DefaultPreemptionArgs'
// defaults: 10% of the nodes that might help, at least 100 (all of them below that).
const (
	minCandidateNodesPercentage = 10
	minCandidateNodesAbsolute   = 100
)

// DefaultPreemption is kube-scheduler's DefaultPreemption PostFilter plugin: when no node
// fits a pod, it looks for a node where evicting pods of lower priority would make room,
// picks the one whose eviction hurts least, has the Preempter evict the victims there and
// nominates the pod to it.
//
// PodDisruptionBudgets are honoured as upstream honours them, best effort: victims whose
// eviction would violate a budget are spared first, and the node with the fewest
// violations wins; when every way to make room violates some budget, preemption still goes
// ahead (deleting, not evicting, so the apiserver does not refuse it).
//
// What kubelab leaves out: extenders' preempt verb, and asynchronous preemption (the
// victims are deleted inside the scheduling cycle, as kube-scheduler did before 1.32).
type DefaultPreemption struct {
	fwk       *framework.Framework
	nominator framework.PodNominator
	preempter framework.Preempter
	pdbs      framework.PDBLister
}

// NewDefaultPreemption is DefaultPreemption's factory.
func NewDefaultPreemption(h framework.Handle) (framework.Plugin, error) {
	if h.Preempter == nil || h.Framework == nil {
		return nil, fmt.Errorf("%s needs a Preempter and its Framework", DefaultPreemptionName)
	}
	return &DefaultPreemption{fwk: h.Framework, nominator: h.Nominator, preempter: h.Preempter, pdbs: h.PDBLister}, nil
}

func (*DefaultPreemption) Name() string { return DefaultPreemptionName }

// Candidate is a node preemption could use, the pods it would evict there (most important
// first), and how many of those evictions would violate a PodDisruptionBudget.
type Candidate struct {
	Node             string
	Victims          []*corev1.Pod
	NumPDBViolations int
}

// PostFilter preempts for pod, given why each node rejected it. It answers the nominated
// node on success; Unschedulable when the pod may not preempt now; UnschedulableAndUnresolvable
// when no eviction would make it fit anywhere.
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, statuses map[string]*framework.Status) (string, *framework.Status) {
	snap := state.Snapshot()
	if snap == nil {
		return "", framework.AsStatus(fmt.Errorf("%s: the cycle has no snapshot", DefaultPreemptionName))
	}
	nominated := pod.GetStatus().GetNominatedNodeName()
	if pl.nominator != nil {
		if n := pl.nominator.NominatedNodeName(pod); n != "" {
			nominated = n
		}
	}
	if ok, msg := PodEligibleToPreemptOthers(pod, nominated, snap, statuses); !ok {
		return "", framework.NewStatus(framework.Unschedulable, preemptionMsg(msg))
	}
	pdbs, err := pl.listPDBs()
	if err != nil {
		return "", framework.AsStatus(err)
	}
	candidates, nodeStatuses, err := pl.findCandidates(ctx, state, pod, snap, statuses, pdbs)
	if err != nil {
		return "", framework.AsStatus(err)
	}
	if len(candidates) == 0 {
		fitErr := &framework.FitError{Pod: pod, NumAllNodes: snap.NumNodes(), Diagnosis: framework.Diagnosis{NodeToStatus: nodeStatuses}}
		return "", framework.NewStatus(framework.UnschedulableAndUnresolvable, preemptionMsg(fitErr.Error()))
	}
	best := PickOneNodeForPreemption(candidates)
	if err := pl.preempter.PreemptVictims(ctx, pod, best.Node, best.Victims); err != nil {
		return "", framework.AsStatus(fmt.Errorf("preempt on node %s: %w", best.Node, err))
	}
	return best.Node, nil
}

// preemptionMsg prefixes msg as kube-scheduler does; the trailing period goes, since the
// FitError that quotes it adds its own.
func preemptionMsg(msg string) string { return "preemption: " + strings.TrimSuffix(msg, ".") }

// PodEligibleToPreemptOthers says whether pod may preempt, and why not: not with
// preemptionPolicy Never, and not while a pod of lower priority on the node it is already
// nominated to is still terminating (its earlier preemption is under way), unless that
// node can no longer take it at all.
func PodEligibleToPreemptOthers(pod *corev1.Pod, nominatedNode string, snap *framework.Snapshot, statuses map[string]*framework.Status) (bool, string) {
	if p := pod.GetSpec().PreemptionPolicy; p != nil && *p == PreemptNever {
		return false, msgNotEligiblePreemptNever
	}
	if nominatedNode == "" || statuses[nominatedNode].Code() == framework.UnschedulableAndUnresolvable {
		return true, ""
	}
	if ni := snap.Get(nominatedNode); ni != nil {
		prio := framework.PodPriority(pod)
		for _, pi := range ni.Pods {
			if framework.PodPriority(pi.Pod) < prio && pi.Pod.GetMetadata().GetDeletionTimestamp() != nil {
				return false, msgNotEligibleTerminatingVictm
			}
		}
	}
	return true, ""
}

// findCandidates dry-runs preemption on the nodes that rejected pod for a reason eviction
// can fix (Unschedulable: resources, pod count, host ports; not UnschedulableAndUnresolvable:
// node name, affinity, taints, cordon), in snapshot order, until it has enough candidates.
// It also returns every node's status for the failure message.
func (pl *DefaultPreemption) findCandidates(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, snap *framework.Snapshot, statuses map[string]*framework.Status, pdbs []*policyv1.PodDisruptionBudget) ([]Candidate, map[string]*framework.Status, error) {
	out := map[string]*framework.Status{}
	var potential []*framework.NodeInfo
	for _, ni := range snap.List {
		if statuses[ni.Name()].Code() == framework.Unschedulable {
			potential = append(potential, ni)
			continue
		}
		out[ni.Name()] = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPreemptionNotHelpful)
	}
	want := numCandidates(len(potential))
	var candidates []Candidate
	for _, ni := range potential {
		if len(candidates) >= want {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		victims, violations, s := pl.SelectVictimsOnNode(ctx, state, pod, ni.Clone(), pdbs)
		switch {
		case s.IsSuccess() && len(victims) > 0:
			candidates = append(candidates, Candidate{Node: ni.Name(), Victims: victims, NumPDBViolations: violations})
		case s.IsSuccess():
			// It fits with nothing evicted (the cluster changed since Filter): no
			// preemption needed there; the retry will find it.
			out[ni.Name()] = framework.NewStatus(framework.Unschedulable, ErrReasonPreemptionNotHelpful)
		case s.Code() == framework.Error:
			return nil, nil, s.AsError()
		default:
			out[ni.Name()] = s
		}
	}
	return candidates, out, nil
}

func numCandidates(nodes int) int {
	return min(max(nodes*minCandidateNodesPercentage/100, minCandidateNodesAbsolute), nodes)
}

// SelectVictimsOnNode finds the fewest, least important pods to evict from ni (a copy,
// which it changes) for pod to fit: it removes every pod of lower priority, checks that pod
// then passes the filters, and puts the victims back one at a time, keeping each one the
// pod still fits beside. Those whose eviction would violate one of pdbs are put back first,
// so they are the likeliest to be spared; within each group, most important first. The
// victims come back most important first, with how many of them violate a budget.
func (pl *DefaultPreemption) SelectVictimsOnNode(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]*corev1.Pod, int, *framework.Status) {
	prio := framework.PodPriority(pod)
	var potential []*framework.PodInfo
	for _, pi := range ni.Pods {
		if framework.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNoVictims)
	}
	for _, pi := range potential {
		ni.RemovePod(pi.Key)
	}
	if s := pl.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !s.IsSuccess() {
		return nil, 0, s
	}
	slices.SortStableFunc(potential, func(a, b *framework.PodInfo) int { return importanceOrder(a.Pod, b.Pod) })
	violating, nonViolating := splitByPDBViolation(potential, pdbs)
	var victims []*corev1.Pod
	// reprieve puts pi back and reports whether it had to go again.
	reprieve := func(pi *framework.PodInfo) (evicted bool, s *framework.Status) {
		ni.AddPodInfo(pi)
		s = pl.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
		if s.Code() == framework.Error {
			return false, s
		}
		if !s.IsSuccess() {
			ni.RemovePod(pi.Key)
			victims = append(victims, pi.Pod)
			return true, nil
		}
		return false, nil
	}
	violations := 0
	for _, pi := range violating {
		evicted, s := reprieve(pi)
		if s != nil {
			return nil, 0, s
		}
		if evicted {
			violations++
		}
	}
	for _, pi := range nonViolating {
		if _, s := reprieve(pi); s != nil {
			return nil, 0, s
		}
	}
	if len(violating) > 0 && len(nonViolating) > 0 {
		// Two groups were reprieved one after the other: restore the one order.
		slices.SortStableFunc(victims, importanceOrder)
	}
	return victims, violations, nil
}

// importanceOrder sorts pods most important first (MoreImportantPod), stably.
func importanceOrder(a, b *corev1.Pod) int {
	switch {
	case MoreImportantPod(a, b):
		return -1
	case MoreImportantPod(b, a):
		return 1
	}
	return 0
}

// MoreImportantPod orders pods for eviction: higher priority first, then the one running
// longer (earlier start time).
func MoreImportantPod(a, b *corev1.Pod) bool {
	pa, pb := framework.PodPriority(a), framework.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return podStartTime(a) < podStartTime(b)
}

// podStartTime is status.startTime in nanoseconds. A pod that has not started (no kubelet
// reported it yet) counts as starting now, later than any that has, as kube-scheduler
// counts it; MaxInt64 stands for "now" so the order does not depend on the clock.
func podStartTime(p *corev1.Pod) int64 {
	t := p.GetStatus().GetStartTime()
	if t == nil {
		return math.MaxInt64
	}
	return t.GetSeconds()*1e9 + int64(t.GetNanos())
}

// PickOneNodeForPreemption chooses among candidates (each with its victims most important
// first) by kube-scheduler's criteria, each breaking the previous one's ties:
//  1. fewest PodDisruptionBudget violations;
//  2. the lowest priority of the most important victim;
//  3. the smallest sum of victim priorities;
//  4. the fewest victims;
//  5. the latest start time among the most important victims (evict what started last);
//  6. the first candidate.
func PickOneNodeForPreemption(candidates []Candidate) Candidate {
	if len(candidates) == 0 {
		return Candidate{}
	}
	scores := []func(c Candidate) int64{
		func(c Candidate) int64 { return -int64(c.NumPDBViolations) },
		func(c Candidate) int64 { return -int64(framework.PodPriority(c.Victims[0])) },
		func(c Candidate) int64 {
			var sum int64
			for _, v := range c.Victims {
				// Shifted to be non-negative, so more pods of negative priority never
				// sum to less than fewer.
				sum += int64(framework.PodPriority(v)) + math.MaxInt32 + 1
			}
			return -sum
		},
		func(c Candidate) int64 { return -int64(len(c.Victims)) },
		earliestStartOfMostImportant,
	}
	best := candidates
	for _, score := range scores {
		if len(best) == 1 {
			break
		}
		var next []Candidate
		top := int64(math.MinInt64)
		for _, c := range best {
			switch s := score(c); {
			case s > top:
				top, next = s, append(next[:0], c)
			case s == top:
				next = append(next, c)
			}
		}
		best = next
	}
	return best[0]
}

// earliestStartOfMostImportant is the earliest start time among c's victims of the
// highest priority: the later it is, the less work the preemption throws away.
func earliestStartOfMostImportant(c Candidate) int64 {
	top := framework.PodPriority(c.Victims[0])
	earliest := int64(math.MaxInt64)
	for _, v := range c.Victims {
		if framework.PodPriority(v) == top {
			earliest = min(earliest, podStartTime(v))
		}
	}
	return earliest
}
