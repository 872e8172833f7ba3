// Package volumeutil holds what the persistentvolume-binder and the provisioners share:
// the annotations of upstream's binding and provisioning protocol, and the readings of a
// claim's and a volume's class and binding that both sides must agree on.
package volumeutil

import (
	"slices"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// The annotations of upstream's protocol between the binder, the scheduler and
// provisioners (k8s.io/component-helpers/storage/volume).
const (
	// AnnBindCompleted on a claim: the binder finished binding it (both sides written).
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController on a claim or volume: the binder, not the user, set its
	// volumeName or claimRef, so the binder may also undo it.
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	// AnnDynamicallyProvisioned on a volume names the provisioner that made it; that
	// provisioner also deletes it.
	AnnDynamicallyProvisioned = "pv.kubernetes.io/provisioned-by"
	// AnnStorageProvisioner (and its beta name) on a claim asks that provisioner for a volume.
	AnnStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	// AnnValueYes is what the binder writes to its yes/no annotations.
	AnnValueYes = "yes"
)

// IsVolumeBoundToClaim reports whether pv's claimRef names pvc: the same namespace and
// name, and its uid or none (a volume pre-bound by name).
func IsVolumeBoundToClaim(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	ref, m := pv.GetSpec().GetClaimRef(), pvc.GetMetadata()
	if ref == nil || ref.GetName() != m.GetName() || ref.GetNamespace() != m.GetNamespace() {
		return false
	}
	return ref.GetUid() == "" || ref.GetUid() == m.GetUid()
}

// ClaimRef is the reference a volume bound to pvc holds.
func ClaimRef(pvc *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	m := pvc.GetMetadata()
	return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1", Namespace: m.GetNamespace(),
		Name: m.GetName(), Uid: m.GetUid(), ResourceVersion: m.GetResourceVersion()}
}

// RequestedStorage is the capacity pvc asks for; ok is false if it names none it can parse.
func RequestedStorage(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	q, err := resource.FromProto(pvc.GetSpec().GetResources().GetRequests()[corev1.ResourceStorage])
	return q, err == nil
}

// VolumeStorage is pv's capacity; ok is false if it has none it can parse.
func VolumeStorage(pv *corev1.PersistentVolume) (resource.Quantity, bool) {
	q, err := resource.FromProto(pv.GetSpec().GetCapacity()[corev1.ResourceStorage])
	return q, err == nil
}

// VolumeModeMismatch reports whether a claim and a volume differ in volumeMode, unset
// counting as Filesystem.
func VolumeModeMismatch(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	mode := func(m *string) string {
		if m == nil {
			return corev1.PersistentVolumeFilesystem
		}
		return *m
	}
	return mode(pvc.GetSpec().VolumeMode) != mode(pv.GetSpec().VolumeMode)
}

// HasAccessModes reports whether pv offers every access mode pvc asks for.
func HasAccessModes(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	for _, m := range pvc.GetSpec().GetAccessModes() {
		if !slices.Contains(pv.GetSpec().GetAccessModes(), m) {
			return false
		}
	}
	return true
}

// CloneClaim and CloneVolume copy cached objects before they are written: the cache's are
// shared.
func CloneClaim(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	return proto.Clone(pvc).(*corev1.PersistentVolumeClaim)
}

func CloneVolume(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
	return proto.Clone(pv).(*corev1.PersistentVolume)
}
