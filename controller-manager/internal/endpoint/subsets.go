package endpoint

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
)

// addrKey identifies an address across subsets: its IP and pod.
type addrKey struct{ ip, uid string }

func keyOf(a *corev1.EndpointAddress) addrKey {
	return addrKey{ip: a.GetIp(), uid: a.GetTargetRef().GetUid()}
}

// noPort stands for the ports of a subset that has none (a headless service without ports).
var noPort = &corev1.EndpointPort{Port: -1}

// repackSubsets is upstream's endpoints.RepackSubsets: it brings subsets, one per address and
// port as the sync builds them, to the canonical layout: one subset per set of addresses
// that serve the same ports, an address ready only where it is ready for every one of them
// (not ready wins), addresses sorted by IP and pod, ports by name. Upstream orders ports
// and subsets by a hash of their content; kubelab by their content, so the order is as
// stable but may differ from upstream's when a service has several.
func repackSubsets(subsets []*corev1.EndpointSubset) []*corev1.EndpointSubset {
	addrs := map[addrKey]*corev1.EndpointAddress{}
	type portAddrs struct {
		port  *corev1.EndpointPort
		ready map[addrKey]bool
	}
	byPort := map[string]*portAddrs{}
	add := func(a *corev1.EndpointAddress, port *corev1.EndpointPort, ready bool) {
		k := keyOf(a)
		if _, ok := addrs[k]; !ok {
			addrs[k] = a
		}
		pk := portString(port)
		pa := byPort[pk]
		if pa == nil {
			pa = &portAddrs{port: port, ready: map[addrKey]bool{}}
			byPort[pk] = pa
		}
		if was, ok := pa.ready[k]; !ok || was {
			pa.ready[k] = ready
		}
	}
	for _, s := range subsets {
		ports := s.GetPorts()
		if len(ports) == 0 {
			ports = []*corev1.EndpointPort{noPort}
		}
		for _, p := range ports {
			for _, a := range s.GetAddresses() {
				add(a, p, true)
			}
			for _, a := range s.GetNotReadyAddresses() {
				add(a, p, false)
			}
		}
	}
	// Ports whose addresses (and readiness) are the same share a subset.
	type group struct {
		ready map[addrKey]bool
		ports []*corev1.EndpointPort
	}
	groups := map[string]*group{}
	for _, pk := range slices.Sorted(maps.Keys(byPort)) {
		pa := byPort[pk]
		gk := addrSetString(pa.ready)
		g := groups[gk]
		if g == nil {
			g = &group{ready: pa.ready}
			groups[gk] = g
		}
		if pa.port != noPort {
			g.ports = append(g.ports, pa.port)
		}
	}
	out := make([]*corev1.EndpointSubset, 0, len(groups))
	for _, gk := range slices.Sorted(maps.Keys(groups)) {
		g := groups[gk]
		s := &corev1.EndpointSubset{Ports: g.ports}
		for _, k := range slices.SortedFunc(maps.Keys(g.ready), compareAddrKeys) {
			a := proto.Clone(addrs[k]).(*corev1.EndpointAddress)
			if g.ready[k] {
				s.Addresses = append(s.Addresses, a)
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, a)
			}
		}
		out = append(out, s)
	}
	return out
}

func compareAddrKeys(a, b addrKey) int {
	return cmp.Or(cmp.Compare(a.ip, b.ip), cmp.Compare(a.uid, b.uid))
}

// portString identifies a port (name first, so subsets list ports by name).
func portString(p *corev1.EndpointPort) string {
	app := "-"
	if p.AppProtocol != nil {
		app = "=" + p.GetAppProtocol()
	}
	return fmt.Sprintf("%q/%d/%s/%s", p.GetName(), p.GetPort(), p.GetProtocol(), app)
}

// addrSetString identifies a set of addresses with their readiness, ordered as they are
// listed.
func addrSetString(set map[addrKey]bool) string {
	var b strings.Builder
	for _, k := range slices.SortedFunc(maps.Keys(set), compareAddrKeys) {
		fmt.Fprintf(&b, "%s/%s/%v,", k.ip, k.uid, set[k])
	}
	return b.String()
}

// maxCapacity is the most addresses an Endpoints object holds; beyond, it is truncated and
// annotated over-capacity (consumers should read EndpointSlices).
const maxCapacity = 1000

// Over-capacity annotation, as in k8s.io/api/core/v1.
const (
	AnnotationOverCapacity = "endpoints.kubernetes.io/over-capacity"
	truncated              = "truncated"
)

// countAddresses is the number of addresses, ready or not, of subsets.
func countAddresses(subsets []*corev1.EndpointSubset) (ready, notReady int) {
	for _, s := range subsets {
		ready += len(s.GetAddresses())
		notReady += len(s.GetNotReadyAddresses())
	}
	return ready, notReady
}

// capacityAnnotationSetCorrectly reports whether subsets need no truncation and the
// over-capacity annotation is absent.
func capacityAnnotationSetCorrectly(annotations map[string]string, subsets []*corev1.EndpointSubset) bool {
	ready, notReady := countAddresses(subsets)
	if ready+notReady > maxCapacity {
		return false
	}
	_, ok := annotations[AnnotationOverCapacity]
	return !ok
}

// truncate is upstream's truncateEndpoints: it cuts subsets down to maxCapacity addresses,
// ready ones first, each subset keeping its share (rounded up) of what is kept, and
// reports whether it had to.
func truncate(subsets []*corev1.EndpointSubset) bool {
	totalReady, totalNotReady := countAddresses(subsets)
	if totalReady+totalNotReady <= maxCapacity {
		return false
	}
	truncateReady := totalReady > maxCapacity
	keep, total := maxCapacity-totalReady, totalNotReady
	if truncateReady {
		keep, total = maxCapacity, totalReady
	}
	room := keep
	for _, s := range subsets {
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		share := min(int(math.Ceil(float64(n)/float64(total)*float64(keep))), room)
		if truncateReady {
			s.Addresses = s.Addresses[:min(len(s.Addresses), share)]
			s.NotReadyAddresses = nil
			room -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(len(s.NotReadyAddresses), share)]
			room -= len(s.NotReadyAddresses)
		}
	}
	return true
}

// subsetsEqual compares subsets, ignoring the resourceVersion of the pods they name (a pod
// update that changes nothing here must not rewrite the Endpoints).
func subsetsEqual(a, b []*corev1.EndpointSubset) bool {
	return slices.EqualFunc(a, b, func(x, y *corev1.EndpointSubset) bool {
		return proto.Equal(withoutPodVersions(x), withoutPodVersions(y))
	})
}

func withoutPodVersions(s *corev1.EndpointSubset) *corev1.EndpointSubset {
	s = proto.Clone(s).(*corev1.EndpointSubset)
	for _, a := range slices.Concat(s.Addresses, s.NotReadyAddresses) {
		if a.TargetRef != nil {
			a.TargetRef.ResourceVersion = ""
		}
	}
	return s
}
