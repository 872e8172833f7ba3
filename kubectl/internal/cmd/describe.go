package cmd

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type describeFlags struct {
	selection
	showEvents bool
}

// NewCmdDescribe is `kubectl describe` for deployments, replica sets, daemon sets, stateful
// sets, jobs, cron jobs, pods, nodes, namespaces, quotas, limit ranges, service accounts,
// services, endpoints, endpoint slices, persistent volumes and their claims and storage
// classes, each with its events, and a generic description
// of other kinds.
func NewCmdDescribe(f *Factory, streams Streams) *cobra.Command {
	o := &describeFlags{}
	c := &cobra.Command{
		Use:   "describe (-f FILENAME | TYPE [NAME_PREFIX | -l label] | TYPE/NAME)",
		Short: "Show details of a specific resource or group of resources",
		Long: `Show details of a specific resource or group of resources.

 Print a detailed description of the selected resources, including related resources such as events or controllers. You may select a single object by name, all objects of that type, provide a name prefix, or label selector.`,
		Example: `  # Describe a node
  kubectl describe nodes kubernetes-node-emt8.c.myproject.internal

  # Describe a pod
  kubectl describe pods/nginx

  # Describe all pods managed by the 'frontend' deployment
  kubectl describe pods -l app=frontend

  # Describe a deployment
  kubectl describe deployment example-deployment`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files containing the resource to describe")
	c.Flags().StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on.")
	c.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	c.Flags().BoolVar(&o.showEvents, "show-events", true, "If true, display events related to the described object.")
	return c
}

func (o *describeFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	if len(args) == 1 && !strings.Contains(args[0], "/") && o.selector == "" && len(o.filenames) == 0 {
		o.all = true // "describe pods": every pod
	}
	refs, err := o.resolve(ctx, f, streams.In, args)
	if err != nil {
		return err
	}
	c, _ := f.Client()
	d, _ := f.Discovery()
	for i, ref := range refs {
		obj, err := c.GetObject(ctx, ref.path(), nil)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprint(streams.Out, "\n\n")
		}
		tw := tabwriter.NewWriter(streams.Out, 0, 8, 2, ' ', 0)
		w := &prefixWriter{w: tw}
		switch ref.res.Kind {
		case "Deployment":
			err = describeDeployment(ctx, w, c, d, obj)
		case "ReplicaSet":
			describeReplicaSet(w, obj)
		case "Pod":
			describePod(w, obj)
		case "Node":
			describeNode(ctx, w, c, d, obj)
		case "Namespace":
			err = describeNamespace(ctx, w, c, d, obj)
		case "ResourceQuota":
			describeResourceQuota(w, obj)
		case "LimitRange":
			describeLimitRange(w, obj)
		case "ServiceAccount":
			err = describeServiceAccount(ctx, w, c, d, obj)
		case "Service":
			describeService(ctx, w, c, d, obj)
		case "Endpoints":
			describeEndpoints(w, obj)
		case "EndpointSlice":
			describeEndpointSlice(w, obj)
		case "DaemonSet":
			err = describeDaemonSet(ctx, w, c, d, obj)
		case "StatefulSet":
			err = describeStatefulSet(ctx, w, c, d, obj)
		case "Job":
			describeJob(w, obj)
		case "CronJob":
			describeCronJob(w, obj)
		case "PersistentVolume":
			describePersistentVolume(w, obj)
		case "PersistentVolumeClaim":
			err = describePersistentVolumeClaim(ctx, w, c, d, obj)
		case "StorageClass":
			describeStorageClass(w, obj)
		default:
			describeGeneric(w, obj)
		}
		if err != nil {
			return err
		}
		if o.showEvents && !slices.Contains(kindsWithoutEvents, ref.res.Kind) {
			if err := describeEvents(ctx, w, c, d, obj); err != nil {
				return err
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// prefixWriter writes describe's indented "Key:\tvalue" lines into one tabwriter.
// kindsWithoutEvents are described without their events, as kubectl's describers for them
// print none.
var kindsWithoutEvents = []string{"Namespace", "ResourceQuota", "LimitRange"}

type prefixWriter struct{ w io.Writer }

func (p *prefixWriter) line(level int, format string, args ...any) {
	fmt.Fprintf(p.w, strings.Repeat("  ", level)+format+"\n", args...)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// mapLines prints a map as describe does: the first entry on the key's line, the others
// below it, aligned.
func mapLines(w *prefixWriter, level int, title string, m map[string]string, sep string) {
	mapLinesPadded(w, level, title, m, sep, "")
}

// nestedMapLines is mapLines as kubectl prints a map through a nested prefix writer (an
// ephemeral volume's claim template): each of its writes, the value and a continuation
// line's indent included, gets the level's indent again.
func nestedMapLines(w *prefixWriter, level int, title string, m map[string]string, sep string) {
	mapLinesPadded(w, level, title, m, sep, strings.Repeat("  ", level))
}

func mapLinesPadded(w *prefixWriter, level int, title string, m map[string]string, sep, pad string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != lastAppliedAnnotation {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		w.line(level, "%s:\t%s<none>", title, pad)
		return
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			w.line(level, "%s:\t%s%s%s%s", title, pad, k, sep, m[k])
		} else {
			w.line(level, "%s\t%s%s%s%s", pad, pad, k, sep, m[k])
		}
	}
}

func metaLines(w *prefixWriter, obj Object, namespaced bool) {
	w.line(0, "Name:\t%s", nestedString(obj, "metadata", "name"))
	if namespaced {
		w.line(0, "Namespace:\t%s", nestedString(obj, "metadata", "namespace"))
	}
}

func creation(obj Object) string {
	return timestamp(parseTime(nestedString(obj, "metadata", "creationTimestamp")))
}

func selectorString(sel map[string]any) string {
	return orNone(selectorQuery(sel))
}

// selectorQuery is a LabelSelector in the labelSelector query's syntax, as
// metav1.LabelSelectorAsSelector writes it: requirements sorted by key, each set's values
// sorted ("" selects everything).
func selectorQuery(sel map[string]any) string {
	type req struct{ key, text string }
	var reqs []req
	for _, k := range sortedKeys(nestedMap(sel, "matchLabels")) {
		reqs = append(reqs, req{k, k + "=" + nestedString(sel, "matchLabels", k)})
	}
	for _, e := range nestedSlice(sel, "matchExpressions") {
		var vals []string
		for _, v := range nestedSlice(e, "values") {
			vals = append(vals, fmt.Sprint(v))
		}
		sort.Strings(vals)
		key, op := nestedString(e, "key"), strings.ToLower(nestedString(e, "operator"))
		switch op {
		case "exists":
			reqs = append(reqs, req{key, key})
		case "doesnotexist":
			reqs = append(reqs, req{key, "!" + key})
		default:
			reqs = append(reqs, req{key, fmt.Sprintf("%s %s (%s)", key, op, strings.Join(vals, ","))})
		}
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].key < reqs[j].key })
	parts := make([]string, len(reqs))
	for i, r := range reqs {
		parts[i] = r.text
	}
	return strings.Join(parts, ",")
}

func num(obj any, path ...string) int64 {
	n, _ := nestedInt(obj, path...)
	return n
}

func describeDeployment(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	metaLines(w, obj, true)
	w.line(0, "CreationTimestamp:\t%s", creation(obj))
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "Selector:\t%s", selectorString(nestedMap(obj, "spec", "selector")))
	replicas, ok := nestedInt(obj, "spec", "replicas")
	if !ok {
		replicas = 1
	}
	w.line(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable", replicas,
		num(obj, "status", "updatedReplicas"), num(obj, "status", "replicas"), num(obj, "status", "availableReplicas"), num(obj, "status", "unavailableReplicas"))
	strategy := nestedString(obj, "spec", "strategy", "type")
	w.line(0, "StrategyType:\t%s", strategy)
	w.line(0, "MinReadySeconds:\t%d", num(obj, "spec", "minReadySeconds"))
	if strategy == "RollingUpdate" {
		ru := nestedMap(obj, "spec", "strategy", "rollingUpdate")
		w.line(0, "RollingUpdateStrategy:\t%v max unavailable, %v max surge", orNone(fmt.Sprint(ru["maxUnavailable"])), orNone(fmt.Sprint(ru["maxSurge"])))
	}
	describeTemplateTo(w, nestedMap(obj, "spec", "template"))
	if conds := nestedSlice(obj, "status", "conditions"); len(conds) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason")
		w.line(1, "----\t------\t------")
		for _, cnd := range conds {
			w.line(1, "%s\t%s\t%s", nestedString(cnd, "type"), nestedString(cnd, "status"), nestedString(cnd, "reason"))
		}
	}
	// Old and new replica sets, as the deployment controller's revisions say.
	rsRes, err := d.Resolve(ctx, "replicasets.apps")
	if err != nil {
		return err
	}
	list, err := c.GetObject(ctx, rsRes.Path(nestedString(obj, "metadata", "namespace"), ""), nil)
	if err != nil {
		return err
	}
	var owned []any
	for _, it := range nestedSlice(list, "items") {
		for _, r := range nestedSlice(it, "metadata", "ownerReferences") {
			if nestedString(r, "uid") == nestedString(obj, "metadata", "uid") {
				owned = append(owned, it)
			}
		}
	}
	var newRS string
	var old []string
	tmplHash := ""
	for _, rs := range owned {
		h := nestedString(rs, "metadata", "labels", "pod-template-hash")
		tmpl := deepCopy(nestedMap(rs, "spec", "template")).(map[string]any)
		delete(nestedMap(tmpl, "metadata", "labels"), "pod-template-hash")
		desc := fmt.Sprintf("%s (%d/%d replicas created)", nestedString(rs, "metadata", "name"), num(rs, "status", "replicas"), num(rs, "spec", "replicas"))
		if jsonEqual(tmpl, nestedMap(obj, "spec", "template")) && tmplHash == "" {
			newRS, tmplHash = desc, h
		} else if num(rs, "spec", "replicas") > 0 {
			old = append(old, desc)
		}
	}
	w.line(0, "OldReplicaSets:\t%s", orNone(strings.Join(old, ", ")))
	w.line(0, "NewReplicaSet:\t%s", orNone(newRS))
	return nil
}

// describeVolumes prints each volume as kubectl does: its source's type with kubectl's
// gloss, then the source's fields. space indents the list inside a pod template.
func describeVolumes(w *prefixWriter, vols []any, space string) {
	if len(vols) == 0 {
		w.line(0, "%sVolumes:\t<none>", space)
		return
	}
	w.line(0, "%sVolumes:", space)
	for _, v := range vols {
		w.line(1, "%s%s:", nameIndent(space), nestedString(v, "name"))
		l := 2
		switch {
		case nested(v, "emptyDir") != nil:
			w.line(l, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
			w.line(l, "Medium:\t%s", nestedString(v, "emptyDir", "medium"))
			w.line(l, "SizeLimit:\t%s", orUnset(nestedString(v, "emptyDir", "sizeLimit")))
		case nested(v, "hostPath") != nil:
			w.line(l, "Type:\tHostPath (bare host directory volume)")
			w.line(l, "Path:\t%s", nestedString(v, "hostPath", "path"))
			w.line(l, "HostPathType:\t%s", nestedString(v, "hostPath", "type"))
		case nested(v, "persistentVolumeClaim") != nil:
			w.line(l, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)")
			w.line(l, "ClaimName:\t%s", nestedString(v, "persistentVolumeClaim", "claimName"))
			w.line(l, "ReadOnly:\t%v", nestedBool(v, "persistentVolumeClaim", "readOnly"))
		case nested(v, "ephemeral") != nil:
			w.line(l, "Type:\tEphemeralVolume (an inline specification for a volume that gets created and deleted with the pod)")
			if t := nestedMap(v, "ephemeral", "volumeClaimTemplate"); t != nil {
				claimLines(w, l, t, false)
			}
		case nested(v, "configMap") != nil:
			w.line(l, "Type:\tConfigMap (a volume populated by a ConfigMap)")
			w.line(l, "Name:\t%s", nestedString(v, "configMap", "name"))
			w.line(l, "Optional:\t%v", nestedBool(v, "configMap", "optional"))
		case nested(v, "secret") != nil:
			w.line(l, "Type:\tSecret (a volume populated by a Secret)")
			w.line(l, "SecretName:\t%s", nestedString(v, "secret", "secretName"))
			w.line(l, "Optional:\t%v", nestedBool(v, "secret", "optional"))
		case nested(v, "downwardAPI") != nil:
			w.line(l, "Type:\tDownwardAPI (a volume populated by information about the pod)")
			w.line(l, "Items:")
			for _, it := range nestedSlice(v, "downwardAPI", "items") {
				from := nestedString(it, "fieldRef", "fieldPath")
				if from == "" {
					from = nestedString(it, "resourceFieldRef", "resource")
				}
				w.line(l+1, "%s -> %s", from, nestedString(it, "path"))
			}
		case nested(v, "projected") != nil:
			w.line(l, "Type:\tProjected (a volume that contains injected data from multiple sources)")
			for _, src := range nestedSlice(v, "projected", "sources") {
				switch {
				case nested(src, "secret") != nil:
					w.line(l, "SecretName:\t%s", nestedString(src, "secret", "name"))
					w.line(l, "SecretOptionalName:\t%s", optionalBool(src, "secret", "optional"))
				case nested(src, "downwardAPI") != nil:
					w.line(l, "DownwardAPI:\ttrue")
				case nested(src, "configMap") != nil:
					w.line(l, "ConfigMapName:\t%s", nestedString(src, "configMap", "name"))
					w.line(l, "ConfigMapOptional:\t%s", optionalBool(src, "configMap", "optional"))
				case nested(src, "serviceAccountToken") != nil:
					w.line(l, "TokenExpirationSeconds:\t%d", num(src, "serviceAccountToken", "expirationSeconds"))
				}
			}
		default:
			for k := range v.(map[string]any) {
				if k != "name" {
					w.line(l, "Type:\t%s", k)
				}
			}
		}
	}
}

func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

func nestedBool(o any, path ...string) bool {
	b, _ := nested(o, path...).(bool)
	return b
}

// optionalBool prints a *bool as Go's %v does: <nil> when unset.
func optionalBool(o any, path ...string) string {
	if b, ok := nested(o, path...).(bool); ok {
		return fmt.Sprint(b)
	}
	return "<nil>"
}

func controlledBy(obj Object) string {
	for _, r := range nestedSlice(obj, "metadata", "ownerReferences") {
		if b, _ := nested(r, "controller").(bool); b {
			return nestedString(r, "kind") + "/" + nestedString(r, "name")
		}
	}
	return ""
}

// controlledHead is how the describers of what a controller may own (replica sets, jobs)
// begin: name, namespace, selector, labels, annotations and the controller.
func controlledHead(w *prefixWriter, obj Object, selector string) {
	metaLines(w, obj, true)
	w.line(0, "Selector:\t%s", selector)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	if cb := controlledBy(obj); cb != "" {
		w.line(0, "Controlled By:\t%s", cb)
	}
}

func describeReplicaSet(w *prefixWriter, obj Object) {
	controlledHead(w, obj, selectorString(nestedMap(obj, "spec", "selector")))
	replicas, ok := nestedInt(obj, "spec", "replicas")
	if !ok {
		replicas = 1
	}
	w.line(0, "Replicas:\t%d current / %d desired", num(obj, "status", "replicas"), replicas)
	w.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed", num(obj, "status", "readyReplicas"),
		num(obj, "status", "replicas")-num(obj, "status", "readyReplicas"), 0, 0)
	describeTemplateTo(w, nestedMap(obj, "spec", "template"))
}

func describePod(w *prefixWriter, obj Object) {
	metaLines(w, obj, true)
	prio, ok := nestedInt(obj, "spec", "priority")
	if ok {
		w.line(0, "Priority:\t%d", prio)
	}
	if sa := nestedString(obj, "spec", "serviceAccountName"); sa != "" {
		w.line(0, "Service Account:\t%s", sa)
	}
	node := nestedString(obj, "spec", "nodeName")
	if ip := nestedString(obj, "status", "hostIP"); node != "" && ip != "" {
		node += "/" + ip
	}
	w.line(0, "Node:\t%s", orNone(node))
	if st := nestedString(obj, "status", "startTime"); st != "" {
		w.line(0, "Start Time:\t%s", timestamp(parseTime(st)))
	}
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	status := nestedString(obj, "status", "phase")
	if nestedString(obj, "metadata", "deletionTimestamp") != "" {
		status = "Terminating (lasts " + age(parseTime(nestedString(obj, "metadata", "deletionTimestamp"))) + ")"
	}
	w.line(0, "Status:\t%s", status)
	w.line(0, "IP:\t%s", nestedString(obj, "status", "podIP"))
	if ips := nestedSlice(obj, "status", "podIPs"); len(ips) > 0 {
		w.line(0, "IPs:")
		for _, ip := range ips {
			w.line(1, "IP:\t%s", nestedString(ip, "ip"))
		}
	} else {
		w.line(0, "IPs:\t<none>")
	}
	if cb := controlledBy(obj); cb != "" {
		w.line(0, "Controlled By:\t%s", cb)
	}
	resolve := podFieldResolver(obj)
	if init := nestedSlice(obj, "spec", "initContainers"); len(init) > 0 {
		describeContainers(w, "Init Containers", init, nestedSlice(obj, "status", "initContainerStatuses"), "", resolve)
	}
	describeContainers(w, "Containers", nestedSlice(obj, "spec", "containers"), nestedSlice(obj, "status", "containerStatuses"), "", resolve)
	if conds := nestedSlice(obj, "status", "conditions"); len(conds) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus")
		for _, cnd := range conds {
			w.line(1, "%s \t%s ", nestedString(cnd, "type"), nestedString(cnd, "status"))
		}
	}
	describeVolumes(w, nestedSlice(obj, "spec", "volumes"), "")
	qos := nestedString(obj, "status", "qosClass")
	w.line(0, "QoS Class:\t%s", qos)
	mapLines(w, 0, "Node-Selectors", nestedStringMap(obj, "spec", "nodeSelector"), "=")
	tolerationLines(w, "Tolerations", nestedSlice(obj, "spec", "tolerations"), "")
	describeTopologySpread(w, nestedSlice(obj, "spec", "topologySpreadConstraints"), "")
}

func describeNode(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) {
	metaLines(w, obj, false)
	var roles []string
	for k := range nestedMap(obj, "metadata", "labels") {
		if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
			roles = append(roles, r)
		}
	}
	sort.Strings(roles)
	w.line(0, "Roles:\t%s", orNone(strings.Join(roles, ",")))
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "CreationTimestamp:\t%s", creation(obj))
	var taints []string
	for _, t := range nestedSlice(obj, "spec", "taints") {
		s := nestedString(t, "key")
		if v := nestedString(t, "value"); v != "" {
			s += "=" + v
		}
		taints = append(taints, s+":"+nestedString(t, "effect"))
	}
	w.line(0, "Taints:\t%s", orNone(strings.Join(taints, "\n\t")))
	unsched, _ := nested(obj, "spec", "unschedulable").(bool)
	w.line(0, "Unschedulable:\t%v", unsched)
	conds := nestedSlice(obj, "status", "conditions")
	conditionsTable(w, conds, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage", "\t",
		func(cnd any) []string {
			return []string{nestedString(cnd, "type"), nestedString(cnd, "status"), timestamp(parseTime(nestedString(cnd, "lastHeartbeatTime"))),
				timestamp(parseTime(nestedString(cnd, "lastTransitionTime"))), nestedString(cnd, "reason"), nestedString(cnd, "message")}
		})
	if len(conds) == 0 {
		w.line(0, "Conditions:\t<none>")
	}
	if addrs := nestedSlice(obj, "status", "addresses"); len(addrs) > 0 {
		w.line(0, "Addresses:")
		for _, a := range addrs {
			w.line(1, "%s:\t%s", nestedString(a, "type"), nestedString(a, "address"))
		}
	}
	for _, sec := range []struct{ title, field string }{{"Capacity", "capacity"}, {"Allocatable", "allocatable"}} {
		if m := nestedStringMap(obj, "status", sec.field); len(m) > 0 {
			w.line(0, "%s:", sec.title)
			for _, k := range sortedKeys(nestedMap(obj, "status", sec.field)) {
				w.line(1, "%s:\t%s", k, m[k])
			}
		}
	}
	if ni := nestedMap(obj, "status", "nodeInfo"); ni != nil {
		w.line(0, "System Info:")
		for _, kv := range [][2]string{{"Machine ID", "machineID"}, {"System UUID", "systemUUID"}, {"Boot ID", "bootID"},
			{"Kernel Version", "kernelVersion"}, {"OS Image", "osImage"}, {"Operating System", "operatingSystem"},
			{"Architecture", "architecture"}, {"Container Runtime Version", "containerRuntimeVersion"},
			{"Kubelet Version", "kubeletVersion"}, {"Kube-Proxy Version", "kubeProxyVersion"}} {
			w.line(1, "%s:\t%s", kv[0], nestedString(ni, kv[1]))
		}
	}
	if cidr := nestedString(obj, "spec", "podCIDR"); cidr != "" {
		w.line(0, "PodCIDR:\t%s", cidr)
	}
	// Pods on the node.
	pods, err := d.Resolve(ctx, "pods")
	if err != nil {
		return
	}
	list, err := c.GetObject(ctx, pods.Path("", ""), url.Values{"fieldSelector": {"spec.nodeName=" + nestedString(obj, "metadata", "name")}})
	if err != nil {
		return
	}
	items := nestedSlice(list, "items")
	w.line(0, "Non-terminated Pods:\t(%d in total)", len(items))
	if len(items) > 0 {
		w.line(1, "Namespace\tName\tAge")
		w.line(1, "---------\t----\t---")
		for _, p := range items {
			w.line(1, "%s\t%s\t%s", nestedString(p, "metadata", "namespace"), nestedString(p, "metadata", "name"),
				age(parseTime(nestedString(p, "metadata", "creationTimestamp"))))
		}
	}
}

// describeNamespace prints the namespace, then its ResourceQuotas and LimitRanges as
// kubectl does.
func describeNamespace(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	metaLines(w, obj, false)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "Status:\t%s", nestedString(obj, "status", "phase"))
	ns := nestedString(obj, "metadata", "name")
	list := func(resource string) ([]any, error) {
		res, err := d.Resolve(ctx, resource)
		if err != nil {
			return nil, err
		}
		l, err := c.GetObject(ctx, res.Path(ns, ""), nil)
		if err != nil {
			return nil, err
		}
		items := nestedSlice(l, "items")
		slices.SortFunc(items, func(a, b any) int {
			return strings.Compare(nestedString(a, "metadata", "name"), nestedString(b, "metadata", "name"))
		})
		return items, nil
	}
	quotas, err := list("resourcequotas")
	if err != nil {
		return err
	}
	w.line(0, "")
	if len(quotas) == 0 {
		w.line(0, "No resource quota.")
	} else {
		w.line(0, "Resource Quotas")
		for _, q := range quotas {
			w.line(1, "Name:\t%s", nestedString(q, "metadata", "name"))
			quotaScopes(w, 1, q, "* ")
			w.line(1, "Resource\tUsed\tHard")
			w.line(1, "--------\t---\t---")
			for _, r := range sortedKeys(nestedMap(q, "status", "hard")) {
				w.line(1, "%s\t%s\t%s", r, quantityOr(q, "0", "status", "used", r), nestedString(q, "status", "hard", r))
			}
		}
	}
	ranges, err := list("limitranges")
	if err != nil {
		return err
	}
	w.line(0, "")
	if len(ranges) == 0 {
		w.line(0, "No LimitRange resource.")
		return nil
	}
	w.line(0, "Resource Limits")
	w.line(0, " Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio")
	w.line(0, " ----\t--------\t---\t---\t---------------\t-------------\t-----------------------")
	for _, lr := range ranges {
		limitRangeRows(w, lr, " ")
	}
	return nil
}

// describeResourceQuota prints a quota as kubectl does: its scopes explained, then used
// against hard for each resource of the spec.
func describeResourceQuota(w *prefixWriter, obj Object) {
	metaLines(w, obj, true)
	quotaScopes(w, 0, obj, " * ")
	w.line(0, "Resource\tUsed\tHard")
	w.line(0, "--------\t----\t----")
	for _, r := range sortedKeys(nestedMap(obj, "spec", "hard")) {
		w.line(0, "%s\t%s\t%s", r, quantityOr(obj, "0", "status", "used", r), quantityOr(obj, nestedString(obj, "spec", "hard", r), "status", "hard", r))
	}
}

// quotaScopeHelp is kubectl's explanation of each quota scope.
var quotaScopeHelp = map[string]string{
	"Terminating":    "Matches all pods that have an active deadline. These pods have a limited lifespan on a node before being actively terminated by the system.",
	"NotTerminating": "Matches all pods that do not have an active deadline. These pods usually include long running pods whose container command is not expected to terminate.",
	"BestEffort":     "Matches all pods that do not have resource requirements set. These pods have a best effort quality of service.",
	"NotBestEffort":  "Matches all pods that have at least one resource requirement set. These pods have a burstable or guaranteed quality of service.",
}

func quotaScopes(w *prefixWriter, level int, q any, bullet string) {
	var scopes []string
	for _, sc := range nestedSlice(q, "spec", "scopes") {
		scopes = append(scopes, fmt.Sprint(sc))
	}
	if len(scopes) == 0 {
		return
	}
	sort.Strings(scopes)
	w.line(level, "Scopes:\t%s", strings.Join(scopes, ", "))
	for _, sc := range scopes {
		if help := quotaScopeHelp[sc]; help != "" {
			w.line(level, "%s%s", bullet, help)
		}
	}
}

// quantityOr is the quantity at path, or def when there is none.
func quantityOr(o any, def string, path ...string) string {
	if v := nestedString(o, path...); v != "" {
		return v
	}
	return def
}

// describeLimitRange prints a LimitRange's rows as kubectl does.
func describeLimitRange(w *prefixWriter, obj Object) {
	metaLines(w, obj, true)
	w.line(0, "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio")
	w.line(0, "----\t--------\t---\t---\t---------------\t-------------\t-----------------------")
	limitRangeRows(w, obj, "")
}

// limitRangeRows writes one row per type and resource a limit names, "-" where it sets
// nothing; resources in name order (kubectl's map order is random).
func limitRangeRows(w *prefixWriter, lr any, prefix string) {
	fields := []string{"min", "max", "defaultRequest", "default", "maxLimitRequestRatio"}
	for _, item := range nestedSlice(lr, "spec", "limits") {
		set := map[string]any{}
		for _, f := range fields {
			for r := range nestedMap(item, f) {
				set[r] = true
			}
		}
		for _, r := range sortedKeys(set) {
			cells := []string{prefix + nestedString(item, "type"), r}
			for _, f := range fields {
				cells = append(cells, quantityOr(item, "-", f, r))
			}
			w.line(0, "%s", strings.Join(cells, "\t"))
		}
	}
}

// describeServiceAccount prints what kubectl does. Tokens are the legacy token Secrets
// (type kubernetes.io/service-account-token) annotated for this account; kubelab, like
// Kubernetes since 1.24, creates none itself, so they are only those a user made.
func describeServiceAccount(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	metaLines(w, obj, true)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	names := func(path ...string) string {
		var out []string
		for _, r := range nestedSlice(obj, path...) {
			out = append(out, nestedString(r, "name"))
		}
		return orNone(strings.Join(out, ", "))
	}
	w.line(0, "Image pull secrets:\t%s", names("imagePullSecrets"))
	w.line(0, "Mountable secrets:\t%s", names("secrets"))
	secRes, err := d.Resolve(ctx, "secrets")
	if err != nil {
		return err
	}
	ns, name := nestedString(obj, "metadata", "namespace"), nestedString(obj, "metadata", "name")
	list, err := c.GetObject(ctx, secRes.Path(ns, ""), url.Values{"fieldSelector": {"type=kubernetes.io/service-account-token"}})
	if err != nil {
		// Reading secrets may be forbidden where reading the account is not; kubectl
		// then shows no tokens rather than failing.
		list = nil
	}
	var tokens []string
	for _, sec := range nestedSlice(list, "items") {
		if nestedString(sec, "type") == "kubernetes.io/service-account-token" &&
			nestedStringMap(sec, "metadata", "annotations")["kubernetes.io/service-account.name"] == name {
			tokens = append(tokens, nestedString(sec, "metadata", "name"))
		}
	}
	w.line(0, "Tokens:\t%s", orNone(strings.Join(tokens, ", ")))
	return nil
}

func describeGeneric(w *prefixWriter, obj Object) {
	metaLines(w, obj, nestedString(obj, "metadata", "namespace") != "")
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "API Version:\t%s", nestedString(obj, "apiVersion"))
	w.line(0, "Kind:\t%s", nestedString(obj, "kind"))
}

// describeEvents lists the object's events (field selector involvedObject.uid).
func describeEvents(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	evRes, err := d.Resolve(ctx, "events")
	if err != nil {
		return err
	}
	ns := nestedString(obj, "metadata", "namespace")
	if nestedString(obj, "kind") == "Namespace" || ns == "" {
		ns = "default"
		if nestedString(obj, "kind") == "Namespace" {
			ns = nestedString(obj, "metadata", "name")
		}
	}
	// As kubectl's events search: kind, name and namespace on the server, and the uid when the
	// event records one (events written before the object's uid was known have none).
	sel := "involvedObject.kind=" + nestedString(obj, "kind") + ",involvedObject.name=" + nestedString(obj, "metadata", "name")
	if objNs := nestedString(obj, "metadata", "namespace"); objNs != "" {
		sel += ",involvedObject.namespace=" + objNs
	}
	list, err := c.GetObject(ctx, evRes.Path(ns, ""), url.Values{"fieldSelector": {sel}})
	if err != nil {
		return err
	}
	uid := nestedString(obj, "metadata", "uid")
	var items []any
	for _, ev := range nestedSlice(list, "items") {
		if u := nestedString(ev, "involvedObject", "uid"); u == "" || u == uid {
			items = append(items, ev)
		}
	}
	if len(items) == 0 {
		w.line(0, "Events:\t<none>")
		return nil
	}
	sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]) < eventTime(items[j]) })
	w.line(0, "Events:")
	w.line(1, "Type\tReason\tAge\tFrom\tMessage")
	w.line(1, "----\t------\t----\t----\t-------")
	for _, ev := range items {
		ageStr := age(parseTime(eventTime(ev)))
		if n := num(ev, "count"); n > 1 {
			ageStr = fmt.Sprintf("%s (x%d over %s)", ageStr, n, age(parseTime(nestedString(ev, "firstTimestamp"))))
		}
		from := nestedString(ev, "source", "component")
		if from == "" {
			from = nestedString(ev, "reportingComponent")
		}
		w.line(1, "%s\t%s\t%s\t%s\t%s", nestedString(ev, "type"), nestedString(ev, "reason"), ageStr, from, strings.TrimSpace(nestedString(ev, "message")))
	}
	return nil
}
