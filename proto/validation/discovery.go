package validation

import (
	"fmt"
	"net/netip"
	"slices"

	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	"kubelab.io/proto/apierrors"
)

// EndpointSlice validation, as Kubernetes' pkg/apis/discovery/validation.

var addressTypes = []string{"FQDN", "IPv4", "IPv6"}

// Limits of an EndpointSlice.
const (
	maxSliceEndpoints   = 1000
	maxEndpointAddrs    = 100
	maxSlicePorts       = 20000
	maxEndpointZoneHint = 8
	maxEndpointNodeHint = 8
)

// ValidateEndpointSlice checks an EndpointSlice: a known addressType, 1-100 addresses per
// endpoint of that type (IPs not special), node names, hostnames and hints well formed, and
// ports uniquely named with a protocol.
func ValidateEndpointSlice(s *discoveryv1.EndpointSlice) apierrors.FieldErrors {
	errs := validateEnum(s.GetAddressType(), addressTypes, "addressType")
	errs = append(errs, validateSliceEndpoints(s)...)
	return append(errs, validateSlicePorts(s.GetPorts())...)
}

// ValidateEndpointSliceUpdate checks an update: addressType cannot change.
func ValidateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) apierrors.FieldErrors {
	errs := ValidateEndpointSlice(s)
	if s.GetAddressType() != old.GetAddressType() {
		errs = append(errs, apierrors.Invalid("addressType", s.GetAddressType(), fieldImmutableErrMsg))
	}
	return errs
}

func validateSliceEndpoints(s *discoveryv1.EndpointSlice) apierrors.FieldErrors {
	eps := s.GetEndpoints()
	if len(eps) > maxSliceEndpoints {
		return apierrors.FieldErrors{apierrors.TooMany("endpoints", len(eps), maxSliceEndpoints)}
	}
	var errs apierrors.FieldErrors
	for i, ep := range eps {
		p := index("endpoints", i)
		ap := child(p, "addresses")
		switch n := len(ep.GetAddresses()); {
		case n == 0:
			errs = append(errs, apierrors.Required(ap, "must contain at least 1 address"))
		case n > maxEndpointAddrs:
			errs = append(errs, apierrors.TooMany(ap, n, maxEndpointAddrs))
		}
		for j, addr := range ep.GetAddresses() {
			errs = append(errs, validateSliceAddress(s.GetAddressType(), addr, index(ap, j))...)
		}
		if ep.NodeName != nil {
			for _, msg := range NameIsDNSSubdomain(ep.GetNodeName(), false) {
				errs = append(errs, apierrors.Invalid(child(p, "nodeName"), ep.GetNodeName(), msg))
			}
		}
		if ep.Hostname != nil {
			errs = append(errs, validateDNS1123Label(ep.GetHostname(), child(p, "hostname"))...)
		}
		if h := ep.GetHints(); h != nil {
			errs = append(errs, validateEndpointHints(h, child(p, "hints"))...)
		}
		if topo := ep.GetDeprecatedTopology(); len(topo) > 0 {
			tp := child(p, "deprecatedTopology")
			if len(topo) > maxTopologyLabels {
				errs = append(errs, apierrors.TooMany(tp, len(topo), maxTopologyLabels))
			}
			errs = append(errs, ValidateLabels(topo, tp)...)
		}
	}
	return errs
}

// maxTopologyLabels is the most deprecatedTopology labels an endpoint may carry.
const maxTopologyLabels = 16

func validateSliceAddress(addressType, addr, p string) apierrors.FieldErrors {
	switch addressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		ip, err := netip.ParseAddr(addr)
		family := "IPv4"
		if addressType == discoveryv1.AddressTypeIPv6 {
			family = "IPv6"
		}
		if err != nil || ip.Is4() != (addressType == discoveryv1.AddressTypeIPv4) || ip.Is4In6() {
			ex := "10.9.8.7"
			if family == "IPv6" {
				ex = "2001:db8::ffff"
			}
			return apierrors.FieldErrors{apierrors.Invalid(p, addr, fmt.Sprintf("must be a valid %s address, (e.g. %s)", family, ex))}
		}
		return validateNonSpecialIP(addr, p)
	case discoveryv1.AddressTypeFQDN:
		return validateDNS1123Subdomain(addr, p)
	}
	return nil
}

func validateEndpointHints(h *discoveryv1.EndpointHints, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	zp := child(p, "forZones")
	if n := len(h.GetForZones()); n > maxEndpointZoneHint {
		return apierrors.FieldErrors{apierrors.TooMany(zp, n, maxEndpointZoneHint)}
	}
	seen := map[string]bool{}
	for i, z := range h.GetForZones() {
		zn := child(index(zp, i), "name")
		if seen[z.GetName()] {
			errs = append(errs, apierrors.Duplicate(zn, z.GetName()))
		} else {
			seen[z.GetName()] = true
		}
		for _, msg := range isValidLabelValue(z.GetName()) {
			errs = append(errs, apierrors.Invalid(zn, z.GetName(), msg))
		}
	}
	np := child(p, "forNodes")
	if n := len(h.GetForNodes()); n > maxEndpointNodeHint {
		return append(errs, apierrors.TooMany(np, n, maxEndpointNodeHint))
	}
	seen = map[string]bool{}
	for i, n := range h.GetForNodes() {
		nn := child(index(np, i), "name")
		if seen[n.GetName()] {
			errs = append(errs, apierrors.Duplicate(nn, n.GetName()))
		} else {
			seen[n.GetName()] = true
		}
		for _, msg := range NameIsDNSSubdomain(n.GetName(), false) {
			errs = append(errs, apierrors.Invalid(nn, n.GetName(), msg))
		}
	}
	return errs
}

func validateSlicePorts(ports []*discoveryv1.EndpointPort) apierrors.FieldErrors {
	if len(ports) > maxSlicePorts {
		return apierrors.FieldErrors{apierrors.TooMany("ports", len(ports), maxSlicePorts)}
	}
	var errs apierrors.FieldErrors
	names := map[string]bool{}
	for i, port := range ports {
		p := index("ports", i)
		name := port.GetName()
		if name != "" {
			errs = append(errs, validateDNS1123Label(name, child(p, "name"))...)
		}
		if names[name] {
			errs = append(errs, apierrors.Duplicate(child(p, "name"), name))
		}
		names[name] = true
		if port.Protocol == nil {
			errs = append(errs, apierrors.Required(child(p, "protocol"), ""))
		} else if !slices.Contains(portProtocols, port.GetProtocol()) {
			errs = append(errs, apierrors.NotSupported(child(p, "protocol"), port.GetProtocol(), portProtocols))
		}
		if port.Port != nil {
			for _, msg := range isValidPortNum(int(port.GetPort())) {
				errs = append(errs, apierrors.Invalid(child(p, "port"), int64(port.GetPort()), msg))
			}
		}
		if port.AppProtocol != nil {
			errs = append(errs, validateLabelName(port.GetAppProtocol(), child(p, "appProtocol"))...)
		}
	}
	return errs
}
