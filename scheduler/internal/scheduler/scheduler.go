// Package scheduler is the I/O shell around the pure decision in package core: it feeds
// the queue and the cache from informers, runs one scheduling cycle at a time (pop, snapshot,
// core.Schedule, assume, reserve, permit), binds asynchronously, and reports the outcome as
// Events, the pod's PodScheduled condition and metrics — kube-scheduler's scheduleOne.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/utils/clock"

	kcache "kubelab.io/client/cache"
	"kubelab.io/client/informers"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/scheduler/internal/cache"
	"kubelab.io/scheduler/internal/config"
	"kubelab.io/scheduler/internal/core"
	"kubelab.io/scheduler/internal/extender"
	"kubelab.io/scheduler/internal/framework"
	"kubelab.io/scheduler/internal/metrics"
	"kubelab.io/scheduler/internal/plugins"
	"kubelab.io/scheduler/internal/queue"
)

// Client is the API the shell writes through.
type Client interface {
	framework.Binder
	// PatchPodStatus applies a JSON merge patch to a pod's status subresource.
	PatchPodStatus(ctx context.Context, namespace, name string, patch []byte) error
	// DeletePod deletes the pod with uid gracefully (preemption's victims).
	DeletePod(ctx context.Context, namespace, name, uid string) error
}

// Recorder records Events (kubelab.io/client/record.Recorder).
type Recorder interface {
	Eventf(obj runtime.Object, eventType, reason, format string, args ...any)
}

// Config configures a Scheduler.
type Config struct {
	Client    Client
	Informers *informers.SharedInformerFactory
	Recorder  Recorder
	// Configuration is the resolved KubeSchedulerConfiguration (config.Load("") when nil).
	Configuration *config.Configuration
	// Registry of plugins (plugins.Registry() when nil).
	Registry framework.Registry
	// Extenders override the configuration's (tests use fakes).
	Extenders []framework.Extender
	Metrics   *metrics.Metrics
	Clock     clock.WithTicker
	// Rand breaks ties between equally good nodes (math/rand/v2's IntN when nil).
	Rand          func(n int) int
	AssumedPodTTL time.Duration
	Log           *slog.Logger
}

// Scheduler is one scheduler process's scheduling loop.
type Scheduler struct {
	cfg         Config
	profiles    map[string]*framework.Framework
	extenders   []framework.Extender
	queue       *queue.Queue
	cache       *cache.Cache
	snapshotter *cache.Snapshotter
	podLister   kcache.Lister[*corev1.Pod]
	synced      []func() bool
	percentage  int32
	log         *slog.Logger
	// nextStart is where the next search for feasible nodes starts (round robin).
	nextStart int
	binding   sync.WaitGroup

	// storageMu guards storageChanged, closed and replaced at each claim or PV change
	// (VolumeBinding's PreBind waits on it).
	storageMu      sync.Mutex
	storageChanged chan struct{}
}

// New builds the scheduler and registers its informer handlers; start the informers
// afterwards, then call Run.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Client == nil || cfg.Informers == nil || cfg.Recorder == nil {
		return nil, errors.New("scheduler: Client, Informers and Recorder are required")
	}
	if cfg.Configuration == nil {
		c, err := config.Load("")
		if err != nil {
			return nil, err
		}
		cfg.Configuration = c
	}
	if cfg.Registry == nil {
		cfg.Registry = plugins.Registry()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.IntN
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Scheduler{cfg: cfg, profiles: map[string]*framework.Framework{}, log: cfg.Log, snapshotter: cache.NewSnapshotter()}
	if p := cfg.Configuration.PercentageOfNodesToScore; p != nil {
		s.percentage = *p
	}
	s.extenders = cfg.Extenders
	if s.extenders == nil {
		for _, ec := range cfg.Configuration.Extenders {
			e, err := extender.New(ec)
			if err != nil {
				return nil, err
			}
			s.extenders = append(s.extenders, e)
		}
	}
	qc := queue.Config{Clock: cfg.Clock}
	if v := cfg.Configuration.PodInitialBackoffSeconds; v != nil {
		qc.InitialBackoff = time.Duration(*v) * time.Second
	}
	if v := cfg.Configuration.PodMaxBackoffSeconds; v != nil {
		qc.MaxBackoff = time.Duration(*v) * time.Second
	}
	s.queue = queue.New(qc)
	// Budgets are only read (by preemption, from the cache), so they need no handler; but
	// the informer must exist before the factory starts, and must have synced before the
	// first preemption, or a budget would be missed as if it were not there.
	pdbs := cfg.Informers.PodDisruptionBudgets()
	// PodTopologySpread's default constraints select a pod's group by the Services and the
	// ReplicaSet or StatefulSet that select it; like budgets, only read, and synced before
	// the first pod is scheduled, so its first pods spread too.
	svcs, rss, sss := cfg.Informers.Services(), cfg.Informers.ReplicaSets(), cfg.Informers.StatefulSets()
	workloads := framework.WorkloadListers{
		Services: func(ns string) ([]*corev1.Service, error) {
			return svcs.Lister().Namespace(ns).List(labels.Everything())
		},
		ReplicaSet:  func(ns, name string) (*appsv1.ReplicaSet, error) { return rss.Lister().Namespace(ns).Get(name) },
		StatefulSet: func(ns, name string) (*appsv1.StatefulSet, error) { return sss.Lister().Namespace(ns).Get(name) },
	}
	pvcs, pvs, classes := cfg.Informers.PersistentVolumeClaims(), cfg.Informers.PersistentVolumes(), cfg.Informers.StorageClasses()
	volumes := s.volumeAccess(pvcs.Lister(), pvs.Lister(), classes.Lister())
	for _, p := range cfg.Configuration.Profiles {
		fp, err := p.Resolve()
		if err != nil {
			return nil, fmt.Errorf("profile %q: %w", p.SchedulerName, err)
		}
		fwk, err := framework.New(fp, cfg.Registry, framework.Handle{
			Binder: cfg.Client, Nominator: s.queue, Preempter: s, PDBLister: pdbs.Lister(), Workloads: workloads, Volumes: volumes,
		})
		if err != nil {
			return nil, fmt.Errorf("profile %q: %w", p.SchedulerName, err)
		}
		s.profiles[p.SchedulerName] = fwk
	}
	s.cache = cache.New(cfg.Clock, cfg.AssumedPodTTL, cfg.Log)
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(s.queue.Pending)
		s.cfg.Metrics = cfg.Metrics
	}

	pods, nodes := cfg.Informers.Pods(), cfg.Informers.Nodes()
	s.podLister = pods.Lister()
	pr, err := pods.Informer().AddEventHandler(kcache.ResourceEventHandlerFuncs{
		AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete,
	})
	if err != nil {
		return nil, err
	}
	nr, err := nodes.Informer().AddEventHandler(kcache.ResourceEventHandlerFuncs{
		AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete,
	})
	if err != nil {
		return nil, err
	}
	s.synced = []func() bool{
		pr.HasSynced, nr.HasSynced, pdbs.Informer().HasSynced,
		svcs.Informer().HasSynced, rss.Informer().HasSynced, sss.Informer().HasSynced,
	}
	for _, inf := range []interface {
		AddEventHandler(kcache.ResourceEventHandler) (kcache.ResourceEventHandlerRegistration, error)
	}{pvcs.Informer(), pvs.Informer(), classes.Informer()} {
		reg, err := inf.AddEventHandler(s.storageHandler())
		if err != nil {
			return nil, err
		}
		s.synced = append(s.synced, reg.HasSynced)
	}
	return s, nil
}

// Metrics of the scheduler (for the /metrics endpoint).
func (s *Scheduler) Metrics() *metrics.Metrics { return s.cfg.Metrics }

// Queue and Cache are exposed for tests.
func (s *Scheduler) Queue() *queue.Queue { return s.queue }
func (s *Scheduler) Cache() *cache.Cache { return s.cache }

// HasSynced reports whether the handlers have seen the informers' first lists.
func (s *Scheduler) HasSynced() bool {
	for _, f := range s.synced {
		if !f() {
			return false
		}
	}
	return true
}

// Run schedules until ctx ends, then waits for in-flight bindings. The informers must be
// started; Run waits for their handlers to sync first.
func (s *Scheduler) Run(ctx context.Context) {
	go s.queue.Run(ctx)
	go s.cache.Run(ctx)
	if !kcache.WaitForCacheSync(ctx, s.HasSynced) {
		return
	}
	s.log.Info("scheduler caches synced; scheduling")
	for s.ScheduleOne(ctx) {
	}
	s.binding.Wait()
}

func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	name := pod.GetSpec().GetSchedulerName()
	if name == "" {
		name = config.DefaultSchedulerName
	}
	_, ok := s.profiles[name]
	return ok
}

func (s *Scheduler) frameworkFor(pod *corev1.Pod) *framework.Framework {
	name := pod.GetSpec().GetSchedulerName()
	if name == "" {
		name = config.DefaultSchedulerName
	}
	return s.profiles[name]
}

// ScheduleOne runs one scheduling cycle; false when the queue is closed.
func (s *Scheduler) ScheduleOne(ctx context.Context) bool {
	qp := s.queue.Pop(ctx)
	if qp == nil {
		return false
	}
	cycle := s.queue.SchedulingCycle()
	pod := qp.Pod
	fwk := s.frameworkFor(pod)
	if fwk == nil {
		s.log.Error("no profile for the pod's scheduler", "pod", framework.NamespacedName(pod), "schedulerName", pod.GetSpec().GetSchedulerName())
		return true
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil || s.cache.IsAssumedPod(pod) {
		return true
	}
	start := s.cfg.Clock.Now()
	state := framework.NewCycleState()
	snap := s.cache.UpdateSnapshot(s.snapshotter)
	res, next, err := core.Schedule(ctx, core.Input{
		Framework: fwk, Extenders: s.extenders, Snapshot: snap, Pod: pod, State: state,
		StartIndex: s.nextStart, PercentageOfNodesToScore: s.percentage, Rand: s.cfg.Rand, Log: s.log,
	})
	s.nextStart = next
	if err != nil {
		var fitErr *framework.FitError
		switch {
		case errors.As(err, &fitErr):
			s.postFilter(ctx, fwk, state, pod, fitErr)
			s.failure(ctx, qp, cycle, start, err, true)
		case errors.Is(err, core.ErrNoNodesAvailable):
			s.failure(ctx, qp, cycle, start, err, true)
		default:
			s.failure(ctx, qp, cycle, start, err, false)
		}
		return true
	}
	host := res.SuggestedHost
	assumed := proto.Clone(pod).(*corev1.Pod)
	if assumed.Spec == nil {
		assumed.Spec = &corev1.PodSpec{}
	}
	assumed.Spec.NodeName = host
	if err := s.cache.AssumePod(assumed); err != nil {
		s.failure(ctx, qp, cycle, start, err, false)
		return true
	}
	// Accounted on its node now: a nomination would count it twice.
	s.queue.DeleteNominatedPodIfExists(pod)
	undo := func() {
		fwk.RunReservePluginsUnreserve(ctx, state, assumed, host)
		if err := s.cache.ForgetPod(assumed); err != nil {
			s.log.Error("forget assumed pod", "pod", framework.NamespacedName(pod), "err", err)
		}
	}
	if st := fwk.RunReservePluginsReserve(ctx, state, assumed, host); !st.IsSuccess() {
		undo()
		s.failure(ctx, qp, cycle, start, st.AsError(), st.IsRejected())
		return true
	}
	if st := fwk.RunPermitPlugins(ctx, state, assumed, host); !st.IsSuccess() && st.Code() != framework.Wait {
		undo()
		s.failure(ctx, qp, cycle, start, st.AsError(), st.IsRejected())
		return true
	}
	s.binding.Go(func() {
		if st := fwk.WaitOnPermit(ctx, assumed); !st.IsSuccess() {
			undo()
			s.failure(ctx, qp, cycle, start, st.AsError(), st.IsRejected())
			return
		}
		if st := fwk.RunPreBindPlugins(ctx, state, assumed, host); !st.IsSuccess() {
			undo()
			// What the pod held (its node's room, the volumes assumed for it) is free again.
			s.queue.MoveAllToActiveOrBackoffQueue("AssignedPodDelete")
			s.failure(ctx, qp, cycle, start, st.AsError(), st.IsRejected())
			return
		}
		if st := fwk.RunBindPlugins(ctx, state, assumed, host); !st.IsSuccess() {
			undo()
			// The resources the assumption held are free again.
			s.queue.MoveAllToActiveOrBackoffQueue("AssignedPodDelete")
			s.failure(ctx, qp, cycle, start, fmt.Errorf("binding rejected: %w", st.AsError()), false)
			return
		}
		s.cache.FinishBinding(assumed)
		now := s.cfg.Clock.Now()
		s.cfg.Metrics.Attempt(metrics.Scheduled, fwk.Profile().SchedulerName, now.Sub(start))
		s.cfg.Metrics.PodScheduled(qp.Attempts, now.Sub(qp.Added))
		s.cfg.Recorder.Eventf(assumed, "Normal", "Scheduled", "Successfully assigned %s to %s", framework.NamespacedName(pod), host)
	})
	return true
}

// failure requeues a pod whose attempt failed (unless it was deleted or bound meanwhile),
// records a FailedScheduling event and sets its PodScheduled condition to False.
func (s *Scheduler) failure(ctx context.Context, qp *queue.QueuedPodInfo, cycle int64, start time.Time, err error, unschedulable bool) {
	pod := qp.Pod
	result, reason := metrics.Error, "SchedulerError"
	if unschedulable {
		result, reason = metrics.Unschedulable, "Unschedulable"
	}
	s.cfg.Metrics.Attempt(result, s.frameworkFor(pod).Profile().SchedulerName, s.cfg.Clock.Now().Sub(start))
	if ctx.Err() != nil {
		return
	}
	cached, gerr := s.podLister.Namespace(pod.GetMetadata().GetNamespace()).Get(pod.GetMetadata().GetName())
	switch {
	case gerr != nil:
		s.log.Info("pod no longer exists; not requeued", "pod", framework.NamespacedName(pod))
		return
	case cached.GetMetadata().GetUid() != pod.GetMetadata().GetUid() || cached.GetSpec().GetNodeName() != "":
		return
	}
	qp.Pod = cached
	qp.UnschedulablePlugins = nil
	if fitErr := (*framework.FitError)(nil); errors.As(err, &fitErr) {
		qp.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
	}
	s.queue.AddUnschedulableIfNotPresent(qp, unschedulable, cycle)
	msg := err.Error()
	if len(msg) > 1024 {
		msg = msg[:1021] + "..."
	}
	s.cfg.Recorder.Eventf(cached, "Warning", "FailedScheduling", "%s", msg)
	s.binding.Go(func() { s.setUnschedulableCondition(ctx, cached, reason, msg) })
}

// conditionsPatch is the JSON merge patch that sets a pod's status.conditions to conds (a
// merge patch replaces a list whole, so conds is every condition the pod is to keep).
func conditionsPatch(conds []*corev1.PodCondition) ([]byte, error) {
	status, err := runtime.MarshalJSON(&corev1.PodStatus{Conditions: conds})
	if err != nil {
		return nil, err
	}
	var st map[string]json.RawMessage
	if err := json.Unmarshal(status, &st); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"status": map[string]json.RawMessage{"conditions": st["conditions"]}})
}

// setUnschedulableCondition writes PodScheduled=False with reason and message through the
// status subresource (a JSON merge patch of the conditions), unless the pod already says so.
func (s *Scheduler) setUnschedulableCondition(ctx context.Context, pod *corev1.Pod, reason, msg string) {
	var conds []*corev1.PodCondition
	for _, c := range pod.GetStatus().GetConditions() {
		if c.GetType() == "PodScheduled" {
			if c.GetStatus() == "False" && c.GetReason() == reason && c.GetMessage() == msg {
				return
			}
			continue
		}
		conds = append(conds, c)
	}
	conds = append(conds, &corev1.PodCondition{
		Type: "PodScheduled", Status: "False", Reason: reason, Message: msg,
		LastTransitionTime: &metav1.Time{Seconds: s.cfg.Clock.Now().Unix()},
	})
	patch, err := conditionsPatch(conds)
	if err != nil {
		s.log.Error("encode pod status", "pod", framework.NamespacedName(pod), "err", err)
		return
	}
	if err := s.cfg.Client.PatchPodStatus(ctx, pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName(), patch); err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.log.Warn("update pod condition", "pod", framework.NamespacedName(pod), "err", err)
	}
}
