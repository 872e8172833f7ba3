package cache

import (
	"fmt"

	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Lister reads objects of type T from an informer's cache. The objects are shared with
// the cache: never modify them; copy first (proto.Clone).
type Lister[T runtime.Object] struct {
	indexer Indexer
	gr      apierrors.GroupResource
}

// NewLister returns a Lister of the kind mapping describes over indexer. T must be the Go
// type of that kind (*corev1.Pod for pods).
func NewLister[T runtime.Object](indexer Indexer, mapping scheme.Mapping) Lister[T] {
	return Lister[T]{indexer: indexer, gr: apierrors.GroupResource{Group: mapping.Kind.Group, Resource: mapping.Plural}}
}

// List returns the cached objects whose labels match selector (nil means everything), in
// no particular order.
func (l Lister[T]) List(selector labels.Selector) ([]T, error) {
	return filter[T](l.indexer.List(), "", selector)
}

// Get returns the object named name: a cluster-scoped object, or for a namespaced kind the
// key "namespace/name". A missing object is an apierrors NotFound error.
func (l Lister[T]) Get(name string) (T, error) { return l.get(name, name) }

// Namespace narrows the lister to one namespace.
func (l Lister[T]) Namespace(namespace string) NamespaceLister[T] {
	return NamespaceLister[T]{l: l, namespace: namespace}
}

func (l Lister[T]) get(key, name string) (T, error) {
	var zero T
	obj, ok, err := l.indexer.GetByKey(key)
	if err != nil {
		return zero, err
	}
	if !ok {
		return zero, apierrors.NewNotFound(l.gr, name)
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("lister %s: cached %s is a %T, not a %T", l.gr, key, obj, zero)
	}
	return t, nil
}

// NamespaceLister is a Lister limited to one namespace.
type NamespaceLister[T runtime.Object] struct {
	l         Lister[T]
	namespace string
}

// List uses the namespace index when the cache has one.
func (n NamespaceLister[T]) List(selector labels.Selector) ([]T, error) {
	if _, ok := n.l.indexer.GetIndexers()[NamespaceIndex]; ok {
		objs, err := n.l.indexer.ByIndex(NamespaceIndex, n.namespace)
		if err != nil {
			return nil, err
		}
		return filter[T](objs, "", selector)
	}
	return filter[T](n.l.indexer.List(), n.namespace, selector)
}

func (n NamespaceLister[T]) Get(name string) (T, error) {
	return n.l.get(n.namespace+"/"+name, name)
}

func filter[T runtime.Object](objs []runtime.Object, namespace string, selector labels.Selector) ([]T, error) {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		meta := o.GetMetadata()
		if namespace != "" && meta.GetNamespace() != namespace {
			continue
		}
		if selector != nil && !selector.Matches(meta.GetLabels()) {
			continue
		}
		t, ok := o.(T)
		if !ok {
			var zero T
			return nil, fmt.Errorf("lister: cached object is a %T, not a %T", o, zero)
		}
		out = append(out, t)
	}
	return out, nil
}
