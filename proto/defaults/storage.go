package defaults

import (
	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
)

// PersistentVolume defaults as SetDefaults_PersistentVolume: phase Pending, reclaim policy
// Retain, volume mode Filesystem, and a hostPath's type "".
func PersistentVolume(pv *corev1.PersistentVolume) {
	if pv.Spec == nil {
		pv.Spec = &corev1.PersistentVolumeSpec{}
	}
	if pv.Status == nil {
		pv.Status = &corev1.PersistentVolumeStatus{}
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	setString(&pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	if hp := pv.Spec.HostPath; hp != nil && hp.Type == nil {
		hp.Type = proto.String("")
	}
}

// PersistentVolumeClaim defaults as SetDefaults_PersistentVolumeClaim: phase Pending and
// volume mode Filesystem. A StatefulSet's volumeClaimTemplates are defaulted the same way.
func PersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec == nil {
		pvc.Spec = &corev1.PersistentVolumeClaimSpec{}
	}
	if pvc.Status == nil {
		pvc.Status = &corev1.PersistentVolumeClaimStatus{}
	}
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
	setString(&pvc.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
}

// StorageClass defaults as SetDefaults_StorageClass: reclaim policy Delete, binding mode
// Immediate.
func StorageClass(sc *storagev1.StorageClass) {
	setString(&sc.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)
	setString(&sc.VolumeBindingMode, storagev1.VolumeBindingImmediate)
}
