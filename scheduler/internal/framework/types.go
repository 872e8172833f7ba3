package framework

import (
	"maps"
	"slices"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

// Resource names the scheduler accounts for natively; others are scalar resources.
const (
	ResourceCPU              = "cpu"
	ResourceMemory           = "memory"
	ResourceEphemeralStorage = "ephemeral-storage"
	ResourcePods             = "pods"
)

// Requests a container without requests is counted with when scoring (not when filtering),
// as kube-scheduler does, so best-effort pods still spread.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of every resource, as integers (CPU in millicores, the rest in
// their base unit), so the hot filter and score paths never parse Quantities.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is the pod capacity (only meaningful for allocatable).
	AllowedPodNumber int64
	Scalar           map[string]int64
}

// ResourceFromList converts a wire resource map; unparsable quantities count as zero (the
// apiserver validated them).
func ResourceFromList(m map[string]*metav1.Quantity) Resource {
	var r Resource
	for name, p := range m {
		if q, err := resource.FromProto(p); err == nil {
			r.addQuantity(name, q)
		}
	}
	return r
}

// resourceOf converts a parsed resource list.
func resourceOf(l resource.List) Resource {
	var r Resource
	for name, q := range l {
		r.addQuantity(name, q)
	}
	return r
}

func (r *Resource) addQuantity(name string, q resource.Quantity) {
	switch name {
	case ResourceCPU:
		r.MilliCPU += q.MilliValue()
	case ResourceMemory:
		r.Memory += q.Value()
	case ResourceEphemeralStorage:
		r.EphemeralStorage += q.Value()
	case ResourcePods:
		r.AllowedPodNumber += q.Value()
	default:
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[name] += q.Value()
	}
}

// Add adds o to r.
func (r *Resource) Add(o Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.AllowedPodNumber += o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[k] += v
	}
}

// Sub subtracts o from r.
func (r *Resource) Sub(o Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.AllowedPodNumber -= o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[k] -= v
	}
}

// Clone returns a deep copy.
func (r Resource) Clone() Resource {
	r.Scalar = maps.Clone(r.Scalar)
	return r
}

// Get returns the amount of the named resource.
func (r Resource) Get(name string) int64 {
	switch name {
	case ResourceCPU:
		return r.MilliCPU
	case ResourceMemory:
		return r.Memory
	case ResourceEphemeralStorage:
		return r.EphemeralStorage
	case ResourcePods:
		return r.AllowedPodNumber
	}
	return r.Scalar[name]
}

// HostPort is one host port a pod asks for.
type HostPort struct {
	IP       string
	Protocol string
	Port     int32
}

// PodInfo is a pod with what the scheduler derives from it computed once: its effective
// requests and host ports. The pod is shared and must not be modified.
type PodInfo struct {
	Pod *corev1.Pod
	// Key identifies the pod in the cache: its UID, or namespace/name when it has none.
	Key string
	// Requests are the pod's effective requests: max(sum of containers (and sidecars),
	// largest init container) plus overhead, as kubelet admission and kube-scheduler count.
	Requests Resource
	// NonZero is Requests with unset cpu/memory requests counted at the defaults, per
	// container; scoring uses it.
	NonZero   Resource
	HostPorts []HostPort
	// The pod's inter-pod affinity terms, parsed (InterPodAffinity reads them).
	AffinityTerms
}

// PodKey is the cache key of pod.
func PodKey(pod *corev1.Pod) string {
	m := pod.GetMetadata()
	if uid := m.GetUid(); uid != "" {
		return uid
	}
	return m.GetNamespace() + "/" + m.GetName()
}

// PodPriority is the pod's spec.priority (0 when unset). kubelab serves no PriorityClass
// kind, so nothing resolves spec.priorityClassName into it: clients set it directly.
func PodPriority(pod *corev1.Pod) int32 { return pod.GetSpec().GetPriority() }

// NamespacedName is "namespace/name", for logs and messages.
func NamespacedName(pod *corev1.Pod) string {
	return pod.GetMetadata().GetNamespace() + "/" + pod.GetMetadata().GetName()
}

// nonZeroRequests counts a container's unset cpu or memory request at the defaults.
var nonZeroRequests = resource.PodResourcesOptions{NonMissingContainerRequests: resource.List{
	ResourceCPU:    resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI),
	ResourceMemory: resource.NewQuantity(DefaultMemoryRequest, resource.BinarySI),
}}

// NewPodInfo computes pod's PodInfo.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{
		Pod:      pod,
		Key:      PodKey(pod),
		Requests: resourceOf(resource.PodRequests(pod)),
		NonZero:  resourceOf(resource.PodRequestsWith(pod, nonZeroRequests)),
	}
	pi.AffinityTerms = NewAffinityTerms(pod)
	for _, c := range pod.GetSpec().GetContainers() {
		for _, p := range c.GetPorts() {
			if p.GetHostPort() > 0 {
				pi.HostPorts = append(pi.HostPorts, HostPort{IP: p.GetHostIP(), Protocol: p.GetProtocol(), Port: p.GetHostPort()})
			}
		}
	}
	return pi
}

// HostPortInfo is the set of host ports in use on a node: IP → "protocol/port".
type HostPortInfo map[string]map[protoPort]struct{}

type protoPort struct {
	protocol string
	port     int32
}

const anyIP = "0.0.0.0"

func normalizePort(p HostPort) (string, protoPort) {
	ip, proto := p.IP, p.Protocol
	if ip == "" {
		ip = anyIP
	}
	if proto == "" {
		proto = "TCP"
	}
	return ip, protoPort{proto, p.Port}
}

// Add records p as used.
func (h HostPortInfo) Add(p HostPort) {
	ip, pp := normalizePort(p)
	if h[ip] == nil {
		h[ip] = map[protoPort]struct{}{}
	}
	h[ip][pp] = struct{}{}
}

// Remove forgets p.
func (h HostPortInfo) Remove(p HostPort) {
	ip, pp := normalizePort(p)
	if m := h[ip]; m != nil {
		delete(m, pp)
		if len(m) == 0 {
			delete(h, ip)
		}
	}
}

// Conflicts reports whether p clashes with a used port: same protocol and port on the same
// IP, or on any IP when either side binds 0.0.0.0.
func (h HostPortInfo) Conflicts(p HostPort) bool {
	ip, pp := normalizePort(p)
	if ip == anyIP {
		for _, m := range h {
			if _, ok := m[pp]; ok {
				return true
			}
		}
		return false
	}
	for _, check := range []string{ip, anyIP} {
		if _, ok := h[check][pp]; ok {
			return true
		}
	}
	return false
}

// NodeInfo is a node with the pods the scheduler believes are on it (bound or assumed) and
// the totals derived from them. The scheduler's cache owns the live NodeInfos; plugins see
// clones in a Snapshot and must not modify them.
type NodeInfo struct {
	node *corev1.Node
	Pods []*PodInfo
	// Requested is the sum of the pods' requests; NonZeroRequested counts unset cpu and
	// memory requests at the defaults (for scoring).
	Requested        Resource
	NonZeroRequested Resource
	Allocatable      Resource
	UsedPorts        HostPortInfo
	// Images maps every name of every image the node holds to its size in bytes.
	Images map[string]int64
	// PodsWithAffinity are the pods with any inter-pod (anti-)affinity term, and
	// PodsWithRequiredAntiAffinity those with a required anti-affinity term: what
	// InterPodAffinity must look at even for a pod that has no terms of its own.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Generation increases with every change, so snapshots copy only changed nodes.
	Generation int64
}

// NewNodeInfo returns the NodeInfo of node holding pods.
func NewNodeInfo(node *corev1.Node, pods ...*corev1.Pod) *NodeInfo {
	ni := &NodeInfo{UsedPorts: HostPortInfo{}}
	if node != nil {
		ni.SetNode(node)
	}
	for _, p := range pods {
		ni.AddPodInfo(NewPodInfo(p))
	}
	return ni
}

// Node is the node (nil when only pods naming it are known so far).
func (n *NodeInfo) Node() *corev1.Node { return n.node }

// Name of the node.
func (n *NodeInfo) Name() string { return n.node.GetMetadata().GetName() }

// SetNode sets (or replaces) the node and recomputes what comes from it.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.node = node
	n.Allocatable = ResourceFromList(node.GetStatus().GetAllocatable())
	n.Images = map[string]int64{}
	for _, img := range node.GetStatus().GetImages() {
		for _, name := range img.GetNames() {
			n.Images[name] = img.GetSizeBytes()
		}
	}
}

// AddPodInfo accounts for a pod on the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	n.Requested.Add(pi.Requests)
	n.NonZeroRequested.Add(pi.NonZero)
	if n.UsedPorts == nil {
		n.UsedPorts = HostPortInfo{}
	}
	for _, p := range pi.HostPorts {
		n.UsedPorts.Add(p)
	}
	if pi.hasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
}

// RemovePod stops accounting for the pod with key; false when it was not there.
func (n *NodeInfo) RemovePod(key string) bool {
	for i, pi := range n.Pods {
		if pi.Key != key {
			continue
		}
		n.Pods = slices.Delete(slices.Clone(n.Pods), i, i+1)
		n.PodsWithAffinity = withoutPod(n.PodsWithAffinity, key)
		n.PodsWithRequiredAntiAffinity = withoutPod(n.PodsWithRequiredAntiAffinity, key)
		n.Requested.Sub(pi.Requests)
		n.NonZeroRequested.Sub(pi.NonZero)
		for _, p := range pi.HostPorts {
			n.UsedPorts.Remove(p)
		}
		// Another pod may use the same port (a conflict the scheduler let through by being
		// told about it late): re-add the survivors' ports.
		for _, other := range n.Pods {
			for _, p := range other.HostPorts {
				n.UsedPorts.Add(p)
			}
		}
		return true
	}
	return false
}

// withoutPod returns pods without the one with key, copied (a clone may share the slice).
func withoutPod(pods []*PodInfo, key string) []*PodInfo {
	i := slices.IndexFunc(pods, func(pi *PodInfo) bool { return pi.Key == key })
	if i < 0 {
		return pods
	}
	return slices.Delete(slices.Clone(pods), i, i+1)
}

// Clone copies n so that the copy can be read while the original keeps changing. Pods and
// the node themselves are shared (they are immutable).
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		Pods:             slices.Clone(n.Pods),
		Requested:        n.Requested.Clone(),
		NonZeroRequested: n.NonZeroRequested.Clone(),
		Allocatable:      n.Allocatable.Clone(),
		UsedPorts:        make(HostPortInfo, len(n.UsedPorts)),
		Images:           n.Images, // replaced, never modified, by SetNode
		Generation:       n.Generation,

		PodsWithAffinity:             slices.Clone(n.PodsWithAffinity),
		PodsWithRequiredAntiAffinity: slices.Clone(n.PodsWithRequiredAntiAffinity),
	}
	for ip, m := range n.UsedPorts {
		c.UsedPorts[ip] = maps.Clone(m)
	}
	return c
}

// Snapshot is a consistent view of every node for one scheduling cycle.
type Snapshot struct {
	NodeInfoMap map[string]*NodeInfo
	// List holds the nodes in a stable order (the round-robin search walks it).
	List []*NodeInfo
	// ImageNumNodes counts, per image name, the nodes holding it (ImageLocality spreads
	// by it).
	ImageNumNodes map[string]int
	// Generation is the cache generation the snapshot reflects.
	Generation int64
}

// NewSnapshot builds a snapshot from node infos (tests, benchmarks); nodes without a Node
// are left out.
func NewSnapshot(infos ...*NodeInfo) *Snapshot {
	s := &Snapshot{NodeInfoMap: map[string]*NodeInfo{}, ImageNumNodes: map[string]int{}}
	for _, ni := range infos {
		if ni.Node() == nil {
			continue
		}
		s.NodeInfoMap[ni.Name()] = ni
		s.List = append(s.List, ni)
		for name := range ni.Images {
			s.ImageNumNodes[name]++
		}
	}
	return s
}

// NumNodes in the snapshot.
func (s *Snapshot) NumNodes() int { return len(s.List) }

// Get returns the named node's info, nil when absent.
func (s *Snapshot) Get(name string) *NodeInfo { return s.NodeInfoMap[name] }

// NormalizedImageName adds ":latest" to an image reference without a tag or digest, as the
// kubelet resolves it.
func NormalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") {
		name += ":latest"
	}
	return name
}
