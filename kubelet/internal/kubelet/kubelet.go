// Package kubelet is kubelab's node agent: it registers its Node and keeps its Lease and
// status fresh, and reconciles the pods bound to the node (from a watch with field
// selector spec.nodeName) against the sandboxes and containers of the container runtime.
//
// The decisions are pure functions of desired and actual state (computeActions,
// generatePodStatus, admitPod, nodeStatus, probeState); the Kubelet type is the shell
// that reads state, calls them and carries out what they decide. Every pod has its own
// worker goroutine (serial per pod, parallel across pods), woken by API events, by the
// runtime relister (PLEG) when a container changes state, by probe results, and by timers.
//
// The kubelet is crash-only: everything it knows is in the API or the runtime (sandboxes
// and containers carry the pod's uid, restart count and spec hash in labels and
// annotations), so a restarted kubelet adopts what runs and neither loses nor duplicates
// containers.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/kubelet/internal/backoff"
	"kubelab.io/kubelet/internal/objectcache"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
	"kubelab.io/proto/runtime"
)

// Component is the kubelet's event source.
const Component = "kubelet"

// Config configures a Kubelet. Zero durations take Kubernetes' defaults.
type Config struct {
	NodeName string
	Client   *kube.Clientset
	Runtime  krt.Runtime
	Clock    clock.WithTicker
	Log      *slog.Logger
	// Host overrides the facts read from the machine (tests).
	Host *HostInfo

	NodeIP       string
	NodeLabels   map[string]string
	RegisterNode bool
	// Reserved is subtracted from capacity to give allocatable.
	Reserved resource.List
	MaxPods  int
	// Port is the kubelet server's port, reported in the Node's daemonEndpoints.
	Port int

	// CNIConfDir is where the CNI configuration is written once the node has a podCIDR;
	// empty means the kubelet does not manage pod networking (the node is Ready without a
	// podCIDR).
	CNIConfDir string
	CNIBridge  string
	// PodLogDir is the root of the pods' log directories (/var/log/pods).
	PodLogDir string
	// RootDir is the kubelet's state directory (--root-dir); pods' volumes live in
	// RootDir/pods/<uid>. Empty means a directory of this node's in os.TempDir(). Two
	// kubelets never share one: each removes the pod directories it does not know.
	RootDir       string
	CgroupParent  string
	ResolvConf    string
	ClusterDNS    []string
	ClusterDomain string
	// Preload, when set, runs once before the node reports Ready and before any pod is
	// admitted (--preload-images); it is retried with back-off until it succeeds.
	Preload func(ctx context.Context) error

	NodeStatusUpdateFrequency time.Duration // 10s
	NodeStatusReportFrequency time.Duration // 1m
	LeaseDuration             time.Duration // 40s
	LeaseRenewInterval        time.Duration // 10s
	RelistPeriod              time.Duration // 1s
	ResyncInterval            time.Duration // 10s
	HousekeepingInterval      time.Duration // 2s
	CrashBackoffInitial       time.Duration // 10s
	CrashBackoffMax           time.Duration // 5m
	ImageBackoffInitial       time.Duration // 10s
	ImageBackoffMax           time.Duration // 5m
}

func (c *Config) validate() error {
	if c.NodeName == "" {
		return errors.New("kubelet: no node name")
	}
	if c.Client == nil || c.Runtime == nil {
		return errors.New("kubelet: a client and a runtime are required")
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.CNIBridge == "" {
		c.CNIBridge = "kubelab0"
	}
	if c.RootDir == "" {
		c.RootDir = filepath.Join(os.TempDir(), "kubelab-kubelet-"+c.NodeName)
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.NodeStatusUpdateFrequency, 10*time.Second)
	def(&c.NodeStatusReportFrequency, time.Minute)
	def(&c.LeaseDuration, 40*time.Second)
	def(&c.LeaseRenewInterval, 10*time.Second)
	def(&c.RelistPeriod, time.Second)
	def(&c.ResyncInterval, 10*time.Second)
	def(&c.HousekeepingInterval, 2*time.Second)
	def(&c.CrashBackoffInitial, 10*time.Second)
	def(&c.CrashBackoffMax, 5*time.Minute)
	def(&c.ImageBackoffInitial, 10*time.Second)
	def(&c.ImageBackoffMax, 5*time.Minute)
	return nil
}

// Kubelet runs one node.
type Kubelet struct {
	cfg      Config
	client   *kube.Clientset
	rt       krt.Runtime
	clock    clock.WithTicker
	log      *slog.Logger
	host     HostInfo
	recorder *record.Recorder
	runner   *actionRunner
	results  *probeResults
	probes   *probeManager
	status   *statusManager
	workers  *podWorkers
	// services lists every Service, for the variables they give containers
	// (serviceenv.go); servicesSynced reports its informer's first list done. Set in Run.
	services       cache.Lister[*corev1.Service]
	servicesSynced func() bool
	// objects serves the ConfigMaps and Secrets pods refer to, from a watch per object
	// while a desired pod refers to it.
	objects *objectcache.Manager
	// tokens issues and renews the service account tokens of projected volumes.
	tokens *tokenManager

	crashBackoff, imageBackoff *backoff.Backoff
	sandboxOpts                sandboxOptions
	runtimeName                string
	runtimeVersion             string
	hostIPs                    []string

	// admitMu serializes admission decisions, which depend on each other.
	admitMu sync.Mutex

	mu             sync.Mutex
	pods           map[string]*corev1.Pod // desired pods by uid
	podsSynced     bool
	admitted       map[string]bool                     // uid → admitted (true) or rejected (false)
	waiting        map[string]map[string]waitingReason // uid → container → why it waits
	runtimeCache   map[string]*podRuntime              // uid → last seen actual state
	relistSeen     map[string]string                   // uid → fingerprint of the last relist
	volumesSynced  map[string]volumesSync              // uid → when its API-data volumes were written
	allocatable    resource.List
	podCIDR        string
	nodeReady      bool
	lastNodeReport time.Time
	// preloading is set while Config.Preload has not succeeded yet.
	preloading bool
}

// New builds a Kubelet from cfg. It does not touch the API or the runtime; Run does.
func New(cfg Config) (*Kubelet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	k := &Kubelet{
		cfg: cfg, client: cfg.Client, rt: cfg.Runtime, clock: cfg.Clock, log: cfg.Log.With("node", cfg.NodeName),
		results: newProbeResults(),
		pods:    map[string]*corev1.Pod{}, admitted: map[string]bool{}, waiting: map[string]map[string]waitingReason{},
		runtimeCache: map[string]*podRuntime{}, relistSeen: map[string]string{}, volumesSynced: map[string]volumesSync{},
	}
	k.tokens = newTokenManager(cfg.Client, cfg.Clock, k.log)
	objects, err := objectcache.New(objectcache.Config{Transport: cfg.Client.Transport(), Clock: cfg.Clock, Log: k.log})
	if err != nil {
		return nil, err
	}
	k.objects = objects
	if cfg.Host != nil {
		k.host = *cfg.Host
	} else {
		k.host = ReadHostInfo()
	}
	if k.cfg.NodeIP == "" {
		k.cfg.NodeIP = FirstNonLoopbackIP()
	}
	if k.cfg.NodeIP != "" {
		k.hostIPs = []string{k.cfg.NodeIP}
	}
	k.crashBackoff = backoff.New(cfg.CrashBackoffInitial, cfg.CrashBackoffMax, cfg.Clock.Now)
	k.imageBackoff = backoff.New(cfg.ImageBackoffInitial, cfg.ImageBackoffMax, cfg.Clock.Now)
	k.recorder = record.New(record.Config{Client: cfg.Client.Transport(), Component: Component, Host: cfg.NodeName, Clock: cfg.Clock.Now, Log: k.log})
	k.runner = newActionRunner(cfg.Runtime, cfg.Clock)
	k.probes = &probeManager{
		results: k.results, runner: k.runner, clock: cfg.Clock, target: k.probeTarget, onChange: k.wake,
		recorder: func(pod *corev1.Pod, kind probeKind, c *corev1.Container, msg string) {
			k.recorder.Eventf(pod, record.Warning, "Unhealthy", "%s probe failed: %s", kind, msg)
		},
		workers: map[probeKey]context.CancelFunc{},
	}
	k.status = newStatusManager(k.client, k.log, cfg.Clock)
	k.sandboxOpts = sandboxOptions{PodLogRoot: cfg.PodLogDir, CgroupParent: cfg.CgroupParent, ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain}
	if cfg.PodLogDir == "" {
		k.sandboxOpts.PodLogRoot = "/var/log/pods"
	}
	k.preloading = cfg.Preload != nil
	if b, err := os.ReadFile(cfg.ResolvConf); err == nil {
		k.sandboxOpts.HostDNS = parseResolvConf(b)
	}
	return k, nil
}

// NodeReady reports whether the last node status sync found the node Ready.
func (k *Kubelet) NodeReady() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nodeReady
}

// Run runs the kubelet until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	ver, err := k.rt.Version(ctx)
	for err != nil {
		k.log.Error("container runtime not reachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-k.clock.After(2 * time.Second):
		}
		ver, err = k.rt.Version(ctx)
	}
	k.runtimeName = ver.GetRuntimeName()
	k.runtimeVersion = ver.GetRuntimeName() + "://" + ver.GetRuntimeVersion()
	k.log.Info("container runtime", "version", k.runtimeVersion, "api", ver.GetRuntimeApiVersion())

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	wg.Go(func() { k.recorder.Run(ctx) })
	if k.cfg.Preload != nil {
		wg.Go(func() { k.preload(ctx) })
	}
	if k.cfg.RegisterNode {
		k.retry(ctx, "register node", time.Second, k.registerNode)
		if ctx.Err() != nil {
			return nil
		}
	}
	k.ensureLeaseNamespace(ctx)
	wg.Go(func() { k.nodeStatusLoop(ctx) })
	wg.Go(func() { k.every(ctx, k.cfg.LeaseRenewInterval, "renew lease", k.renewLease) })
	wg.Go(func() { k.status.run(ctx) })
	wg.Go(func() { k.objects.Run(ctx) })

	// Every Service, in every namespace (no node selector): containers' environment
	// names the services of their namespace and the cluster's `kubernetes` Service.
	svcFactory := informers.NewSharedInformerFactory(k.client.Transport(), 0, informers.WithLogger(k.log))
	svcInf := svcFactory.Services()
	k.services, k.servicesSynced = svcInf.Lister(), svcInf.Informer().HasSynced
	svcFactory.Start(ctx)
	defer svcFactory.Shutdown()

	k.workers = newPodWorkers(ctx, k.clock, k.cfg.ResyncInterval, k.syncPod, k.log)
	factory := informers.NewSharedInformerFactory(k.client.Transport(), 0,
		informers.WithTweakListOptions(func(o *transport.ListOptions) { o.FieldSelector = "spec.nodeName=" + k.cfg.NodeName }),
		informers.WithLogger(k.log))
	podInf := factory.Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj runtime.Object) { k.podChanged(obj) },
		UpdateFunc: func(_, obj runtime.Object) { k.podChanged(obj) },
		DeleteFunc: k.podDeleted,
	}); err != nil {
		return fmt.Errorf("kubelet: watch pods: %w", err)
	}
	factory.Start(ctx)
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx, podInf.HasSynced) {
		return nil
	}
	k.mu.Lock()
	k.podsSynced = true
	k.mu.Unlock()
	k.log.Info("pods synced; reconciling")

	wg.Go(func() { k.every(ctx, k.cfg.RelistPeriod, "relist", k.relist) })
	wg.Go(func() { k.every(ctx, k.cfg.HousekeepingInterval, "housekeeping", k.housekeeping) })
	<-ctx.Done()
	k.workers.wait()
	return nil
}

// preload runs Config.Preload until it succeeds, then lets the node become Ready.
func (k *Kubelet) preload(ctx context.Context) {
	start := k.clock.Now()
	k.retry(ctx, "preload images", time.Second, k.cfg.Preload)
	if ctx.Err() != nil {
		return
	}
	k.mu.Lock()
	k.preloading = false
	k.mu.Unlock()
	k.log.Info("images preloaded; the node may become Ready", "took", k.clock.Since(start).Round(time.Millisecond))
}

// Preloading reports whether Config.Preload has yet to succeed.
func (k *Kubelet) Preloading() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.preloading
}

// retry calls f until it succeeds or ctx ends, with capped exponential back-off.
func (k *Kubelet) retry(ctx context.Context, what string, initial time.Duration, f func(context.Context) error) {
	delay := initial
	for ctx.Err() == nil {
		err := f(ctx)
		if err == nil {
			return
		}
		k.log.Warn(what+" failed; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
		case <-k.clock.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// every calls f now and then every period until ctx ends, logging errors.
func (k *Kubelet) every(ctx context.Context, period time.Duration, what string, f func(context.Context) error) {
	t := k.clock.NewTicker(period)
	defer t.Stop()
	for {
		if err := f(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn(what+" failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// nodeStatusLoop syncs node status every NodeStatusUpdateFrequency, and every second
// while the node is not Ready (waiting for a podCIDR or the runtime's network).
func (k *Kubelet) nodeStatusLoop(ctx context.Context) {
	for {
		if err := k.syncNodeStatus(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("node status sync failed", "err", err)
		}
		next := k.cfg.NodeStatusUpdateFrequency
		if !k.NodeReady() {
			next = min(next, time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-k.clock.After(next):
		}
	}
}

func podOf(obj any) *corev1.Pod {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, _ := obj.(*corev1.Pod)
	return p
}

func (k *Kubelet) podChanged(obj runtime.Object) {
	pod := podOf(obj)
	if pod == nil || pod.GetSpec().GetNodeName() != k.cfg.NodeName {
		return
	}
	// Register before the pod is desired, so its worker never reads an object not yet
	// watched. A finished pod reads none any more: its watches would only cost the
	// apiserver while it waits to be deleted (Kubernetes' pod manager does the same).
	if isTerminalPhase(pod.GetStatus().GetPhase()) {
		k.objects.UnregisterPod(pod)
	} else {
		k.objects.RegisterPod(pod)
	}
	uid := pod.GetMetadata().GetUid()
	k.mu.Lock()
	k.pods[uid] = pod
	k.mu.Unlock()
	k.wake(uid)
}

func (k *Kubelet) podDeleted(obj any) {
	pod := podOf(obj)
	if pod == nil {
		return
	}
	uid := pod.GetMetadata().GetUid()
	k.mu.Lock()
	delete(k.pods, uid)
	k.mu.Unlock()
	k.objects.UnregisterPod(pod)
	k.wake(uid)
}

// wake makes uid's worker sync soon (starting one if none runs).
func (k *Kubelet) wake(uid string) {
	if k.workers != nil && uid != "" {
		k.workers.wake(uid)
	}
}

func (k *Kubelet) desiredPod(uid string) *corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pods[uid]
}

// probeTarget tells a probe worker the state of its container and the pod's IP.
func (k *Kubelet) probeTarget(uid, name string) (probeTarget, string) {
	k.mu.Lock()
	rt := k.runtimeCache[uid]
	pod := k.pods[uid]
	k.mu.Unlock()
	c := rt.latest(name)
	if c == nil {
		return probeTarget{}, ""
	}
	t := probeTarget{ContainerID: c.ID, Running: c.running(), StartedAt: c.StartedAt, Started: true}
	for _, spec := range probedContainers(pod) {
		if spec.GetName() == name && spec.GetStartupProbe() != nil {
			t.Started = k.results.Startup(c.ID) == probeSuccess
		}
	}
	ip := ""
	if sb := rt.readySandbox(); sb != nil && len(sb.IPs) > 0 {
		ip = sb.IPs[0]
	}
	return t, ip
}

// relist is the PLEG: it lists sandboxes and containers (two calls), and wakes the worker
// of every pod whose actual state changed since the last relist.
func (k *Kubelet) relist(ctx context.Context) error {
	sel := map[string]string{krt.LabelManagedBy: krt.ManagedByValue}
	sandboxes, err := k.rt.ListPodSandboxes(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return err
	}
	containers, err := k.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return err
	}
	prints := map[string][]string{}
	mine := func(labels map[string]string) bool {
		n, ok := labels[krt.LabelNodeName]
		return !ok || n == k.cfg.NodeName
	}
	for _, s := range sandboxes {
		if !mine(s.GetLabels()) {
			continue
		}
		u := s.GetLabels()[krt.LabelPodUID]
		prints[u] = append(prints[u], "s"+s.GetId()+s.GetState().String())
	}
	for _, c := range containers {
		if !mine(c.GetLabels()) {
			continue
		}
		u := c.GetLabels()[krt.LabelPodUID]
		prints[u] = append(prints[u], "c"+c.GetId()+c.GetState().String())
	}
	now := map[string]string{}
	for u, p := range prints {
		slices.Sort(p)
		now[u] = strings.Join(p, ",")
	}
	k.mu.Lock()
	var changed []string
	for u, p := range now {
		if k.relistSeen[u] != p {
			changed = append(changed, u)
		}
	}
	for u := range k.relistSeen {
		if _, ok := now[u]; !ok {
			changed = append(changed, u)
		}
	}
	k.relistSeen = now
	k.mu.Unlock()
	for _, u := range changed {
		k.wake(u)
	}
	return nil
}

// housekeeping wakes the workers of pods that exist in the runtime or have a pod
// directory but are no longer desired (so they are torn down) and forgets state of pods
// gone from both sides.
func (k *Kubelet) housekeeping(context.Context) error {
	// Pod directories (volumes) of pods gone from the API and the runtime, e.g. left by a
	// kubelet killed between removing a pod's containers and its directory.
	dirs, dirErr := podDirs(k.cfg.RootDir)
	k.mu.Lock()
	var orphans []string
	for u := range k.relistSeen {
		if _, ok := k.pods[u]; !ok {
			orphans = append(orphans, u)
		}
	}
	if k.podsSynced {
		for _, u := range dirs {
			_, desired := k.pods[u]
			_, running := k.relistSeen[u]
			if !desired && !running {
				orphans = append(orphans, u)
			}
		}
	}
	live := map[string]bool{}
	for u := range k.pods {
		live[u] = true
	}
	for u := range k.relistSeen {
		live[u] = true
	}
	for u := range k.admitted {
		if !live[u] {
			delete(k.admitted, u)
		}
	}
	for u := range k.waiting {
		if !live[u] {
			delete(k.waiting, u)
		}
	}
	for u := range k.volumesSynced {
		if !live[u] {
			delete(k.volumesSynced, u)
		}
	}
	ids := map[string]bool{}
	for u, rt := range k.runtimeCache {
		if !live[u] {
			delete(k.runtimeCache, u)
			continue
		}
		if rt == nil { // a new sandbox was just made; its containers are not known yet
			continue
		}
		for _, c := range rt.Containers {
			ids[c.ID] = true
		}
	}
	k.mu.Unlock()
	k.results.forget(ids)
	k.tokens.gc()
	k.crashBackoff.GC()
	k.imageBackoff.GC()
	for _, u := range orphans {
		k.wake(u)
	}
	if dirErr != nil {
		return fmt.Errorf("list pod directories: %w", dirErr)
	}
	return nil
}

func (k *Kubelet) setWaiting(uid, name, reason, message string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.waiting[uid] == nil {
		k.waiting[uid] = map[string]waitingReason{}
	}
	k.waiting[uid][name] = waitingReason{Reason: reason, Message: message}
}

func (k *Kubelet) clearWaiting(uid, name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.waiting[uid], name)
}

func (k *Kubelet) waitingOf(uid string) map[string]waitingReason {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]waitingReason{}
	for n, w := range k.waiting[uid] {
		out[n] = w
	}
	return out
}

// NodeIP is the node's InternalIP ("" when unknown).
func (k *Kubelet) NodeIP() string { return k.cfg.NodeIP }
