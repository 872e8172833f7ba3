// Package namespacelifecycle is the NamespaceLifecycle admission plugin: nothing is created
// in a namespace that does not exist or is being deleted, and the system namespaces cannot be
// deleted.
package namespacelifecycle

import (
	"context"
	"fmt"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "NamespaceLifecycle"

// Immortal namespaces exist from the first start and may never be deleted.
var Immortal = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// NamespaceGetter reads a namespace: from the watch cache, falling back to etcd when the
// cache does not have it, so a namespace created a moment ago is still found.
type NamespaceGetter func(ctx context.Context, name string) (*corev1.Namespace, error)

type Plugin struct {
	get NamespaceGetter
}

func New(get NamespaceGetter) *Plugin { return &Plugin{get: get} }

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Delete
}

// accessReviews may be created in any namespace, even one that does not exist: refusing
// them would tell whoever asks which namespaces exist. (kubelab serves no
// localsubjectaccessreviews yet; the exemption is here so that it holds when it does.)
var accessReviews = map[apierrors.GroupResource]bool{
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: true,
}

// Admit refuses a create in a namespace that does not exist or is being deleted. It is a
// mutating plugin, as Kubernetes', so that the refusal comes first: before other plugins
// look for objects the namespace may already have lost (a pod's service account) and
// before validation.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource == "namespaces" {
		if a.Operation == admission.Delete && a.Subresource == "" {
			for _, ns := range Immortal {
				if a.Name == ns {
					return apierrors.NewForbidden(apierrors.GroupResource{Resource: "namespaces"}, a.Name,
						fmt.Errorf("this namespace may not be deleted"))
				}
			}
		}
		return nil
	}
	// Deletes always pass: the namespace controller empties a terminating namespace.
	if a.Operation != admission.Create || a.Namespace == "" {
		return nil
	}
	gr := apierrors.GroupResource{Group: a.ResourceGroup, Resource: a.Resource}
	if accessReviews[gr] {
		return nil
	}
	ns, err := p.get(ctx, a.Namespace)
	if err != nil {
		return err // NotFound: `namespaces "x" not found`, as Kubernetes answers
	}
	// Subresource creates are creates too, as in Kubernetes: no binding, eviction or
	// token in a terminating namespace. The namespace controller needs none of them, and
	// kubectl drain, told NamespaceTerminating, waits for the pod's deletion instead.
	if ns.GetMetadata().GetDeletionTimestamp() != nil || ns.GetStatus().GetPhase() == "Terminating" {
		// The NamespaceTerminating cause lets controllers tell this refusal from any other
		// Forbidden and drop the create instead of retrying it.
		return apierrors.NewNamespaceTerminating(gr, a.Name, a.Namespace)
	}
	return nil
}
