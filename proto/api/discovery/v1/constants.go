package discoveryv1

// Labels of an EndpointSlice: the Service it belongs to, and who keeps it.
const (
	// LabelServiceName names the Service a slice holds endpoints of.
	LabelServiceName = "kubernetes.io/service-name"
	// LabelManagedBy names the controller that keeps a slice; each leaves others' alone.
	LabelManagedBy = "endpointslice.kubernetes.io/managed-by"
	// ControllerName is the endpointslice controller's managed-by value.
	ControllerName = "endpointslice-controller.k8s.io"
	// MirrorControllerName is the endpointslice mirroring controller's.
	MirrorControllerName = "endpointslicemirroring-controller.k8s.io"
)

// Address types of an EndpointSlice.
const (
	AddressTypeIPv4 = "IPv4"
	AddressTypeIPv6 = "IPv6"
	AddressTypeFQDN = "FQDN"
)
