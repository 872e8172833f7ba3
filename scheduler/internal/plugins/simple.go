package plugins

import (
	"context"
	"fmt"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/scheduling"
	"kubelab.io/scheduler/internal/framework"
)

// Failure reasons, as kube-scheduler words them.
const (
	ErrReasonNodeName          = "node(s) didn't match the requested node name"
	ErrReasonUnschedulable     = "node(s) were unschedulable"
	ErrReasonNodePorts         = "node(s) didn't have free ports for the requested pod ports"
	ErrReasonNodeAffinity      = "node(s) didn't match Pod's node affinity/selector"
	ErrReasonTooManyPods       = "Too many pods"
	ErrReasonNodeNotFound      = "node(s) not found"
	TaintNodeUnschedulable     = "node.kubernetes.io/unschedulable"
	errReasonUntoleratedFormat = "node(s) had untolerated taint {%s: %s}"
)

// NodeName keeps a pod that names a node (spec.nodeName) off every other node.
type NodeName struct{}

func (NodeName) Name() string { return NodeNameName }

func (NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if ni.Node() == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	if n := pod.GetSpec().GetNodeName(); n != "" && n != ni.Name() {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeName)
	}
	return nil
}

// NodeUnschedulable keeps pods off cordoned nodes (spec.unschedulable), unless they tolerate
// the node.kubernetes.io/unschedulable:NoSchedule taint.
type NodeUnschedulable struct{}

func (NodeUnschedulable) Name() string { return NodeUnschedulableName }

func (NodeUnschedulable) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if ni.Node() == nil {
		return framework.NewStatus(framework.Error, ErrReasonNodeNotFound)
	}
	if !ni.Node().GetSpec().GetUnschedulable() {
		return nil
	}
	taint := &corev1.Taint{Key: TaintNodeUnschedulable, Effect: "NoSchedule"}
	if scheduling.Tolerated(taint, pod.GetSpec().GetTolerations()) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)
}

// NodePorts keeps a pod off nodes where a host port it asks for is taken.
type NodePorts struct{}

func (NodePorts) Name() string { return NodePortsName }

func (NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod) *framework.Status {
	if len(state.PodInfo(pod).HostPorts) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

func (NodePorts) Filter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	for _, p := range state.PodInfo(pod).HostPorts {
		if ni.UsedPorts.Conflicts(p) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonNodePorts)
		}
	}
	return nil
}

// DefaultBinder binds through the API's pods/binding subresource.
type DefaultBinder struct{ binder framework.Binder }

// NewDefaultBinder is DefaultBinder's factory.
func NewDefaultBinder(h framework.Handle) (framework.Plugin, error) {
	if h.Binder == nil {
		return nil, fmt.Errorf("%s needs a Binder", DefaultBinderName)
	}
	return DefaultBinder{h.Binder}, nil
}

func (DefaultBinder) Name() string { return DefaultBinderName }

func (b DefaultBinder) Bind(ctx context.Context, _ *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	m := pod.GetMetadata()
	binding := &corev1.Binding{
		Kind: "Binding", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: m.GetNamespace(), Name: m.GetName(), Uid: m.GetUid()},
		Target:   &corev1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	if err := b.binder.Bind(ctx, m.GetNamespace(), binding); err != nil {
		return framework.AsStatus(err)
	}
	return nil
}
