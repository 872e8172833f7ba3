package cmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	corev1 "kubelab.io/proto/api/core/v1"
)

// exposeRequest is what kubectl expose's flags ask for; empty means "not given".
type exposeRequest struct {
	name            string
	port            string
	targetPort      string
	protocol        string
	typ             string
	selector        string
	labels          string
	clusterIP       string
	externalIP      string
	loadBalancerIP  string
	sessionAffinity string
}

type exposeFlags struct {
	exposeRequest
	filenameFlags
	dryRun string
	output string
}

// NewCmdExpose is kubectl expose: a Service for a deployment, replica set, pod or service,
// selecting what it selects, on its ports unless --port names them.
func NewCmdExpose(f *Factory, streams Streams) *cobra.Command {
	o := &exposeFlags{}
	c := &cobra.Command{
		Use:                   "expose (-f FILENAME | TYPE NAME) [--port=port] [--protocol=TCP|UDP|SCTP] [--target-port=number-or-name] [--name=name] [--external-ip=external-ip-of-service] [--type=type]",
		DisableFlagsInUseLine: true,
		Short:                 "Take a replication controller, service, deployment or pod and expose it as a new Kubernetes service",
		Long: `Expose a resource as a new Kubernetes service.

 Looks up a deployment, service, replica set, replication controller or pod by name and uses the selector for that resource as the selector for a new service on the specified port. A deployment or replica set will be exposed as a service only if its selector is convertible to a selector that service supports, i.e. when the selector contains only the matchLabels component. Note that if no port is specified via --port and the exposed resource has multiple ports, all will be re-used by the new service. Also if no labels are specified, the new service will re-use the labels from the resource it exposes.

 Possible resources include (case insensitive):

 pod (po), service (svc), replicationcontroller (rc), deployment (deploy), replicaset (rs)`,
		Example: `  # Create a service for a pod valid-pod, which serves on port 444 with the name "frontend"
  kubectl expose pod valid-pod --port=444 --name=frontend

  # Create a second service based on the above service, exposing the container port 8443 as port 443 with the name "nginx-https"
  kubectl expose service nginx --port=443 --target-port=8443 --name=nginx-https

  # Create a service for a replicated nginx using replica set, which serves on port 80 and connects to the containers on port 8000
  kubectl expose rs nginx --port=80 --target-port=8000

  # Create a service for an nginx deployment, which serves on port 80 and connects to the containers on port 8000
  kubectl expose deployment nginx --port=80 --target-port=8000`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.protocol, "protocol", "", "The network protocol for the service to be created. Default is 'TCP'.")
	fl.StringVar(&o.port, "port", "", "The port that the service should serve on. Copied from the resource being exposed, if unspecified")
	fl.StringVar(&o.typ, "type", "", "Type for this service: ClusterIP, NodePort, LoadBalancer, or ExternalName. Default is 'ClusterIP'.")
	fl.StringVar(&o.loadBalancerIP, "load-balancer-ip", "", "IP to assign to the LoadBalancer. If empty, an ephemeral IP will be created and used (cloud-provider specific).")
	fl.StringVar(&o.selector, "selector", "", "A label selector to use for this service. Only equality-based selector requirements are supported. If empty (the default) infer the selector from the replication controller or replica set.)")
	fl.StringVarP(&o.labels, "labels", "l", "", "Labels to apply to the service created by this call.")
	fl.StringVar(&o.targetPort, "target-port", "", "Name or number for the port on the container that the service should direct traffic to. Optional.")
	fl.StringVar(&o.externalIP, "external-ip", "", "Additional external IP address (not managed by Kubernetes) to accept for the service. If this IP is routed to a node, the service can be accessed by this IP in addition to its generated service IP.")
	fl.StringVar(&o.name, "name", "", "The name for the newly created object.")
	fl.StringVar(&o.sessionAffinity, "session-affinity", "", "If non-empty, set the session affinity for the service to this; legal values: 'None', 'ClientIP'")
	fl.StringVar(&o.clusterIP, "cluster-ip", "", "ClusterIP to be assigned to the service. Leave empty to auto-allocate, or set to 'None' to create a headless service.")
	fl.StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to expose a service")
	fl.BoolVarP(&o.recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively. Useful when you want to manage related manifests organized within the same directory.")
	addDryRunFlag(c, &o.dryRun)
	fl.StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

// run exposes each object named. As kubectl, objects named by -f are taken as the files
// say; others are read from the server. Unlike kubectl, whose options keep the first
// object's selector and labels for the next ones, each object gets its own.
func (o *exposeFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	c, _ := f.Client()
	var objs []Object
	if len(o.filenames) > 0 {
		ms, err := readManifests(&o.filenameFlags, streams.In, ns, false)
		if err != nil {
			return err
		}
		for _, m := range ms {
			objs = append(objs, m.Object)
		}
	} else {
		sel := selection{}
		refs, err := sel.resolve(ctx, f, streams.In, args)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			obj, err := c.GetObject(ctx, ref.path(), nil)
			if err != nil {
				return err
			}
			objs = append(objs, obj)
		}
	}
	var errs []error
	for _, obj := range objs {
		svc, err := o.exposeRequest.service(obj)
		if err == nil {
			err = createObjectAs(ctx, c, d, streams, svc, ns, "", o.output, dryRun, "exposed")
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return newAggregate(errs)
}

// service is the Service kubectl expose builds for obj (its generator service/v2): the
// selector from --selector or obj's, the ports from --port or obj's (one port named
// port-N each, and one per protocol, port-N-udp, when a port has several), the target
// port --target-port or the port, the labels --labels or obj's.
func (r exposeRequest) service(obj Object) (Object, error) {
	kind, group := nestedString(obj, "kind"), ""
	if g, _, ok := strings.Cut(nestedString(obj, "apiVersion"), "/"); ok {
		group = g
	}
	switch group + "/" + kind {
	case "/Pod", "/Service", "/ReplicationController", "apps/Deployment", "apps/ReplicaSet":
	default:
		return nil, fmt.Errorf("cannot expose a %s", kind)
	}
	name := r.name
	if name == "" {
		name = nestedString(obj, "metadata", "name")
		if len(name) > 63 { // a DNS-1035 label's longest
			name = name[:63]
		}
	}
	// What the object says is read first, the flags parsed after, as kubectl orders its
	// errors.
	var selector map[string]string
	var err error
	if r.selector == "" {
		if selector, err = podSelectorOf(obj); err != nil {
			return nil, fmt.Errorf("couldn't retrieve selectors via --selector flag or introspection: %v", err)
		}
	}
	var portList []string
	if r.port != "" {
		portList = strings.Split(r.port, ",")
	} else if portList = portsOf(obj); len(portList) == 0 && r.clusterIP != corev1.ClusterIPNone {
		return nil, fmt.Errorf("couldn't find port via --port flag or introspection")
	}
	if r.selector != "" {
		if selector, err = parseExposeLabels(r.selector); err != nil {
			return nil, err
		}
	}
	labels := nestedStringMap(obj, "metadata", "labels")
	if r.labels != "" {
		if labels, err = parseExposeLabels(r.labels); err != nil {
			return nil, err
		}
	}
	protocols := protocolsOf(obj)
	var ports []any
	for i, ps := range portList {
		port, err := strconv.Atoi(ps)
		if err != nil {
			return nil, err
		}
		portName := ""
		if len(portList) > 1 {
			portName = fmt.Sprintf("port-%d", i+1)
		}
		protocol := r.protocol
		if protocol == "" {
			// No --protocol: the object's protocols for the port, a port each when
			// it has several, else TCP.
			protocol = corev1.ProtocolTCP
			if list := protocols[ps]; len(list) == 1 {
				protocol = list[0]
			} else if len(list) > 1 {
				for _, p := range list {
					ports = append(ports, map[string]any{"name": fmt.Sprintf("port-%d-%s", i+1, strings.ToLower(p)),
						"port": jsonInt(port), "protocol": p})
				}
				continue
			}
		}
		p := map[string]any{"port": jsonInt(port), "protocol": protocol}
		if portName != "" {
			p["name"] = portName
		}
		ports = append(ports, p)
	}
	for _, p := range ports {
		pm := p.(map[string]any)
		pm["targetPort"] = pm["port"]
		if r.targetPort != "" {
			pm["targetPort"] = r.targetPort
			if n, err := strconv.Atoi(r.targetPort); err == nil {
				pm["targetPort"] = jsonInt(n)
			}
		}
	}
	meta := map[string]any{"name": name, "creationTimestamp": nil}
	if len(labels) > 0 {
		meta["labels"] = stringMapToAny(labels)
	}
	spec := map[string]any{"selector": stringMapToAny(selector)}
	if len(ports) > 0 {
		spec["ports"] = ports
	}
	if r.externalIP != "" {
		spec["externalIPs"] = []any{r.externalIP}
	}
	if r.typ != "" {
		spec["type"] = r.typ
	}
	if r.typ == corev1.ServiceTypeLoadBalancer && r.loadBalancerIP != "" {
		spec["loadBalancerIP"] = r.loadBalancerIP
	}
	switch r.sessionAffinity {
	case "":
	case corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP:
		spec["sessionAffinity"] = r.sessionAffinity
	default:
		return nil, fmt.Errorf("unknown session affinity: %s", r.sessionAffinity)
	}
	if r.clusterIP != "" {
		spec["clusterIP"] = r.clusterIP
	}
	return Object{"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec,
		"status": map[string]any{"loadBalancer": map[string]any{}}}, nil
}

// parseExposeLabels reads --selector and --labels as kubectl expose does: k=v pairs
// separated by commas, nothing else.
func parseExposeLabels(spec string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(spec, ",") {
		parts := strings.Split(kv, "=")
		if len(parts) != 2 {
			return nil, fmt.Errorf("unexpected label spec: %s", kv)
		}
		if parts[0] == "" {
			return nil, fmt.Errorf("unexpected empty label key")
		}
		out[parts[0]] = parts[1]
	}
	return out, nil
}

// podSelectorOf is kubectl's MapBasedSelectorForObject: the labels a service of obj's pods
// selects, with its messages for objects that have none.
func podSelectorOf(obj Object) (map[string]string, error) {
	switch kind := nestedString(obj, "kind"); kind {
	case "Pod":
		l := nestedStringMap(obj, "metadata", "labels")
		if len(l) == 0 {
			return nil, fmt.Errorf("the pod has no labels and cannot be exposed")
		}
		return l, nil
	case "Service":
		s := nestedStringMap(obj, "spec", "selector")
		if len(s) == 0 {
			return nil, fmt.Errorf("the service has no pod selector set")
		}
		return s, nil
	case "ReplicationController":
		return nestedStringMap(obj, "spec", "selector"), nil
	default: // Deployment, ReplicaSet
		sel := nestedMap(obj, "spec", "selector")
		if sel == nil {
			return nil, fmt.Errorf("invalid %s: no selectors, therefore cannot be exposed", strings.ToLower(kind))
		}
		if exprs := nestedSlice(sel, "matchExpressions"); len(exprs) > 0 {
			// Go's %+v of the []LabelSelectorRequirement, as kubectl prints it.
			parts := make([]string, len(exprs))
			for i, e := range exprs {
				var vals []string
				for _, v := range nestedSlice(e, "values") {
					vals = append(vals, fmt.Sprint(v))
				}
				parts[i] = fmt.Sprintf("{Key:%s Operator:%s Values:[%s]}", nestedString(e, "key"), nestedString(e, "operator"), strings.Join(vals, " "))
			}
			return nil, fmt.Errorf("couldn't convert expressions - \"[%s]\" to map-based selector format", strings.Join(parts, " "))
		}
		return nestedStringMap(sel, "matchLabels"), nil
	}
}

// exposedPorts walks the ports a Service of obj copies: a pod's (or its template's)
// container ports, or a service's own, each with its protocol (TCP when unset).
func exposedPorts(obj Object, visit func(port, protocol string)) {
	each := func(list []any, field string) {
		for _, p := range list {
			n, _ := nestedInt(p, field)
			proto := nestedString(p, "protocol")
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			visit(strconv.FormatInt(n, 10), proto)
		}
	}
	if nestedString(obj, "kind") == "Service" {
		each(nestedSlice(obj, "spec", "ports"), "port")
		return
	}
	spec := nestedMap(obj, "spec")
	if nestedString(obj, "kind") != "Pod" {
		spec = nestedMap(obj, "spec", "template", "spec")
	}
	for _, ctr := range nestedSlice(spec, "containers") {
		each(nestedSlice(ctr, "ports"), "containerPort")
	}
}

// portsOf is obj's ports, each once, in the order first seen.
func portsOf(obj Object) []string {
	var out []string
	seen := map[string]bool{}
	exposedPorts(obj, func(port, _ string) {
		if !seen[port] {
			seen[port] = true
			out = append(out, port)
		}
	})
	return out
}

// protocolsOf is the protocols each of obj's ports is listed with, repeats included.
func protocolsOf(obj Object) map[string][]string {
	out := map[string][]string{}
	exposedPorts(obj, func(port, protocol string) { out[port] = append(out[port], protocol) })
	return out
}

func stringMapToAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
