// Package objectcache is the kubelet's object manager for the ConfigMaps and Secrets its
// pods use: Kubernetes' "Watch" change-detection strategy. Pods register the objects they
// reference; the manager keeps one single-object watch (a list and watch with field
// selector metadata.name=NAME in the object's namespace) per object while at least one
// registered pod references it, and serves reads from what that watch delivered. So a
// kubelet with many pods sends no GET per object per pod sync, and sees an update as soon
// as the apiserver sends it.
//
// The Node authorizer lets a kubelet list and watch an object only this way (by name, in
// its namespace) and only while a pod bound to the node references it, which is why the
// watches follow the pods' references rather than watching a namespace.
package objectcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"kubelab.io/client/cache"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// DefaultSyncTimeout is how long a read waits for an object's first list, as Kubernetes'
// kubelet waits.
const DefaultSyncTimeout = time.Second

// Config configures a Manager.
type Config struct {
	Transport transport.Interface
	// Clock times the wait for a first list and the watches' back-off; defaults to the
	// real clock.
	Clock clock.Clock
	// SyncTimeout bounds how long a read waits for an object's first list
	// (DefaultSyncTimeout when 0).
	SyncTimeout time.Duration
	// Backoff is the watches' wait after the n-th consecutive failure; defaults to
	// cache.DefaultBackoff.
	Backoff func(n int) time.Duration
	Log     *slog.Logger
}

// Manager is the object manager. RegisterPod, UnregisterPod, ConfigMap and Secret may be
// called from any goroutine; watches run only while Run does.
type Manager struct {
	cfg Config

	mu sync.Mutex
	// ctx is Run's: the parent of every watch. nil before Run starts and after it ends,
	// when registering starts no watch (a read then fails after SyncTimeout).
	ctx   context.Context
	items map[objectKey]*item
	// pods holds what each registered pod (by uid) references, so a pod's update or removal
	// releases exactly what it took.
	pods map[string][]objectKey
	wg   sync.WaitGroup
}

// objectKey names a ConfigMap or, when secret, a Secret.
type objectKey struct {
	secret          bool
	namespace, name string
}

func (k objectKey) kind() string {
	if k.secret {
		return "Secret"
	}
	return "ConfigMap"
}

// item is one referenced object and its watch.
type item struct {
	key  objectKey
	refs map[string]struct{} // uids of the pods referencing it
	slot *slot
	// stop ends the watch; nil while none runs (before Run, or once the object was seen
	// immutable).
	stop      context.CancelFunc
	immutable bool
}

// New returns a Manager; it watches nothing until Run.
func New(cfg Config) (*Manager, error) {
	if cfg.Transport == nil {
		return nil, errors.New("objectcache: a transport is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.Backoff == nil {
		cfg.Backoff = cache.DefaultBackoff
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, items: map[objectKey]*item{}, pods: map[string][]objectKey{}}, nil
}

// Run starts the watches of the objects registered so far, and of those registered later,
// until ctx ends; it then stops them all and returns once they have ended.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	for _, it := range m.items {
		m.startLocked(it)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.ctx = nil
	for _, it := range m.items {
		if it.stop != nil {
			it.stop()
			it.stop = nil
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// RegisterPod records the ConfigMaps and Secrets pod references, replacing what it
// referenced before, and watches those no other pod did. New references are taken before
// old ones are released, so an object a pod keeps is never unwatched in between.
func (m *Manager) RegisterPod(pod *corev1.Pod) {
	uid := pod.GetMetadata().GetUid()
	keys := references(pod)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		it := m.items[k]
		if it == nil {
			it = &item{key: k, refs: map[string]struct{}{}, slot: newSlot(k.name)}
			m.items[k] = it
			m.startLocked(it)
		}
		it.refs[uid] = struct{}{}
	}
	old := m.pods[uid]
	m.pods[uid] = keys
	for _, k := range old {
		if !slices.Contains(keys, k) {
			m.releaseLocked(k, uid)
		}
	}
}

// UnregisterPod releases what pod referenced: an object no registered pod references any
// longer is unwatched at once. Kubernetes' kubelet does the same; keeping the watch a while
// would buy little, as the Node authorizer refuses the next list once the pod is gone.
func (m *Manager) UnregisterPod(pod *corev1.Pod) {
	uid := pod.GetMetadata().GetUid()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.pods[uid] {
		m.releaseLocked(k, uid)
	}
	delete(m.pods, uid)
}

func (m *Manager) releaseLocked(k objectKey, uid string) {
	it := m.items[k]
	if it == nil {
		return
	}
	delete(it.refs, uid)
	if len(it.refs) > 0 {
		return
	}
	delete(m.items, k)
	if it.stop != nil {
		it.stop()
		it.stop = nil
		m.cfg.Log.Info("stopped watching unreferenced object", "kind", k.kind(), "namespace", k.namespace, "name", k.name)
	}
}

// ConfigMap returns the ConfigMap ns/name as last seen by its watch; a registered pod
// must reference it. The object is shared: callers must not modify it.
func (m *Manager) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return getAs[*corev1.ConfigMap](ctx, m, objectKey{namespace: ns, name: name})
}

// Secret is ConfigMap for Secrets.
func (m *Manager) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return getAs[*corev1.Secret](ctx, m, objectKey{secret: true, namespace: ns, name: name})
}

func getAs[T runtime.Object](ctx context.Context, m *Manager, k objectKey) (T, error) {
	var zero T
	obj, err := m.get(ctx, k)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s/%s: the watch delivered a %T", k.kind(), k.namespace, k.name, obj)
	}
	return t, nil
}

// get reads k from its watch, waiting up to SyncTimeout for the first list. A missing
// object is an apierrors NotFound (resource "configmap" or "secret", as Kubernetes'
// kubelet words it). An immutable object is not watched any longer once seen: it cannot
// change, so the watch would only cost the apiserver.
func (m *Manager) get(ctx context.Context, k objectKey) (runtime.Object, error) {
	m.mu.Lock()
	it := m.items[k]
	m.mu.Unlock()
	resource := "configmap"
	if k.secret {
		resource = "secret"
	}
	if it == nil {
		return nil, fmt.Errorf("%s %q/%q not registered", resource, k.namespace, k.name)
	}
	if err := it.slot.wait(ctx, m.cfg.Clock, m.cfg.SyncTimeout); err != nil {
		return nil, fmt.Errorf("failed to sync %s cache: %w", resource, err)
	}
	obj := it.slot.get()
	if obj == nil {
		return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: resource}, k.name)
	}
	if isImmutable(obj) {
		m.mu.Lock()
		if it.stop != nil {
			it.stop()
			it.stop = nil
			m.cfg.Log.Info("stopped watching immutable object", "kind", k.kind(), "namespace", k.namespace, "name", k.name)
		}
		it.immutable = true
		m.mu.Unlock()
	}
	return obj, nil
}

func isImmutable(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		return o.GetImmutable()
	case *corev1.Secret:
		return o.GetImmutable()
	}
	return false
}

// startLocked starts the watch of it when Run runs and none does (nor needs to: an immutable
// object seen once is served from what was seen).
func (m *Manager) startLocked(it *item) {
	if m.ctx == nil || it.stop != nil || it.immutable {
		return
	}
	k := it.key
	mapping := configMapMapping
	if k.secret {
		mapping = secretMapping
	}
	r, err := cache.NewReflector(cache.ReflectorConfig{
		Name: fmt.Sprintf("%s %s/%s", k.kind(), k.namespace, k.name),
		ListerWatcher: &cache.ListWatch{Transport: m.cfg.Transport, Mapping: mapping, Namespace: k.namespace,
			Tweak: func(o *transport.ListOptions) { o.FieldSelector = "metadata.name=" + k.name }},
		Store:    it.slot,
		PageSize: -1, // one object at most
		Clock:    m.cfg.Clock,
		Backoff:  m.cfg.Backoff,
		Log:      m.cfg.Log,
	})
	if err != nil { // only a missing ListerWatcher or Store, which are set above
		m.cfg.Log.Error("cannot watch object", "kind", k.kind(), "namespace", k.namespace, "name", k.name, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	it.stop = cancel
	m.wg.Go(func() { r.Run(ctx) })
	m.cfg.Log.Info("watching object", "kind", k.kind(), "namespace", k.namespace, "name", k.name)
}

var configMapMapping, secretMapping = mappingOf(&corev1.ConfigMap{}), mappingOf(&corev1.Secret{})

func mappingOf(obj runtime.Object) scheme.Mapping {
	gvk, _ := scheme.Scheme.KindFor(obj)
	m, _ := scheme.MappingFor(gvk)
	return m
}
