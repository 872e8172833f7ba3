package printers

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// loadBalancerWidth clips a load balancer's addresses outside -o wide.
const loadBalancerWidth = 16

// serviceRow is kubectl's service row: TYPE, CLUSTER-IP (the first of clusterIPs, or
// <none>), EXTERNAL-IP (per type: externalIPs, a load balancer's ingress or <pending>, an
// ExternalName's name), PORT(S) as port[:nodePort]/protocol, AGE, and wide the SELECTOR.
func serviceRow(obj runtime.Object, o *Options) []any {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	spec := svc.GetSpec()
	clusterIP := "<none>"
	if ips := spec.GetClusterIPs(); len(ips) > 0 {
		clusterIP = ips[0]
	}
	ports := make([]string, len(spec.GetPorts()))
	for i, p := range spec.GetPorts() {
		ports[i] = fmt.Sprintf("%d/%s", p.GetPort(), p.GetProtocol())
		if p.GetNodePort() > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.GetPort(), p.GetNodePort(), p.GetProtocol())
		}
	}
	cells := []any{svc.GetMetadata().GetName(), spec.GetType(), clusterIP, serviceExternalIP(svc, o.Wide), orNone(strings.Join(ports, ",")), age(svc, o)}
	if o.Wide {
		cells = append(cells, orNone(labels.SelectorFromSet(spec.GetSelector()).String()))
	}
	return cells
}

func serviceExternalIP(svc *corev1.Service, wide bool) string {
	spec := svc.GetSpec()
	switch spec.GetType() {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(spec.GetExternalIPs(), ","))
	case corev1.ServiceTypeLoadBalancer:
		var lb []string
		for _, ing := range svc.GetStatus().GetLoadBalancer().GetIngress() {
			switch {
			case ing.GetIp() != "":
				lb = append(lb, ing.GetIp())
			case ing.GetHostname() != "":
				lb = append(lb, ing.GetHostname())
			}
		}
		slices.Sort(lb)
		lbs := strings.Join(slices.Compact(lb), ",")
		if !wide && len(lbs) > loadBalancerWidth {
			lbs = lbs[:loadBalancerWidth-3] + "..."
		}
		if len(spec.GetExternalIPs()) > 0 {
			var all []string
			if lbs != "" {
				all = strings.Split(lbs, ",")
			}
			return strings.Join(append(all, spec.GetExternalIPs()...), ",")
		}
		if lbs != "" {
			return lbs
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return spec.GetExternalName()
	}
	return "<unknown>"
}

// endpointsRow lists the first three ready address:port pairs of all subsets and how many
// more there are, as kubectl's formatEndpoints; a subset without ports (a headless service
// without ports) lists bare addresses.
func endpointsRow(obj runtime.Object, o *Options) []any {
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return nil
	}
	return []any{ep.GetMetadata().GetName(), formatEndpoints(ep), age(ep, o)}
}

func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.GetSubsets()) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	for _, ss := range ep.GetSubsets() {
		if len(ss.GetPorts()) == 0 {
			count += len(ss.GetAddresses())
			for _, a := range ss.GetAddresses() {
				if len(list) < max {
					list = append(list, a.GetIp())
				}
			}
			continue
		}
		for _, p := range ss.GetPorts() {
			count += len(ss.GetAddresses())
			for _, a := range ss.GetAddresses() {
				if len(list) < max {
					list = append(list, net.JoinHostPort(a.GetIp(), strconv.Itoa(int(p.GetPort()))))
				}
			}
		}
	}
	ret := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}

// endpointSliceRow is kubectl's endpointslice row: ADDRESSTYPE, the first three PORTS (a
// port's number, else its name, else *) and ENDPOINTS (addresses), each with how many more,
// or <unset> when there are none.
func endpointSliceRow(obj runtime.Object, o *Options) []any {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil
	}
	var ports, addrs []string
	for _, p := range s.GetPorts() {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(p.GetPort())))
		case p.Name != nil:
			ports = append(ports, p.GetName())
		default:
			ports = append(ports, "*")
		}
	}
	for _, ep := range s.GetEndpoints() {
		addrs = append(addrs, ep.GetAddresses()...)
	}
	return []any{s.GetMetadata().GetName(), s.GetAddressType(), listWithMore(ports), listWithMore(addrs), age(s, o)}
}

// listWithMore shows the first three items and how many more there are, or <unset>.
func listWithMore(items []string) string {
	const max = 3
	switch {
	case len(items) == 0:
		return "<unset>"
	case len(items) > max:
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
	}
	return strings.Join(items, ",")
}
