// Package endpoint is the Endpoints controller, after Kubernetes' pkg/controller/endpoint:
// for every Service with a selector it keeps the core/v1 Endpoints of the same name, whose
// subsets list the matching pods' IPs (addresses when ready, or always with
// publishNotReadyAddresses; notReadyAddresses otherwise) with the ports each resolves the
// service's targetPorts to, repacked into one subset per set of addresses that serve the
// same ports (subsets.go). Past 1000 addresses the object is truncated and annotated
// endpoints.kubernetes.io/over-capacity: truncated. Kubernetes deprecates Endpoints in
// favour of EndpointSlices (the proxy reads those), but clients still read them: the stock
// kubectl's describe service shows its "Endpoints:" line from them.
//
// Endpoints of a service without a selector are written by hand (or, for "kubernetes", by
// the apiserver) and left alone, as are those of a service that lost its selector, as
// upstream. The Endpoints of a deleted service are deleted, and at start every Endpoints
// object is checked for a service, so one whose service went while the controller was
// down goes too.
//
// Event handlers only queue service keys; sync re-reads everything from the caches. After
// an update, the replaced resourceVersion is remembered, so a sync over a cache that still
// holds it fails and retries rather than overwriting the write with stale data.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// Event reasons, as upstream's endpoints controller records them (on the Endpoints).
const (
	FailedToCreateEndpoint = "FailedToCreateEndpoint"
	FailedToUpdateEndpoint = "FailedToUpdateEndpoint"
)

// leaderAnnotation marks Endpoints used as a leader-election lock (an old client-go
// resource lock): they have no service and must not be deleted.
const leaderAnnotation = "control-plane.alpha.kubernetes.io/leader"

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client    *kube.Clientset
	Service   cache.SharedIndexInformer
	Pod       cache.SharedIndexInformer
	Endpoints cache.SharedIndexInformer
	Recorder  EventRecorder
	// Log is the controller's logger (the controller-manager labels it controller=endpoint).
	Log *slog.Logger
	// Queue defaults to a rate-limited work queue named "endpoint".
	Queue workqueue.Interface[string]
	// BatchPeriod delays the sync a pod change queues, so several are written at once
	// (--endpoint-updates-batch-period, default 0).
	BatchPeriod time.Duration
}

// Controller is the Endpoints controller.
type Controller struct {
	client      *kube.Clientset
	services    cache.Lister[*corev1.Service]
	pods        cache.Lister[*corev1.Pod]
	endpoints   cache.Lister[*corev1.Endpoints]
	stale       *staleTracker
	triggers    *controller.TriggerTimeTracker
	synced      []func() bool
	queue       workqueue.Interface[string]
	recorder    EventRecorder
	log         *slog.Logger
	batchPeriod time.Duration
}

// New builds the controller on the shared informers of cc. Its work queue reports
// workqueue_*{name="endpoint"} metrics to prometheus.DefaultRegisterer.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	metrics, err := workqueue.NewPrometheusProvider(prometheus.DefaultRegisterer)
	if err != nil {
		return nil, fmt.Errorf("endpoint: queue metrics: %w", err)
	}
	return NewController(Config{
		Queue:       workqueue.New(workqueue.Config[string]{Name: "endpoint", Metrics: metrics.For("endpoint")}),
		Client:      cc.Client,
		Service:     cc.Informers.Services().Informer(),
		Pod:         cc.Informers.Pods().Informer(),
		Endpoints:   cc.Informers.Endpoints().Informer(),
		Recorder:    cc.Recorder("endpoint-controller"),
		Log:         cc.Log,
		BatchPeriod: cc.Options.EndpointUpdatesBatchPeriod,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Service == nil || cfg.Pod == nil || cfg.Endpoints == nil || cfg.Recorder == nil {
		return nil, errors.New("endpoint: Client, Service, Pod and Endpoints informers and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("endpoint")
	}
	c := &Controller{
		client:      cfg.Client,
		services:    cache.NewLister[*corev1.Service](cfg.Service.GetIndexer(), controller.CoreMapping("Service")),
		pods:        cache.NewLister[*corev1.Pod](cfg.Pod.GetIndexer(), controller.CoreMapping("Pod")),
		endpoints:   cache.NewLister[*corev1.Endpoints](cfg.Endpoints.GetIndexer(), controller.CoreMapping("Endpoints")),
		stale:       &staleTracker{replaced: map[string]string{}},
		triggers:    controller.NewTriggerTimeTracker(),
		queue:       cfg.Queue,
		recorder:    cfg.Recorder,
		log:         cfg.Log,
		batchPeriod: cfg.BatchPeriod,
	}
	// Every service event queues it; the deletion of an Endpoints object queues its
	// service, so it is recreated (or, without a service, left deleted).
	keys := controller.KeyHandlers(c.queue, c.log)
	svcReg, err := cfg.Service.AddEventHandler(keys)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	podReg, err := cfg.Pod.AddEventHandler(controller.PodServiceHandlers(c.services, func(key string) {
		if c.batchPeriod > 0 {
			c.queue.AddAfter(key, c.batchPeriod)
		} else {
			c.queue.Add(key)
		}
	}, c.log))
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	epReg, err := cfg.Endpoints.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: keys.DeleteFunc})
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	c.synced = []func() bool{cfg.Service.HasSynced, cfg.Pod.HasSynced, cfg.Endpoints.HasSynced, svcReg.HasSynced, podReg.HasSynced, epReg.HasSynced}
	return c, nil
}

// Run waits for the caches, queues every Endpoints object once (checkLeftoverEndpoints:
// those whose service went while no controller ran are deleted), then runs workers until
// ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	go func() {
		if cache.WaitForCacheSync(ctx, c.synced...) {
			c.queueLeftovers()
		}
	}()
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

func (c *Controller) queueLeftovers() {
	all, err := c.endpoints.List(labels.Everything())
	if err != nil {
		c.log.Error("list endpoints; orphaned endpoints will not be cleaned up", "err", err)
		return
	}
	for _, ep := range all {
		if _, ok := ep.GetMetadata().GetAnnotations()[leaderAnnotation]; !ok {
			c.enqueue(ep)
		}
	}
}

func (c *Controller) enqueue(obj runtime.Object) {
	if err := controller.Enqueue(c.queue, obj); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

// --- sync ---

// sync makes the Endpoints of service key list its pods. It returns nil when the service
// does not want endpoints from this controller, and an error for the queue to retry when a
// write fails or the cache still holds an Endpoints object this controller replaced.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	svc, err := c.services.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The service is gone: so are its Endpoints.
		if _, err := c.client.Endpoints(ns).Delete(ctx, name, nil); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		c.triggers.Delete(key)
		c.stale.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	selector, ok := controller.ServiceSelector(svc)
	if !ok {
		return nil
	}
	pods, err := c.pods.Namespace(ns).List(selector)
	if err != nil {
		return err
	}
	controller.SortByName(pods)
	triggerTime := c.triggers.Compute(svc, pods)
	subsets := desiredSubsets(svc, pods)

	current, err := c.endpoints.Namespace(ns).Get(name)
	create := apierrors.IsNotFound(err)
	switch {
	case create:
		current = &corev1.Endpoints{Kind: "Endpoints", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns}}
	case err != nil:
		return err
	case c.stale.isStale(key, current):
		return fmt.Errorf("endpoints cache is out of date: resourceVersion %s of %s was already replaced", current.GetMetadata().GetResourceVersion(), key)
	}
	compareLabels := maps.Clone(current.GetMetadata().GetLabels())
	delete(compareLabels, controller.LabelHeadlessService)
	if !create && subsetsEqual(current.GetSubsets(), subsets) && maps.Equal(compareLabels, svc.GetMetadata().GetLabels()) &&
		capacityAnnotationSetCorrectly(current.GetMetadata().GetAnnotations(), current.GetSubsets()) {
		return nil
	}

	next := proto.Clone(current).(*corev1.Endpoints)
	m := next.Metadata
	next.Subsets = subsets
	m.Labels = maps.Clone(svc.GetMetadata().GetLabels())
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	if controller.IsServiceIPSet(svc) {
		delete(m.Labels, controller.LabelHeadlessService)
	} else {
		m.Labels[controller.LabelHeadlessService] = ""
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	if triggerTime.IsZero() {
		delete(m.Annotations, controller.AnnotationLastChangeTriggerTime)
	} else {
		m.Annotations[controller.AnnotationLastChangeTriggerTime] = controller.FormatTriggerTime(triggerTime)
	}
	if truncate(next.Subsets) {
		m.Annotations[AnnotationOverCapacity] = truncated
	} else {
		delete(m.Annotations, AnnotationOverCapacity)
	}
	ready, notReady := countAddresses(next.Subsets)

	client := c.client.Endpoints(ns)
	var written *corev1.Endpoints
	if create {
		written, err = client.Create(ctx, next)
	} else {
		written, err = client.Update(ctx, next)
	}
	if err != nil {
		if create && apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating) {
			return nil // the namespace is going away, with the service
		}
		if create {
			c.recorder.Eventf(next, "Warning", FailedToCreateEndpoint, "Failed to create endpoint for service %s/%s: %v", ns, name, err)
		} else {
			c.recorder.Eventf(next, "Warning", FailedToUpdateEndpoint, "Failed to update endpoint %s/%s: %v", ns, name, err)
		}
		return fmt.Errorf("write endpoints %s: %w", key, err)
	}
	if !create && written.GetMetadata().GetResourceVersion() != current.GetMetadata().GetResourceVersion() {
		c.stale.replace(key, current)
	}
	c.log.Debug("wrote endpoints", "namespace", ns, "name", name, "created", create, "ready", ready, "notReady", notReady)
	return nil
}

// desiredSubsets are the repacked subsets of svc's pods: each pod that has an IP of the
// service's family and has not finished (and is not being deleted, unless not-ready
// addresses are published) gives an address per port it resolves; a headless service
// without ports gets the bare addresses.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []*corev1.EndpointSubset {
	publishNotReady := svc.GetSpec().GetPublishNotReadyAddresses()
	var subsets []*corev1.EndpointSubset
	for _, pod := range pods {
		if !controller.ShouldPodBeInEndpoints(pod, publishNotReady) {
			continue
		}
		addr := podAddress(svc, pod)
		if addr == nil {
			continue
		}
		subset := func(port *corev1.EndpointPort) *corev1.EndpointSubset {
			s := &corev1.EndpointSubset{}
			if port != nil {
				s.Ports = []*corev1.EndpointPort{port}
			}
			if publishNotReady || controller.IsPodReady(pod) {
				s.Addresses = []*corev1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []*corev1.EndpointAddress{addr}
			}
			return s
		}
		if len(svc.GetSpec().GetPorts()) == 0 {
			if svc.GetSpec().GetClusterIP() == corev1.ClusterIPNone {
				subsets = append(subsets, subset(nil))
			}
			continue
		}
		for _, sp := range svc.GetSpec().GetPorts() {
			n, err := controller.FindPort(pod, sp)
			if err != nil {
				continue
			}
			subsets = append(subsets, subset(&corev1.EndpointPort{Name: sp.GetName(), Port: n, Protocol: sp.GetProtocol(), AppProtocol: sp.AppProtocol}))
		}
	}
	return repackSubsets(subsets)
}

// podAddress is pod's address for svc: its IP of the service's (first) IP family, the pod
// and its node; nil when it has none. A service without ipFamilies takes its cluster IP's
// family, a headless one the family of the pod's IP.
func podAddress(svc *corev1.Service, pod *corev1.Pod) *corev1.EndpointAddress {
	ipv6 := false
	switch fams := svc.GetSpec().GetIpFamilies(); {
	case len(fams) > 0:
		ipv6 = fams[0] == corev1.IPv6Protocol
	case controller.IsServiceIPSet(svc):
		ipv6 = isIPv6(svc.GetSpec().GetClusterIP())
	default:
		ipv6 = isIPv6(pod.GetStatus().GetPodIP())
	}
	for _, ip := range controller.PodIPs(pod) {
		if isIPv6(ip) == ipv6 {
			hostname := ""
			if controller.ShouldSetHostname(pod, svc) {
				hostname = pod.GetSpec().GetHostname()
			}
			return &corev1.EndpointAddress{
				Ip: ip, Hostname: hostname, NodeName: proto.String(pod.GetSpec().GetNodeName()),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.GetMetadata().GetNamespace(), Name: pod.GetMetadata().GetName(), Uid: pod.GetMetadata().GetUid()},
			}
		}
	}
	return nil
}

func isIPv6(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Is6() && !a.Is4In6()
}

// staleTracker is upstream's staleEndpointsTracker: the resourceVersion each service's
// Endpoints had before this controller's last update, so a cache still holding it is known
// to be behind.
type staleTracker struct {
	mu       sync.Mutex
	replaced map[string]string
}

func (t *staleTracker) replace(key string, old *corev1.Endpoints) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.replaced[key] = old.GetMetadata().GetResourceVersion()
}

func (t *staleTracker) isStale(key string, cached *corev1.Endpoints) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rv, ok := t.replaced[key]
	return ok && rv == cached.GetMetadata().GetResourceVersion()
}

func (t *staleTracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.replaced, key)
}
