package controller

import (
	"kubelab.io/client/cache"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// NamespaceTerminating reports whether ns is being deleted. Controllers that put objects
// into every namespace leave such a namespace alone: the apiserver's namespace lifecycle
// admission refuses new content there, and the namespace controller is emptying it.
func NamespaceTerminating(ns *corev1.Namespace) bool {
	return ns.GetMetadata().GetDeletionTimestamp() != nil || ns.GetStatus().GetPhase() == "Terminating"
}

// ActiveNamespace reads the namespace name from the cache: ok is false when it is gone or
// terminating, and so should get nothing new.
func ActiveNamespace(namespaces cache.Lister[*corev1.Namespace], name string) (ok bool, _ error) {
	ns, err := namespaces.Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return !NamespaceTerminating(ns), nil
}

// NamespaceHandlers queue a namespace's name when it is added and when it changes (not on a
// resync), for controllers whose queue holds namespace names.
func NamespaceHandlers(q Queue) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj runtime.Object) { q.Add(obj.GetMetadata().GetName()) },
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			if !IsResync(oldObj, newObj) {
				q.Add(newObj.GetMetadata().GetName())
			}
		},
	}
}

// CoreMapping is the REST mapping of a core/v1 kind (Namespace, ConfigMap, …), for listers
// over a shared informer's cache. It is the zero Mapping for a kind that is not served.
func CoreMapping(kind string) scheme.Mapping {
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: kind})
	return m
}
