package controller

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"kubelab.io/client/cache"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// What the endpoints and endpointslice controllers share, after upstream's
// k8s.io/endpointslice/util and pkg/api/v1/pod: which services a pod backs, whether and how
// a pod is one of their endpoints, and the trigger time of a change.

// Labels and annotations of nodes, Endpoints and EndpointSlices, as in k8s.io/api.
const (
	// LabelTopologyZone is the zone of a node, copied onto the endpoints it hosts.
	LabelTopologyZone = "topology.kubernetes.io/zone"
	// LabelHeadlessService marks the Endpoints and EndpointSlices of a service without a
	// cluster IP.
	LabelHeadlessService = "service.kubernetes.io/headless"
	// AnnotationLastChangeTriggerTime is when the change (a pod's readiness, the service's
	// creation) that led to a write of Endpoints or an EndpointSlice happened, for latency
	// measurements.
	AnnotationLastChangeTriggerTime = "endpoints.kubernetes.io/last-change-trigger-time"
)

// ServiceSelector returns the pod selector of a service whose endpoints the controllers
// keep. ok is false for a service they leave alone: one without a selector (its endpoints
// are written by hand, or by the apiserver for "kubernetes") and an ExternalName one. An
// empty selector counts as none: stored as protobuf it cannot be told from none, in
// kubelab as in Kubernetes' etcd.
func ServiceSelector(svc *corev1.Service) (_ labels.Selector, ok bool) {
	spec := svc.GetSpec()
	if spec.GetType() == corev1.ServiceTypeExternalName || len(spec.GetSelector()) == 0 {
		return nil, false
	}
	return labels.SelectorFromSet(spec.GetSelector()), true
}

// IsServiceIPSet reports whether svc has a cluster IP: neither headless ("None") nor
// without one (ExternalName, or not yet allocated).
func IsServiceIPSet(svc *corev1.Service) bool {
	ip := svc.GetSpec().GetClusterIP()
	return ip != "" && ip != corev1.ClusterIPNone
}

// ShouldPodBeInEndpoints reports whether pod is an endpoint of the services selecting it: it
// has an IP and has not finished; a pod being deleted only when includeTerminating.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if IsPodTerminal(pod) || len(PodIPs(pod)) == 0 {
		return false
	}
	return includeTerminating || pod.GetMetadata().GetDeletionTimestamp() == nil
}

// PodIPs returns the pod's IPs: status.podIPs, else status.podIP alone.
func PodIPs(pod *corev1.Pod) []string {
	var ips []string
	for _, ip := range pod.GetStatus().GetPodIPs() {
		if ip.GetIp() != "" {
			ips = append(ips, ip.GetIp())
		}
	}
	if len(ips) == 0 && pod.GetStatus().GetPodIP() != "" {
		ips = []string{pod.GetStatus().GetPodIP()}
	}
	return ips
}

// FindPort resolves a service port's targetPort on pod, as upstream's podutil.FindPort: a
// number is itself (no targetPort: the service port), a name is the containerPort of the
// same name and protocol among the pod's containers and then its sidecars (init containers
// with restartPolicy Always). An error means the pod does not serve that port.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.GetTargetPort()
	switch {
	case tp == nil:
		return sp.GetPort(), nil
	case tp.GetType() == 0:
		return tp.GetIntVal(), nil
	}
	name, protocol := tp.GetStrVal(), orTCP(sp.GetProtocol())
	containers := pod.GetSpec().GetContainers()
	for _, c := range pod.GetSpec().GetInitContainers() {
		if c.GetRestartPolicy() == "Always" {
			containers = append(slices.Clip(containers), c)
		}
	}
	for _, c := range containers {
		for _, p := range c.GetPorts() {
			if p.GetName() == name && orTCP(p.GetProtocol()) == protocol {
				return p.GetContainerPort(), nil
			}
		}
	}
	return 0, fmt.Errorf("no container port named %q (%s) in pod %s/%s", name, protocol, pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName())
}

func orTCP(protocol string) string {
	if protocol == "" {
		return corev1.ProtocolTCP
	}
	return protocol
}

// ShouldSetHostname reports whether pod's endpoint in svc carries the pod's hostname: the
// pod sets one and names svc as its subdomain (DNS then answers <hostname>.<svc>).
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.GetSpec().GetHostname() != "" && pod.GetSpec().GetSubdomain() == svc.GetMetadata().GetName() &&
		pod.GetMetadata().GetNamespace() == svc.GetMetadata().GetNamespace()
}

// ServicesSelecting returns the keys of the services in pod's namespace whose selector
// matches its labels (upstream's GetPodServiceMemberships).
func ServicesSelecting(services cache.Lister[*corev1.Service], pod *corev1.Pod) (map[string]bool, error) {
	all, err := services.Namespace(pod.GetMetadata().GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for _, svc := range all {
		if sel, ok := ServiceSelector(svc); ok && sel.Matches(pod.GetMetadata().GetLabels()) {
			keys[svc.GetMetadata().GetNamespace()+"/"+svc.GetMetadata().GetName()] = true
		}
	}
	return keys, nil
}

// podEndpointsChanged says whether an update of a pod may change its endpoints (readiness,
// deletion, IPs, phase) and whether it may change which services select it (labels,
// hostname or subdomain).
func podEndpointsChanged(old, cur *corev1.Pod) (podChanged, labelsChanged bool) {
	labelsChanged = !maps.Equal(old.GetMetadata().GetLabels(), cur.GetMetadata().GetLabels()) ||
		old.GetSpec().GetHostname() != cur.GetSpec().GetHostname() || old.GetSpec().GetSubdomain() != cur.GetSpec().GetSubdomain()
	podChanged = (old.GetMetadata().GetDeletionTimestamp() == nil) != (cur.GetMetadata().GetDeletionTimestamp() == nil) ||
		IsPodReady(old) != IsPodReady(cur) || IsPodTerminal(old) != IsPodTerminal(cur) ||
		!slices.Equal(PodIPs(old), PodIPs(cur))
	return podChanged, labelsChanged
}

// ServicesToUpdateOnPodChange returns the keys of the services whose endpoints an update of
// a pod from old to cur may change (upstream's GetServicesToUpdateOnPodChange): none when
// nothing that matters changed; when only its labels did, the services it joined or left;
// otherwise every service that selects it before or after.
func ServicesToUpdateOnPodChange(services cache.Lister[*corev1.Service], old, cur *corev1.Pod) (map[string]bool, error) {
	if IsResync(old, cur) {
		return nil, nil
	}
	podChanged, labelsChanged := podEndpointsChanged(old, cur)
	if !podChanged && !labelsChanged {
		return nil, nil
	}
	keys, err := ServicesSelecting(services, cur)
	if err != nil || !labelsChanged {
		return keys, err
	}
	oldKeys, err := ServicesSelecting(services, old)
	if err != nil {
		return nil, err
	}
	for k := range oldKeys {
		switch {
		case podChanged:
			keys[k] = true
		case keys[k]:
			delete(keys, k) // selected before and after, and nothing else changed
		default:
			keys[k] = true
		}
	}
	return keys, nil
}

// PodServiceHandlers are pod event handlers for controllers whose queue holds service keys:
// each pod event queues, through add, the services whose endpoints it may change. The
// deletion of a pod queues the services that selected it.
func PodServiceHandlers(services cache.Lister[*corev1.Service], add func(key string), log *slog.Logger) cache.ResourceEventHandlerFuncs {
	queue := func(keys map[string]bool, err error) {
		if err != nil {
			log.Error("services of a pod", "err", err)
			return
		}
		for k := range keys {
			add(k)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj runtime.Object) {
			if pod, ok := obj.(*corev1.Pod); ok {
				queue(ServicesSelecting(services, pod))
			}
		},
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			old, ok1 := oldObj.(*corev1.Pod)
			cur, ok2 := newObj.(*corev1.Pod)
			if ok1 && ok2 {
				queue(ServicesToUpdateOnPodChange(services, old, cur))
			}
		},
		DeleteFunc: func(obj any) {
			o, _ := ObjectFromTombstone(obj)
			if pod, ok := o.(*corev1.Pod); ok {
				queue(ServicesSelecting(services, pod))
			}
		},
	}
}

// TriggerTimeTracker computes the last-change-trigger-time of a service's endpoints, as
// upstream's TriggerTimeTracker: the earliest of the changes seen since the service's last
// sync, where a pod's change is its Ready condition's lastTransitionTime and the service's
// its creation. It is safe for concurrent use; a service is synced by one worker at a time.
type TriggerTimeTracker struct {
	mu     sync.Mutex
	states map[string]triggerState
}

type triggerState struct {
	pods    map[string]time.Time
	service time.Time
}

// NewTriggerTimeTracker returns an empty tracker.
func NewTriggerTimeTracker() *TriggerTimeTracker {
	return &TriggerTimeTracker{states: map[string]triggerState{}}
}

// Compute records the trigger times of svc and its pods and returns the earliest that
// changed since the last call for svc; the zero time when none did (the annotation is then
// dropped from what is written).
func (t *TriggerTimeTracker) Compute(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	key := svc.GetMetadata().GetNamespace() + "/" + svc.GetMetadata().GetName()
	t.mu.Lock()
	last := t.states[key]
	t.mu.Unlock()
	var earliest time.Time
	changed := func(at time.Time) {
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	next := triggerState{pods: make(map[string]time.Time, len(pods)), service: TimeOf(svc.GetMetadata().GetCreationTimestamp())}
	for _, pod := range pods {
		c := GetPodCondition(pod, PodReady)
		if c == nil || c.GetLastTransitionTime() == nil {
			continue
		}
		at := TimeOf(c.GetLastTransitionTime())
		next.pods[pod.GetMetadata().GetName()] = at
		if at.After(last.pods[pod.GetMetadata().GetName()]) {
			changed(at)
		}
	}
	if next.service.After(last.service) {
		changed(next.service)
	}
	t.mu.Lock()
	t.states[key] = next
	t.mu.Unlock()
	return earliest
}

// Delete forgets the service key ("namespace/name").
func (t *TriggerTimeTracker) Delete(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.states, key)
}

// FormatTriggerTime is the annotation's value for at.
func FormatTriggerTime(at time.Time) string { return at.UTC().Format(time.RFC3339Nano) }
