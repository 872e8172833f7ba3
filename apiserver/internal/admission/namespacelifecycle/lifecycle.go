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

func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
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
	if a.Operation != admission.Create || a.Namespace == "" {
		return nil
	}
	// Subresource creates (pods/binding, pods/eviction) act on an object that exists already.
	if a.Subresource != "" {
		return nil
	}
	ns, err := p.get(ctx, a.Namespace)
	if err != nil {
		return err // NotFound: `namespaces "x" not found`, as Kubernetes answers
	}
	if ns.GetMetadata().GetDeletionTimestamp() != nil || ns.GetStatus().GetPhase() == "Terminating" {
		// The NamespaceTerminating cause lets controllers tell this refusal from any other
		// Forbidden and drop the create instead of retrying it.
		return apierrors.NewNamespaceTerminating(apierrors.GroupResource{Group: a.Kind.Group, Resource: a.Resource}, a.Name, a.Namespace)
	}
	return nil
}
