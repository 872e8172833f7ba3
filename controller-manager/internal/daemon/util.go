package daemon

import (
	"cmp"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/scheduling"
)

// Labels and annotations of daemon pods, as Kubernetes names them.
const (
	// TemplateGenerationLabel is the template generation a pod was made from
	// (extensions.DaemonSetTemplateGenerationKey).
	TemplateGenerationLabel = "pod-template-generation"
	// templateGenerationAnnotation is where apps/v1 keeps a DaemonSet's
	// spec.templateGeneration, bumped by the apiserver on template changes only.
	templateGenerationAnnotation = "deprecated.daemonset.template.generation"
)

// The taints every daemon pod tolerates (util.AddOrUpdateDaemonPodTolerations): a node
// going not-ready or unreachable, or under pressure, or cordoned, keeps its daemons, and a
// host-network daemon may start before the node's network is up.
const (
	taintNotReady           = "node.kubernetes.io/not-ready"
	taintUnreachable        = "node.kubernetes.io/unreachable"
	taintDiskPressure       = "node.kubernetes.io/disk-pressure"
	taintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	taintPIDPressure        = "node.kubernetes.io/pid-pressure"
	taintUnschedulable      = "node.kubernetes.io/unschedulable"
	taintNetworkUnavailable = "node.kubernetes.io/network-unavailable"

	effectNoSchedule = "NoSchedule"
	effectNoExecute  = "NoExecute"
)

// addDaemonTolerations adds the daemon tolerations to spec, replacing a toleration of the
// same key, operator, value and effect (so a tolerationSeconds on it goes: daemons are never
// evicted for these taints).
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := func(key, effect string) {
		addOrUpdateToleration(spec, &corev1.Toleration{Key: key, Operator: "Exists", Effect: effect})
	}
	add(taintNotReady, effectNoExecute)
	add(taintUnreachable, effectNoExecute)
	add(taintDiskPressure, effectNoSchedule)
	add(taintMemoryPressure, effectNoSchedule)
	add(taintPIDPressure, effectNoSchedule)
	add(taintUnschedulable, effectNoSchedule)
	if spec.GetHostNetwork() {
		add(taintNetworkUnavailable, effectNoSchedule)
	}
}

// addOrUpdateToleration is v1helper.AddOrUpdateTolerationInPodSpec.
func addOrUpdateToleration(spec *corev1.PodSpec, tol *corev1.Toleration) {
	for i, t := range spec.Tolerations {
		if t.GetKey() == tol.GetKey() && t.GetOperator() == tol.GetOperator() && t.GetValue() == tol.GetValue() && t.GetEffect() == tol.GetEffect() {
			spec.Tolerations[i] = proto.Clone(tol).(*corev1.Toleration)
			return
		}
	}
	spec.Tolerations = append(spec.Tolerations, proto.Clone(tol).(*corev1.Toleration))
}

// newPod is the pod ds would run on node, for judging whether it may: the template with
// the node's name and the daemon tolerations.
func newPod(ds *appsv1.DaemonSet, nodeName string) *corev1.Pod {
	tmpl := ds.GetSpec().GetTemplate()
	spec := &corev1.PodSpec{}
	if s := tmpl.GetSpec(); s != nil {
		spec = proto.Clone(s).(*corev1.PodSpec)
	}
	spec.NodeName = nodeName
	addDaemonTolerations(spec)
	meta := &metav1.ObjectMeta{}
	if m := tmpl.GetMetadata(); m != nil {
		meta = proto.Clone(m).(*metav1.ObjectMeta)
	}
	meta.Namespace = ds.GetMetadata().GetNamespace()
	return &corev1.Pod{Metadata: meta, Spec: spec}
}

// NodeShouldRunDaemonPod is upstream's: shouldRun says a daemon pod should be created on
// node (its name, nodeSelector and required node affinity match, and it tolerates the
// node's NoSchedule and NoExecute taints); shouldContinueRunning says a daemon pod already
// there may stay (the same, but only NoExecute taints matter: a NoSchedule taint added later
// keeps new pods off without evicting the one running).
func NodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	name := node.GetMetadata().GetName()
	if want := ds.GetSpec().GetTemplate().GetSpec().GetNodeName(); want != "" && want != name {
		return false, false
	}
	pod := newPod(ds, name)
	if !scheduling.RequiredNodeAffinityMatches(pod, node) {
		return false, false
	}
	taints, tolerations := node.GetSpec().GetTaints(), pod.GetSpec().GetTolerations()
	if _, untolerated := scheduling.FindUntoleratedTaint(taints, tolerations, func(t *corev1.Taint) bool {
		return t.GetEffect() == effectNoExecute || t.GetEffect() == effectNoSchedule
	}); !untolerated {
		return true, true
	}
	_, untolerated := scheduling.FindUntoleratedTaint(taints, tolerations, func(t *corev1.Taint) bool {
		return t.GetEffect() == effectNoExecute
	})
	return false, !untolerated
}

// templateGeneration is the value of the pods' pod-template-generation label: the
// DaemonSet's deprecated.daemonset.template.generation annotation, which Kubernetes'
// apiserver keeps and bumps on each template change. kubelab's apiserver does not write
// it, so without it the DaemonSet's metadata.generation stands in: it too changes with every
// template change, so one value still names one template (it also moves on other spec
// changes, which only makes a pod look older than it is, never newer). ok is false for an
// annotation that is not a number, as upstream then sets no label.
func templateGeneration(ds *appsv1.DaemonSet) (gen int64, ok bool) {
	if v, found := ds.GetMetadata().GetAnnotations()[templateGenerationAnnotation]; found {
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return ds.GetMetadata().GetGeneration(), true
}

// isPodUpdated reports whether pod was made from ds's current template: its
// controller-revision-hash is hash, or its pod-template-generation is the DaemonSet's.
func isPodUpdated(pod *corev1.Pod, hash string, ds *appsv1.DaemonSet) bool {
	labels := pod.GetMetadata().GetLabels()
	if hash != "" && labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	gen, ok := templateGeneration(ds)
	return ok && labels[TemplateGenerationLabel] == strconv.FormatInt(gen, 10)
}

// podTemplate is the template of ds's new pods (util.CreatePodTemplate): the daemon
// tolerations, the pod-template-generation and controller-revision-hash labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	tmpl := &corev1.PodTemplateSpec{}
	if t := ds.GetSpec().GetTemplate(); t != nil {
		tmpl = proto.Clone(t).(*corev1.PodTemplateSpec)
	}
	if tmpl.Spec == nil {
		tmpl.Spec = &corev1.PodSpec{}
	}
	if tmpl.Metadata == nil {
		tmpl.Metadata = &metav1.ObjectMeta{}
	}
	addDaemonTolerations(tmpl.Spec)
	if tmpl.Metadata.Labels == nil {
		tmpl.Metadata.Labels = map[string]string{}
	}
	if gen, ok := templateGeneration(ds); ok {
		tmpl.Metadata.Labels[TemplateGenerationLabel] = strconv.FormatInt(gen, 10)
	}
	if hash != "" {
		tmpl.Metadata.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return tmpl
}

// pinToNode sets spec's required node affinity to the one term `metadata.name In [node]`
// (util.ReplaceDaemonSetPodNodeNameNodeAffinity): the default scheduler then binds the pod
// to node and nowhere else. Other required terms go (the node was judged to match them);
// preferred terms and pod affinities stay.
func pinToNode(spec *corev1.PodSpec, node string) {
	term := &corev1.NodeSelectorTerm{MatchFields: []*corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{node}}}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{term}}
}

// targetNodeName is the node a daemon pod is for (util.GetTargetNodeName): its nodeName
// once bound, else the node its `metadata.name In [node]` term names.
func targetNodeName(pod *corev1.Pod) (string, error) {
	if n := pod.GetSpec().GetNodeName(); n != "" {
		return n, nil
	}
	m := pod.GetMetadata()
	terms := pod.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution().GetNodeSelectorTerms()
	for _, term := range terms {
		for _, r := range term.GetMatchFields() {
			if r.GetKey() == "metadata.name" && r.GetOperator() == "In" {
				if len(r.GetValues()) != 1 {
					return "", fmt.Errorf("the matchFields value of 'metadata.name' is not unique for pod %s/%s", m.GetNamespace(), m.GetName())
				}
				return r.GetValues()[0], nil
			}
		}
	}
	return "", fmt.Errorf("no node name found for pod %s/%s", m.GetNamespace(), m.GetName())
}

// surgeCount and unavailableCount are the rolling update's bounds for desired nodes (0
// unless RollingUpdate), percentages rounded up.
func surgeCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	if ds.GetSpec().GetUpdateStrategy().GetType() != appsv1.RollingUpdateDaemonSetStrategyType {
		return 0, nil
	}
	n, err := controller.ScaledValue(ds.GetSpec().GetUpdateStrategy().GetRollingUpdate().GetMaxSurge(), int32(desired), true)
	return int(n), err
}

func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	if ds.GetSpec().GetUpdateStrategy().GetType() != appsv1.RollingUpdateDaemonSetStrategyType {
		return 0, nil
	}
	n, err := controller.ScaledValue(ds.GetSpec().GetUpdateStrategy().GetRollingUpdate().GetMaxUnavailable(), int32(desired), true)
	return int(n), err
}

// allowsSurge reports whether ds's rolling update may run two pods on a node.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n != 0
}

// byCreation orders a node's daemon pods oldest first, bound ones before unbound
// (podByCreationTimestampAndPhase), names breaking ties.
func byCreation(a, b *corev1.Pod) int {
	if an, bn := a.GetSpec().GetNodeName() != "", b.GetSpec().GetNodeName() != ""; an != bn {
		if an {
			return -1
		}
		return 1
	}
	ta, tb := controller.TimeOf(a.GetMetadata().GetCreationTimestamp()), controller.TimeOf(b.GetMetadata().GetCreationTimestamp())
	return cmp.Or(ta.Compare(tb), cmp.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName()))
}
