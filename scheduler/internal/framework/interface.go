package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
)

// Score bounds of plugins (after normalization) and of extenders.
const (
	MaxNodeScore        int64 = 100
	MinNodeScore        int64 = 0
	MaxExtenderPriority int64 = 10
)

// CycleState is the scratch space of one scheduling cycle: PreFilter and PreScore write
// (from one goroutine), Filter and Score read (possibly from several). It also carries the
// cycle's snapshot, so plugins can look at the whole cluster.
type CycleState struct {
	mu       sync.RWMutex
	data     map[string]any
	snapshot *Snapshot
	// skipFilter and skipScore name plugins whose PreFilter/PreScore returned Skip.
	skipFilter map[string]bool
	skipScore  map[string]bool
	podInfo    *PodInfo
	// filters are the filter plugins that run this cycle (those whose PreFilter did not
	// Skip), set by RunPreFilterPlugins so the per-node loop does no lookups.
	filters []FilterPlugin
}

// PodInfo returns the PodInfo of the pod being scheduled, computed once per cycle.
func (c *CycleState) PodInfo(pod *corev1.Pod) *PodInfo {
	c.mu.RLock()
	pi := c.podInfo
	c.mu.RUnlock()
	if pi != nil && pi.Pod == pod {
		return pi
	}
	pi = NewPodInfo(pod)
	c.mu.Lock()
	c.podInfo = pi
	c.mu.Unlock()
	return pi
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: map[string]any{}, skipFilter: map[string]bool{}, skipScore: map[string]bool{}}
}

// Write stores v under key.
func (c *CycleState) Write(key string, v any) {
	c.mu.Lock()
	c.data[key] = v
	c.mu.Unlock()
}

// Read returns what is stored under key.
func (c *CycleState) Read(key string) (any, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.data[key]
	return v, ok
}

// SetSnapshot records the cycle's snapshot (the core does, before PreFilter).
func (c *CycleState) SetSnapshot(s *Snapshot) { c.snapshot = s }

// Snapshot of the cycle (nil outside a cycle).
func (c *CycleState) Snapshot() *Snapshot { return c.snapshot }

// Plugin is anything with a name.
type Plugin interface{ Name() string }

// PreFilterPlugin runs once per cycle before filtering: it precomputes state, or rejects the
// pod outright (the message becomes the whole failure summary).
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *corev1.Pod) *Status
}

// FilterPlugin says whether a node can take the pod. It must be safe to call concurrently
// for different nodes.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status
}

// PostFilterPlugin runs when no node passed the filters (DefaultPreemption lives here).
// A success with a nominated node name nominates the pod to that node (its room there is
// held for it) and the pod is retried once the cluster changes. Unschedulable means "not
// now" (a nomination the pod holds stays); UnschedulableAndUnresolvable means the plugin
// cannot help the pod at all (its nomination, if any, is dropped).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *corev1.Pod, statuses map[string]*Status) (nominatedNode string, s *Status)
}

// PreScorePlugin runs once per cycle before scoring, with the feasible nodes.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks a feasible node. Scores are normalized to [0, MaxNodeScore] (by
// NormalizeScore when the plugin has it) and multiplied by the plugin's weight.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status)
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// NormalizeScorePlugin is a ScorePlugin whose raw scores need rescaling once every node is
// scored (upstream's ScoreExtensions).
type NormalizeScorePlugin interface {
	ScorePlugin
	NormalizeScore(ctx context.Context, state *CycleState, pod *corev1.Pod, scores []NodeScore) *Status
}

// ReservePlugin is told when a node is chosen (Reserve) and when that choice is undone
// (Unreserve, in reverse order, also for plugins whose Reserve did not run).
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string)
}

// PermitPlugin may approve, reject, or hold (Wait, up to the timeout) a pod before binding.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) (*Status, time.Duration)
}

// PreBindPlugin runs in the binding goroutine after Permit and before Bind: what must be
// true in the API before the pod is bound (VolumeBinding binds or provisions the pod's
// claims and waits for them). A failure unreserves the pod and requeues it.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
}

// BindPlugin binds the pod; Skip passes to the next bind plugin.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
}

// Extender is an out-of-process scheduler extension (kube-scheduler's HTTP extender). The
// real one speaks HTTP; tests use fakes.
type Extender interface {
	Name() string
	IsFilter() bool
	IsPrioritizer() bool
	// IsIgnorable extenders that fail are skipped instead of failing the cycle.
	IsIgnorable() bool
	Weight() int64
	// Filter returns the nodes that pass, and the failed ones with a message each.
	Filter(ctx context.Context, pod *corev1.Pod, nodes []*NodeInfo) (feasible []*NodeInfo, failed, failedAndUnresolvable map[string]string, err error)
	// Prioritize scores nodes in [0, MaxExtenderPriority].
	Prioritize(ctx context.Context, pod *corev1.Pod, nodes []*NodeInfo) (map[string]int64, error)
}

// Diagnosis records why no node fit.
type Diagnosis struct {
	// NodeToStatus holds the failure of every node that was evaluated and rejected.
	NodeToStatus         map[string]*Status
	UnschedulablePlugins map[string]bool
	PreFilterMsg         string
	PostFilterMsg        string
}

// AddPluginStatus records which plugin rejected.
func (d *Diagnosis) AddPluginStatus(s *Status) {
	if s.Plugin() == "" || !s.IsRejected() {
		return
	}
	if d.UnschedulablePlugins == nil {
		d.UnschedulablePlugins = map[string]bool{}
	}
	d.UnschedulablePlugins[s.Plugin()] = true
}

// FitError is the error of a pod no node can take.
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error sums the reasons up as kube-scheduler does: "0/3 nodes are available: 1 Insufficient
// cpu, 2 node(s) had untolerated taint {k: v}." — each distinct reason with the number of
// nodes that gave it, sorted as strings; then the PostFilter (preemption) message.
func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%v nodes are available:", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += " " + f.Diagnosis.PreFilterMsg + "."
	} else {
		counts := map[string]int{}
		for _, s := range f.Diagnosis.NodeToStatus {
			for _, r := range s.Reasons() {
				counts[r]++
			}
		}
		reasons := make([]string, 0, len(counts))
		for r, n := range counts {
			reasons = append(reasons, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(reasons)
		if len(reasons) > 0 {
			msg += " " + strings.Join(reasons, ", ") + "."
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg + "."
	}
	return msg
}

// AssignedPodGoneHinter is a plugin that can tell whether an assigned pod leaving its node
// (deleted, or finished) may make a pod it rejected schedulable: upstream's queueing hint
// for Pod/Delete events. It must be cheap and may not call the queue. The pods of a
// plugin without it are requeued by any pod going.
type AssignedPodGoneHinter interface {
	Plugin
	AssignedPodGoneMayHelp(pod, gone *corev1.Pod) bool
}
