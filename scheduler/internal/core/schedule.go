// Package core is the scheduler's pure decision: Schedule(pod, snapshot) → node or the
// reasons no node fits. It reads only its inputs (a snapshot, a framework of plugins,
// extenders behind an interface, a random source for ties) and writes nothing; queueing,
// assuming, binding and events are the shell's business (package scheduler).
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// Bounds of the adaptive search, as kube-scheduler's.
const (
	// MinFeasibleNodesToFind: below this many nodes every node is checked, and at least
	// this many feasible nodes are looked for.
	MinFeasibleNodesToFind = 100
	// MinFeasibleNodesPercentageToFind is the floor of the adaptive percentage.
	MinFeasibleNodesPercentageToFind = 5
)

// ErrNoNodesAvailable: the cluster has no nodes at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// NumFeasibleNodesToFind is how many feasible nodes to find before the search stops.
// percentage 0 means adaptive: 50% minus 1% per 125 nodes, at least 5%; and never fewer
// than 100 nodes (all of them in a cluster smaller than that).
func NumFeasibleNodesToFind(percentage int32, numAllNodes int32) int32 {
	if numAllNodes < MinFeasibleNodesToFind {
		return numAllNodes
	}
	if percentage == 0 {
		percentage = 50 - numAllNodes/125
		if percentage < MinFeasibleNodesPercentageToFind {
			percentage = MinFeasibleNodesPercentageToFind
		}
	}
	n := numAllNodes * percentage / 100
	if n < MinFeasibleNodesToFind {
		return MinFeasibleNodesToFind
	}
	return n
}

// Input is everything one decision depends on.
type Input struct {
	Framework *framework.Framework
	Extenders []framework.Extender
	Snapshot  *framework.Snapshot
	Pod       *corev1.Pod
	// State is the cycle's scratch space (NewCycleState when nil).
	State *framework.CycleState
	// StartIndex is where in Snapshot.List the search for feasible nodes starts; pass the
	// previous Result.NextStartIndex so every node gets its turn.
	StartIndex int
	// PercentageOfNodesToScore: 0 for adaptive (the framework's profile may override).
	PercentageOfNodesToScore int32
	// Rand returns a number in [0, n) to break ties between the best nodes; nil picks the
	// first.
	Rand func(n int) int
	Log  *slog.Logger
}

// Result of a successful decision.
type Result struct {
	SuggestedHost string
	// EvaluatedNodes were looked at (feasible + rejected); FeasibleNodes passed.
	EvaluatedNodes int
	FeasibleNodes  int
	// Scores of the feasible nodes (nil when there was one, or no scoring).
	Scores []framework.NodePluginScores
}

// Schedule picks a node for in.Pod. When no node fits the error is a *framework.FitError
// whose message sums up the reasons; other errors are internal failures. nextStart is the
// StartIndex for the next call, advanced past the nodes this one examined (also on error).
func Schedule(ctx context.Context, in Input) (res Result, nextStart int, err error) {
	nextStart = in.StartIndex
	snap, fwk, pod := in.Snapshot, in.Framework, in.Pod
	if in.State == nil {
		in.State = framework.NewCycleState()
	}
	state := in.State
	state.SetSnapshot(snap)
	if snap == nil || snap.NumNodes() == 0 {
		return res, nextStart, ErrNoNodesAvailable
	}
	all := snap.List
	if nextStart >= len(all) || nextStart < 0 {
		nextStart = 0
	}
	diagnosis := framework.Diagnosis{NodeToStatus: map[string]*framework.Status{}}

	if s := fwk.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		if !s.IsRejected() {
			return res, nextStart, s.AsError()
		}
		for _, n := range all {
			diagnosis.NodeToStatus[n.Name()] = s
		}
		diagnosis.PreFilterMsg = s.Message()
		diagnosis.AddPluginStatus(s)
		return res, nextStart, &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: diagnosis}
	}

	feasible, err := evaluateNominatedNode(ctx, in, &diagnosis)
	if err != nil {
		return res, nextStart, err
	}
	if len(feasible) == 0 {
		var processed int
		feasible, processed, err = findNodesThatPassFilters(ctx, in, &diagnosis, nextStart)
		nextStart = (nextStart + processed) % len(all)
		if err != nil {
			return res, nextStart, err
		}
		feasible, err = findNodesThatPassExtenders(ctx, in, feasible, diagnosis.NodeToStatus)
		if err != nil {
			return res, nextStart, err
		}
	}
	if len(feasible) == 0 {
		return res, nextStart, &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: diagnosis}
	}
	res.FeasibleNodes = len(feasible)
	res.EvaluatedNodes = len(feasible) + len(diagnosis.NodeToStatus)
	if len(feasible) == 1 {
		res.SuggestedHost = feasible[0].Name()
		return res, nextStart, nil
	}
	scores, err := prioritizeNodes(ctx, in, feasible)
	if err != nil {
		return res, nextStart, err
	}
	res.Scores = scores
	res.SuggestedHost = selectHost(scores, in.Rand)
	return res, nextStart, nil
}

// evaluateNominatedNode tries first the node the pod is nominated to (status.nominatedNodeName,
// where it preempted pods): when it passes the filters and extenders it is the only
// feasible node, so the pod goes where room was made for it, as kube-scheduler does.
func evaluateNominatedNode(ctx context.Context, in Input, d *framework.Diagnosis) ([]*framework.NodeInfo, error) {
	ni := in.Snapshot.Get(in.Pod.GetStatus().GetNominatedNodeName())
	if ni == nil {
		return nil, nil
	}
	s := in.Framework.RunFilterPluginsWithNominatedPods(ctx, in.State, in.Pod, ni)
	switch {
	case s.Code() == framework.Error:
		return nil, s.AsError()
	case !s.IsSuccess():
		d.NodeToStatus[ni.Name()] = s
		d.AddPluginStatus(s)
		return nil, nil
	}
	return findNodesThatPassExtenders(ctx, in, []*framework.NodeInfo{ni}, d.NodeToStatus)
}

func hasScoring(in Input) bool {
	if in.Framework.HasScorePlugins() {
		return true
	}
	for _, e := range in.Extenders {
		if e.IsPrioritizer() {
			return true
		}
	}
	return false
}

func hasExtenderFilters(in Input) bool {
	for _, e := range in.Extenders {
		if e.IsFilter() {
			return true
		}
	}
	return false
}

// findNodesThatPassFilters walks the nodes from start, wrapping around, until it has found
// enough feasible ones (NumFeasibleNodesToFind) or seen them all. It returns the feasible
// nodes and how many nodes it examined.
func findNodesThatPassFilters(ctx context.Context, in Input, d *framework.Diagnosis, start int) ([]*framework.NodeInfo, int, error) {
	all := in.Snapshot.List
	n := len(all)
	percentage := in.PercentageOfNodesToScore
	if p := in.Framework.Profile().PercentageOfNodesToScore; p != nil {
		percentage = *p
	}
	want := int(NumFeasibleNodesToFind(percentage, int32(n)))
	if !hasExtenderFilters(in) && !hasScoring(in) {
		want = 1
	}
	feasible := make([]*framework.NodeInfo, 0, min(want, n))
	if !in.Framework.HasFilterPlugins() {
		for i := 0; i < min(want, n); i++ {
			feasible = append(feasible, all[(start+i)%n])
		}
		return feasible, len(feasible), nil
	}
	processed := 0
	for i := 0; i < n && len(feasible) < want; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, processed, ctx.Err()
		}
		ni := all[(start+i)%n]
		processed++
		s := in.Framework.RunFilterPluginsWithNominatedPods(ctx, in.State, in.Pod, ni)
		switch {
		case s.IsSuccess():
			feasible = append(feasible, ni)
		case s.Code() == framework.Error:
			return nil, processed, s.AsError()
		default:
			d.NodeToStatus[ni.Name()] = s
			d.AddPluginStatus(s)
		}
	}
	return feasible, processed, nil
}

// findNodesThatPassExtenders asks each filtering extender in turn, narrowing the list.
// A failing ignorable extender is skipped; any other failure fails the cycle.
func findNodesThatPassExtenders(ctx context.Context, in Input, feasible []*framework.NodeInfo, statuses map[string]*framework.Status) ([]*framework.NodeInfo, error) {
	for _, e := range in.Extenders {
		if len(feasible) == 0 {
			break
		}
		if !e.IsFilter() {
			continue
		}
		passed, failed, failedAndUnresolvable, err := e.Filter(ctx, in.Pod, feasible)
		if err != nil {
			if e.IsIgnorable() {
				if in.Log != nil {
					in.Log.Info("skipping extender: it failed and is ignorable", "extender", e.Name(), "err", err)
				}
				continue
			}
			return nil, fmt.Errorf("extender %s: %w", e.Name(), err)
		}
		for node, msg := range failedAndUnresolvable {
			statuses[node] = framework.NewStatus(framework.UnschedulableAndUnresolvable, msg).WithPlugin("Extender")
		}
		for node, msg := range failed {
			if _, ok := failedAndUnresolvable[node]; ok {
				continue
			}
			statuses[node] = framework.NewStatus(framework.Unschedulable, msg).WithPlugin("Extender")
		}
		feasible = passed
	}
	return feasible, nil
}

// prioritizeNodes runs PreScore and Score, then adds the prioritizing extenders' scores
// (scaled from [0, 10] to [0, 100] and weighted). A failing extender is ignored, as
// kube-scheduler does: the others and the plugins still rank the nodes.
func prioritizeNodes(ctx context.Context, in Input, nodes []*framework.NodeInfo) ([]framework.NodePluginScores, error) {
	fwk, state, pod := in.Framework, in.State, in.Pod
	if !hasScoring(in) {
		out := make([]framework.NodePluginScores, len(nodes))
		for i, n := range nodes {
			out[i] = framework.NodePluginScores{Name: n.Name(), TotalScore: 1}
		}
		return out, nil
	}
	if s := fwk.RunPreScorePlugins(ctx, state, pod, nodes); !s.IsSuccess() {
		return nil, s.AsError()
	}
	scores, s := fwk.RunScorePlugins(ctx, state, pod, nodes)
	if !s.IsSuccess() {
		return nil, s.AsError()
	}
	for _, e := range in.Extenders {
		if !e.IsPrioritizer() {
			continue
		}
		prio, err := e.Prioritize(ctx, pod, nodes)
		if err != nil {
			if in.Log != nil {
				in.Log.Info("ignoring extender's prioritize error", "extender", e.Name(), "err", err)
			}
			continue
		}
		for i := range scores {
			v := prio[scores[i].Name] * e.Weight() * (framework.MaxNodeScore / framework.MaxExtenderPriority)
			scores[i].Scores = append(scores[i].Scores, framework.PluginScore{Name: e.Name(), Score: v})
			scores[i].TotalScore += v
		}
	}
	return scores, nil
}

// selectHost picks a node with the highest total, uniformly at random among ties
// (reservoir sampling), so equal nodes share the load.
func selectHost(scores []framework.NodePluginScores, rnd func(int) int) string {
	best, ties := "", 0
	var top int64
	for _, s := range scores {
		switch {
		case ties == 0 || s.TotalScore > top:
			best, top, ties = s.Name, s.TotalScore, 1
		case s.TotalScore == top:
			ties++
			if rnd != nil && rnd(ties) == 0 {
				best = s.Name
			}
		}
	}
	return best
}

// SortedScores returns scores best first (for logs and tests).
func SortedScores(scores []framework.NodePluginScores) []framework.NodePluginScores {
	out := append([]framework.NodePluginScores(nil), scores...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].TotalScore > out[j].TotalScore })
	return out
}
