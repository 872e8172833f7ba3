package plugins

import (
	"errors"
	"fmt"
	"maps"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/scheduler/internal/framework"
)

// Defaulting types of PodTopologySpreadArgs, as kube-scheduler's.
const (
	// SystemDefaulting gives pods without constraints the system default constraints.
	SystemDefaulting = "System"
	// ListDefaulting gives them the args' defaultConstraints (none when empty).
	ListDefaulting = "List"
)

// labelTopologyZone is the well-known zone label (the system defaults spread over it and
// hostnameLabel).
const labelTopologyZone = "topology.kubernetes.io/zone"

// systemDefaultConstraints are kube-scheduler's: spread a pod's group over nodes (maxSkew
// 3) and zones (maxSkew 5), by score only, so they never make a pod unschedulable.
func systemDefaultConstraints() []*corev1.TopologySpreadConstraint {
	return []*corev1.TopologySpreadConstraint{
		{TopologyKey: hostnameLabel, WhenUnsatisfiable: "ScheduleAnyway", MaxSkew: 3},
		{TopologyKey: labelTopologyZone, WhenUnsatisfiable: "ScheduleAnyway", MaxSkew: 5},
	}
}

// PodTopologySpreadArgs is kube-scheduler's PodTopologySpreadArgs, the plugin's
// pluginConfig args. A nil *PodTopologySpreadArgs means the defaults (System).
type PodTopologySpreadArgs struct {
	// APIVersion and Kind may name the args' type, as in kube-scheduler's files.
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// DefaultConstraints apply, with DefaultingType List, to pods that declare none.
	DefaultConstraints []DefaultSpreadConstraint `json:"defaultConstraints,omitempty"`
	// DefaultingType is System (the default) or List.
	DefaultingType string `json:"defaultingType,omitempty"`
}

// DefaultSpreadConstraint is a TopologySpreadConstraint in the args: no labelSelector, as
// the selector is worked out for each pod from the workloads that select it.
type DefaultSpreadConstraint struct {
	MaxSkew            int32    `json:"maxSkew"`
	TopologyKey        string   `json:"topologyKey"`
	WhenUnsatisfiable  string   `json:"whenUnsatisfiable"`
	MinDomains         *int32   `json:"minDomains,omitempty"`
	NodeAffinityPolicy *string  `json:"nodeAffinityPolicy,omitempty"`
	NodeTaintsPolicy   *string  `json:"nodeTaintsPolicy,omitempty"`
	MatchLabelKeys     []string `json:"matchLabelKeys,omitempty"`
	// LabelSelector is refused when set (any value), as kube-scheduler's validation does.
	LabelSelector any `json:"labelSelector,omitempty"`
}

// Validate checks the args as kube-scheduler's ValidatePodTopologySpreadArgs does.
func (a *PodTopologySpreadArgs) Validate() error {
	var errs []error
	if a.Kind != "" && a.Kind != "PodTopologySpreadArgs" {
		errs = append(errs, fmt.Errorf("kind: want PodTopologySpreadArgs, got %q", a.Kind))
	}
	switch a.DefaultingType {
	case "", SystemDefaulting:
		if len(a.DefaultConstraints) > 0 {
			errs = append(errs, errors.New(`defaultConstraints: Invalid value: when .defaultingType is "System", .defaultConstraints must be empty`))
		}
	case ListDefaulting:
	default:
		errs = append(errs, fmt.Errorf("defaultingType: Unsupported value: %q: supported values: %q, %q", a.DefaultingType, ListDefaulting, SystemDefaulting))
	}
	seen := map[[2]string]bool{}
	for i, c := range a.DefaultConstraints {
		path := fmt.Sprintf("defaultConstraints[%d]", i)
		if c.MaxSkew <= 0 {
			errs = append(errs, fmt.Errorf("%s.maxSkew: Invalid value: %d: must be greater than zero", path, c.MaxSkew))
		}
		if c.TopologyKey == "" {
			errs = append(errs, fmt.Errorf("%s.topologyKey: Required value", path))
		}
		if c.WhenUnsatisfiable != "DoNotSchedule" && c.WhenUnsatisfiable != "ScheduleAnyway" {
			errs = append(errs, fmt.Errorf("%s.whenUnsatisfiable: Unsupported value: %q: supported values: \"DoNotSchedule\", \"ScheduleAnyway\"", path, c.WhenUnsatisfiable))
		}
		if c.LabelSelector != nil {
			errs = append(errs, fmt.Errorf("%s.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod", path))
		}
		if c.MinDomains != nil && *c.MinDomains <= 0 {
			errs = append(errs, fmt.Errorf("%s.minDomains: Invalid value: %d: must be greater than zero", path, *c.MinDomains))
		}
		k := [2]string{c.TopologyKey, c.WhenUnsatisfiable}
		if seen[k] {
			errs = append(errs, fmt.Errorf("%s: Duplicate value: {%q, %q}", path, c.TopologyKey, c.WhenUnsatisfiable))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

// constraints returns the args' default constraints as a pod would declare them: the
// system ones for System, the listed ones for List.
func (a *PodTopologySpreadArgs) constraints() []*corev1.TopologySpreadConstraint {
	if a == nil || a.DefaultingType == "" || a.DefaultingType == SystemDefaulting {
		return systemDefaultConstraints()
	}
	out := make([]*corev1.TopologySpreadConstraint, len(a.DefaultConstraints))
	for i, c := range a.DefaultConstraints {
		out[i] = &corev1.TopologySpreadConstraint{
			MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey, WhenUnsatisfiable: c.WhenUnsatisfiable,
			MinDomains: c.MinDomains, NodeAffinityPolicy: c.NodeAffinityPolicy, NodeTaintsPolicy: c.NodeTaintsPolicy,
			MatchLabelKeys: c.MatchLabelKeys,
		}
	}
	return out
}

// NewPodTopologySpread builds the plugin from its args (*PodTopologySpreadArgs, nil for
// the defaults) and the workload listers its default constraints read.
func NewPodTopologySpread(h framework.Handle) (framework.Plugin, error) {
	args, _ := h.Args.(*PodTopologySpreadArgs)
	if h.Args != nil && args == nil {
		return nil, fmt.Errorf("want args of type PodTopologySpreadArgs, got %T", h.Args)
	}
	if args != nil {
		if err := args.Validate(); err != nil {
			return nil, err
		}
	}
	return PodTopologySpread{
		defaults:        args.constraints(),
		systemDefaulted: args == nil || args.DefaultingType != ListDefaulting,
		workloads:       h.Workloads,
	}, nil
}

// constraints are the pod's constraints for action: its own when it declares any, else
// the default ones, selecting the pods of the pod's workloads (none when nothing selects
// it), as kube-scheduler's buildDefaultConstraints.
func (pl PodTopologySpread) constraints(pod *corev1.Pod, action string) ([]framework.SpreadConstraint, error) {
	podLabels := pod.GetMetadata().GetLabels()
	if own := pod.GetSpec().GetTopologySpreadConstraints(); len(own) > 0 {
		return framework.NewSpreadConstraints(own, podLabels, action)
	}
	cs, err := framework.NewSpreadConstraints(pl.defaults, podLabels, action)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	sel := DefaultSelector(pod, pl.workloads)
	if sel.Empty() {
		return nil, nil
	}
	for i := range cs {
		cs[i].Selector = sel
	}
	return cs, nil
}

// DefaultSelector is the selector of the pods in pod's group, as kube-scheduler's
// helper.DefaultSelector builds it: the selectors of the Services selecting the pod merged
// (they all match the pod, so they cannot disagree), and the selector of the ReplicaSet or
// StatefulSet that controls it (found by its controller reference). It is empty when
// nothing selects the pod. Lookup errors leave a part out, as upstream's do.
func DefaultSelector(pod *corev1.Pod, w framework.WorkloadListers) labels.Selector {
	ns := pod.GetMetadata().GetNamespace()
	set := map[string]string{}
	if w.Services != nil {
		if svcs, err := w.Services(ns); err == nil {
			for _, svc := range svcs {
				sel := svc.GetSpec().GetSelector()
				// A Service without a selector selects nothing, not everything.
				if sel == nil || !labels.SelectorFromSet(sel).Matches(pod.GetMetadata().GetLabels()) {
					continue
				}
				maps.Copy(set, sel)
			}
		}
	}
	selector := labels.SelectorFromSet(set)
	owner := controllerOf(pod)
	if owner == nil || owner.GetApiVersion() != "apps/v1" {
		return selector
	}
	var ls interface{ GetSelector() *metav1.LabelSelector }
	switch owner.GetKind() {
	case "ReplicaSet":
		if w.ReplicaSet != nil {
			if rs, err := w.ReplicaSet(ns, owner.GetName()); err == nil {
				ls = rs.GetSpec()
			}
		}
	case "StatefulSet":
		if w.StatefulSet != nil {
			if ss, err := w.StatefulSet(ns, owner.GetName()); err == nil {
				ls = ss.GetSpec()
			}
		}
	}
	if ls == nil {
		return selector
	}
	other, err := labels.FromLabelSelector(ls.GetSelector())
	if err != nil {
		return selector
	}
	if reqs, ok := other.Requirements(); ok {
		selector = selector.Add(reqs...)
	}
	return selector
}

// controllerOf is pod's controller reference, or nil.
func controllerOf(pod *corev1.Pod) *metav1.OwnerReference {
	for _, r := range pod.GetMetadata().GetOwnerReferences() {
		if r.GetController() {
			return r
		}
	}
	return nil
}
