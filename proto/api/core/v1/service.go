package corev1

// Service types.
const (
	ServiceTypeClusterIP    = "ClusterIP"
	ServiceTypeNodePort     = "NodePort"
	ServiceTypeLoadBalancer = "LoadBalancer"
	ServiceTypeExternalName = "ExternalName"
)

// ClusterIPNone as a Service's clusterIP makes it headless: no virtual IP, no proxying.
const ClusterIPNone = "None"

// Session affinities, traffic policies, IP families and their policies of a Service.
const (
	ServiceAffinityNone     = "None"
	ServiceAffinityClientIP = "ClientIP"
	// DefaultClientIPServiceAffinitySeconds is ClientIP affinity's default timeout (3 hours).
	DefaultClientIPServiceAffinitySeconds = 10800
	// MaxClientIPServiceAffinitySeconds is its largest timeout (a day).
	MaxClientIPServiceAffinitySeconds = 86400

	ServiceTrafficPolicyCluster = "Cluster"
	ServiceTrafficPolicyLocal   = "Local"

	IPv4Protocol = "IPv4"
	IPv6Protocol = "IPv6"

	IPFamilyPolicySingleStack      = "SingleStack"
	IPFamilyPolicyPreferDualStack  = "PreferDualStack"
	IPFamilyPolicyRequireDualStack = "RequireDualStack"

	ProtocolTCP  = "TCP"
	ProtocolUDP  = "UDP"
	ProtocolSCTP = "SCTP"
)

// IsHeadless reports whether svc has no virtual IP of its own ("None").
func IsHeadless(svc *Service) bool { return svc.GetSpec().GetClusterIP() == ClusterIPNone }

// NeedsClusterIP reports whether svc's type has a clusterIP (a real one or "None"): every
// type but ExternalName.
func NeedsClusterIP(svc *Service) bool { return svc.GetSpec().GetType() != ServiceTypeExternalName }

// NeedsNodePorts reports whether svc's ports get node ports: NodePort, and LoadBalancer
// unless allocateLoadBalancerNodePorts is false.
func NeedsNodePorts(svc *Service) bool {
	switch svc.GetSpec().GetType() {
	case ServiceTypeNodePort:
		return true
	case ServiceTypeLoadBalancer:
		return svc.GetSpec().AllocateLoadBalancerNodePorts == nil || svc.GetSpec().GetAllocateLoadBalancerNodePorts()
	}
	return false
}

// NeedsHealthCheckNodePort reports whether svc gets a healthCheckNodePort: a LoadBalancer
// whose externalTrafficPolicy is Local.
func NeedsHealthCheckNodePort(svc *Service) bool {
	return svc.GetSpec().GetType() == ServiceTypeLoadBalancer && svc.GetSpec().GetExternalTrafficPolicy() == ServiceTrafficPolicyLocal
}

// ExternallyAccessible reports whether svc is reached from outside the cluster (NodePort,
// LoadBalancer, or a ClusterIP service with externalIPs), the services that have an
// externalTrafficPolicy.
func ExternallyAccessible(svc *Service) bool {
	switch svc.GetSpec().GetType() {
	case ServiceTypeNodePort, ServiceTypeLoadBalancer:
		return true
	case ServiceTypeClusterIP:
		return len(svc.GetSpec().GetExternalIPs()) > 0
	}
	return false
}
