package defaults

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestServiceDefaults(t *testing.T) {
	svc := &corev1.Service{Spec: &corev1.ServiceSpec{Ports: []*corev1.ServicePort{
		{Port: 80},
		{Port: 443, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "https"}, Protocol: "UDP"},
	}}}
	Service(svc)
	spec := svc.Spec
	if spec.Type != "ClusterIP" || spec.SessionAffinity != "None" || spec.GetInternalTrafficPolicy() != "Cluster" || spec.ExternalTrafficPolicy != "" {
		t.Errorf("spec = %v", spec)
	}
	if p := spec.Ports[0]; p.Protocol != "TCP" || p.TargetPort.GetIntVal() != 80 || p.TargetPort.GetType() != 0 {
		t.Errorf("port 0 = %v", p)
	}
	if p := spec.Ports[1]; p.Protocol != "UDP" || p.TargetPort.GetStrVal() != "https" {
		t.Errorf("port 1 = %v", p)
	}
	if spec.AllocateLoadBalancerNodePorts != nil {
		t.Errorf("allocateLoadBalancerNodePorts set on a ClusterIP service")
	}

	lb := &corev1.Service{Spec: &corev1.ServiceSpec{Type: "LoadBalancer", SessionAffinity: "ClientIP"}}
	Service(lb)
	if lb.Spec.ExternalTrafficPolicy != "Cluster" || !lb.Spec.GetAllocateLoadBalancerNodePorts() ||
		lb.Spec.GetSessionAffinityConfig().GetClientIP().GetTimeoutSeconds() != 10800 {
		t.Errorf("load balancer spec = %v", lb.Spec)
	}
	// None drops a config a client sent.
	none := &corev1.Service{Spec: &corev1.ServiceSpec{SessionAffinityConfig: &corev1.SessionAffinityConfig{}}}
	Service(none)
	if none.Spec.SessionAffinityConfig != nil {
		t.Error("sessionAffinityConfig kept with affinity None")
	}
	// ExternalName has no internal traffic policy.
	en := &corev1.Service{Spec: &corev1.ServiceSpec{Type: "ExternalName", ExternalName: "example.com"}}
	Service(en)
	if en.Spec.InternalTrafficPolicy != nil {
		t.Error("internalTrafficPolicy set on ExternalName")
	}
}

func TestEndpointsAndSliceDefaults(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []*corev1.EndpointSubset{{Ports: []*corev1.EndpointPort{{Port: 80}}}}}
	Endpoints(ep)
	if ep.Subsets[0].Ports[0].Protocol != "TCP" {
		t.Errorf("endpoints port = %v", ep.Subsets[0].Ports[0])
	}
	s := &discoveryv1.EndpointSlice{Ports: []*discoveryv1.EndpointPort{{Port: proto.Int32(80)}}, Endpoints: []*discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}}}
	EndpointSlice(s)
	if p := s.Ports[0]; p.Name == nil || p.GetName() != "" || p.GetProtocol() != "TCP" {
		t.Errorf("slice port = %v", p)
	}
	if s.Endpoints[0].Conditions == nil {
		t.Error("endpoint without conditions")
	}
}

func TestServiceOnUpdate(t *testing.T) {
	old := &corev1.Service{Spec: &corev1.ServiceSpec{
		Type: "NodePort", ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}, IpFamilies: []string{"IPv4"},
		IpFamilyPolicy: proto.String("SingleStack"), ExternalTrafficPolicy: "Cluster",
		Ports: []*corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}, {Name: "https", Port: 443, NodePort: 30443}},
	}}

	// A replace of the manifest as written gets the allocated values back.
	replaced := &corev1.Service{Spec: &corev1.ServiceSpec{Type: "NodePort", ExternalTrafficPolicy: "Cluster",
		Ports: []*corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443, NodePort: 30080}}}}
	ServiceOnUpdate(replaced, old)
	if replaced.Spec.ClusterIP != "10.96.0.20" || len(replaced.Spec.ClusterIPs) != 1 {
		t.Errorf("cluster IPs not patched in: %v", replaced.Spec)
	}
	// http's old node port is named by https now, so it is not patched in.
	if replaced.Spec.Ports[0].NodePort != 0 || replaced.Spec.Ports[1].NodePort != 30080 {
		t.Errorf("node ports = %v", replaced.Spec.Ports)
	}

	// To ExternalName: cluster IPs, families and node ports go.
	en := proto.Clone(old).(*corev1.Service)
	en.Spec.Type, en.Spec.ExternalName = "ExternalName", "example.com"
	ServiceOnUpdate(en, old)
	if en.Spec.ClusterIP != "" || en.Spec.ClusterIPs != nil || en.Spec.IpFamilies != nil || en.Spec.IpFamilyPolicy != nil ||
		en.Spec.Ports[0].NodePort != 0 || en.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("ExternalName spec = %v", en.Spec)
	}

	// To ClusterIP: node ports go, the cluster IP stays.
	cip := proto.Clone(old).(*corev1.Service)
	cip.Spec.Type = "ClusterIP"
	ServiceOnUpdate(cip, old)
	if cip.Spec.ClusterIP != "10.96.0.20" || cip.Spec.Ports[0].NodePort != 0 || cip.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("ClusterIP spec = %v", cip.Spec)
	}

	// A client that changes only clusterIP gets clusterIPs to match (validation refuses it).
	moved := proto.Clone(old).(*corev1.Service)
	moved.Spec.ClusterIP = "10.96.0.21"
	ServiceOnUpdate(moved, old)
	if moved.Spec.ClusterIPs[0] != "10.96.0.21" {
		t.Errorf("clusterIPs = %v", moved.Spec.ClusterIPs)
	}

	created := &corev1.Service{Spec: &corev1.ServiceSpec{ClusterIP: "None"}}
	ServiceOnCreate(created)
	if len(created.Spec.ClusterIPs) != 1 || created.Spec.ClusterIPs[0] != "None" {
		t.Errorf("clusterIPs on create = %v", created.Spec.ClusterIPs)
	}
}
