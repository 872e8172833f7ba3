package printers

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "kubelab.io/proto/api/apps/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/resource"
	"kubelab.io/proto/runtime"
)

const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	nodeLabelRole       = "kubernetes.io/role"

	// nodeUnreachablePodReason is the pod status reason the node lifecycle controller sets
	// on pods of an unreachable node.
	nodeUnreachablePodReason = "NodeLost"
)

type printer struct {
	columns []Column
	row     func(obj runtime.Object, o *Options) []any
}

var printersByKind = map[string]printer{
	"Pod":            {podColumns, podRow},
	"ReplicaSet":     {replicaSetColumns, replicaSetRow},
	"Deployment":     {deploymentColumns, deploymentRow},
	"DaemonSet":      {daemonSetColumns, daemonSetRow},
	"StatefulSet":    {statefulSetColumns, statefulSetRow},
	"Node":           {nodeColumns, nodeRow},
	"Namespace":      {namespaceColumns, namespaceRow},
	"Event":          {eventColumns, eventRow},
	"Lease":          {leaseColumns, leaseRow},
	"ResourceQuota":  {resourceQuotaColumns, resourceQuotaRow},
	"Scale":          {scaleColumns, scaleRow},
	"ConfigMap":      {configMapColumns, configMapRow},
	"Secret":         {secretColumns, secretRow},
	"ServiceAccount": {serviceAccountColumns, serviceAccountRow},
	"Service":        {serviceColumns, serviceRow},
	"Endpoints":      {endpointsColumns, endpointsRow},
	"EndpointSlice":  {endpointSliceColumns, endpointSliceRow},

	"PodDisruptionBudget":   {podDisruptionBudgetColumns, podDisruptionBudgetRow},
	"Job":                   {jobColumns, jobRow},
	"CronJob":               {cronJobColumns, cronJobRow},
	"ControllerRevision":    {controllerRevisionColumns, controllerRevisionRow},
	"PriorityClass":         {priorityClassColumns, priorityClassRow},
	"PersistentVolume":      {persistentVolumeColumns, persistentVolumeRow},
	"PersistentVolumeClaim": {persistentVolumeClaimColumns, persistentVolumeClaimRow},
	"StorageClass":          {storageClassColumns, storageClassRow},
}

// printerFor returns kind's printer, or the default one (NAME, CREATED AT).
func printerFor(kind string) printer {
	if p, ok := printersByKind[kind]; ok {
		return p
	}
	return printer{defaultColumns, defaultRow}
}

// buildRow makes obj's row with p; an object of a type p does not print gets its name and
// empty cells, so the row still fits the columns.
func buildRow(p printer, obj runtime.Object, o *Options) Row {
	var row Row
	if pod, ok := obj.(*corev1.Pod); ok {
		row.Conditions = podConditions(pod)
	}
	row.Cells = p.row(obj, o)
	if row.Cells == nil {
		row.Cells = []any{obj.GetMetadata().GetName()}
		for _, c := range p.columns[1:] {
			if c.Priority == 0 || o.Wide {
				row.Cells = append(row.Cells, "")
			}
		}
	}
	return row
}

// toTime converts an API timestamp; nil (unset) is the zero time.
func toTime(t interface {
	GetSeconds() int64
	GetNanos() int32
}) time.Time {
	if t == nil || (t.GetSeconds() == 0 && t.GetNanos() == 0) {
		return time.Time{}
	}
	return time.Unix(t.GetSeconds(), int64(t.GetNanos()))
}

// since is Kubernetes' translateTimestampSince.
func since(t time.Time, o *Options) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return HumanDuration(o.Now.Sub(t))
}

func age(obj runtime.Object, o *Options) string {
	if ts := obj.GetMetadata().GetCreationTimestamp(); ts != nil {
		return since(toTime(ts), o)
	}
	return since(time.Time{}, o)
}

func defaultRow(obj runtime.Object, _ *Options) []any {
	created := "<unknown>" // kube-apiserver prints the zero time; an unset timestamp is rare
	if ts := obj.GetMetadata().GetCreationTimestamp(); ts != nil {
		created = toTime(ts).UTC().Format(time.RFC3339)
	}
	return []any{obj.GetMetadata().GetName(), created}
}

// --- pods ---

var (
	podSuccessConditions = []RowCondition{{Type: "Completed", Status: "True", Reason: "Succeeded", Message: "The pod has completed successfully."}}
	podFailedConditions  = []RowCondition{{Type: "Completed", Status: "True", Reason: "Failed", Message: "The pod failed."}}
)

func podConditions(pod *corev1.Pod) []RowCondition {
	switch pod.GetStatus().GetPhase() {
	case "Succeeded":
		return podSuccessConditions
	case "Failed":
		return podFailedConditions
	}
	return nil
}

func isRestartableInitContainer(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == "Always"
}

func lastTerminated(cs *corev1.ContainerStatus) time.Time {
	if t := cs.GetLastState().GetTerminated(); t != nil {
		return toTime(t.GetFinishedAt())
	}
	return time.Time{}
}

func hasCondition(conds []*corev1.PodCondition, typ string) bool {
	for _, c := range conds {
		if c.GetType() == typ {
			return c.GetStatus() == "True"
		}
	}
	return false
}

func podRow(obj runtime.Object, o *Options) []any {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	spec, status := pod.GetSpec(), pod.GetStatus()
	restarts := 0
	restartableInitRestarts := 0
	totalContainers := len(spec.GetContainers())
	readyContainers := 0
	var lastRestart, lastRestartableInitRestart time.Time

	phase := status.GetPhase()
	reason := phase
	if status.GetReason() != "" {
		reason = status.GetReason()
	}
	for _, c := range status.GetConditions() {
		if c.GetType() == "PodScheduled" && c.GetReason() == "SchedulingGated" {
			reason = "SchedulingGated"
		}
	}

	initContainers := map[string]*corev1.Container{}
	for _, c := range spec.GetInitContainers() {
		initContainers[c.GetName()] = c
		if isRestartableInitContainer(c) {
			totalContainers++
		}
	}

	initializing := false
	for i, cs := range status.GetInitContainerStatuses() {
		restarts += int(cs.GetRestartCount())
		if t := lastTerminated(cs); lastRestart.Before(t) {
			lastRestart = t
		}
		restartable := isRestartableInitContainer(initContainers[cs.GetName()])
		if restartable {
			restartableInitRestarts += int(cs.GetRestartCount())
			if t := lastTerminated(cs); lastRestartableInitRestart.Before(t) {
				lastRestartableInitRestart = t
			}
		}
		state := cs.GetState()
		switch {
		case state.GetTerminated() != nil && state.GetTerminated().GetExitCode() == 0:
			continue
		case restartable && cs.Started != nil && *cs.Started:
			if cs.GetReady() {
				readyContainers++
			}
			continue
		case state.GetTerminated() != nil:
			t := state.GetTerminated()
			if t.GetReason() == "" {
				if t.GetSignal() != 0 {
					reason = fmt.Sprintf("Init:Signal:%d", t.GetSignal())
				} else {
					reason = fmt.Sprintf("Init:ExitCode:%d", t.GetExitCode())
				}
			} else {
				reason = "Init:" + t.GetReason()
			}
			initializing = true
		case state.GetWaiting() != nil && state.GetWaiting().GetReason() != "" && state.GetWaiting().GetReason() != "PodInitializing":
			reason = "Init:" + state.GetWaiting().GetReason()
			initializing = true
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(spec.GetInitContainers()))
			initializing = true
		}
		break
	}

	if !initializing || hasCondition(status.GetConditions(), "Initialized") {
		restarts = restartableInitRestarts
		lastRestart = lastRestartableInitRestart
		hasRunning := false
		css := status.GetContainerStatuses()
		for i := len(css) - 1; i >= 0; i-- {
			cs := css[i]
			restarts += int(cs.GetRestartCount())
			if t := lastTerminated(cs); lastRestart.Before(t) {
				lastRestart = t
			}
			state := cs.GetState()
			switch {
			case state.GetWaiting() != nil && state.GetWaiting().GetReason() != "":
				reason = state.GetWaiting().GetReason()
			case state.GetTerminated() != nil && state.GetTerminated().GetReason() != "":
				reason = state.GetTerminated().GetReason()
			case state.GetTerminated() != nil:
				if state.GetTerminated().GetSignal() != 0 {
					reason = fmt.Sprintf("Signal:%d", state.GetTerminated().GetSignal())
				} else {
					reason = fmt.Sprintf("ExitCode:%d", state.GetTerminated().GetExitCode())
				}
			case cs.GetReady() && state.GetRunning() != nil:
				hasRunning = true
				readyContainers++
			}
		}
		// a pod with a container still running is Running again, not Completed
		if reason == "Completed" && hasRunning {
			if hasCondition(status.GetConditions(), "Ready") {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	deleting := pod.GetMetadata().GetDeletionTimestamp() != nil
	if deleting && status.GetReason() == nodeUnreachablePodReason {
		reason = "Unknown"
	} else if deleting && phase != "Failed" && phase != "Succeeded" {
		reason = "Terminating"
	}

	restartsStr := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsStr = fmt.Sprintf("%d (%s ago)", restarts, since(lastRestart, o))
	}
	cells := []any{pod.GetMetadata().GetName(), fmt.Sprintf("%d/%d", readyContainers, totalContainers), reason, restartsStr, age(pod, o)}
	if o.Wide {
		podIP := ""
		if ips := status.GetPodIPs(); len(ips) > 0 {
			podIP = ips[0].GetIp()
		}
		cells = append(cells, orNone(podIP), orNone(spec.GetNodeName()), orNone(status.GetNominatedNodeName()), readinessGates(spec, status))
	}
	return cells
}

func readinessGates(spec *corev1.PodSpec, status *corev1.PodStatus) string {
	gates := spec.GetReadinessGates()
	if len(gates) == 0 {
		return "<none>"
	}
	trueConditions := 0
	for _, g := range gates {
		for _, c := range status.GetConditions() {
			if c.GetType() == g.GetConditionType() {
				if c.GetStatus() == "True" {
					trueConditions++
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d/%d", trueConditions, len(gates))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// --- workloads ---

// layoutContainerCells joins the containers' names and images, comma-separated.
func layoutContainerCells(containers []*corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.GetName(), c.GetImage()
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

func replicasOr1(p *int32) int64 {
	if p == nil {
		return 1 // apps/v1 defaults replicas to 1
	}
	return int64(*p)
}

func replicaSetRow(obj runtime.Object, o *Options) []any {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil
	}
	st := rs.GetStatus()
	cells := []any{rs.GetMetadata().GetName(), replicasOr1(rs.GetSpec().Replicas), int64(st.GetReplicas()), int64(st.GetReadyReplicas()), age(rs, o)}
	if o.Wide {
		names, images := layoutContainerCells(rs.GetSpec().GetTemplate().GetSpec().GetContainers())
		cells = append(cells, names, images, formatLabelSelector(rs.GetSpec().GetSelector()))
	}
	return cells
}

func deploymentRow(obj runtime.Object, o *Options) []any {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil
	}
	st := d.GetStatus()
	cells := []any{d.GetMetadata().GetName(), fmt.Sprintf("%d/%d", st.GetReadyReplicas(), replicasOr1(d.GetSpec().Replicas)),
		int64(st.GetUpdatedReplicas()), int64(st.GetAvailableReplicas()), age(d, o)}
	if o.Wide {
		names, images := layoutContainerCells(d.GetSpec().GetTemplate().GetSpec().GetContainers())
		selector := "<invalid>"
		if sel, err := labels.FromLabelSelector(d.GetSpec().GetSelector()); err == nil {
			selector = sel.String()
		}
		cells = append(cells, names, images, selector)
	}
	return cells
}

// formatLabelSelector is metav1.FormatLabelSelector.
func formatLabelSelector(ls *metav1.LabelSelector) string {
	sel, err := labels.FromLabelSelector(ls)
	if err != nil {
		return "<error>"
	}
	if s := sel.String(); s != "" {
		return s
	}
	return "<none>"
}

func scaleRow(obj runtime.Object, o *Options) []any {
	s, ok := obj.(*appsv1.Scale)
	if !ok {
		return nil
	}
	return []any{s.GetMetadata().GetName(), int64(s.GetSpec().GetReplicas()), int64(s.GetStatus().GetReplicas()), age(s, o)}
}

// --- cluster ---

func nodeRow(obj runtime.Object, o *Options) []any {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil
	}
	var status []string
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() != "Ready" {
			continue
		}
		if c.GetStatus() == "True" {
			status = []string{"Ready"}
		} else {
			status = []string{"NotReady"}
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.GetSpec().GetUnschedulable() {
		status = append(status, "SchedulingDisabled")
	}
	roles := strings.Join(nodeRoles(n.GetMetadata().GetLabels()), ",")
	if roles == "" {
		roles = "<none>"
	}
	info := n.GetStatus().GetNodeInfo()
	cells := []any{n.GetMetadata().GetName(), strings.Join(status, ","), roles, age(n, o), info.GetKubeletVersion()}
	if o.Wide {
		unknown := func(s string) string {
			if s == "" {
				return "<unknown>"
			}
			return s
		}
		cells = append(cells, nodeAddress(n, "InternalIP"), nodeAddress(n, "ExternalIP"),
			unknown(info.GetOsImage()), unknown(info.GetKernelVersion()), unknown(info.GetContainerRuntimeVersion()))
	}
	return cells
}

// nodeRoles reads node-role.kubernetes.io/<role> and kubernetes.io/role=<role> labels.
func nodeRoles(l map[string]string) []string {
	roles := map[string]bool{}
	for k, v := range l {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				roles[role] = true
			}
		case k == nodeLabelRole && v != "":
			roles[v] = true
		}
	}
	return slices.Sorted(maps.Keys(roles))
}

func nodeAddress(n *corev1.Node, typ string) string {
	for _, a := range n.GetStatus().GetAddresses() {
		if a.GetType() == typ {
			return a.GetAddress()
		}
	}
	return "<none>"
}

func namespaceRow(obj runtime.Object, o *Options) []any {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil
	}
	return []any{ns.GetMetadata().GetName(), ns.GetStatus().GetPhase(), age(ns, o)}
}

func eventRow(obj runtime.Object, o *Options) []any {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil
	}
	first := since(toTime(e.GetFirstTimestamp()), o)
	if toTime(e.GetFirstTimestamp()).IsZero() {
		first = since(toTime(e.GetEventTime()), o)
	}
	last := since(toTime(e.GetLastTimestamp()), o)
	if toTime(e.GetLastTimestamp()).IsZero() {
		last = first
	}
	count := e.GetCount()
	if e.GetSeries() != nil {
		last = since(toTime(e.GetSeries().GetLastObservedTime()), o)
		count = e.GetSeries().GetCount()
	} else if count == 0 {
		count = 1 // singleton events of the events.k8s.io API carry no count
	}
	io := e.GetInvolvedObject()
	target := strings.ToLower(io.GetKind())
	if io.GetName() != "" {
		target += "/" + io.GetName()
	}
	msg := strings.TrimSpace(e.GetMessage())
	if o.Wide {
		return []any{last, e.GetType(), e.GetReason(), target, io.GetFieldPath(),
			formatEventSource(e.GetSource(), e.GetReportingComponent(), e.GetReportingInstance()),
			msg, first, int64(count), e.GetMetadata().GetName()}
	}
	return []any{last, e.GetType(), e.GetReason(), target, msg}
}

// formatEventSource is "component, host", falling back to the reporting controller and
// instance.
func formatEventSource(es *corev1.EventSource, reportingController, reportingInstance string) string {
	component := cmpOr(es.GetComponent(), reportingController)
	instance := cmpOr(es.GetHost(), reportingInstance)
	if instance == "" {
		return component
	}
	return component + ", " + instance
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func leaseRow(obj runtime.Object, o *Options) []any {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	return []any{l.GetMetadata().GetName(), l.GetSpec().GetHolderIdentity(), age(l, o)}
}

// configMapRow counts data and binaryData keys together, as kubectl does.
func configMapRow(obj runtime.Object, o *Options) []any {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil
	}
	return []any{cm.GetMetadata().GetName(), int64(len(cm.GetData()) + len(cm.GetBinaryData())), age(cm, o)}
}

func secretRow(obj runtime.Object, o *Options) []any {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	return []any{s.GetMetadata().GetName(), s.GetType(), int64(len(s.GetData())), age(s, o)}
}

// serviceAccountRow counts the listed secrets, as kubectl does (0 since Kubernetes 1.24, which
// stopped creating token secrets; kubelab never did).
func serviceAccountRow(obj runtime.Object, o *Options) []any {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil
	}
	return []any{sa.GetMetadata().GetName(), int64(len(sa.GetSecrets())), age(sa, o)}
}

// podDisruptionBudgetRow shows N/A for whichever of minAvailable and maxUnavailable is unset,
// as kubectl does.
func podDisruptionBudgetRow(obj runtime.Object, o *Options) []any {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil
	}
	intOrString := func(v *metav1.IntOrString) string {
		switch {
		case v == nil:
			return "N/A"
		case v.GetType() == 1:
			return v.GetStrVal()
		}
		return strconv.Itoa(int(v.GetIntVal()))
	}
	spec := pdb.GetSpec()
	return []any{pdb.GetMetadata().GetName(), intOrString(spec.GetMinAvailable()), intOrString(spec.GetMaxUnavailable()),
		int64(pdb.GetStatus().GetDisruptionsAllowed()), age(pdb, o)}
}

func resourceQuotaRow(obj runtime.Object, o *Options) []any {
	q, ok := obj.(*corev1.ResourceQuota)
	if !ok {
		return nil
	}
	hard, used := q.GetStatus().GetHard(), q.GetStatus().GetUsed()
	var request, limit []string
	for _, name := range slices.Sorted(maps.Keys(hard)) {
		s := fmt.Sprintf("%s: %s/%s", name, quantity(used[name]), quantity(hard[name]))
		if pieces := strings.Split(name, "."); len(pieces) > 1 && pieces[0] == "limits" {
			limit = append(limit, s)
		} else {
			request = append(request, s)
		}
	}
	return []any{q.GetMetadata().GetName(), age(q, o), strings.Join(request, ", "), strings.Join(limit, ", ")}
}

// quantity prints a quantity in canonical form, as resource.Quantity.String does.
func quantity(p *metav1.Quantity) string {
	if p == nil {
		return "0"
	}
	q, err := resource.FromProto(p)
	if err != nil {
		return p.GetString_()
	}
	return q.String()
}
