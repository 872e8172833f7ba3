// Package resourcequota is the ResourceQuota admission plugin: a pod or a
// PersistentVolumeClaim is created only if every ResourceQuota of its namespace has room
// for it, and the room it takes is recorded in the quota's status.used in the same step,
// as Kubernetes' plugin/pkg/admission/resourcequota does. What an object counts for, and
// which quotas it counts against, is kubelab.io/proto/quota's rule, the one the
// controller-manager's resource quota controller recomputes with.
//
// Claims are charged on create only: kubelab refuses claim expansion and a claim's class
// cannot change, so no update can make a claim take more.
//
// Concurrency: the check and the increment are one compare-and-swap on the quota object
// (storage's GuaranteedUpdate re-runs the check on the latest quota when another write won
// the race), so parallel creates can never together overshoot a quota.
//
// Room comes back through the resource quota controller, as in Kubernetes: it recomputes
// status.used from the namespace's pods and claims when one is deleted (or a pod finishes), and every
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
	// Claims lists a namespace's PersistentVolumeClaims, read fresh.
	Claims(ctx context.Context, namespace string) ([]*corev1.PersistentVolumeClaim, error)
}

type Plugin struct{ q Quotas }

func New(q Quotas) *Plugin { return &Plugin{q: q} }

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

// Admit fills a quota's status when it is created or its hard limits change: status.hard
// mirrors spec.hard, status.used is recomputed from the namespace's pods and claims.
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
	claims, err := p.q.Claims(ctx, a.Namespace)
	if err != nil {
		return err
	}
	status, err := quota.Recompute(q.GetSpec(), pods, claims, time.Now())
	if err != nil {
		return nil // validation reports it
	}
	q.Status = status
	return nil
}

// charged is a new object as quota sees it.
type charged struct {
	// tracks reports whether a quota with spec takes anything of the object.
	tracks func(spec *corev1.ResourceQuotaSpec) bool
	// usage is what the object takes of each resource hard tracks.
	usage func(hard resource.List) resource.List
	// constraints refuses an object that does not state what quota q needs to know
	// (a pod's requests and limits); nil when there is nothing to state.
	constraints func(q *corev1.ResourceQuota, hard resource.List) error
}

// chargedFor is how the object of a create counts, ok false when quota takes nothing of it.
func chargedFor(a *admission.Attributes) (c charged, ok bool) {
	switch obj := a.Object.(type) {
	case *corev1.Pod:
		now := time.Now()
		return charged{
			tracks:      func(spec *corev1.ResourceQuotaSpec) bool { return quota.Tracks(spec, obj) },
			usage:       func(hard resource.List) resource.List { return quota.PodUsage(obj, hard, now) },
			constraints: func(q *corev1.ResourceQuota, hard resource.List) error { return podConstraints(q, hard, obj) },
		}, a.Resource == "pods"
	case *corev1.PersistentVolumeClaim:
		return charged{
			tracks: quota.TracksClaim,
			usage:  func(hard resource.List) resource.List { return quota.ClaimUsage(obj, hard) },
		}, a.Resource == "persistentvolumeclaims"
	}
	return charged{}, false
}

// Validate charges a new pod or claim to every quota of its namespace that tracks it (for
// a pod, quota.Tracks: the quota caps a pod resource and the pod matches all its scopes;
// for a claim, quota.TracksClaim), or refuses it.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Kind.Group != "" || a.Subresource != "" {
		return nil
	}
	obj, ok := chargedFor(a)
	if !ok {
		return nil
	}
	gr := apierrors.GroupResource{Resource: a.Resource}
	quotas, err := p.q.List(ctx, a.Namespace)
	if err != nil || len(quotas) == 0 {
		return err
	}
	slices.SortFunc(quotas, func(x, y *corev1.ResourceQuota) int {
		return strings.Compare(x.GetMetadata().GetName(), y.GetMetadata().GetName())
	})
	for _, rq := range quotas {
		if !obj.tracks(rq.GetSpec()) {
			// Out of its scopes (or it caps nothing of the kind): no charge, no write,
			// and no demand that a pod state requests, as upstream skips such quotas.
			continue
		}
		name := rq.GetMetadata().GetName()
		if a.DryRun {
			// Check against the quota as listed; charge nothing.
			if err := charge(proto.Clone(rq).(*corev1.ResourceQuota), obj); err != nil {
				return apierrors.NewForbidden(gr, a.Name, err)
			}
			continue
		}
		err := p.q.Update(ctx, a.Namespace, name, func(q *corev1.ResourceQuota) error {
			return charge(q, obj)
		})
		var refused *refusal
		if errors.As(err, &refused) {
			return apierrors.NewForbidden(gr, a.Name, errors.New(refused.msg))
		}
		if err != nil {
			return fmt.Errorf("charge quota %s: %w", name, err)
		}
	}
	return nil
}

type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// charge adds obj's usage to q's status.used, or refuses with Kubernetes' message when a
// hard limit would be exceeded.
func charge(q *corev1.ResourceQuota, obj charged) error {
	hard, err := resource.ParseList(q.GetSpec().GetHard())
	if err != nil || len(hard) == 0 {
		return nil
	}
	if obj.constraints != nil {
		if err := obj.constraints(q, hard); err != nil {
			return err
		}
	}
	used, _ := resource.ParseList(q.GetStatus().GetUsed())
	delta := obj.usage(hard)
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

// podConstraints refuses a pod that does not state, in every container, a compute
// resource q caps, with Kubernetes' message.
func podConstraints(q *corev1.ResourceQuota, hard resource.List, pod *corev1.Pod) error {
	for _, name := range requiredResources(hard) {
		if !specifies(pod, name) {
			return &refusal{fmt.Sprintf("failed quota: %s: must specify %s", q.GetMetadata().GetName(), name)}
		}
	}
	return nil
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
