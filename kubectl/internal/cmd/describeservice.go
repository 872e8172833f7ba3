package cmd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	discoveryv1 "kubelab.io/proto/api/discovery/v1"
)

// describeService prints a Service as kubectl 1.32 does. Each port's endpoints are the ready
// addresses of the service's EndpointSlices (those labelled kubernetes.io/service-name), not
// of its Endpoints object.
func describeService(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) {
	metaLines(w, obj, true)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	spec := nestedMap(obj, "spec")
	w.line(0, "Selector:\t%s", labelsString(nestedStringMap(spec, "selector")))
	w.line(0, "Type:\t%s", nestedString(spec, "type"))
	if p := nestedString(spec, "ipFamilyPolicy"); p != "" {
		w.line(0, "IP Family Policy:\t%s", p)
	}
	w.line(0, "IP Families:\t%s", orNone(joinStrings(nestedSlice(spec, "ipFamilies"), ",")))
	w.line(0, "IP:\t%s", nestedString(spec, "clusterIP"))
	w.line(0, "IPs:\t%s", orNone(joinStrings(nestedSlice(spec, "clusterIPs"), ",")))
	if ips := joinStrings(nestedSlice(spec, "externalIPs"), ","); ips != "" {
		w.line(0, "External IPs:\t%s", ips)
	}
	if ip := nestedString(spec, "loadBalancerIP"); ip != "" {
		w.line(0, "Desired LoadBalancer IP:\t%s", ip)
	}
	if n := nestedString(spec, "externalName"); n != "" {
		w.line(0, "External Name:\t%s", n)
	}
	if ingress := nestedSlice(obj, "status", "loadBalancer", "ingress"); len(ingress) > 0 {
		list := make([]string, len(ingress))
		for i, in := range ingress {
			if list[i] = nestedString(in, "ip"); list[i] == "" {
				list[i] = nestedString(in, "hostname")
			}
		}
		w.line(0, "LoadBalancer Ingress:\t%s", strings.Join(list, ", "))
	}
	ports := nestedSlice(spec, "ports")
	var slices []any
	if len(ports) > 0 {
		slices = serviceEndpointSlices(ctx, c, d, obj)
	}
	for _, p := range ports {
		name := nestedString(p, "name")
		shown := name
		if shown == "" {
			shown = "<unset>"
		}
		proto := nestedString(p, "protocol")
		w.line(0, "Port:\t%s\t%d/%s", shown, num(p, "port"), proto)
		w.line(0, "TargetPort:\t%s/%s", intOrString(nested(p, "targetPort")), proto)
		if np := num(p, "nodePort"); np != 0 {
			w.line(0, "NodePort:\t%s\t%d/%s", shown, np, proto)
		}
		w.line(0, "Endpoints:\t%s", endpointSliceAddresses(slices, name))
	}
	w.line(0, "Session Affinity:\t%s", nestedString(spec, "sessionAffinity"))
	if p := nestedString(spec, "externalTrafficPolicy"); p != "" {
		w.line(0, "External Traffic Policy:\t%s", p)
	}
	if p := nestedString(spec, "internalTrafficPolicy"); p != "" {
		w.line(0, "Internal Traffic Policy:\t%s", p)
	}
	if n := num(spec, "healthCheckNodePort"); n != 0 {
		w.line(0, "HealthCheck NodePort:\t%d", n)
	}
	if r := joinStrings(nestedSlice(spec, "loadBalancerSourceRanges"), ","); r != "" {
		w.line(0, "LoadBalancer Source Ranges:\t%s", r)
	}
}

// serviceEndpointSlices lists the service's EndpointSlices. A user who may read the
// service but not its slices sees it without endpoints rather than an error.
func serviceEndpointSlices(ctx context.Context, c *Client, d *Discovery, svc Object) []any {
	res, err := d.Resolve(ctx, "endpointslices.discovery.k8s.io")
	if err != nil {
		return nil
	}
	q := url.Values{"labelSelector": {discoveryv1.LabelServiceName + "=" + nestedString(svc, "metadata", "name")}}
	list, err := c.GetObject(ctx, res.Path(nestedString(svc, "metadata", "namespace"), ""), q)
	if err != nil {
		return nil
	}
	return nestedSlice(list, "items")
}

// endpointSliceAddresses is kubectl's formatEndpointSlices for one service port: the ready
// (or unknown) endpoints' first addresses joined with their port of that name, at most three
// and "+ N more...", "<none>" without slices. A slice without ports (a headless service's)
// gives bare addresses.
func endpointSliceAddresses(slices []any, portName string) string {
	if len(slices) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	more, count := false, 0
	add := func(ep any, port string) {
		// kubectl notes "more" once three are listed, before it checks readiness.
		if len(list) == max {
			more = true
		}
		if ready, set := nested(ep, "conditions", "ready").(bool); set && !ready {
			return
		}
		if !more {
			addr := fmt.Sprint(nestedSlice(ep, "addresses")[0])
			if port != "" {
				addr = net.JoinHostPort(addr, port)
			}
			list = append(list, addr)
		}
		count++
	}
	for _, s := range slices {
		eps := nestedSlice(s, "endpoints")
		ports := nestedSlice(s, "ports")
		if len(ports) == 0 {
			for _, ep := range eps {
				add(ep, "")
			}
			continue
		}
		for _, p := range ports {
			if nestedString(p, "name") != portName {
				continue
			}
			for _, ep := range eps {
				add(ep, strconv.FormatInt(num(p, "port"), 10))
			}
		}
	}
	out := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", out, count-max)
	}
	return out
}

// describeEndpoints prints an Endpoints object as kubectl does: each subset's ready and
// not-ready addresses and its ports, a blank line after each.
func describeEndpoints(w *prefixWriter, obj Object) {
	metaLines(w, obj, true)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "Subsets:")
	ips := func(addrs []any) string {
		out := make([]string, len(addrs))
		for i, a := range addrs {
			out[i] = nestedString(a, "ip")
		}
		return orNone(strings.Join(out, ","))
	}
	for _, s := range nestedSlice(obj, "subsets") {
		w.line(1, "Addresses:\t%s", ips(nestedSlice(s, "addresses")))
		w.line(1, "NotReadyAddresses:\t%s", ips(nestedSlice(s, "notReadyAddresses")))
		if ports := nestedSlice(s, "ports"); len(ports) > 0 {
			w.line(1, "Ports:")
			portTable(w, 2, ports)
		}
		w.line(0, "")
	}
}

// describeEndpointSlice prints an EndpointSlice as kubectl does (hints and serving or
// terminating conditions are not shown).
func describeEndpointSlice(w *prefixWriter, obj Object) {
	metaLines(w, obj, true)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "AddressType:\t%s", nestedString(obj, "addressType"))
	if ports := nestedSlice(obj, "ports"); len(ports) == 0 {
		w.line(0, "Ports: <unset>")
	} else {
		w.line(0, "Ports:")
		portTable(w, 1, ports)
	}
	eps := nestedSlice(obj, "endpoints")
	if len(eps) == 0 {
		w.line(0, "Endpoints: <none>")
		return
	}
	w.line(0, "Endpoints:")
	for _, ep := range eps {
		w.line(1, "- Addresses:\t%s", orNone(joinStrings(nestedSlice(ep, "addresses"), ", ")))
		w.line(2, "Conditions:")
		w.line(3, "Ready:\t%s", unset(nested(ep, "conditions", "ready")))
		w.line(2, "Hostname:\t%s", unset(nested(ep, "hostname")))
		if ref := nestedMap(ep, "targetRef"); ref != nil {
			w.line(2, "TargetRef:\t%s/%s", nestedString(ref, "kind"), nestedString(ref, "name"))
		}
		w.line(2, "NodeName:\t%s", unset(nested(ep, "nodeName")))
		w.line(2, "Zone:\t%s", unset(nested(ep, "zone")))
	}
}

// portTable lists Endpoints' or an EndpointSlice's ports, "<unset>" for what is missing.
func portTable(w *prefixWriter, level int, ports []any) {
	w.line(level, "Name\tPort\tProtocol")
	w.line(level, "----\t----\t--------")
	for _, p := range ports {
		name := nestedString(p, "name")
		if name == "" {
			name = "<unset>"
		}
		w.line(level, "%s\t%s\t%s", name, unset(nested(p, "port")), nestedString(p, "protocol"))
	}
}

// unset prints an optional field as kubectl does: its value, or "<unset>".
func unset(v any) string {
	if v == nil {
		return "<unset>"
	}
	return fmt.Sprint(v)
}

// intOrString prints an IntOrString as its number or its name.
func intOrString(v any) string {
	if v == nil {
		return "0"
	}
	return fmt.Sprint(v)
}

func joinStrings(list []any, sep string) string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = fmt.Sprint(v)
	}
	return strings.Join(out, sep)
}
