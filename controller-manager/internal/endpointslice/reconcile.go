package endpointslice

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/controller-manager/internal/controller"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// plan is what one sync of a service writes: the slices to create, update and delete. It
// is computed from the caches alone (reconciler.plan) and carried out by the controller.
type plan struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

// reconciler is upstream's staging endpointslice Reconciler without its I/O: it decides
// which slices a service's pods call for, changing the existing ones as little as it can.
type reconciler struct {
	nodes cache.Lister[*corev1.Node]
	// maxEndpoints is --max-endpoints-per-slice.
	maxEndpoints int
}

// plan computes the writes that make existing (the service's slices managed by this
// controller, none being deleted) hold an endpoint for each pod. Slices of an address type
// the service no longer has, or owned by an earlier service of the same name, are deleted.
// The error names the pods left out because their node is not in the cache (the sync
// writes the plan, then fails so the service is retried).
func (r *reconciler) plan(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice) (plan, error) {
	types := addressTypes(svc)
	var p plan
	byType := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !slices.Contains(types, s.GetAddressType()) {
			p.delete = append(p.delete, s)
			continue
		}
		byType[s.GetAddressType()] = append(byType[s.GetAddressType()], s)
	}
	var errs []error
	for _, t := range types {
		tp, err := r.planAddressType(svc, pods, byType[t], t)
		p.create = append(p.create, tp.create...)
		p.update = append(p.update, tp.update...)
		p.delete = append(p.delete, tp.delete...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return p, errors.Join(errs...)
}

// addressTypes are the slice address types of svc: one per IP family. A service whose
// families are not set yet (an apiserver that does not default them) gets the family of
// its cluster IP, else IPv4: kubelab clusters are single-stack IPv4, so upstream's
// fallback to both families for headless services is not needed.
func addressTypes(svc *corev1.Service) []string {
	var types []string
	for _, f := range svc.GetSpec().GetIpFamilies() {
		switch f {
		case corev1.IPv4Protocol:
			types = append(types, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			types = append(types, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(types) > 0 {
		return types
	}
	if ip, err := netip.ParseAddr(svc.GetSpec().GetClusterIP()); err == nil && ip.Is6() {
		return []string{discoveryv1.AddressTypeIPv6}
	}
	return []string{discoveryv1.AddressTypeIPv4}
}

// planAddressType is upstream's reconcileByAddressType: the pods' endpoints grouped by the
// ports they resolve to, each group reconciled against the existing slices of the same
// ports, and one empty placeholder slice when the service has no slice at all.
func (r *reconciler) planAddressType(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, addressType string) (plan, error) {
	var p plan
	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if ownedBy(s, svc) {
			k := portsKey(s.GetPorts())
			existingByPorts[k] = append(existingByPorts[k], s)
		} else {
			p.delete = append(p.delete, s)
		}
	}
	desired := map[string]*endpointGroup{}
	var errs []error
	for _, pod := range pods {
		if !controller.ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		k := portsKey(ports)
		g := desired[k]
		if g == nil {
			g = &endpointGroup{ports: ports, byKey: map[string]*discoveryv1.Endpoint{}}
			desired[k] = g
		}
		node, err := r.nodes.Get(pod.GetSpec().GetNodeName())
		switch {
		case apierrors.IsNotFound(err):
			// A pod whose node is gone is left out (and the service retried) rather than
			// keeping every other change from being written; unless not-ready addresses are
			// published, where the user asked for every pod.
			node = nil
			if !svc.GetSpec().GetPublishNotReadyAddresses() {
				errs = append(errs, fmt.Errorf("skipping pod %s for service %s/%s: node %q not found",
					pod.GetMetadata().GetName(), svc.GetMetadata().GetNamespace(), svc.GetMetadata().GetName(), pod.GetSpec().GetNodeName()))
				continue
			}
		case err != nil:
			return plan{}, err
		}
		if ep := podToEndpoint(pod, node, svc, addressType); len(ep.Addresses) > 0 {
			g.add(ep)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		c, u, d := r.planPorts(svc, existingByPorts[k], desired[k], addressType)
		p.create = append(p.create, c...)
		p.update = append(p.update, u...)
		p.delete = append(p.delete, d...)
	}
	for _, k := range slices.Sorted(maps.Keys(existingByPorts)) {
		if desired[k] == nil {
			p.delete = append(p.delete, existingByPorts[k]...)
		}
	}
	if len(existing) == len(p.delete) && len(p.create) == 0 {
		// No endpoints at all: one empty slice says so (a consumer can tell "no endpoints"
		// from "not synced yet"). An existing placeholder is kept rather than recreated.
		placeholder := newSlice(svc, nil, addressType)
		if len(p.delete) == 1 && isPlaceholderOf(p.delete[0], placeholder) {
			p.delete = nil
		} else {
			p.create = append(p.create, placeholder)
		}
	}
	return p.reuseDeleted(svc), errors.Join(errs...)
}

// planPorts is upstream's reconcileByPortMapping for one set of ports: existing slices keep
// the endpoints still desired (updated where they changed) and lose the others (a slice
// left empty is deleted); new endpoints fill the slices being updated anyway, then the
// unchanged slice they fit best, then new slices, so a change touches as few slices as it
// can.
func (r *reconciler) planPorts(svc *corev1.Service, existing []*discoveryv1.EndpointSlice, desired *endpointGroup, addressType string) (create, update, del []*discoveryv1.EndpointSlice) {
	existing = slices.Clone(existing)
	controller.SortByName(existing)
	var unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		var kept []*discoveryv1.Endpoint
		changed := false
		for _, ep := range s.GetEndpoints() {
			want := desired.take(endpointKey(ep))
			if want == nil {
				continue
			}
			kept = append(kept, want)
			changed = changed || !proto.Equal(want, ep)
		}
		labels, labelsChanged := sliceLabels(s, svc)
		switch {
		case changed || len(kept) != len(s.GetEndpoints()):
			if len(kept) == 0 {
				del = append(del, s)
				continue
			}
			s = cloneSlice(s)
			s.Endpoints, s.Metadata.Labels = kept, labels
			update = append(update, s)
		case labelsChanged:
			s = cloneSlice(s)
			s.Metadata.Labels = labels
			update = append(update, s)
		default:
			unchanged = append(unchanged, s)
		}
	}
	if desired.len() > 0 && len(update) > 0 {
		// Fullest first, so the fewest slices stay partly filled.
		slices.SortStableFunc(update, func(a, b *discoveryv1.EndpointSlice) int {
			return cmp.Compare(len(b.GetEndpoints()), len(a.GetEndpoints()))
		})
		for _, s := range update {
			r.fill(s, desired)
		}
	}
	for desired.len() > 0 {
		var s *discoveryv1.EndpointSlice
		if desired.len() < r.maxEndpoints {
			if i := sliceToFill(unchanged, desired.len(), r.maxEndpoints); i >= 0 {
				s = cloneSlice(unchanged[i])
				unchanged = slices.Delete(unchanged, i, i+1)
				update = append(update, s)
			}
		}
		if s == nil {
			s = newSlice(svc, desired.ports, addressType)
			create = append(create, s)
		}
		r.fill(s, desired)
	}
	return create, update, del
}

// fill moves desired endpoints into s until it holds maxEndpoints.
func (r *reconciler) fill(s *discoveryv1.EndpointSlice, desired *endpointGroup) {
	for desired.len() > 0 && len(s.Endpoints) < r.maxEndpoints {
		s.Endpoints = append(s.Endpoints, desired.pop())
	}
}

// sliceToFill is upstream's getSliceToFill: the index of the slice that n more endpoints
// bring closest to full without overflowing it, or -1.
func sliceToFill(candidates []*discoveryv1.EndpointSlice, n, maxEndpoints int) int {
	best, bestRoom := -1, maxEndpoints
	for i, s := range candidates {
		room := maxEndpoints - (n + len(s.GetEndpoints()))
		if room >= 0 && room < bestRoom {
			best, bestRoom = i, room
		}
	}
	return best
}

// reuseDeleted is the first step of upstream's finalize: a slice about to be created takes
// the place of one about to be deleted (an update instead of a create and a delete), when
// the deleted one has the same address type and belongs to this service. The update is
// conditional on the replaced slice's resourceVersion.
func (p plan) reuseDeleted(svc *corev1.Service) plan {
	var keep []*discoveryv1.EndpointSlice
	for _, d := range p.delete {
		if len(p.create) == 0 || d.GetAddressType() != p.create[len(p.create)-1].GetAddressType() || !ownedBy(d, svc) {
			keep = append(keep, d)
			continue
		}
		s := p.create[len(p.create)-1]
		p.create = p.create[:len(p.create)-1]
		s.Metadata.Name, s.Metadata.ResourceVersion, s.Metadata.Uid = d.GetMetadata().GetName(), d.GetMetadata().GetResourceVersion(), d.GetMetadata().GetUid()
		p.update = append(p.update, s)
	}
	p.delete = keep
	return p
}

// endpointGroup is the desired endpoints of one set of ports, in the order they were
// added (pods by name), keyed as upstream's endpoint hash: addresses, hostname and pod.
type endpointGroup struct {
	ports []*discoveryv1.EndpointPort
	order []string
	byKey map[string]*discoveryv1.Endpoint
}

func (g *endpointGroup) add(ep *discoveryv1.Endpoint) {
	k := endpointKey(ep)
	if _, ok := g.byKey[k]; !ok {
		g.order = append(g.order, k)
	}
	g.byKey[k] = ep
}

func (g *endpointGroup) len() int { return len(g.byKey) }

// take removes and returns the endpoint with key k, or nil.
func (g *endpointGroup) take(k string) *discoveryv1.Endpoint {
	ep := g.byKey[k]
	delete(g.byKey, k)
	return ep
}

// pop removes and returns the first endpoint still in the group.
func (g *endpointGroup) pop() *discoveryv1.Endpoint {
	for len(g.order) > 0 {
		k := g.order[0]
		g.order = g.order[1:]
		if ep := g.take(k); ep != nil {
			return ep
		}
	}
	return nil
}

// endpointKey identifies an endpoint across syncs: its addresses, hostname and pod. The
// rest (conditions, node, zone, hints) is compared to decide on an update.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := slices.Sorted(slices.Values(ep.GetAddresses()))
	ref := ep.GetTargetRef()
	return strings.Join(addrs, ",") + "|" + ep.GetHostname() + "|" + ref.GetNamespace() + "/" + ref.GetName()
}

// portsKey identifies a set of endpoint ports, whatever their order.
func portsKey(ports []*discoveryv1.EndpointPort) string {
	keys := make([]string, 0, len(ports))
	for _, p := range ports {
		keys = append(keys, strconv.Quote(p.GetName())+"/"+p.GetProtocol()+"/"+strconv.Itoa(int(p.GetPort()))+"/"+strconv.Quote(p.GetAppProtocol()))
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// endpointPorts are the ports pod serves for svc: each service port whose targetPort the pod
// resolves. A headless service may have no ports (all of the pod's).
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []*discoveryv1.EndpointPort {
	var ports []*discoveryv1.EndpointPort
	for _, sp := range svc.GetSpec().GetPorts() {
		n, err := controller.FindPort(pod, sp)
		if err != nil {
			continue
		}
		ports = append(ports, &discoveryv1.EndpointPort{
			Name: proto.String(sp.GetName()), Protocol: proto.String(sp.GetProtocol()), Port: proto.Int32(n), AppProtocol: sp.AppProtocol,
		})
	}
	return ports
}

// podToEndpoint is pod's endpoint in a slice of addressType: its IPs of that family, its
// conditions (ready: serving and not terminating, or always when the service publishes
// not-ready addresses), the pod, its node and the node's zone, and the hostname when the
// pod names the service as its subdomain. With trafficDistribution PreferClose an endpoint
// with a zone is hinted to it, as upstream's trafficdist does.
func podToEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, addressType string) *discoveryv1.Endpoint {
	serving := controller.IsPodReady(pod)
	terminating := pod.GetMetadata().GetDeletionTimestamp() != nil
	ready := svc.GetSpec().GetPublishNotReadyAddresses() || (serving && !terminating)
	ep := &discoveryv1.Endpoint{
		Addresses:  []string{},
		Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(ready), Serving: proto.Bool(serving), Terminating: proto.Bool(terminating)},
		TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: pod.GetMetadata().GetNamespace(), Name: pod.GetMetadata().GetName(), Uid: pod.GetMetadata().GetUid(),
		},
	}
	for _, ip := range controller.PodIPs(pod) {
		a, err := netip.ParseAddr(ip)
		if err == nil && a.Is6() == (addressType == discoveryv1.AddressTypeIPv6) {
			ep.Addresses = append(ep.Addresses, ip)
		}
	}
	if n := pod.GetSpec().GetNodeName(); n != "" {
		ep.NodeName = proto.String(n)
	}
	if z := node.GetMetadata().GetLabels()[controller.LabelTopologyZone]; z != "" {
		ep.Zone = proto.String(z)
		if svc.GetSpec().GetTrafficDistribution() == "PreferClose" {
			ep.Hints = &discoveryv1.EndpointHints{ForZones: []*discoveryv1.ForZone{{Name: z}}}
		}
	}
	if controller.ShouldSetHostname(pod, svc) {
		ep.Hostname = proto.String(pod.GetSpec().GetHostname())
	}
	return ep
}

// serviceKind is the owner kind of the controller's slices.
var serviceKind = controller.CoreMapping("Service").Kind

// newSlice is an empty slice of svc for ports: named "<service>-<random>", owned by the
// service, labelled as sliceLabels says.
func newSlice(svc *corev1.Service, ports []*discoveryv1.EndpointPort, addressType string) *discoveryv1.EndpointSlice {
	m := svc.GetMetadata()
	s := &discoveryv1.EndpointSlice{
		Kind: "EndpointSlice", ApiVersion: "discovery.k8s.io/v1",
		Metadata: &metav1.ObjectMeta{
			GenerateName: m.GetName() + "-", Namespace: m.GetNamespace(),
			OwnerReferences: []*metav1.OwnerReference{controller.NewControllerRef(svc, serviceKind)},
		},
		AddressType: addressType,
		Ports:       ports,
	}
	s.Metadata.Labels, _ = sliceLabels(s, svc)
	return s
}

// sliceLabels are the labels a slice of svc should have, and whether s's differ: the
// service's own labels, the service name and managed-by labels, and the headless label for
// a service without a cluster IP. The reserved labels are never copied from the service.
func sliceLabels(s *discoveryv1.EndpointSlice, svc *corev1.Service) (map[string]string, bool) {
	want := map[string]string{}
	for k, v := range svc.GetMetadata().GetLabels() {
		if k != discoveryv1.LabelServiceName && k != discoveryv1.LabelManagedBy && k != controller.LabelHeadlessService {
			want[k] = v
		}
	}
	if !controller.IsServiceIPSet(svc) {
		want[controller.LabelHeadlessService] = ""
	}
	want[discoveryv1.LabelServiceName] = svc.GetMetadata().GetName()
	want[discoveryv1.LabelManagedBy] = discoveryv1.ControllerName
	return want, !maps.Equal(want, s.GetMetadata().GetLabels())
}

// isPlaceholderOf reports whether s is the placeholder p would be: no endpoints, no
// ports, the same address type, labels and owners.
func isPlaceholderOf(s, p *discoveryv1.EndpointSlice) bool {
	if len(s.GetEndpoints()) > 0 || len(s.GetPorts()) > 0 || s.GetAddressType() != p.GetAddressType() ||
		!maps.Equal(s.GetMetadata().GetLabels(), p.GetMetadata().GetLabels()) {
		return false
	}
	return slices.EqualFunc(s.GetMetadata().GetOwnerReferences(), p.GetMetadata().GetOwnerReferences(), func(a, b *metav1.OwnerReference) bool {
		return proto.Equal(a, b)
	})
}

// ownedBy reports whether svc (this very object: its uid) owns s.
func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, ref := range s.GetMetadata().GetOwnerReferences() {
		if ref.GetUid() == svc.GetMetadata().GetUid() && ref.GetKind() == serviceKind.Kind && ref.GetApiVersion() == serviceKind.APIVersion() {
			return true
		}
	}
	return false
}

// cloneSlice copies a cached slice before it is changed.
func cloneSlice(s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	return proto.Clone(s).(*discoveryv1.EndpointSlice)
}
