package validation

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// Service validation, as Kubernetes' ValidateService, ValidateServiceUpdate and
// ValidateEndpoints (pkg/apis/core/validation), with their messages. kubelab is
// single-stack IPv4: a second cluster IP, or a dual-stack policy a headless service without
// selector does not ask for, is refused by the allocator, not here.

var (
	serviceTypes          = []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}
	sessionAffinities     = []string{"ClientIP", "None"}
	trafficPolicies       = []string{"Cluster", "Local"}
	ipFamilies            = []string{"IPv4", "IPv6"}
	ipFamilyPolicies      = []string{"PreferDualStack", "RequireDualStack", "SingleStack"}
	trafficDistributions  = []string{"PreferClose", "PreferSameNode", "PreferSameZone"}
	legacyIPMessage       = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
	mustBeLoadBalancerMsg = "may only be used when `type` is 'LoadBalancer'"
)

// jsonValue shows a composite value as Kubernetes' field errors now do: as JSON.
type jsonValue struct{ v any }

func (j jsonValue) String() string {
	b, _ := json.Marshal(j.v)
	return string(b)
}

// ValidateService checks a Service about to be created.
func ValidateService(svc *corev1.Service) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	spec := svc.GetSpec()
	headless := len(spec.GetClusterIPs()) > 0 && spec.GetClusterIPs()[0] == corev1.ClusterIPNone
	if len(spec.GetPorts()) == 0 && !headless && spec.GetType() != corev1.ServiceTypeExternalName {
		errs = append(errs, apierrors.Required("spec.ports", ""))
	}
	switch spec.GetType() {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if headless {
			errs = append(errs, apierrors.Invalid("spec.clusterIPs[0]", spec.GetClusterIPs()[0], "may not be set to 'None' for "+spec.GetType()+" services"))
		}
	case corev1.ServiceTypeExternalName:
		if len(spec.GetClusterIPs()) > 0 {
			errs = append(errs, apierrors.Forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
		}
		if len(spec.GetIpFamilies()) > 0 {
			errs = append(errs, apierrors.Forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
		}
		if spec.IpFamilyPolicy != nil {
			errs = append(errs, apierrors.Forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
		}
		// The name (a CNAME) may end in a dot, to say it is fully qualified.
		if cname := strings.TrimSuffix(spec.GetExternalName(), "."); cname != "" {
			errs = append(errs, validateDNS1123Subdomain(cname, "spec.externalName")...)
		} else {
			errs = append(errs, apierrors.Required("spec.externalName", ""))
		}
	}

	names := map[string]bool{}
	for i, p := range spec.GetPorts() {
		errs = append(errs, validateServicePort(p, len(spec.GetPorts()) > 1, names, index("spec.ports", i))...)
	}
	if spec.Selector != nil {
		errs = append(errs, ValidateLabels(spec.GetSelector(), "spec.selector")...)
	}
	errs = append(errs, validateEnum(spec.GetSessionAffinity(), sessionAffinities, "spec.sessionAffinity")...)
	switch spec.GetSessionAffinity() {
	case corev1.ServiceAffinityClientIP:
		errs = append(errs, validateClientIPAffinityConfig(spec.GetSessionAffinityConfig(), "spec.sessionAffinityConfig")...)
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, apierrors.Forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
		}
	}
	errs = append(errs, validateClusterIPsRelatedFields(svc)...)
	for i, ip := range spec.GetExternalIPs() {
		p := index("spec.externalIPs", i)
		if e := validIP(ip, p); e != nil {
			errs = append(errs, e...)
		} else {
			errs = append(errs, validateNonSpecialIP(ip, p)...)
		}
	}
	errs = append(errs, validateEnum(spec.GetType(), serviceTypes, "spec.type")...)
	if spec.GetType() == corev1.ServiceTypeClusterIP {
		for i, p := range spec.GetPorts() {
			if p.GetNodePort() != 0 {
				errs = append(errs, apierrors.Forbidden(child(index("spec.ports", i), "nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	// Duplicate node ports and ports, by (protocol, port).
	nodePorts, ports := map[string]bool{}, map[string]bool{}
	for i, p := range spec.GetPorts() {
		pp := index("spec.ports", i)
		if np := p.GetNodePort(); np != 0 {
			k := fmt.Sprintf("%s/%d", p.GetProtocol(), np)
			if nodePorts[k] {
				errs = append(errs, apierrors.Duplicate(child(pp, "nodePort"), int64(np)))
			}
			nodePorts[k] = true
		}
		k := fmt.Sprintf("%s/%d", p.GetProtocol(), p.GetPort())
		if ports[k] {
			errs = append(errs, apierrors.Duplicate(pp, bare(fmt.Sprintf(`{"Name":"","Protocol":%q,"AppProtocol":null,"Port":%d,"TargetPort":0,"NodePort":0}`, p.GetProtocol(), p.GetPort()))))
		}
		ports[k] = true
	}
	if len(spec.GetLoadBalancerSourceRanges()) > 0 {
		const p = "spec.LoadBalancerSourceRanges" // sic: Kubernetes names the field so
		if spec.GetType() != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, apierrors.Forbidden(p, mustBeLoadBalancerMsg))
		}
		for i, r := range spec.GetLoadBalancerSourceRanges() {
			_, e := validCIDR(strings.TrimSpace(r), index(p, i))
			errs = append(errs, e...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.GetType() != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, apierrors.Forbidden("spec.allocateLoadBalancerNodePorts", mustBeLoadBalancerMsg))
	}
	if spec.GetType() == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, apierrors.Required("allocateLoadBalancerNodePorts", "")) // sic: no "spec."
	}
	if spec.LoadBalancerClass != nil {
		if spec.GetType() != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, apierrors.Forbidden("spec.loadBalancerClass", mustBeLoadBalancerMsg))
		} else {
			errs = append(errs, validateLabelName(spec.GetLoadBalancerClass(), "spec.loadBalancerClass")...)
		}
	}
	errs = append(errs, validateExternalTrafficPolicy(svc)...)
	if spec.InternalTrafficPolicy == nil {
		switch spec.GetType() {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			errs = append(errs, apierrors.Required("spec.internalTrafficPolicy", ""))
		}
	} else if !slices.Contains(trafficPolicies, spec.GetInternalTrafficPolicy()) {
		errs = append(errs, apierrors.NotSupported("spec.internalTrafficPolicy", spec.GetInternalTrafficPolicy(), trafficPolicies))
	}
	if spec.TrafficDistribution != nil && !slices.Contains(trafficDistributions, spec.GetTrafficDistribution()) {
		errs = append(errs, apierrors.NotSupported("spec.trafficDistribution", spec.GetTrafficDistribution(), trafficDistributions))
	}
	return errs
}

// ValidateServiceUpdate checks an update: the cluster IPs of a service that has them cannot
// change (but the type may move to or from ExternalName, which has none), then the service
// as on create.
func ValidateServiceUpdate(svc, old *corev1.Service) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if corev1.NeedsClusterIP(svc) && corev1.NeedsClusterIP(old) && old.GetSpec().GetClusterIP() != "" {
		if svc.GetSpec().GetClusterIP() != old.GetSpec().GetClusterIP() {
			errs = append(errs, apierrors.Invalid("spec.clusterIP", svc.GetSpec().GetClusterIP(), fieldImmutableErrMsg))
		}
		// Only a second family may be added or removed; kubelab has one, so none may change.
		if !slices.Equal(svc.GetSpec().GetClusterIPs(), old.GetSpec().GetClusterIPs()) && len(svc.GetSpec().GetClusterIPs()) > 0 &&
			len(old.GetSpec().GetClusterIPs()) > 0 && svc.GetSpec().GetClusterIPs()[0] != old.GetSpec().GetClusterIPs()[0] {
			errs = append(errs, apierrors.Invalid("spec.clusterIPs[0]", jsonValue{svc.GetSpec().GetClusterIPs()}, "may not change once set"))
		}
	}
	return append(errs, ValidateService(svc)...)
}

// ValidateServiceStatus checks a status update: load balancer ingress points.
func ValidateServiceStatus(svc *corev1.Service) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, ing := range svc.GetStatus().GetLoadBalancer().GetIngress() {
		p := index("status.loadBalancer.ingress", i)
		if ing.GetIp() != "" {
			if e := validIP(ing.GetIp(), child(p, "ip")); e != nil {
				errs = append(errs, e...)
			}
		}
		if ing.IpMode != nil && ing.GetIp() == "" {
			errs = append(errs, apierrors.Forbidden(child(p, "ipMode"), "may not be specified when `ip` is not set"))
		} else if ing.IpMode != nil && !slices.Contains([]string{"Proxy", "VIP"}, ing.GetIpMode()) {
			errs = append(errs, apierrors.NotSupported(child(p, "ipMode"), ing.GetIpMode(), []string{"Proxy", "VIP"}))
		}
		if h := ing.GetHostname(); h != "" {
			errs = append(errs, validateDNS1123Subdomain(h, child(p, "hostname"))...)
			if _, err := netip.ParseAddr(h); err == nil {
				errs = append(errs, apierrors.Invalid(child(p, "hostname"), h, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if requireName && sp.GetName() == "" {
		errs = append(errs, apierrors.Required(child(p, "name"), ""))
	} else if sp.GetName() != "" {
		errs = append(errs, validateDNS1123Label(sp.GetName(), child(p, "name"))...)
		if names[sp.GetName()] {
			errs = append(errs, apierrors.Duplicate(child(p, "name"), sp.GetName()))
		}
		names[sp.GetName()] = true
	}
	for _, msg := range isValidPortNum(int(sp.GetPort())) {
		errs = append(errs, apierrors.Invalid(child(p, "port"), int64(sp.GetPort()), msg))
	}
	errs = append(errs, validateEnum(sp.GetProtocol(), portProtocols, child(p, "protocol"))...)
	errs = append(errs, validatePortNumOrName(sp.GetTargetPort(), child(p, "targetPort"))...)
	if sp.AppProtocol != nil {
		errs = append(errs, validateLabelName(sp.GetAppProtocol(), child(p, "appProtocol"))...)
	}
	return errs
}

func validateClientIPAffinityConfig(c *corev1.SessionAffinityConfig, p string) apierrors.FieldErrors {
	const when = "when session affinity type is ClientIP"
	switch {
	case c == nil:
		return apierrors.FieldErrors{apierrors.Required(p, when)}
	case c.ClientIP == nil:
		return apierrors.FieldErrors{apierrors.Required(child(p, "clientIP"), when)}
	case c.ClientIP.TimeoutSeconds == nil:
		return apierrors.FieldErrors{apierrors.Required(child(child(p, "clientIP"), "timeoutSeconds"), when)}
	}
	if t := c.ClientIP.GetTimeoutSeconds(); t <= 0 || t > corev1.MaxClientIPServiceAffinitySeconds {
		return apierrors.FieldErrors{apierrors.Invalid(child(child(p, "clientIP"), "timeoutSeconds"), int64(t), inclusiveRangeError(1, corev1.MaxClientIPServiceAffinitySeconds))}
	}
	return nil
}

// validateClusterIPsRelatedFields is ValidateServiceClusterIPsRelatedFields: clusterIP and
// clusterIPs agree, families and policy are known values, and the addresses are IPs of
// their families.
func validateClusterIPsRelatedFields(svc *corev1.Service) apierrors.FieldErrors {
	spec := svc.GetSpec()
	if spec.GetType() == corev1.ServiceTypeExternalName {
		return nil // all must be unset, checked above
	}
	var errs apierrors.FieldErrors
	ips := spec.GetClusterIPs()
	if spec.GetClusterIP() != "" {
		if len(ips) == 0 {
			errs = append(errs, apierrors.Required("spec.clusterIPs", ""))
		} else if ips[0] != spec.GetClusterIP() {
			errs = append(errs, apierrors.Invalid("spec.clusterIPs", jsonValue{ips}, "first value must match `clusterIP`"))
		}
	} else if len(ips) != 0 {
		errs = append(errs, apierrors.Invalid("spec.clusterIPs", jsonValue{ips}, "must be empty when `clusterIP` is not specified"))
	}
	seen := map[string]bool{}
	for i, f := range spec.GetIpFamilies() {
		if !slices.Contains(ipFamilies, f) {
			errs = append(errs, apierrors.NotSupported(index("spec.ipFamilies", i), f, ipFamilies))
		}
		if seen[f] {
			errs = append(errs, apierrors.Duplicate(index("spec.ipFamilies", i), f))
		}
		seen[f] = true
	}
	if spec.IpFamilyPolicy != nil && !slices.Contains(ipFamilyPolicies, spec.GetIpFamilyPolicy()) {
		errs = append(errs, apierrors.NotSupported("spec.ipFamilyPolicy", spec.GetIpFamilyPolicy(), ipFamilyPolicies))
	}
	bad := false
	for i, ip := range ips {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(ips) > 1 {
				bad = true
				errs = append(errs, apierrors.Invalid("spec.clusterIPs", jsonValue{ips}, "'None' must be the first and only value"))
			}
			continue
		}
		if e := validIP(ip, index("spec.clusterIPs", i)); e != nil {
			bad = true
			errs = append(errs, e...)
		}
	}
	if len(ips) > 2 {
		errs = append(errs, apierrors.Invalid("spec.clusterIPs", jsonValue{ips}, "may only hold up to 2 values"))
	}
	if bad {
		return errs
	}
	if len(ips) == 2 {
		a, _ := netip.ParseAddr(ips[0])
		b, _ := netip.ParseAddr(ips[1])
		if a.Is4() == b.Is4() {
			errs = append(errs, apierrors.Invalid("spec.clusterIPs", jsonValue{ips}, "may specify no more than one IP for each IP family"))
		}
	}
	if ips0 := ips; len(ips0) > 0 && ips0[0] != corev1.ClusterIPNone {
		for i, ip := range ips0 {
			if i >= len(spec.GetIpFamilies()) {
				break
			}
			a, _ := netip.ParseAddr(ip)
			switch fam := spec.GetIpFamilies()[i]; {
			case fam == corev1.IPv4Protocol && !a.Unmap().Is4():
				errs = append(errs, apierrors.Invalid(index("spec.clusterIPs", i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%d]`", i)))
			case fam == corev1.IPv6Protocol && a.Unmap().Is4():
				errs = append(errs, apierrors.Invalid(index("spec.clusterIPs", i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%d]`", i)))
			}
		}
	}
	return errs
}

func validateExternalTrafficPolicy(svc *corev1.Service) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	spec := svc.GetSpec()
	if !corev1.ExternallyAccessible(svc) {
		if spec.GetExternalTrafficPolicy() != "" {
			errs = append(errs, apierrors.Invalid("spec.externalTrafficPolicy", spec.GetExternalTrafficPolicy(), "may only be set for externally-accessible services"))
		}
	} else {
		errs = append(errs, validateEnum(spec.GetExternalTrafficPolicy(), trafficPolicies, "spec.externalTrafficPolicy")...)
	}
	hc := spec.GetHealthCheckNodePort()
	if !corev1.NeedsHealthCheckNodePort(svc) {
		if hc != 0 {
			errs = append(errs, apierrors.Invalid("spec.healthCheckNodePort", int64(hc), "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		}
	} else if hc == 0 {
		errs = append(errs, apierrors.Required("spec.healthCheckNodePort", ""))
	} else {
		for _, msg := range isValidPortNum(int(hc)) {
			errs = append(errs, apierrors.Invalid("spec.healthCheckNodePort", int64(hc), msg))
		}
	}
	return errs
}

// validateNonSpecialIP is ValidateNonSpecialIP: an address a service or endpoint may
// name is not unspecified, loopback, link-local or link-local multicast.
func validateNonSpecialIP(value, p string) apierrors.FieldErrors {
	ip, err := netip.ParseAddr(value)
	if err != nil {
		return apierrors.FieldErrors{apierrors.Invalid(p, value, "must be a valid IP address")}
	}
	ip = ip.Unmap()
	var errs apierrors.FieldErrors
	if ip.IsUnspecified() {
		errs = append(errs, apierrors.Invalid(p, value, fmt.Sprintf("may not be unspecified (%s)", value)))
	}
	if ip.IsLoopback() {
		errs = append(errs, apierrors.Invalid(p, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, apierrors.Invalid(p, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, apierrors.Invalid(p, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

// ---- Endpoints ----

// ValidateEndpoints checks Endpoints: each subset has addresses, valid and not special,
// and ports (named when there are several).
func ValidateEndpoints(ep *corev1.Endpoints) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, ss := range ep.GetSubsets() {
		p := index("subsets", i)
		if len(ss.GetAddresses()) == 0 && len(ss.GetNotReadyAddresses()) == 0 {
			errs = append(errs, apierrors.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.GetAddresses() {
			errs = append(errs, validateEndpointAddress(a, index(child(p, "addresses"), j))...)
		}
		for j, a := range ss.GetNotReadyAddresses() {
			errs = append(errs, validateEndpointAddress(a, index(child(p, "notReadyAddresses"), j))...)
		}
		for j, port := range ss.GetPorts() {
			errs = append(errs, validateEndpointPort(port, len(ss.GetPorts()) > 1, index(child(p, "ports"), j))...)
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p string) apierrors.FieldErrors {
	errs := validIP(a.GetIp(), child(p, "ip"))
	if a.GetHostname() != "" {
		errs = append(errs, validateDNS1123Label(a.GetHostname(), child(p, "hostname"))...)
	}
	if a.NodeName != nil {
		for _, msg := range NameIsDNSSubdomain(a.GetNodeName(), false) {
			errs = append(errs, apierrors.Invalid(child(p, "nodeName"), a.GetNodeName(), msg))
		}
	}
	return append(errs, validateNonSpecialIP(a.GetIp(), child(p, "ip"))...)
}

func validateEndpointPort(port *corev1.EndpointPort, requireName bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if requireName && port.GetName() == "" {
		errs = append(errs, apierrors.Required(child(p, "name"), ""))
	} else if port.GetName() != "" {
		errs = append(errs, validateDNS1123Label(port.GetName(), child(p, "name"))...)
	}
	for _, msg := range isValidPortNum(int(port.GetPort())) {
		errs = append(errs, apierrors.Invalid(child(p, "port"), int64(port.GetPort()), msg))
	}
	errs = append(errs, validateEnum(port.GetProtocol(), portProtocols, child(p, "protocol"))...)
	if port.AppProtocol != nil {
		errs = append(errs, validateLabelName(port.GetAppProtocol(), child(p, "appProtocol"))...)
	}
	return errs
}
