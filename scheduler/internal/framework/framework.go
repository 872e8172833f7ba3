package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/labels"
)

// Handle is what plugin factories get from the framework.
type Handle struct {
	// Binder performs pods/binding (the DefaultBinder plugin uses it).
	Binder Binder
	// Nominator knows which pods preemption nominated to which nodes; Filter counts them
	// (RunFilterPluginsWithNominatedPods). Nil means no pod is ever nominated.
	Nominator PodNominator
	// Preempter deletes the victims DefaultPreemption chose.
	Preempter Preempter
	// Framework is the framework the plugin belongs to (to Allow/Reject waiting pods, and
	// to run the filters on a simulated node).
	Framework *Framework
	// PDBLister lists the PodDisruptionBudgets DefaultPreemption tries not to violate. Nil
	// means the scheduler knows of no budget.
	PDBLister PDBLister
	// Workloads reads the Services and controllers that select a pod (PodTopologySpread's
	// default constraints spread a pod's group by their selectors).
	Workloads WorkloadListers
	// Volumes reads and writes the claims, PersistentVolumes and StorageClasses
	// VolumeBinding works with (zero: the scheduler knows of none).
	Volumes VolumeAccess
	// Args is the plugin's pluginConfig args from the profile (nil when it has none); the
	// framework sets it per plugin before calling the plugin's factory.
	Args any
}

// VolumeAccess is VolumeBinding's view of storage: reads from the scheduler's informer
// caches (objects returned are shared: read only), writes through the API. A nil func
// knows of no such object.
type VolumeAccess struct {
	Claim        func(namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PV           func(name string) (*corev1.PersistentVolume, error)
	PVs          func() ([]*corev1.PersistentVolume, error)
	StorageClass func(name string) (*storagev1.StorageClass, error)
	UpdatePV     func(ctx context.Context, pv *corev1.PersistentVolume) error
	UpdateClaim  func(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error
	// Changed returns a channel closed at the next change of a claim or PV in the caches,
	// so a PreBind waits for its claims to bind by watching rather than polling.
	Changed func() <-chan struct{}
}

// WorkloadListers read, from the scheduler's informer caches, the objects whose selectors
// make up a pod's default spreading selector. A nil func knows of no such object. kubelab
// has no ReplicationControllers, so, unlike upstream's helper.DefaultSelector, no lister
// for them. Objects returned are shared: read only.
type WorkloadListers struct {
	// Services lists the Services of namespace.
	Services func(namespace string) ([]*corev1.Service, error)
	// ReplicaSet and StatefulSet get one object by namespace and name.
	ReplicaSet  func(namespace, name string) (*appsv1.ReplicaSet, error)
	StatefulSet func(namespace, name string) (*appsv1.StatefulSet, error)
}

// PDBLister reads PodDisruptionBudgets from the scheduler's informer cache
// (kubelab.io/client/cache.Lister satisfies it). Objects it returns are shared: read only.
type PDBLister interface {
	List(selector labels.Selector) ([]*policyv1.PodDisruptionBudget, error)
}

// PodNominator is the scheduler's record of nominated pods: pods that preempted others on
// a node and wait there for the victims to go. Their room on that node is held for them.
// The scheduling queue implements it.
type PodNominator interface {
	// NominatedPodsForNode returns the pods nominated to node (a copy, safe to keep).
	NominatedPodsForNode(node string) []*PodInfo
	// NominatedNodeName is the node pod is nominated to ("" when none), as the scheduler
	// knows it, which may be ahead of the pod's status.nominatedNodeName.
	NominatedNodeName(pod *corev1.Pod) string
}

// Preempter carries out a preemption: the DefaultPreemption plugin decides which pods go,
// the scheduler shell implements this seam and talks to the API.
type Preempter interface {
	// PreemptVictims evicts victims from node so that preemptor fits there: each is
	// deleted gracefully (or rejected, when it waits at Permit) and gets a Preempted
	// event. Victims already terminating are left alone.
	PreemptVictims(ctx context.Context, preemptor *corev1.Pod, node string, victims []*corev1.Pod) error
}

// Binder binds a pod to a node through the API.
type Binder interface {
	Bind(ctx context.Context, namespace string, b *corev1.Binding) error
}

// Factory builds a plugin.
type Factory func(h Handle) (Plugin, error)

// Registry maps plugin names to factories.
type Registry map[string]Factory

// WeightedPlugin is a score plugin with its weight.
type WeightedPlugin struct {
	Name   string
	Weight int64
}

// Profile is a resolved scheduling profile: which plugins run at each extension point, in
// order. A plugin listed under Filter also runs its PreFilter; one listed under Score also
// runs its PreScore (kubelab folds the pre-points into their main point instead of
// configuring them separately).
type Profile struct {
	SchedulerName string
	Filter        []string
	Score         []WeightedPlugin
	PostFilter    []string
	Reserve       []string
	Permit        []string
	PreBind       []string
	Bind          []string
	// PercentageOfNodesToScore overrides the global setting when non-nil.
	PercentageOfNodesToScore *int32
	// PluginArgs holds the profile's pluginConfig args by plugin name (Handle.Args).
	PluginArgs map[string]any
}

type weightedScore struct {
	ScorePlugin
	weight int64
}

// Framework runs one profile's plugins. It is safe for concurrent use: one scheduling
// cycle at a time calls the Pre*/Filter/Score/Reserve/Permit points, while binding
// goroutines call WaitOnPermit and RunBindPlugins.
type Framework struct {
	profile    Profile
	preFilter  []PreFilterPlugin
	filter     []FilterPlugin
	postFilter []PostFilterPlugin
	preScore   []PreScorePlugin
	score      []weightedScore
	reserve    []ReservePlugin
	permit     []PermitPlugin
	preBind    []PreBindPlugin
	bind       []BindPlugin

	nominator PodNominator
	// hinters are the plugins, by name, that tell which assigned pods' going may help.
	hinters map[string]AssignedPodGoneHinter

	mu      sync.Mutex
	waiting map[string]*waitingPod
}

// AssignedPodGoneMayHelp reports whether assigned pod gone leaving its node (deleted, or
// finished) may make pod, which plugin rejected, schedulable: the plugin's hint, or true
// for a plugin that gives none.
func (f *Framework) AssignedPodGoneMayHelp(plugin string, pod, gone *corev1.Pod) bool {
	h, ok := f.hinters[plugin]
	return !ok || h.AssignedPodGoneMayHelp(pod, gone)
}

// New instantiates the profile's plugins from the registry.
func New(profile Profile, registry Registry, h Handle) (*Framework, error) {
	f := &Framework{profile: profile, waiting: map[string]*waitingPod{}, nominator: h.Nominator, hinters: map[string]AssignedPodGoneHinter{}}
	h.Framework = f
	instances := map[string]Plugin{}
	get := func(name string) (Plugin, error) {
		if p, ok := instances[name]; ok {
			return p, nil
		}
		factory, ok := registry[name]
		if !ok {
			return nil, fmt.Errorf("plugin %q is not registered", name)
		}
		ph := h
		ph.Args = profile.PluginArgs[name]
		p, err := factory(ph)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
		instances[name] = p
		if hp, ok := p.(AssignedPodGoneHinter); ok {
			f.hinters[name] = hp
		}
		return p, nil
	}
	for _, name := range profile.Filter {
		p, err := get(name)
		if err != nil {
			return nil, err
		}
		fp, ok := p.(FilterPlugin)
		if !ok {
			return nil, fmt.Errorf("plugin %q does not extend filter", name)
		}
		f.filter = append(f.filter, fp)
		if pf, ok := p.(PreFilterPlugin); ok {
			f.preFilter = append(f.preFilter, pf)
		}
	}
	for _, w := range profile.Score {
		p, err := get(w.Name)
		if err != nil {
			return nil, err
		}
		sp, ok := p.(ScorePlugin)
		if !ok {
			return nil, fmt.Errorf("plugin %q does not extend score", w.Name)
		}
		if w.Weight <= 0 {
			return nil, fmt.Errorf("score plugin %q: weight must be positive, got %d", w.Name, w.Weight)
		}
		f.score = append(f.score, weightedScore{sp, w.Weight})
		if ps, ok := p.(PreScorePlugin); ok {
			f.preScore = append(f.preScore, ps)
		}
	}
	points := []struct {
		names []string
		add   func(Plugin) bool
		what  string
	}{
		{profile.PostFilter, func(p Plugin) bool {
			x, ok := p.(PostFilterPlugin)
			f.postFilter = appendIf(f.postFilter, x, ok)
			return ok
		}, "postFilter"},
		{profile.Reserve, func(p Plugin) bool { x, ok := p.(ReservePlugin); f.reserve = appendIf(f.reserve, x, ok); return ok }, "reserve"},
		{profile.Permit, func(p Plugin) bool { x, ok := p.(PermitPlugin); f.permit = appendIf(f.permit, x, ok); return ok }, "permit"},
		{profile.PreBind, func(p Plugin) bool { x, ok := p.(PreBindPlugin); f.preBind = appendIf(f.preBind, x, ok); return ok }, "preBind"},
		{profile.Bind, func(p Plugin) bool { x, ok := p.(BindPlugin); f.bind = appendIf(f.bind, x, ok); return ok }, "bind"},
	}
	for _, pt := range points {
		for _, name := range pt.names {
			p, err := get(name)
			if err != nil {
				return nil, err
			}
			if !pt.add(p) {
				return nil, fmt.Errorf("plugin %q does not extend %s", name, pt.what)
			}
		}
	}
	if len(f.bind) == 0 {
		return nil, errors.New("profile has no bind plugin")
	}
	return f, nil
}

func appendIf[T any](s []T, x T, ok bool) []T {
	if ok {
		return append(s, x)
	}
	return s
}

// Profile the framework runs.
func (f *Framework) Profile() Profile { return f.profile }

// HasFilterPlugins reports whether any filter plugin is enabled.
func (f *Framework) HasFilterPlugins() bool { return len(f.filter) > 0 }

// HasScorePlugins reports whether any score plugin is enabled.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// RunPreFilterPlugins runs every PreFilter; the first rejection or error ends the run.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod) *Status {
	for _, p := range f.preFilter {
		s := p.PreFilter(ctx, state, pod)
		switch {
		case s.IsSuccess():
		case s.IsSkip():
			state.skipFilter[p.Name()] = true
		case s.IsRejected():
			return s.WithPlugin(p.Name())
		default:
			return AsStatus(fmt.Errorf("running PreFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	state.filters = make([]FilterPlugin, 0, len(f.filter))
	for _, p := range f.filter {
		if !state.skipFilter[p.Name()] {
			state.filters = append(state.filters, p)
		}
	}
	return nil
}

// RunFilterPlugins runs the filters on one node and returns the first failure, as
// kube-scheduler does: the failure summary names one plugin's reasons per node.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	filters := state.filters
	if filters == nil { // PreFilter did not run (tests calling Filter directly)
		filters = f.filter
	}
	for _, p := range filters {
		s := p.Filter(ctx, state, pod, node)
		if s.IsSuccess() {
			continue
		}
		if !s.IsRejected() {
			return AsStatus(fmt.Errorf("running %q filter plugin: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		return s.WithPlugin(p.Name())
	}
	return nil
}

// RunFilterPluginsWithNominatedPods runs the filters on node as if the pods nominated to
// it with a priority at least pod's were already there, so the room preemption freed for
// them is not taken by a pod of lower priority; then, when it added any, once more without
// them, and the node must pass both (kube-scheduler's RunFilterPluginsWithNominatedPods).
// Resources and anti-affinity get stricter as pods are added, but a pod's required
// affinity gets looser: a nominated pod may still land elsewhere, so it must not be what
// satisfies it.
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	if f.nominator == nil || node.Node() == nil {
		return f.RunFilterPlugins(ctx, state, pod, node)
	}
	key, prio := PodKey(pod), PodPriority(pod)
	withNominated := node
	for _, pi := range f.nominator.NominatedPodsForNode(node.Name()) {
		if pi.Key == key || PodPriority(pi.Pod) < prio {
			continue
		}
		if withNominated == node {
			withNominated = node.Clone()
		}
		withNominated.AddPodInfo(pi)
	}
	s := f.RunFilterPlugins(ctx, state, pod, withNominated)
	if withNominated == node || !s.IsSuccess() {
		return s
	}
	return f.RunFilterPlugins(ctx, state, pod, node)
}

// HasPostFilterPlugins reports whether any PostFilter plugin is enabled.
func (f *Framework) HasPostFilterPlugins() bool { return len(f.postFilter) > 0 }

// RunPostFilterPlugins runs PostFilter plugins until one succeeds. When every plugin
// answers UnschedulableAndUnresolvable (nothing they do can help), so does the result;
// the shell then drops a nomination the pod may still hold.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, statuses map[string]*Status) (string, *Status) {
	if len(f.postFilter) == 0 {
		return "", NewStatus(Unschedulable)
	}
	var reasons []string
	code := UnschedulableAndUnresolvable
	for _, p := range f.postFilter {
		node, s := p.PostFilter(ctx, state, pod, statuses)
		if s.IsSuccess() {
			return node, s
		}
		if !s.IsRejected() {
			return "", s.WithPlugin(p.Name())
		}
		if s.Code() == Unschedulable {
			code = Unschedulable
		}
		reasons = append(reasons, s.Reasons()...)
	}
	return "", NewStatus(code, reasons...)
}

// RunPreScorePlugins runs every PreScore.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status {
	for _, p := range f.preScore {
		s := p.PreScore(ctx, state, pod, nodes)
		switch {
		case s.IsSuccess():
		case s.IsSkip():
			state.skipScore[p.Name()] = true
		default:
			return AsStatus(fmt.Errorf("running PreScore plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// PluginScore is one plugin's weighted score of a node, for explaining decisions.
type PluginScore struct {
	Name  string
	Score int64
}

// NodePluginScores is a node's total and its parts.
type NodePluginScores struct {
	Name       string
	Scores     []PluginScore
	TotalScore int64
}

// RunScorePlugins scores every node with every (not skipped) plugin, normalizes, weighs
// and sums.
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) ([]NodePluginScores, *Status) {
	out := make([]NodePluginScores, len(nodes))
	// One backing array for every node's parts; extenders' parts append past it.
	parts := make([]PluginScore, len(nodes)*len(f.score))
	for i, n := range nodes {
		out[i].Name = n.Name()
		out[i].Scores = parts[i*len(f.score) : i*len(f.score) : (i+1)*len(f.score)]
	}
	scores := make([]NodeScore, len(nodes))
	for _, p := range f.score {
		if state.skipScore[p.Name()] {
			continue
		}
		for i, n := range nodes {
			v, s := p.Score(ctx, state, pod, n)
			if !s.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("plugin %q failed with: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
			}
			scores[i] = NodeScore{Name: out[i].Name, Score: v}
		}
		if np, ok := p.ScorePlugin.(NormalizeScorePlugin); ok {
			if s := np.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("plugin %q failed with: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
			}
		}
		for i := range scores {
			v := scores[i].Score
			if v > MaxNodeScore || v < MinNodeScore {
				return nil, AsStatus(fmt.Errorf("plugin %q returns an invalid score %v, it should be in the range of [%v, %v] after normalizing",
					p.Name(), v, MinNodeScore, MaxNodeScore))
			}
			w := v * p.weight
			out[i].Scores = append(out[i].Scores, PluginScore{Name: p.Name(), Score: w})
			out[i].TotalScore += w
		}
	}
	return out, nil
}

// RunReservePluginsReserve runs Reserve; on failure the caller must run Unreserve.
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	for _, p := range f.reserve {
		if s := p.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return AsStatus(fmt.Errorf("running Reserve plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunReservePluginsUnreserve runs Unreserve in reverse order.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// waitingPod is a pod some Permit plugins hold back.
type waitingPod struct {
	pod     *corev1.Pod
	mu      sync.Mutex
	pending map[string]*time.Timer
	done    chan *Status // buffered, 1
}

func (w *waitingPod) finish(s *Status) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.pending {
		t.Stop()
	}
	select {
	case w.done <- s:
	default:
	}
}

// RunPermitPlugins runs Permit. A rejection or error ends it at once; Wait answers are
// collected and the pod is parked until WaitOnPermit.
func (f *Framework) RunPermitPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	pending := map[string]time.Duration{}
	for _, p := range f.permit {
		s, timeout := p.Permit(ctx, state, pod, nodeName)
		switch {
		case s.IsSuccess():
		case s.Code() == Wait:
			pending[p.Name()] = timeout
		case s.IsRejected():
			return s.WithPlugin(p.Name())
		default:
			return AsStatus(fmt.Errorf("running Permit plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	if len(pending) == 0 {
		return nil
	}
	w := &waitingPod{pod: pod, pending: map[string]*time.Timer{}, done: make(chan *Status, 1)}
	w.mu.Lock()
	for name, timeout := range pending {
		w.pending[name] = time.AfterFunc(timeout, func() {
			w.finish(NewStatus(Unschedulable, fmt.Sprintf("rejected due to timeout after waiting %v at plugin %v", timeout, name)).WithPlugin(name))
		})
	}
	w.mu.Unlock()
	f.mu.Lock()
	f.waiting[PodKey(pod)] = w
	f.mu.Unlock()
	return NewStatus(Wait)
}

// WaitOnPermit blocks until a pod parked by RunPermitPlugins is allowed by every waiting
// plugin, rejected, timed out, or ctx ends. Pods that were not parked return at once.
func (f *Framework) WaitOnPermit(ctx context.Context, pod *corev1.Pod) *Status {
	key := PodKey(pod)
	f.mu.Lock()
	w := f.waiting[key]
	f.mu.Unlock()
	if w == nil {
		return nil
	}
	defer func() {
		f.mu.Lock()
		delete(f.waiting, key)
		f.mu.Unlock()
	}()
	select {
	case s := <-w.done:
		return s
	case <-ctx.Done():
		w.finish(nil)
		return AsStatus(ctx.Err())
	}
}

// Allow records that plugin lets the waiting pod with key go; the pod proceeds once every
// plugin that said Wait has allowed it. False when no such pod waits.
func (f *Framework) Allow(key, plugin string) bool {
	f.mu.Lock()
	w := f.waiting[key]
	f.mu.Unlock()
	if w == nil {
		return false
	}
	w.mu.Lock()
	if t, ok := w.pending[plugin]; ok {
		t.Stop()
		delete(w.pending, plugin)
	}
	last := len(w.pending) == 0
	w.mu.Unlock()
	if last {
		w.finish(nil)
	}
	return true
}

// Reject rejects the waiting pod with key. False when no such pod waits.
func (f *Framework) Reject(key, plugin, msg string) bool {
	f.mu.Lock()
	w := f.waiting[key]
	f.mu.Unlock()
	if w == nil {
		return false
	}
	w.finish(NewStatus(Unschedulable, msg).WithPlugin(plugin))
	return true
}

// RunPreBindPlugins runs PreBind in order; the first failure ends it.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	for _, p := range f.preBind {
		if s := p.PreBind(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return AsStatus(fmt.Errorf("running PreBind plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunBindPlugins runs bind plugins until one does not Skip.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	for _, p := range f.bind {
		s := p.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running Bind plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		return nil
	}
	return NewStatus(Skip, "all bind plugins skipped")
}
