// Package resourcequota is the ResourceQuota admission plugin: a pod is created only if
// every ResourceQuota of its namespace has room for it, and the room it takes is recorded
// in the quota's status.used in the same step, as Kubernetes' plugin/pkg/admission/
// resourcequota does. What a pod counts for, and which scoped quotas it counts against, is
// kubelab.io/proto/quota's rule, the one the controller-manager's resource quota
// controller recomputes with.
//
// Concurrency: the check and the increment are one compare-and-swap on the quota object
// (storage's GuaranteedUpdate re-runs the check on the latest quota when another write won
// the race), so parallel creates can never together overshoot a quota.
//
// Room comes back through the resource quota controller, as in Kubernetes: it recomputes
// status.used from the namespace's pods when a pod is deleted or finishes, and every
// --resource-quota-sync-period. That also returns the charge of a create that failed after
// its quota was charged (the name was taken, say). This plugin recomputes only when a quota
// is created or its spec changes, so the new limits apply to the current usage at once.
package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/quota"
	"kubelab.io/proto/resource"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "ResourceQuota"

// Quotas is what the plugin needs from storage.
type Quotas interface {
	// List returns the quotas of a namespace, read fresh (not from a cache).
	List(ctx context.Context, namespace string) ([]*corev1.ResourceQuota, error)
	// Update applies fn to the latest quota with a compare-and-swap, re-running fn when
	// another write won the race; fn's error aborts.
	Update(ctx context.Context, namespace, name string, fn func(*corev1.ResourceQuota) error) error
	// Pods lists a namespace's pods, read fresh.
	Pods(ctx context.Context, namespace string) ([]*corev1.Pod, error)
}

type Plugin struct{ q Quotas }

func New(q Quotas) *Plugin { return &Plugin{q: q} }

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

// Admit fills a quota's status when it is created or its hard limits change: status.hard
// mirrors spec.hard, status.used is recomputed from the namespace's pods.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource != "resourcequotas" || a.Kind.Group != "" || a.Subresource != "" {
		return nil
	}
	q, ok := a.Object.(*corev1.ResourceQuota)
	if !ok {
		return nil
	}
	if old, ok := a.OldObject.(*corev1.ResourceQuota); ok && proto.Equal(old.GetSpec(), q.GetSpec()) {
		return nil
	}
	pods, err := p.q.Pods(ctx, a.Namespace)
	if err != nil {
		return err
	}
	status, err := quota.Recompute(q.GetSpec(), pods, nil, time.Now())
	if err != nil {
		return nil // validation reports it
	}
	q.Status = status
	return nil
}

// Validate charges a new pod to every quota of its namespace that tracks it (quota.Tracks:
// the quota caps a pod resource and the pod matches all its scopes), or refuses it.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Resource != "pods" || a.Kind.Group != "" || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	quotas, err := p.q.List(ctx, a.Namespace)
	if err != nil || len(quotas) == 0 {
		return err
	}
	slices.SortFunc(quotas, func(x, y *corev1.ResourceQuota) int {
		return strings.Compare(x.GetMetadata().GetName(), y.GetMetadata().GetName())
	})
	for _, rq := range quotas {
		if !quota.Tracks(rq.GetSpec(), pod) {
			// Out of its scopes (or it caps nothing of pods): no charge, no write, and
			// no demand that the pod state requests, as upstream skips such quotas.
			continue
		}
		name := rq.GetMetadata().GetName()
		if a.DryRun {
			// Check against the quota as listed; charge nothing.
			if err := charge(proto.Clone(rq).(*corev1.ResourceQuota), pod); err != nil {
				return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, a.Name, err)
			}
			continue
		}
		err := p.q.Update(ctx, a.Namespace, name, func(q *corev1.ResourceQuota) error {
			return charge(q, pod)
		})
		var refused *refusal
		if errors.As(err, &refused) {
			return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, a.Name, errors.New(refused.msg))
		}
		if err != nil {
			return fmt.Errorf("charge quota %s: %w", name, err)
		}
	}
	return nil
}

type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// charge adds pod's usage to q's status.used, or refuses with Kubernetes' message when a
// hard limit would be exceeded.
func charge(q *corev1.ResourceQuota, pod *corev1.Pod) error {
	hard, err := resource.ParseList(q.GetSpec().GetHard())
	if err != nil || len(hard) == 0 {
		return nil
	}
	for _, name := range requiredResources(hard) {
		if !specifies(pod, name) {
			return &refusal{fmt.Sprintf("failed quota: %s: must specify %s", q.GetMetadata().GetName(), name)}
		}
	}
	used, _ := resource.ParseList(q.GetStatus().GetUsed())
	delta := quota.PodUsage(pod, hard, time.Now())
	next := used.Add(delta)
	var exceeded []string
	for name, limit := range hard {
		if d, ok := delta[name]; ok && !d.IsZero() && next[name].Cmp(limit) > 0 {
			exceeded = append(exceeded, name)
		}
	}
	if len(exceeded) > 0 {
		slices.Sort(exceeded)
		return &refusal{fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
			q.GetMetadata().GetName(), list(delta, exceeded), list(quota.Tracked(used, hard), exceeded), list(hard, exceeded))}
	}
	status, err := quota.Status(q.GetSpec(), next)
	if err != nil {
		return err // unreachable: hard parsed above
	}
	q.Status = status
	return nil
}

func list(l resource.List, names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + l[n].String()
	}
	return strings.Join(parts, ",")
}

// requiredResources are the compute resources a pod must state when a quota tracks them.
func requiredResources(hard resource.List) []string {
	var out []string
	for _, name := range []string{"cpu", "limits.cpu", "limits.memory", "memory", "requests.cpu", "requests.memory"} {
		if _, ok := hard[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// specifies reports whether every container states the resource a quota name tracks.
func specifies(pod *corev1.Pod, name string) bool {
	for _, c := range pod.GetSpec().GetContainers() {
		var m map[string]*metav1.Quantity
		res := name
		switch name {
		case "cpu", "memory":
			m = c.GetResources().GetRequests()
		case "requests.cpu", "requests.memory":
			m, res = c.GetResources().GetRequests(), strings.TrimPrefix(name, "requests.")
		case "limits.cpu", "limits.memory":
			m, res = c.GetResources().GetLimits(), strings.TrimPrefix(name, "limits.")
		}
		if _, ok := m[res]; !ok {
			return false
		}
	}
	return true
}
