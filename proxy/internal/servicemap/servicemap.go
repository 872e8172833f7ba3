// Package servicemap turns Services and EndpointSlices into what a node proxy programs: one
// ServicePort per port of every Service that has a virtual IP, with the endpoints of that
// port, and (Categorize) which of them this node sends each kind of traffic to, as
// kube-proxy's ServicePortMap, EndpointSliceCache and CategorizeEndpoints do.
//
// It is pure: API objects in, values out; no I/O, no clock.
package servicemap

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
)

// LabelServiceProxyName on a Service hands it to another proxy: kube-proxy (and this one)
// leaves such services alone.
const LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"

// ServicePortName names one port of a Service, as kube-proxy's ServicePortName.
type ServicePortName struct {
	Namespace, Name string
	// Port is the port's name ("" for a service's only, unnamed port).
	Port string
	// Protocol is TCP, UDP or SCTP.
	Protocol string
}

// String is "namespace/name:port", or "namespace/name" for an unnamed port: the text
// kube-proxy hashes into chain names and writes in rule comments.
func (n ServicePortName) String() string {
	s := n.Namespace + "/" + n.Name
	if n.Port != "" {
		s += ":" + n.Port
	}
	return s
}

// Endpoint is one address and port a service port's traffic may go to.
type Endpoint struct {
	IP   string
	Port int32
	// NodeName is the node the endpoint runs on ("" when the slice does not say).
	NodeName string
	// Local is true when NodeName is this node.
	Local bool
	// Ready, Serving and Terminating are the slice's conditions, with kube-proxy's
	// reading of unset ones: ready and serving unless said otherwise, not terminating.
	Ready, Serving, Terminating bool
}

// String is "ip:port", the DNAT destination and part of the endpoint chain's hash.
func (e Endpoint) String() string { return net.JoinHostPort(e.IP, strconv.Itoa(int(e.Port))) }

// ServicePort is one port of a Service with a cluster IP, and every endpoint of it.
type ServicePort struct {
	Name      ServicePortName
	ClusterIP string
	Port      int32
	// NodePort is 0 unless the service's type gives it one.
	NodePort    int32
	ExternalIPs []string
	// StickySeconds is ClientIP session affinity's timeout; 0 means no affinity.
	StickySeconds int32
	// InternalPolicyLocal: cluster-IP traffic goes to this node's endpoints only.
	InternalPolicyLocal bool
	// ExternalPolicyLocal: node-port and external-IP traffic goes to this node's
	// endpoints only (only ever true for an externally accessible service).
	ExternalPolicyLocal bool
	// Endpoints are all of the port's endpoints, usable or not, sorted by String.
	Endpoints []Endpoint
}

// ExternallyAccessible reports whether traffic reaches the port other than by its
// cluster IP.
func (sp *ServicePort) ExternallyAccessible() bool {
	return sp.NodePort != 0 || len(sp.ExternalIPs) > 0
}

// UsesClusterEndpoints reports whether some of the port's traffic may go to any endpoint
// in the cluster: cluster-IP traffic under Cluster policy, and any externally accessible
// port's, since even under externalTrafficPolicy Local the node's and the pods' own traffic
// to a node port or external IP short-circuits to the Cluster endpoints.
func (sp *ServicePort) UsesClusterEndpoints() bool {
	return !sp.InternalPolicyLocal || sp.ExternallyAccessible()
}

// UsesLocalEndpoints reports whether some of the port's traffic goes only to this node's
// endpoints.
func (sp *ServicePort) UsesLocalEndpoints() bool {
	return sp.InternalPolicyLocal || (sp.ExternallyAccessible() && sp.ExternalPolicyLocal)
}

// Build returns the ServicePorts of services, with their endpoints from slices, sorted by
// name. nodeName decides which endpoints are local. Services without a cluster IP
// (headless, ExternalName, not yet allocated) and services another proxy owns are left
// out; so are endpoints of address types other than IPv4 (kubelab is IPv4 only).
func Build(services []*corev1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) []ServicePort {
	type svcKey struct{ ns, name string }
	bySvc := map[svcKey][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		if s.GetAddressType() != discoveryv1.AddressTypeIPv4 {
			continue
		}
		svc := s.GetMetadata().GetLabels()[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		k := svcKey{s.GetMetadata().GetNamespace(), svc}
		bySvc[k] = append(bySvc[k], s)
	}

	var out []ServicePort
	for _, svc := range services {
		spec := svc.GetSpec()
		if _, other := svc.GetMetadata().GetLabels()[LabelServiceProxyName]; other {
			continue
		}
		ip := spec.GetClusterIP()
		if !corev1.NeedsClusterIP(svc) || ip == "" || ip == corev1.ClusterIPNone || net.ParseIP(ip).To4() == nil {
			continue
		}
		sticky := int32(0)
		if spec.GetSessionAffinity() == corev1.ServiceAffinityClientIP {
			sticky = corev1.DefaultClientIPServiceAffinitySeconds
			if cfg := spec.GetSessionAffinityConfig().GetClientIP(); cfg != nil && cfg.TimeoutSeconds != nil {
				sticky = cfg.GetTimeoutSeconds()
			}
		}
		var externalIPs []string
		for _, e := range spec.GetExternalIPs() {
			if net.ParseIP(e).To4() != nil {
				externalIPs = append(externalIPs, e)
			}
		}
		extLocal := corev1.ExternallyAccessible(svc) && spec.GetExternalTrafficPolicy() == corev1.ServiceTrafficPolicyLocal
		meta := svc.GetMetadata()
		for _, p := range spec.GetPorts() {
			proto := p.GetProtocol()
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			sp := ServicePort{
				Name:                ServicePortName{Namespace: meta.GetNamespace(), Name: meta.GetName(), Port: p.GetName(), Protocol: proto},
				ClusterIP:           ip,
				Port:                p.GetPort(),
				ExternalIPs:         externalIPs,
				StickySeconds:       sticky,
				InternalPolicyLocal: spec.GetInternalTrafficPolicy() == corev1.ServiceTrafficPolicyLocal,
				ExternalPolicyLocal: extLocal,
			}
			if corev1.NeedsNodePorts(svc) {
				sp.NodePort = p.GetNodePort()
			}
			if sp.NodePort == 0 && len(externalIPs) == 0 {
				sp.ExternalPolicyLocal = false
			}
			sp.Endpoints = endpointsFor(bySvc[svcKey{meta.GetNamespace(), meta.GetName()}], p.GetName(), proto, nodeName)
			out = append(out, sp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name.String() < out[j].Name.String() || (out[i].Name.String() == out[j].Name.String() && out[i].Name.Protocol < out[j].Name.Protocol)
	})
	return out
}

// endpointsFor gathers the endpoints of the slices' port named portName with protocol,
// once per ip:port even when several slices list it (during a slice's handover).
func endpointsFor(slices []*discoveryv1.EndpointSlice, portName, protocol, nodeName string) []Endpoint {
	seen := map[string]bool{}
	var eps []Endpoint
	for _, s := range slices {
		for _, p := range s.GetPorts() {
			proto := p.GetProtocol()
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if p.GetName() != portName || proto != protocol || p.Port == nil || p.GetPort() <= 0 {
				continue
			}
			for _, e := range s.GetEndpoints() {
				if len(e.GetAddresses()) == 0 {
					continue
				}
				c := e.GetConditions()
				ep := Endpoint{
					IP: e.GetAddresses()[0], Port: p.GetPort(), NodeName: e.GetNodeName(),
					Ready:       c.Ready == nil || c.GetReady(),
					Serving:     c.Serving == nil || c.GetServing(),
					Terminating: c.Terminating != nil && c.GetTerminating(),
				}
				ep.Local = nodeName != "" && strings.EqualFold(ep.NodeName, nodeName)
				if net.ParseIP(ep.IP).To4() == nil || seen[ep.String()] {
					continue
				}
				seen[ep.String()] = true
				eps = append(eps, ep)
			}
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].String() < eps[j].String() })
	return eps
}

// Categorized is which endpoints of a ServicePort this node sends traffic to.
type Categorized struct {
	// Cluster are the endpoints of Cluster traffic policy: the ready ones anywhere, or
	// when none is ready, the serving and terminating ones (so connections drain rather
	// than fail while a rollout replaces every pod).
	Cluster []Endpoint
	// Local are the endpoints of Local traffic policy: this node's ready ones, else its
	// serving and terminating ones. Empty unless the port uses Local policy.
	Local []Endpoint
	// AllReachable is the union of both: the endpoints that get a chain.
	AllReachable []Endpoint
	// HasAny is true when the port has a usable endpoint anywhere in the cluster.
	HasAny bool
}

// Categorize splits sp's endpoints by traffic policy, as kube-proxy's CategorizeEndpoints
// (without topology hints, which kubelab does not set).
func Categorize(sp *ServicePort) Categorized {
	var c Categorized
	if sp.UsesClusterEndpoints() {
		c.Cluster = filter(sp.Endpoints, func(e Endpoint) bool { return e.Ready })
		if len(c.Cluster) == 0 {
			c.Cluster = filter(sp.Endpoints, func(e Endpoint) bool { return e.Serving && e.Terminating })
		}
		c.HasAny = len(c.Cluster) > 0
	}
	if !sp.UsesLocalEndpoints() {
		c.AllReachable = c.Cluster
		return c
	}
	var localReady, localServingTerminating bool
	for _, e := range sp.Endpoints {
		switch {
		case e.Ready:
			c.HasAny = true
			localReady = localReady || e.Local
		case e.Serving && e.Terminating:
			c.HasAny = true
			localServingTerminating = localServingTerminating || e.Local
		}
	}
	switch {
	case localReady:
		c.Local = filter(sp.Endpoints, func(e Endpoint) bool { return e.Local && e.Ready })
	case localServingTerminating:
		c.Local = filter(sp.Endpoints, func(e Endpoint) bool { return e.Local && e.Serving && e.Terminating })
	}
	if !sp.UsesClusterEndpoints() {
		c.AllReachable = c.Local
		return c
	}
	seen := map[string]bool{}
	for _, e := range append(append([]Endpoint(nil), c.Cluster...), c.Local...) {
		if !seen[e.String()] {
			seen[e.String()] = true
			c.AllReachable = append(c.AllReachable, e)
		}
	}
	sort.Slice(c.AllReachable, func(i, j int) bool { return c.AllReachable[i].String() < c.AllReachable[j].String() })
	return c
}

func filter(eps []Endpoint, keep func(Endpoint) bool) []Endpoint {
	var out []Endpoint
	for _, e := range eps {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
