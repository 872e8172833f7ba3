// Package limitranger is the LimitRanger admission plugin: on pod create it fills each
// container's missing requests and limits from the namespace's LimitRange defaults
// (default, defaultRequest), then enforces min, max and maxLimitRequestRatio per Container
// and, summed over containers, per Pod — as Kubernetes' plugin/pkg/admission/limitranger.
// A namespace without LimitRanges is left alone.
package limitranger

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/resource"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "LimitRanger"

// Lister returns the LimitRanges of a namespace (from the watch cache).
type Lister func(ctx context.Context, namespace string) ([]*corev1.LimitRange, error)

type Plugin struct{ list Lister }

func New(list Lister) *Plugin { return &Plugin{list: list} }

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

func applies(a *admission.Attributes) (*corev1.Pod, bool) {
	if a.Resource != "pods" || a.Subresource != "" || a.Kind.Group != "" {
		return nil, false
	}
	pod, ok := a.Object.(*corev1.Pod)
	return pod, ok
}

// Admit fills defaults on create (an update cannot change resources anyway).
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	pod, ok := applies(a)
	if !ok || a.Operation != admission.Create {
		return nil
	}
	ranges, err := p.list(ctx, a.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	var notes []string
	for _, lr := range ranges {
		for _, item := range lr.GetSpec().GetLimits() {
			if item.GetType() != "Container" {
				continue
			}
			for _, c := range pod.GetSpec().GetContainers() {
				if c.Resources == nil {
					c.Resources = &corev1.ResourceRequirements{}
				}
				var set []string
				if r := fill(&c.Resources.Requests, item.GetDefaultRequest()); len(r) > 0 {
					set = append(set, strings.Join(r, ", ")+" request")
				}
				if l := fill(&c.Resources.Limits, item.GetDefault()); len(l) > 0 {
					set = append(set, strings.Join(l, ", ")+" limit")
				}
				if len(set) > 0 {
					notes = append(notes, strings.Join(set, "; ")+" for container "+c.GetName())
				}
			}
		}
	}
	if len(notes) > 0 {
		if pod.Metadata.Annotations == nil {
			pod.Metadata.Annotations = map[string]string{}
		}
		pod.Metadata.Annotations["kubernetes.io/limit-ranger"] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
	return nil
}

// fill sets the resources of from missing in *to, and returns their names, sorted.
func fill(to *map[string]*metav1.Quantity, from map[string]*metav1.Quantity) []string {
	var set []string
	for name, q := range from {
		if _, ok := (*to)[name]; ok {
			continue
		}
		if *to == nil {
			*to = map[string]*metav1.Quantity{}
		}
		(*to)[name] = proto.Clone(q).(*metav1.Quantity)
		set = append(set, name)
	}
	slices.Sort(set)
	return set
}

// Validate enforces the bounds on create and update.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	pod, ok := applies(a)
	if !ok {
		return nil
	}
	ranges, err := p.list(ctx, a.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	var errs []string
	for _, lr := range ranges {
		for _, item := range lr.GetSpec().GetLimits() {
			switch item.GetType() {
			case "Container":
				for _, c := range pod.GetSpec().GetContainers() {
					errs = append(errs, check(item, "Container", c.GetResources().GetRequests(), c.GetResources().GetLimits())...)
				}
			case "Pod":
				req, lim := resource.List{}, resource.List{}
				reqMissing, limMissing := map[string]bool{}, map[string]bool{}
				for _, c := range pod.GetSpec().GetContainers() {
					r, _ := resource.ParseList(c.GetResources().GetRequests())
					l, _ := resource.ParseList(c.GetResources().GetLimits())
					req, lim = req.Add(r), lim.Add(l)
					for name := range item.GetMin() {
						if _, ok := r[name]; !ok {
							reqMissing[name] = true
						}
					}
					for name := range item.GetMax() {
						if _, ok := l[name]; !ok {
							limMissing[name] = true
						}
					}
				}
				for name := range reqMissing {
					delete(req, name)
				}
				for name := range limMissing {
					delete(lim, name)
				}
				errs = append(errs, check(item, "Pod", req.Proto(), lim.Proto())...)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	msg := errs[0]
	if len(errs) > 1 {
		msg = "[" + strings.Join(errs, ", ") + "]"
	}
	return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, a.Name, fmt.Errorf("%s", msg))
}

// check compares requests and limits with one item's bounds, in Kubernetes' words.
func check(item *corev1.LimitRangeItem, typ string, requests, limits map[string]*metav1.Quantity) []string {
	var errs []string
	for _, name := range sortedKeys(item.GetMin()) {
		min, err := resource.FromProto(item.GetMin()[name])
		if err != nil {
			continue
		}
		// One message per bound, the first that fails, as Kubernetes' minConstraint.
		req, okR := parse(requests, name)
		lim, okL := parse(limits, name)
		switch {
		case !okR:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", name, typ, min))
		case req.Cmp(min) < 0:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", name, typ, min, req))
		case okL && lim.Cmp(min) < 0:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", name, typ, min, lim))
		}
	}
	for _, name := range sortedKeys(item.GetMax()) {
		max, err := resource.FromProto(item.GetMax()[name])
		if err != nil {
			continue
		}
		req, okR := parse(requests, name)
		lim, okL := parse(limits, name)
		switch {
		case !okL:
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", name, typ, max))
		case lim.Cmp(max) > 0:
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", name, typ, max, lim))
		case okR && req.Cmp(max) > 0:
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", name, typ, max, req))
		}
	}
	for _, name := range sortedKeys(item.GetMaxLimitRequestRatio()) {
		ratio, err := resource.FromProto(item.GetMaxLimitRequestRatio()[name])
		if err != nil {
			continue
		}
		req, okR := parse(requests, name)
		lim, okL := parse(limits, name)
		if !okL {
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no limit is specified", name, typ, ratio))
			continue
		}
		if !okR || req.IsZero() {
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, typ, ratio))
			continue
		}
		got := float64(lim.MilliValue()) / float64(req.MilliValue())
		if got > float64(ratio.MilliValue())/1000 {
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, typ, ratio, got))
		}
	}
	return errs
}

func parse(m map[string]*metav1.Quantity, name string) (resource.Quantity, bool) {
	p, ok := m[name]
	if !ok {
		return resource.Quantity{}, false
	}
	q, err := resource.FromProto(p)
	return q, err == nil
}

func sortedKeys(m map[string]*metav1.Quantity) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
