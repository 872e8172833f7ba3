package controller

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"

	"kubelab.io/client/cache"
	"kubelab.io/proto/runtime"
)

// KeyFunc is the key controllers queue: "namespace/name", or "name" for cluster-scoped
// objects; it accepts the tombstones of delete handlers.
func KeyFunc(obj any) (string, error) { return cache.MetaNamespaceKeyFunc(obj) }

// Queue is the part of a work queue the enqueue helpers need (workqueue.Interface[string]
// satisfies it).
type Queue interface {
	Add(key string)
}

// Enqueue adds obj's key to q. It returns the error of a key that cannot be computed, for
// the caller to log; handlers must not do more than this.
func Enqueue(q Queue, obj any) error {
	key, err := KeyFunc(obj)
	if err != nil {
		return fmt.Errorf("couldn't get key for object %T: %w", obj, err)
	}
	q.Add(key)
	return nil
}

// ObjectFromTombstone returns the object a delete handler got: obj itself, or the last
// known state a DeletedFinalStateUnknown tombstone carries. ok is false for anything else.
func ObjectFromTombstone(obj any) (runtime.Object, bool) {
	switch o := obj.(type) {
	case runtime.Object:
		return o, true
	case cache.DeletedFinalStateUnknown:
		return o.Obj, o.Obj != nil
	case *cache.DeletedFinalStateUnknown:
		return o.Obj, o != nil && o.Obj != nil
	}
	return nil, false
}

// IsResync reports whether an update notification is a periodic resync or re-list of an
// unchanged object (same resourceVersion), which handlers that only care about changes skip.
func IsResync(oldObj, newObj runtime.Object) bool {
	return oldObj.GetMetadata().GetResourceVersion() == newObj.GetMetadata().GetResourceVersion()
}

// SortByName orders objs in place by namespace, then name: work over cached objects
// (which come in no particular order) is then done the same way on every sync.
func SortByName[T runtime.Object](objs []T) {
	slices.SortFunc(objs, func(a, b T) int {
		am, bm := a.GetMetadata(), b.GetMetadata()
		return cmp.Or(cmp.Compare(am.GetNamespace(), bm.GetNamespace()), cmp.Compare(am.GetName(), bm.GetName()))
	})
}

// KeyHandlers queue the key of every object added, updated (resyncs included: the
// controller then re-checks everything periodically) or deleted, for controllers whose
// queue holds the keys of that kind's objects.
func KeyHandlers(q Queue, log *slog.Logger) cache.ResourceEventHandlerFuncs {
	enqueue := func(obj any) {
		if o, ok := ObjectFromTombstone(obj); ok {
			if err := Enqueue(q, o); err != nil {
				log.Error("enqueue", "err", err)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj runtime.Object) { enqueue(obj) },
		UpdateFunc: func(_, cur runtime.Object) { enqueue(cur) },
		DeleteFunc: enqueue,
	}
}
