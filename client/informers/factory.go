// Package informers is kubelab's SharedInformerFactory: the one place a process gets its
// informers from, so every controller in it shares one list+watch (and one cache) per kind.
package informers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"kubelab.io/client/cache"
	"kubelab.io/client/transport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Option configures a factory.
type Option func(*SharedInformerFactory)

// WithNamespace limits namespaced kinds to one namespace (cluster-scoped kinds are
// unaffected).
func WithNamespace(namespace string) Option {
	return func(f *SharedInformerFactory) { f.namespace = namespace }
}

// WithTweakListOptions edits the options of every list and watch the factory's informers
// make: a kubelet watches only its pods with FieldSelector "spec.nodeName=node-1".
func WithTweakListOptions(tweak func(*transport.ListOptions)) Option {
	return func(f *SharedInformerFactory) { f.tweak = tweak }
}

// WithClock sets the clock informers use for resync and backoff (tests use a fake).
func WithClock(clk clock.WithTicker) Option {
	return func(f *SharedInformerFactory) { f.clock = clk }
}

// WithBackoff overrides the reflectors' backoff between failed list+watch attempts.
func WithBackoff(backoff func(n int) time.Duration) Option {
	return func(f *SharedInformerFactory) { f.backoff = backoff }
}

// WithLogger sets the informers' logger.
func WithLogger(log *slog.Logger) Option {
	return func(f *SharedInformerFactory) { f.log = log }
}

// SharedInformerFactory hands out one SharedIndexInformer per kind. Ask for every informer
// you need, then Start; informers asked for after Start run from the next Start call.
// All methods are safe for concurrent use.
type SharedInformerFactory struct {
	transport transport.Interface
	resync    time.Duration
	namespace string
	tweak     func(*transport.ListOptions)
	clock     clock.WithTicker
	backoff   func(n int) time.Duration
	log       *slog.Logger

	mu        sync.Mutex
	informers map[runtime.GroupVersionKind]cache.SharedIndexInformer
	started   map[runtime.GroupVersionKind]bool
	cancels   []context.CancelFunc
	wg        sync.WaitGroup
	shutdown  bool
}

// NewSharedInformerFactory returns a factory whose informers list and watch over t and
// resync every resync (0 disables resync).
func NewSharedInformerFactory(t transport.Interface, resync time.Duration, opts ...Option) *SharedInformerFactory {
	f := &SharedInformerFactory{
		transport: t, resync: resync, clock: clock.RealClock{}, log: slog.Default(),
		informers: map[runtime.GroupVersionKind]cache.SharedIndexInformer{},
		started:   map[runtime.GroupVersionKind]bool{},
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

// defaultIndexers are the indexes every informer of a kind gets, so controllers sharing it
// need not coordinate AddIndexers calls.
func defaultIndexers(m scheme.Mapping) cache.Indexers {
	idx := cache.Indexers{cache.OwnerUIDIndex: cache.OwnerUIDIndexFunc}
	if m.Namespaced {
		idx[cache.NamespaceIndex] = cache.MetaNamespaceIndexFunc
	}
	if m.Kind == (runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Pod"}) {
		idx[cache.PodNodeNameIndex] = cache.PodNodeNameIndexFunc
	}
	return idx
}

// ForMapping returns the factory's informer of mapping's kind, creating it on first use.
func (f *SharedInformerFactory) ForMapping(m scheme.Mapping) cache.SharedIndexInformer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.informers[m.Kind]; ok {
		return inf
	}
	inf, err := cache.NewSharedIndexInformer(cache.InformerConfig{
		Name:          m.Plural,
		ListerWatcher: &cache.ListWatch{Transport: f.transport, Mapping: m, Namespace: f.namespace, Tweak: f.tweak},
		ResyncPeriod:  f.resync,
		Indexers:      defaultIndexers(m),
		Clock:         f.clock,
		Backoff:       f.backoff,
		Log:           f.log,
	})
	if err != nil { // unreachable: the ListerWatcher is set
		f.log.Error("create informer", "resource", m.Plural, "err", err)
	}
	f.informers[m.Kind] = inf
	return inf
}

// Start runs every informer not yet started, each until ctx ends or Shutdown is called.
// It does not block.
func (f *SharedInformerFactory) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutdown {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	f.cancels = append(f.cancels, cancel)
	for gvk, inf := range f.informers {
		if f.started[gvk] {
			continue
		}
		f.started[gvk] = true
		f.wg.Go(func() { inf.Run(ctx) })
	}
}

// WaitForCacheSync waits for every started informer's first list and reports which synced
// (all true unless ctx ended first).
func (f *SharedInformerFactory) WaitForCacheSync(ctx context.Context) map[runtime.GroupVersionKind]bool {
	f.mu.Lock()
	infs := map[runtime.GroupVersionKind]cache.SharedIndexInformer{}
	for gvk, inf := range f.informers {
		if f.started[gvk] {
			infs[gvk] = inf
		}
	}
	f.mu.Unlock()
	out := make(map[runtime.GroupVersionKind]bool, len(infs))
	for gvk, inf := range infs {
		out[gvk] = cache.WaitForCacheSync(ctx, inf.HasSynced)
	}
	return out
}

// Shutdown stops every informer and waits for them to exit. Start does nothing afterwards.
func (f *SharedInformerFactory) Shutdown() {
	f.mu.Lock()
	f.shutdown = true
	for _, c := range f.cancels {
		c()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// Informer is one kind's shared informer with a typed lister over its cache.
type Informer[T runtime.Object] struct {
	informer cache.SharedIndexInformer
	lister   cache.Lister[T]
}

func (i Informer[T]) Informer() cache.SharedIndexInformer { return i.informer }
func (i Informer[T]) Lister() cache.Lister[T]             { return i.lister }

// For returns a typed informer of kind gvk; T must be the kind's Go type.
func For[T runtime.Object](f *SharedInformerFactory, gvk runtime.GroupVersionKind) (Informer[T], error) {
	m, ok := scheme.MappingFor(gvk)
	if !ok {
		return Informer[T]{}, fmt.Errorf("informer for %s: kind not served", gvk)
	}
	inf := f.ForMapping(m)
	return Informer[T]{informer: inf, lister: cache.NewLister[T](inf.GetIndexer(), m)}, nil
}

func mustFor[T runtime.Object](f *SharedInformerFactory, group, kind string) Informer[T] {
	// The kinds below are all in scheme.Mappings, so For cannot fail for them.
	inf, _ := For[T](f, runtime.GroupVersionKind{Group: group, Version: "v1", Kind: kind})
	return inf
}

func (f *SharedInformerFactory) Pods() Informer[*corev1.Pod] {
	return mustFor[*corev1.Pod](f, scheme.GroupCore, "Pod")
}
func (f *SharedInformerFactory) Nodes() Informer[*corev1.Node] {
	return mustFor[*corev1.Node](f, scheme.GroupCore, "Node")
}
func (f *SharedInformerFactory) Namespaces() Informer[*corev1.Namespace] {
	return mustFor[*corev1.Namespace](f, scheme.GroupCore, "Namespace")
}
func (f *SharedInformerFactory) Events() Informer[*corev1.Event] {
	return mustFor[*corev1.Event](f, scheme.GroupCore, "Event")
}
func (f *SharedInformerFactory) ResourceQuotas() Informer[*corev1.ResourceQuota] {
	return mustFor[*corev1.ResourceQuota](f, scheme.GroupCore, "ResourceQuota")
}
func (f *SharedInformerFactory) Deployments() Informer[*appsv1.Deployment] {
	return mustFor[*appsv1.Deployment](f, scheme.GroupApps, "Deployment")
}
func (f *SharedInformerFactory) ReplicaSets() Informer[*appsv1.ReplicaSet] {
	return mustFor[*appsv1.ReplicaSet](f, scheme.GroupApps, "ReplicaSet")
}
func (f *SharedInformerFactory) DaemonSets() Informer[*appsv1.DaemonSet] {
	return mustFor[*appsv1.DaemonSet](f, scheme.GroupApps, "DaemonSet")
}
func (f *SharedInformerFactory) StatefulSets() Informer[*appsv1.StatefulSet] {
	return mustFor[*appsv1.StatefulSet](f, scheme.GroupApps, "StatefulSet")
}
func (f *SharedInformerFactory) ControllerRevisions() Informer[*appsv1.ControllerRevision] {
	return mustFor[*appsv1.ControllerRevision](f, scheme.GroupApps, "ControllerRevision")
}
func (f *SharedInformerFactory) PodDisruptionBudgets() Informer[*policyv1.PodDisruptionBudget] {
	return mustFor[*policyv1.PodDisruptionBudget](f, scheme.GroupPolicy, "PodDisruptionBudget")
}
func (f *SharedInformerFactory) PriorityClasses() Informer[*schedulingv1.PriorityClass] {
	return mustFor[*schedulingv1.PriorityClass](f, scheme.GroupScheduling, "PriorityClass")
}
func (f *SharedInformerFactory) PersistentVolumes() Informer[*corev1.PersistentVolume] {
	return mustFor[*corev1.PersistentVolume](f, scheme.GroupCore, "PersistentVolume")
}
func (f *SharedInformerFactory) PersistentVolumeClaims() Informer[*corev1.PersistentVolumeClaim] {
	return mustFor[*corev1.PersistentVolumeClaim](f, scheme.GroupCore, "PersistentVolumeClaim")
}
func (f *SharedInformerFactory) StorageClasses() Informer[*storagev1.StorageClass] {
	return mustFor[*storagev1.StorageClass](f, scheme.GroupStorage, "StorageClass")
}
func (f *SharedInformerFactory) Jobs() Informer[*batchv1.Job] {
	return mustFor[*batchv1.Job](f, scheme.GroupBatch, "Job")
}
func (f *SharedInformerFactory) CronJobs() Informer[*batchv1.CronJob] {
	return mustFor[*batchv1.CronJob](f, scheme.GroupBatch, "CronJob")
}
func (f *SharedInformerFactory) Leases() Informer[*coordinationv1.Lease] {
	return mustFor[*coordinationv1.Lease](f, scheme.GroupCoordination, "Lease")
}
func (f *SharedInformerFactory) ServiceAccounts() Informer[*corev1.ServiceAccount] {
	return mustFor[*corev1.ServiceAccount](f, scheme.GroupCore, "ServiceAccount")
}
func (f *SharedInformerFactory) Services() Informer[*corev1.Service] {
	return mustFor[*corev1.Service](f, scheme.GroupCore, "Service")
}
func (f *SharedInformerFactory) Endpoints() Informer[*corev1.Endpoints] {
	return mustFor[*corev1.Endpoints](f, scheme.GroupCore, "Endpoints")
}
func (f *SharedInformerFactory) EndpointSlices() Informer[*discoveryv1.EndpointSlice] {
	return mustFor[*discoveryv1.EndpointSlice](f, scheme.GroupDiscovery, "EndpointSlice")
}
func (f *SharedInformerFactory) ConfigMaps() Informer[*corev1.ConfigMap] {
	return mustFor[*corev1.ConfigMap](f, scheme.GroupCore, "ConfigMap")
}
func (f *SharedInformerFactory) ClusterRoles() Informer[*rbacv1.ClusterRole] {
	return mustFor[*rbacv1.ClusterRole](f, scheme.GroupRBAC, "ClusterRole")
}
