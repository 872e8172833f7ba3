package scheduler

import (
	"context"
	"errors"

	kcache "kubelab.io/client/cache"
	corev1 "kubelab.io/proto/api/core/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/scheduler/internal/framework"
	"kubelab.io/scheduler/internal/plugins"
)

// Events of storage objects (upstream's VolumeBinding EventsToRegister: claims, PVs and
// classes added or updated may let a pod it rejected fit).
const (
	EventStorageAdd    = "StorageAdd"
	EventStorageUpdate = "StorageUpdate"
)

// volumeClient is the Client's part VolumeBinding writes through (NewClient's has it).
type volumeClient interface {
	UpdatePersistentVolume(ctx context.Context, pv *corev1.PersistentVolume) error
	UpdatePersistentVolumeClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error
}

// volumeAccess is VolumeBinding's view of storage: the caches, the client's writes, and
// the change notifications of storageHandler.
func (s *Scheduler) volumeAccess(pvcs kcache.Lister[*corev1.PersistentVolumeClaim], pvs kcache.Lister[*corev1.PersistentVolume],
	classes kcache.Lister[*storagev1.StorageClass]) framework.VolumeAccess {
	s.storageChanged = make(chan struct{})
	va := framework.VolumeAccess{
		Claim:        func(ns, name string) (*corev1.PersistentVolumeClaim, error) { return pvcs.Namespace(ns).Get(name) },
		PV:           pvs.Get,
		PVs:          func() ([]*corev1.PersistentVolume, error) { return pvs.List(labels.Everything()) },
		StorageClass: classes.Get,
		Changed: func() <-chan struct{} {
			s.storageMu.Lock()
			defer s.storageMu.Unlock()
			return s.storageChanged
		},
	}
	noWrites := errors.New("the scheduler's client does not write storage objects")
	va.UpdatePV = func(context.Context, *corev1.PersistentVolume) error { return noWrites }
	va.UpdateClaim = func(context.Context, *corev1.PersistentVolumeClaim) error { return noWrites }
	if vc, ok := s.cfg.Client.(volumeClient); ok {
		va.UpdatePV, va.UpdateClaim = vc.UpdatePersistentVolume, vc.UpdatePersistentVolumeClaim
	}
	return va
}

// storageHandler wakes the PreBinds waiting for claims to bind on every claim, PV or
// class added, updated or deleted (a claim gone ends a wait), and requeues the pods
// VolumeBinding rejected on the additions and updates (a deletion lets no pod fit, as
// upstream's EventsToRegister has it).
func (s *Scheduler) storageHandler() kcache.ResourceEventHandler {
	wake := func() {
		s.storageMu.Lock()
		close(s.storageChanged)
		s.storageChanged = make(chan struct{})
		s.storageMu.Unlock()
	}
	changed := func(event string) {
		wake()
		s.queue.MoveRejectedBy(event, plugins.VolumeBindingName)
	}
	return kcache.ResourceEventHandlerFuncs{
		AddFunc: func(runtime.Object) { changed(EventStorageAdd) },
		UpdateFunc: func(o, n runtime.Object) {
			if runtime.Meta(o).GetResourceVersion() != runtime.Meta(n).GetResourceVersion() {
				changed(EventStorageUpdate)
			}
		},
		DeleteFunc: func(any) { wake() },
	}
}
