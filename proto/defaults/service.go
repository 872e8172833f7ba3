package defaults

import (
	"slices"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// Service defaults a Service as core/v1's SetDefaults_Service: sessionAffinity None (which
// drops a sessionAffinityConfig) or ClientIP with a 3-hour timeout, type ClusterIP, each
// port's protocol TCP and targetPort its port, externalTrafficPolicy Cluster for
// externally accessible services, internalTrafficPolicy Cluster for the types with a
// cluster IP, allocateLoadBalancerNodePorts true for LoadBalancers. The clusterIP, node
// ports and IP families are the apiserver's to allocate, not defaults.
func Service(svc *corev1.Service) {
	if svc.Spec == nil {
		svc.Spec = &corev1.ServiceSpec{}
	}
	spec := svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if c := spec.GetSessionAffinityConfig().GetClientIP(); c == nil || c.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{
				TimeoutSeconds: proto.Int32(corev1.DefaultClientIPServiceAffinitySeconds),
			}}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for _, p := range spec.Ports {
		if p == nil {
			continue
		}
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if t := p.TargetPort; t == nil || (t.Type == 0 && t.IntVal == 0) || (t.Type == 1 && t.StrVal == "") {
			p.TargetPort = &metav1.IntOrString{IntVal: p.Port}
		}
	}
	if corev1.ExternallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil {
		switch spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			spec.InternalTrafficPolicy = proto.String(corev1.ServiceTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = proto.Bool(true)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.GetStatus().GetLoadBalancer().GetIngress() {
			if ing.Ip != "" && ing.IpMode == nil {
				ing.IpMode = proto.String("VIP")
			}
		}
	}
}

// Endpoints defaults each port's protocol to TCP, as SetDefaults_Endpoints.
func Endpoints(ep *corev1.Endpoints) {
	for _, ss := range ep.Subsets {
		for _, p := range ss.GetPorts() {
			if p != nil && p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// EndpointSlice defaults each port's name to "" and protocol to TCP, as discovery/v1's
// SetDefaults_EndpointPort, and gives every endpoint its conditions: upstream's are a struct,
// always there and written as {} when empty, so a stored slice must hold them too or a
// read-modify-write of its JSON would change it.
func EndpointSlice(s *discoveryv1.EndpointSlice) {
	for _, e := range s.Endpoints {
		if e != nil && e.Conditions == nil {
			e.Conditions = &discoveryv1.EndpointConditions{}
		}
	}
	for _, p := range s.Ports {
		if p == nil {
			continue
		}
		if p.Name == nil {
			p.Name = proto.String("")
		}
		if p.Protocol == nil {
			p.Protocol = proto.String(corev1.ProtocolTCP)
		}
	}
}

// ServiceOnCreate is the create half of Kubernetes' service strategy (NormalizeClusterIPs):
// a client that sets only clusterIP (any older one) gets clusterIPs to match.
func ServiceOnCreate(svc *corev1.Service) {
	spec := svc.GetSpec()
	if spec == nil {
		return
	}
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
}

// ServiceOnUpdate is the update half of Kubernetes' service strategy (PrepareForUpdate):
// values the apiserver allocated and the client left out (a `kubectl replace` of the
// original manifest) are kept from old (patchAllocatedValues); clusterIP and clusterIPs are
// kept in step when a client sets only one (NormalizeClusterIPs); and a type change drops
// what the new type has no use for when the client did not change it (cluster IPs and IP
// families leaving for ExternalName, node ports, the health check port,
// allocateLoadBalancerNodePorts, loadBalancerClass, externalTrafficPolicy:
// dropTypeDependentFields), so the apiserver releases them.
func ServiceOnUpdate(svc, old *corev1.Service) {
	if svc.Spec == nil {
		svc.Spec = &corev1.ServiceSpec{}
	}
	patchAllocatedValues(svc, old)
	normalizeClusterIPs(svc, old)
	dropTypeDependentFields(svc, old)
}

func patchAllocatedValues(svc, old *corev1.Service) {
	spec, ospec := svc.Spec, old.GetSpec()
	if corev1.NeedsClusterIP(old) && corev1.NeedsClusterIP(svc) {
		if spec.ClusterIP == "" {
			spec.ClusterIP = ospec.GetClusterIP()
		}
		if len(spec.ClusterIPs) == 0 && len(ospec.GetClusterIPs()) > 0 {
			spec.ClusterIPs = append([]string(nil), ospec.GetClusterIPs()...)
		}
	}
	if corev1.NeedsNodePorts(old) && corev1.NeedsNodePorts(svc) {
		// Node ports the new spec names itself cannot be patched in elsewhere.
		used := map[int32]bool{}
		inNew := map[int32]bool{}
		for _, p := range spec.Ports {
			inNew[p.GetNodePort()] = true
		}
		for _, p := range ospec.GetPorts() {
			if inNew[p.GetNodePort()] {
				used[p.GetNodePort()] = true
			}
		}
		byName := map[string]int32{}
		for _, p := range ospec.GetPorts() {
			byName[p.GetName()] = p.GetNodePort()
		}
		for _, p := range spec.Ports {
			if p != nil && p.NodePort == 0 && !used[byName[p.Name]] {
				p.NodePort = byName[p.Name]
			}
		}
	}
	if corev1.NeedsHealthCheckNodePort(old) && corev1.NeedsHealthCheckNodePort(svc) && spec.HealthCheckNodePort == 0 {
		spec.HealthCheckNodePort = ospec.GetHealthCheckNodePort()
	}
}

func normalizeClusterIPs(svc, old *corev1.Service) {
	spec, ospec := svc.Spec, old.GetSpec()
	// A client that patched something else and sent no clusterIPs keeps them.
	if len(ospec.GetClusterIPs()) > 0 && len(spec.ClusterIPs) == 0 && ospec.GetClusterIP() == spec.ClusterIP {
		spec.ClusterIPs = append([]string(nil), ospec.GetClusterIPs()...)
	}
	if ospec.GetClusterIP() == spec.ClusterIP {
		return
	}
	same := slices.Equal(ospec.GetClusterIPs(), spec.ClusterIPs)
	switch {
	case ospec.GetClusterIP() != "" && spec.ClusterIP == "":
		if same {
			spec.ClusterIPs = nil // cleared on the client's behalf
		}
	case same:
		spec.ClusterIPs = []string{spec.ClusterIP} // validation decides whether it may change
	}
}

func dropTypeDependentFields(svc, old *corev1.Service) {
	spec, ospec := svc.Spec, old.GetSpec()
	if corev1.NeedsClusterIP(old) && !corev1.NeedsClusterIP(svc) {
		if spec.ClusterIP == ospec.GetClusterIP() && slices.Equal(spec.ClusterIPs, ospec.GetClusterIPs()) {
			spec.ClusterIP, spec.ClusterIPs = "", nil
		}
		if slices.Equal(spec.IpFamilies, ospec.GetIpFamilies()) {
			spec.IpFamilies = nil
		}
		if spec.GetIpFamilyPolicy() == ospec.GetIpFamilyPolicy() {
			spec.IpFamilyPolicy = nil
		}
	}
	if corev1.NeedsNodePorts(old) && !corev1.NeedsNodePorts(svc) && sameNodePorts(svc, old) {
		for _, p := range spec.Ports {
			if p != nil {
				p.NodePort = 0
			}
		}
	}
	if corev1.NeedsHealthCheckNodePort(old) && !corev1.NeedsHealthCheckNodePort(svc) && spec.HealthCheckNodePort == ospec.GetHealthCheckNodePort() {
		spec.HealthCheckNodePort = 0
	}
	if ospec.GetType() == corev1.ServiceTypeLoadBalancer && spec.Type != corev1.ServiceTypeLoadBalancer {
		if spec.AllocateLoadBalancerNodePorts != nil && ospec.AllocateLoadBalancerNodePorts != nil &&
			spec.GetAllocateLoadBalancerNodePorts() == ospec.GetAllocateLoadBalancerNodePorts() {
			spec.AllocateLoadBalancerNodePorts = nil
		}
		if spec.LoadBalancerClass != nil && ospec.LoadBalancerClass != nil && spec.GetLoadBalancerClass() == ospec.GetLoadBalancerClass() {
			spec.LoadBalancerClass = nil
		}
	}
	if corev1.ExternallyAccessible(old) && !corev1.ExternallyAccessible(svc) && spec.ExternalTrafficPolicy == ospec.GetExternalTrafficPolicy() {
		spec.ExternalTrafficPolicy = ""
	}
}

// sameNodePorts reports whether svc's ports have the node ports old's had, port by port.
func sameNodePorts(svc, old *corev1.Service) bool {
	a, b := svc.GetSpec().GetPorts(), old.GetSpec().GetPorts()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].GetNodePort() != b[i].GetNodePort() {
			return false
		}
	}
	return true
}
