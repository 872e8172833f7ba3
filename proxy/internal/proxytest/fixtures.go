// Package proxytest builds the Services and EndpointSlices the proxy's tests feed it.
package proxytest

import (
	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// Service is a ClusterIP service ns/name at clusterIP with ports, each "name:port/PROTO"
// given as Port values; edit adjusts it further.
func Service(ns, name, clusterIP string, ports []Port, edit ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		Kind: "Service", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: &corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP},
			SessionAffinity: corev1.ServiceAffinityNone, Selector: map[string]string{"app": name},
		},
	}
	for _, p := range ports {
		protocol := p.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		target := p.Target
		if target == 0 {
			target = p.Port
		}
		svc.Spec.Ports = append(svc.Spec.Ports, &corev1.ServicePort{
			Name: p.Name, Protocol: protocol, Port: p.Port, NodePort: p.NodePort,
			TargetPort: &metav1.IntOrString{IntVal: target},
		})
	}
	for _, e := range edit {
		e(svc)
	}
	return svc
}

// Port is one service port; Target defaults to Port.
type Port struct {
	Name     string
	Port     int32
	Target   int32
	NodePort int32
	Protocol string
}

// NodePort makes a service type NodePort with the given externalTrafficPolicy.
func NodePort(policy string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ExternalTrafficPolicy = policy
	}
}

// InternalLocal sets internalTrafficPolicy Local.
func InternalLocal(s *corev1.Service) {
	s.Spec.InternalTrafficPolicy = proto.String(corev1.ServiceTrafficPolicyLocal)
}

// ClientIP sets ClientIP session affinity with timeout seconds (0: the default).
func ClientIP(timeout int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		if timeout > 0 {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: proto.Int32(timeout)}}
		}
	}
}

// Endpoint is one endpoint of a slice.
type Endpoint struct {
	IP, Node string
	// NotReady, Terminating and NotServing set the conditions (a terminating endpoint
	// is not ready); ReadyUnset leaves all three out.
	NotReady, Terminating, NotServing, ReadyUnset bool
}

// Slice is the EndpointSlice name of service svc in ns, with ports and endpoints.
func Slice(ns, svc, name string, ports []SlicePort, eps ...Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		Kind: "EndpointSlice", ApiVersion: "discovery.k8s.io/v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "proxy-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range ports {
		protocol := p.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		s.Ports = append(s.Ports, &discoveryv1.EndpointPort{Name: proto.String(p.Name), Protocol: proto.String(protocol), Port: proto.Int32(p.Port)})
	}
	for _, e := range eps {
		c := &discoveryv1.EndpointConditions{
			Ready: proto.Bool(!e.NotReady && !e.Terminating), Serving: proto.Bool(!e.NotServing), Terminating: proto.Bool(e.Terminating),
		}
		if e.ReadyUnset {
			c = &discoveryv1.EndpointConditions{}
		}
		ep := &discoveryv1.Endpoint{Addresses: []string{e.IP}, Conditions: c}
		if e.Node != "" {
			ep.NodeName = proto.String(e.Node)
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// SlicePort is one port of a slice.
type SlicePort struct {
	Name     string
	Port     int32
	Protocol string
}
