// Package transport is the seam between kubelab's typed clients and the wire: one interface
// with the API verbs on untyped objects, implemented over REST/JSON (what kubectl uses) and
// over gRPC/protobuf (what the components use). Typed clients, informers and controllers are
// written once against it.
package transport

import (
	"context"
	"fmt"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// Ref names what a call acts on. Name is empty for list, watch and create; Namespace is
// empty for cluster-scoped kinds and for lists across every namespace.
type Ref struct {
	Mapping   scheme.Mapping
	Namespace string
	Name      string
}

// ListOptions select and page lists and watches, as the REST query parameters do.
type ListOptions struct {
	LabelSelector   string
	FieldSelector   string
	ResourceVersion string
	Limit           int64
	Continue        string
	// TimeoutSeconds ends a watch after that long (the server picks when 0).
	TimeoutSeconds int64
}

// PatchType is a PATCH body's media type.
type PatchType string

const (
	JSONPatch      PatchType = "application/json-patch+json"
	MergePatch     PatchType = "application/merge-patch+json"
	StrategicMerge PatchType = "application/strategic-merge-patch+json"
)

// Interface is one connection to an apiserver. Errors are apierrors.StatusError values
// (check them with apierrors.IsNotFound and friends) whichever wire carried them.
type Interface interface {
	Get(ctx context.Context, ref Ref) (runtime.Object, error)
	List(ctx context.Context, ref Ref, opts ListOptions) (runtime.ListObject, error)
	Watch(ctx context.Context, ref Ref, opts ListOptions) (watch.Interface, error)
	Create(ctx context.Context, ref Ref, obj runtime.Object) (runtime.Object, error)
	// Update writes obj; subresource is "" or "status".
	Update(ctx context.Context, ref Ref, obj runtime.Object, subresource string) (runtime.Object, error)
	Patch(ctx context.Context, ref Ref, pt PatchType, data []byte, subresource string) (runtime.Object, error)
	// Delete returns the object when its deletion is pending (grace period, finalizers),
	// nil when it is gone.
	Delete(ctx context.Context, ref Ref, opts *metav1.DeleteOptions) (runtime.Object, error)
	// Bind assigns a pod (ref) to a node.
	Bind(ctx context.Context, ref Ref, binding *corev1.Binding) error
	// CreateSubresource creates a subresource of the object ref names that takes a body of
	// its own kind, such as a service account's "token" (a TokenRequest): obj is sent and
	// the server's answer is decoded as obj's kind, not as ref's.
	CreateSubresource(ctx context.Context, ref Ref, subresource string, obj runtime.Object) (runtime.Object, error)
}

// SubresourceMapping checks the arguments of a CreateSubresource call and returns the
// mapping its body and answer are encoded with: obj's kind, under "plural/subresource" so
// that errors name the subresource.
func SubresourceMapping(ref Ref, subresource string, obj runtime.Object) (scheme.Mapping, error) {
	switch {
	case ref.Name == "":
		return scheme.Mapping{}, fmt.Errorf("create %s/%s: resource name may not be empty", ref.Mapping.Plural, subresource)
	case subresource == "":
		return scheme.Mapping{}, fmt.Errorf("create subresource of %s %q: no subresource named", ref.Mapping.Plural, ref.Name)
	case obj == nil:
		return scheme.Mapping{}, fmt.Errorf("create %s/%s: no object", ref.Mapping.Plural, subresource)
	}
	gvk, ok := scheme.Scheme.KindFor(obj)
	if !ok {
		return scheme.Mapping{}, fmt.Errorf("create %s/%s: %T is not a registered kind", ref.Mapping.Plural, subresource, obj)
	}
	return scheme.Mapping{Kind: gvk, Plural: ref.Mapping.Plural + "/" + subresource}, nil
}
