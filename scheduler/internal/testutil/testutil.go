// Package testutil builds Pods, Nodes and PodDisruptionBudgets for the scheduler's tests,
// fluently.
package testutil

import (
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
)

// PodWrapper builds a pod.
type PodWrapper struct{ *corev1.Pod }

// Pod starts a pod in namespace default with one container "c" (image nginx).
func Pod(name string) *PodWrapper {
	return &PodWrapper{&corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name},
		Spec: &corev1.PodSpec{
			SchedulerName: "default-scheduler",
			Containers:    []*corev1.Container{{Name: "c", Image: "nginx"}},
		},
	}}
}

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

// Req sets the first container's requests from name/value pairs.
func (p *PodWrapper) Req(kv ...string) *PodWrapper {
	c := p.Spec.Containers[0]
	if c.Resources == nil {
		c.Resources = &corev1.ResourceRequirements{}
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = map[string]*metav1.Quantity{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Resources.Requests[kv[i]] = q(kv[i+1])
	}
	return p
}

// Container adds a container with requests.
func (p *PodWrapper) Container(image string, kv ...string) *PodWrapper {
	c := &corev1.Container{Name: "c" + string(rune('0'+len(p.Spec.Containers))), Image: image}
	if len(kv) > 0 {
		c.Resources = &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{}}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Resources.Requests[kv[i]] = q(kv[i+1])
		}
	}
	p.Spec.Containers = append(p.Spec.Containers, c)
	return p
}

// InitContainer adds an init container with requests.
func (p *PodWrapper) InitContainer(kv ...string) *PodWrapper {
	c := &corev1.Container{Name: "init", Image: "busybox", Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Resources.Requests[kv[i]] = q(kv[i+1])
	}
	p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	return p
}

// Image sets the first container's image.
func (p *PodWrapper) Image(img string) *PodWrapper { p.Spec.Containers[0].Image = img; return p }

// HostPort adds a host port to the first container.
func (p *PodWrapper) HostPort(port int32, protocol, ip string) *PodWrapper {
	c := p.Spec.Containers[0]
	c.Ports = append(c.Ports, &corev1.ContainerPort{ContainerPort: port, HostPort: port, Protocol: protocol, HostIP: ip})
	return p
}

// NodeName sets spec.nodeName.
func (p *PodWrapper) NodeName(n string) *PodWrapper { p.Spec.NodeName = n; return p }

// Priority sets spec.priority.
func (p *PodWrapper) Priority(v int32) *PodWrapper { p.Spec.Priority = &v; return p }

// PreemptionPolicy sets spec.preemptionPolicy (PreemptLowerPriority or Never).
func (p *PodWrapper) PreemptionPolicy(v string) *PodWrapper { p.Spec.PreemptionPolicy = &v; return p }

// StartTime sets status.startTime (seconds since the epoch).
func (p *PodWrapper) StartTime(sec int64) *PodWrapper {
	p.status().StartTime = &metav1.Time{Seconds: sec}
	return p
}

// NominatedNodeName sets status.nominatedNodeName.
func (p *PodWrapper) NominatedNodeName(n string) *PodWrapper {
	p.status().NominatedNodeName = n
	return p
}

// Terminating sets a deletionTimestamp, as a graceful deletion does.
func (p *PodWrapper) Terminating() *PodWrapper {
	p.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1}
	return p
}

func (p *PodWrapper) status() *corev1.PodStatus {
	if p.Status == nil {
		p.Status = &corev1.PodStatus{}
	}
	return p.Status
}

// Label sets a label of the pod.
func (p *PodWrapper) Label(k, v string) *PodWrapper {
	if p.Metadata.Labels == nil {
		p.Metadata.Labels = map[string]string{}
	}
	p.Metadata.Labels[k] = v
	return p
}

// NodeSelector sets spec.nodeSelector.
func (p *PodWrapper) NodeSelector(m map[string]string) *PodWrapper { p.Spec.NodeSelector = m; return p }

// Toleration adds a toleration.
func (p *PodWrapper) Toleration(key, op, value, effect string) *PodWrapper {
	p.Spec.Tolerations = append(p.Spec.Tolerations, &corev1.Toleration{Key: key, Operator: op, Value: value, Effect: effect})
	return p
}

func (p *PodWrapper) nodeAffinity() *corev1.NodeAffinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	return p.Spec.Affinity.NodeAffinity
}

// Required adds a required node selector term with one expression.
func (p *PodWrapper) Required(key, op string, values ...string) *PodWrapper {
	na := p.nodeAffinity()
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms,
		&corev1.NodeSelectorTerm{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}})
	return p
}

// Preferred adds a preferred term with one expression.
func (p *PodWrapper) Preferred(weight int32, key, op string, values ...string) *PodWrapper {
	na := p.nodeAffinity()
	na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution,
		&corev1.PreferredSchedulingTerm{Weight: weight, Preference: &corev1.NodeSelectorTerm{
			MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}})
	return p
}

// Namespace moves the pod to namespace ns.
func (p *PodWrapper) Namespace(ns string) *PodWrapper { p.Metadata.Namespace = ns; return p }

func (p *PodWrapper) affinity() *corev1.Affinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	if p.Spec.Affinity.PodAffinity == nil {
		p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{}
	}
	if p.Spec.Affinity.PodAntiAffinity == nil {
		p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	return p.Spec.Affinity
}

// PodAffinityTerm selects pods whose label key has one of values, across topologyKey.
func PodAffinityTerm(topologyKey, key string, values ...string) *corev1.PodAffinityTerm {
	return &corev1.PodAffinityTerm{TopologyKey: topologyKey, LabelSelector: &metav1.LabelSelector{
		MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: key, Operator: "In", Values: values}}}}
}

// PodAffinity adds required inter-pod affinity terms.
func (p *PodWrapper) PodAffinity(terms ...*corev1.PodAffinityTerm) *PodWrapper {
	a := p.affinity().PodAffinity
	a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution, terms...)
	return p
}

// PodAntiAffinity adds required inter-pod anti-affinity terms.
func (p *PodWrapper) PodAntiAffinity(terms ...*corev1.PodAffinityTerm) *PodWrapper {
	a := p.affinity().PodAntiAffinity
	a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution, terms...)
	return p
}

// PreferredPodAffinity adds a preferred inter-pod affinity term.
func (p *PodWrapper) PreferredPodAffinity(weight int32, term *corev1.PodAffinityTerm) *PodWrapper {
	a := p.affinity().PodAffinity
	a.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PreferredDuringSchedulingIgnoredDuringExecution,
		&corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term})
	return p
}

// PreferredPodAntiAffinity adds a preferred inter-pod anti-affinity term.
func (p *PodWrapper) PreferredPodAntiAffinity(weight int32, term *corev1.PodAffinityTerm) *PodWrapper {
	a := p.affinity().PodAntiAffinity
	a.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PreferredDuringSchedulingIgnoredDuringExecution,
		&corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term})
	return p
}

// SpreadConstraint spreads the pods whose label key is value over topologyKey.
func SpreadConstraint(maxSkew int32, topologyKey, whenUnsatisfiable, key, value string) *corev1.TopologySpreadConstraint {
	return &corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: whenUnsatisfiable,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}}
}

// Spread adds topology spread constraints.
func (p *PodWrapper) Spread(cs ...*corev1.TopologySpreadConstraint) *PodWrapper {
	p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, cs...)
	return p
}

// Obj returns the pod.
func (p *PodWrapper) Obj() *corev1.Pod { return p.Pod }

// NodeWrapper builds a node.
type NodeWrapper struct{ *corev1.Node }

// Node starts a Ready node with allocatable cpu 4, memory 8Gi, pods 110.
func Node(name string) *NodeWrapper {
	return &NodeWrapper{&corev1.Node{
		Kind: "Node", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:     &corev1.NodeSpec{},
		Status: &corev1.NodeStatus{
			Capacity:    map[string]*metav1.Quantity{"cpu": q("4"), "memory": q("8Gi"), "pods": q("110")},
			Allocatable: map[string]*metav1.Quantity{"cpu": q("4"), "memory": q("8Gi"), "pods": q("110")},
			Conditions:  []*corev1.NodeCondition{{Type: "Ready", Status: "True"}},
		},
	}}
}

// Alloc sets allocatable (and capacity) entries.
func (n *NodeWrapper) Alloc(kv ...string) *NodeWrapper {
	for i := 0; i+1 < len(kv); i += 2 {
		n.Status.Allocatable[kv[i]] = q(kv[i+1])
		n.Status.Capacity[kv[i]] = q(kv[i+1])
	}
	return n
}

// Label sets a label.
func (n *NodeWrapper) Label(k, v string) *NodeWrapper { n.Metadata.Labels[k] = v; return n }

// Taint adds a taint.
func (n *NodeWrapper) Taint(key, value, effect string) *NodeWrapper {
	n.Spec.Taints = append(n.Spec.Taints, &corev1.Taint{Key: key, Value: value, Effect: effect})
	return n
}

// Unschedulable cordons the node.
func (n *NodeWrapper) Unschedulable() *NodeWrapper { n.Spec.Unschedulable = true; return n }

// Images adds an image with its names and size.
func (n *NodeWrapper) Images(size int64, names ...string) *NodeWrapper {
	n.Status.Images = append(n.Status.Images, &corev1.ContainerImage{Names: names, SizeBytes: size})
	return n
}

// Obj returns the node.
func (n *NodeWrapper) Obj() *corev1.Node { return n.Node }

// PDB is a PodDisruptionBudget in namespace default covering the pods labelled app=app,
// whose status allows allowed more disruptions and lists disrupted as already granted.
func PDB(name, app string, allowed int32, disrupted ...string) *policyv1.PodDisruptionBudget {
	pdb := &policyv1.PodDisruptionBudget{
		Kind: "PodDisruptionBudget", ApiVersion: "policy/v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:     &policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:   &policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
	for _, name := range disrupted {
		if pdb.Status.DisruptedPods == nil {
			pdb.Status.DisruptedPods = map[string]*metav1.Time{}
		}
		pdb.Status.DisruptedPods[name] = &metav1.Time{Seconds: 1}
	}
	return pdb
}
