package cmd

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/validation"
)

// serviceRequest is what kubectl create service's flags ask for.
type serviceRequest struct {
	typ          string
	name         string
	namespace    string // set only when -n named it, as kubectl's EnforceNamespace
	tcp          []string
	clusterIP    string
	nodePort     int
	externalName string
}

// validate is kubectl's ServiceOptions.Validate, with its messages.
func (r serviceRequest) validate() error {
	if r.clusterIP == corev1.ClusterIPNone && r.typ != corev1.ServiceTypeClusterIP {
		return fmt.Errorf("ClusterIP=None can only be used with ClusterIP service type")
	}
	if r.clusterIP != corev1.ClusterIPNone && len(r.tcp) == 0 && r.typ != corev1.ServiceTypeExternalName {
		return fmt.Errorf("at least one tcp port specifier must be provided")
	}
	if r.typ == corev1.ServiceTypeExternalName && len(labels.IsDNS1123Subdomain(r.externalName)) != 0 {
		return fmt.Errorf("invalid service external name %s", r.externalName)
	}
	return nil
}

// build is the Service kubectl builds: selector and label app=NAME, one TCP port per --tcp
// named after it ("80:8080" is "80-8080"), each with --node-port, and no client-side
// validation: the server judges the rest.
func (r serviceRequest) build() (Object, error) {
	var ports []any
	for _, tcp := range r.tcp {
		port, target, err := parseServicePort(tcp)
		if err != nil {
			return nil, err
		}
		p := map[string]any{"name": strings.ReplaceAll(tcp, ":", "-"), "port": port, "targetPort": target, "protocol": corev1.ProtocolTCP}
		if r.nodePort != 0 {
			p["nodePort"] = jsonInt(r.nodePort)
		}
		ports = append(ports, p)
	}
	// A typed object's zero creationTimestamp is written as null, as kubectl prints it.
	meta := map[string]any{"name": r.name, "labels": map[string]any{"app": r.name}, "creationTimestamp": nil}
	if r.namespace != "" {
		meta["namespace"] = r.namespace
	}
	spec := map[string]any{"type": r.typ, "selector": map[string]any{"app": r.name}}
	if ports != nil {
		spec["ports"] = ports
	}
	if r.externalName != "" {
		spec["externalName"] = r.externalName
	}
	if r.clusterIP != "" {
		spec["clusterIP"] = r.clusterIP
	}
	return Object{"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec,
		"status": map[string]any{"loadBalancer": map[string]any{}}}, nil
}

// parseServicePort reads one --tcp value, "port[:targetPort]", as kubectl's parsePorts: the
// port any 16-bit number (0 is left to the server), the target a port number or name; the
// target is the port when not given, and anything after a second colon is ignored.
func parseServicePort(s string) (port json.Number, target any, err error) {
	parts := strings.Split(s, ":")
	n, err := strconv.ParseUint(parts[0], 10, 16)
	if err != nil {
		return "", nil, err
	}
	port = jsonInt(int(n))
	if len(parts) == 1 {
		return port, port, nil
	}
	t, convErr := strconv.Atoi(parts[1])
	if convErr != nil {
		if errs := validation.IsValidPortName(parts[1]); len(errs) != 0 {
			return "", nil, fmt.Errorf("%s", strings.Join(errs, ","))
		}
		return port, parts[1], nil
	}
	if t < 1 || t > 65535 {
		return "", nil, fmt.Errorf("must be between 1 and 65535, inclusive")
	}
	return port, jsonInt(t), nil
}

func jsonInt(n int) json.Number { return json.Number(strconv.Itoa(n)) }

// newCmdCreateService is kubectl create service (svc): a subcommand per type.
func newCmdCreateService(f *Factory, streams Streams) *cobra.Command {
	c := &cobra.Command{
		Use:     "service",
		Aliases: []string{"svc"},
		Short:   "Create a service using a specified subcommand",
		Long:    "Create a service using a specified subcommand.",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(
		newCmdCreateServiceOfType(f, streams, corev1.ServiceTypeClusterIP, "clusterip NAME [--tcp=<port>:<targetPort>] [--dry-run=server|client|none]",
			"Create a ClusterIP service", "Create a ClusterIP service with the specified name.", `  # Create a new ClusterIP service named my-cs
  kubectl create service clusterip my-cs --tcp=5678:8080

  # Create a new ClusterIP service named my-cs (in headless mode)
  kubectl create service clusterip my-cs --clusterip="None"`),
		newCmdCreateServiceOfType(f, streams, corev1.ServiceTypeNodePort, "nodeport NAME [--tcp=port:targetPort] [--dry-run=server|client|none]",
			"Create a NodePort service", "Create a NodePort service with the specified name.", `  # Create a new NodePort service named my-ns
  kubectl create service nodeport my-ns --tcp=5678:8080`),
		newCmdCreateServiceOfType(f, streams, corev1.ServiceTypeLoadBalancer, "loadbalancer NAME [--tcp=port:targetPort] [--dry-run=server|client|none]",
			"Create a LoadBalancer service", "Create a LoadBalancer service with the specified name.", `  # Create a new LoadBalancer service named my-lbs
  kubectl create service loadbalancer my-lbs --tcp=5678:8080`),
		newCmdCreateServiceOfType(f, streams, corev1.ServiceTypeExternalName, "externalname NAME --external-name external.name [--dry-run=server|client|none]",
			"Create an ExternalName service", `Create an ExternalName service with the specified name.

 ExternalName service references to an external DNS address instead of only pods, which will allow application authors to reference services that exist off platform, on other clusters, or locally.`,
			`  # Create a new ExternalName service named my-ns
  kubectl create service externalname my-ns --external-name bar.com`),
	)
	return c
}

// newCmdCreateServiceOfType is one of create service's subcommands, with the flags kubectl
// gives that type: --clusterip for ClusterIP, --node-port for NodePort, --external-name
// (required) for ExternalName, --tcp for all.
func newCmdCreateServiceOfType(f *Factory, streams Streams, typ, use, short, long, example string) *cobra.Command {
	r := serviceRequest{typ: typ}
	var dryRunFlag, output string
	name := strings.Fields(use)[0]
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("kubectl create service "+name, "exactly one NAME is required, got %d", len(args))
			}
			r.name = args[0]
			dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
			if err != nil {
				return err
			}
			ns, explicit, err := f.Namespace()
			if err != nil {
				return err
			}
			if explicit {
				r.namespace = ns
			}
			if err := r.validate(); err != nil {
				return err
			}
			obj, err := r.build()
			if err != nil {
				return err
			}
			d, err := f.Discovery()
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			if err := createObject(c.Context(), cl, d, streams, obj, ns, "", output, dryRun); err != nil {
				// kubectl words any failure of the create as its own error, the server's
				// Status message inside: "error: failed to create ClusterIP service: …".
				return fmt.Errorf("failed to create %s service: %s", typ, err.Error())
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&r.tcp, "tcp", nil, "Port pairs can be specified as '<port>:<targetPort>'.")
	switch typ {
	case corev1.ServiceTypeClusterIP:
		c.Flags().StringVar(&r.clusterIP, "clusterip", "", "Assign your own ClusterIP or set to 'None' for a 'headless' service (no loadbalancing).")
	case corev1.ServiceTypeNodePort:
		c.Flags().IntVar(&r.nodePort, "node-port", 0, "Port used to expose the service on each node in a cluster.")
	case corev1.ServiceTypeExternalName:
		c.Flags().StringVar(&r.externalName, "external-name", "", "External name of service")
		_ = c.MarkFlagRequired("external-name")
	}
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}
