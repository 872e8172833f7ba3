package kube

import (
	"context"
	"fmt"

	"kubelab.io/client/transport"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// Resource is the typed client of one kind in one namespace (or cluster-wide): T is the
// object type (*corev1.Pod), L its list (*corev1.PodList). Errors are
// *apierrors.StatusError values whichever transport carried them.
type Resource[T runtime.Object, L runtime.ListObject] struct {
	t         transport.Interface
	mapping   scheme.Mapping
	namespace string
	// err is set when T is not a served kind; every call returns it.
	err error
}

// NewResource returns the typed client of T in namespace (ignored for cluster-scoped
// kinds; "" lists and watches across every namespace). T must be a kind of scheme.Scheme;
// otherwise every call fails.
func NewResource[T runtime.Object, L runtime.ListObject](t transport.Interface, namespace string) *Resource[T, L] {
	var zero T
	r := &Resource[T, L]{t: t, namespace: namespace}
	gvk, ok := scheme.Scheme.KindFor(zero)
	if !ok {
		r.err = fmt.Errorf("kube: %T is not a registered kind", zero)
		return r
	}
	if r.mapping, ok = scheme.MappingFor(gvk); !ok {
		r.err = fmt.Errorf("kube: kind %s is not served", gvk)
		return r
	}
	if !r.mapping.Namespaced {
		r.namespace = ""
	}
	return r
}

// Mapping is the REST mapping of the resource.
func (r *Resource[T, L]) Mapping() scheme.Mapping { return r.mapping }

// Namespace is the namespace the client acts in ("" for cluster-scoped kinds or all).
func (r *Resource[T, L]) Namespace() string { return r.namespace }

func (r *Resource[T, L]) ref(name string) transport.Ref {
	return transport.Ref{Mapping: r.mapping, Namespace: r.namespace, Name: name}
}

// typed asserts what the transport decoded is a T; it always is unless a transport breaks
// its contract, which is reported as an error rather than a panic.
func (r *Resource[T, L]) typed(obj runtime.Object, verb string) (T, error) {
	var zero T
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s: the transport returned a %T, not a %T", verb, r.mapping.Plural, obj, zero)
	}
	return t, nil
}

// Get reads the object name.
func (r *Resource[T, L]) Get(ctx context.Context, name string) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	obj, err := r.t.Get(ctx, r.ref(name))
	if err != nil {
		return zero, err
	}
	return r.typed(obj, "get")
}

// List reads the objects that match opts.
func (r *Resource[T, L]) List(ctx context.Context, opts transport.ListOptions) (L, error) {
	var zero L
	if r.err != nil {
		return zero, r.err
	}
	list, err := r.t.List(ctx, r.ref(""), opts)
	if err != nil {
		return zero, err
	}
	l, ok := list.(L)
	if !ok {
		return zero, fmt.Errorf("list %s: the transport returned a %T, not a %T", r.mapping.Plural, list, zero)
	}
	return l, nil
}

// Watch streams the changes of the objects that match opts, from opts.ResourceVersion on.
// Event objects are of type T. See transport.Interface.Watch.
func (r *Resource[T, L]) Watch(ctx context.Context, opts transport.ListOptions) (watch.Interface, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.t.Watch(ctx, r.ref(""), opts)
}

// Create stores obj in the client's namespace (or obj's own, when the client has none) and
// returns the stored object. obj is not modified.
func (r *Resource[T, L]) Create(ctx context.Context, obj T) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	out, err := r.t.Create(ctx, r.ref(""), obj)
	if err != nil {
		return zero, err
	}
	return r.typed(out, "create")
}

// Update replaces the object named by obj's metadata, but its status; a resourceVersion in
// obj makes it conditional (apierrors.IsConflict when stale). obj is not modified.
func (r *Resource[T, L]) Update(ctx context.Context, obj T) (T, error) {
	return r.update(ctx, obj, "")
}

// UpdateStatus replaces the status of the object named by obj's metadata (the status
// subresource); the rest of obj is ignored by the server.
func (r *Resource[T, L]) UpdateStatus(ctx context.Context, obj T) (T, error) {
	return r.update(ctx, obj, "status")
}

func (r *Resource[T, L]) update(ctx context.Context, obj T, subresource string) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	out, err := r.t.Update(ctx, r.ref(obj.GetMetadata().GetName()), obj, subresource)
	if err != nil {
		return zero, err
	}
	return r.typed(out, "update")
}

// Patch applies data, a patch of type pt, to the object name, or to its subresource when
// one is given ("status"), and returns the patched object.
func (r *Resource[T, L]) Patch(ctx context.Context, name string, pt transport.PatchType, data []byte, subresource ...string) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	if len(subresource) > 1 {
		return zero, fmt.Errorf("patch %s %q: at most one subresource, got %v", r.mapping.Plural, name, subresource)
	}
	sub := ""
	if len(subresource) == 1 {
		sub = subresource[0]
	}
	out, err := r.t.Patch(ctx, r.ref(name), pt, data, sub)
	if err != nil {
		return zero, err
	}
	return r.typed(out, "patch")
}

// Delete removes the object name (opts may be nil). It returns the object while its
// deletion is pending (grace period, finalizers), and the zero T (nil) once it is gone.
func (r *Resource[T, L]) Delete(ctx context.Context, name string, opts *metav1.DeleteOptions) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	out, err := r.t.Delete(ctx, r.ref(name), opts)
	if err != nil || out == nil {
		return zero, err
	}
	return r.typed(out, "delete")
}
