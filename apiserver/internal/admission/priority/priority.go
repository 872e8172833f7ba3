// Package priority is the Priority admission plugin: a new pod's priorityClassName is
// resolved to its spec.priority and spec.preemptionPolicy (the global default class's, or
// priority 0 and PreemptLowerPriority when it names none and no class is the default), and
// at most one PriorityClass is the global default.
package priority

import (
	"context"
	"fmt"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/scheme"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "Priority"

// Classes reads PriorityClasses: Get one by name (NotFound when there is none), List all.
// Both read the watch cache; Get falls back to etcd, so a class created a moment ago through
// another apiserver is found.
type Classes struct {
	Get  func(ctx context.Context, name string) (*schedulingv1.PriorityClass, error)
	List func(ctx context.Context) ([]*schedulingv1.PriorityClass, error)
}

// Plugin is the Priority admission plugin.
type Plugin struct {
	classes Classes
}

func New(classes Classes) *Plugin { return &Plugin{classes: classes} }

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

var (
	podsResource    = apierrors.GroupResource{Resource: "pods"}
	classesResource = apierrors.GroupResource{Group: scheme.GroupScheduling, Resource: "priorityclasses"}
)

// Admit resolves the priority of a pod being created, and keeps it through an update that
// leaves it out (validation refuses any change of it). Subresources are left alone: a
// binding or eviction acts on a pod admitted before.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource != "pods" || a.ResourceGroup != "" || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	spec := pod.Spec
	if a.Operation == admission.Update {
		oldPod, ok := a.OldObject.(*corev1.Pod)
		if !ok || oldPod.GetSpec() == nil {
			return nil
		}
		old := oldPod.GetSpec()
		if spec.Priority == nil && old.Priority != nil {
			spec.Priority = old.Priority
		}
		if spec.PreemptionPolicy == nil && old.PreemptionPolicy != nil {
			spec.PreemptionPolicy = old.PreemptionPolicy
		}
		return nil
	}

	var priority int32
	var policy *string
	if spec.PriorityClassName == "" {
		def, err := p.globalDefault(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to get default priority class: %w", err))
		}
		if def != nil {
			spec.PriorityClassName = def.GetMetadata().GetName()
			priority, policy = def.GetValue(), def.PreemptionPolicy
		} else {
			lower := schedulingv1.PreemptLowerPriority
			priority, policy = schedulingv1.DefaultPriorityWhenNoDefaultClassExists, &lower
		}
	} else {
		pc, err := p.classes.Get(ctx, spec.PriorityClassName)
		if apierrors.IsNotFound(err) {
			return apierrors.NewForbidden(podsResource, a.Name, fmt.Errorf("no PriorityClass with name %v was found", spec.PriorityClassName))
		}
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to get PriorityClass with name %s: %w", spec.PriorityClassName, err))
		}
		priority, policy = pc.GetValue(), pc.PreemptionPolicy
	}
	// A client may repeat what the class says (a pod read back and created again), but not
	// set something else.
	if spec.Priority != nil && spec.GetPriority() != priority {
		return apierrors.NewForbidden(podsResource, a.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", spec.GetPriority(), priority))
	}
	spec.Priority = &priority
	if policy != nil {
		if spec.PreemptionPolicy != nil && spec.GetPreemptionPolicy() != *policy {
			return apierrors.NewForbidden(podsResource, a.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", spec.GetPreemptionPolicy(), *policy))
		}
		v := *policy
		spec.PreemptionPolicy = &v
	}
	return nil
}

// Validate refuses a second global default class. It is a check against the classes as the
// watch cache holds them, as upstream's against its informer: two racing creates can both
// pass, and then the one of lower value is the default.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Resource != "priorityclasses" || a.ResourceGroup != scheme.GroupScheduling || a.Subresource != "" {
		return nil
	}
	pc, ok := a.Object.(*schedulingv1.PriorityClass)
	if !ok || !pc.GetGlobalDefault() {
		return nil
	}
	def, err := p.globalDefault(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to get default priority class: %w", err))
	}
	if def != nil && (a.Operation == admission.Create || def.GetMetadata().GetName() != pc.GetMetadata().GetName()) {
		return apierrors.NewForbidden(classesResource, a.Name, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", def.GetMetadata().GetName()))
	}
	return nil
}

// globalDefault is the default class, nil when there is none; of several (a race), the one
// of lowest value.
func (p *Plugin) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	list, err := p.classes.List(ctx)
	if err != nil {
		return nil, err
	}
	var def *schedulingv1.PriorityClass
	for _, pc := range list {
		if pc.GetGlobalDefault() && (def == nil || pc.GetValue() < def.GetValue()) {
			def = pc
		}
	}
	return def, nil
}
