package corev1

// The values of PersistentVolume and PersistentVolumeClaim fields, as k8s.io/api/core/v1
// names them.
const (
	ReadWriteOnce    = "ReadWriteOnce"
	ReadOnlyMany     = "ReadOnlyMany"
	ReadWriteMany    = "ReadWriteMany"
	ReadWriteOncePod = "ReadWriteOncePod"

	PersistentVolumeReclaimRecycle = "Recycle"
	PersistentVolumeReclaimDelete  = "Delete"
	PersistentVolumeReclaimRetain  = "Retain"

	PersistentVolumeBlock      = "Block"
	PersistentVolumeFilesystem = "Filesystem"

	// A PersistentVolume's phases.
	VolumePending   = "Pending"
	VolumeAvailable = "Available"
	VolumeBound     = "Bound"
	VolumeReleased  = "Released"
	VolumeFailed    = "Failed"

	// A PersistentVolumeClaim's phases.
	ClaimPending = "Pending"
	ClaimBound   = "Bound"
	ClaimLost    = "Lost"

	// ResourceStorage is the resource name of a volume's capacity and a claim's request.
	ResourceStorage = "storage"

	// The finalizers the StorageObjectInUseProtection admission plugin adds, which the
	// protection controllers remove once no pod uses the claim (no claim is bound to the
	// volume).
	PVCProtectionFinalizer = "kubernetes.io/pvc-protection"
	PVProtectionFinalizer  = "kubernetes.io/pv-protection"
)

// SelectedNodeAnnotation on a claim of a WaitForFirstConsumer class is the node the
// scheduler chose for the claim's first pod, where its volume must be reachable from: the
// scheduler's VolumeBinding writes it, the binder and provisioners read it.
const SelectedNodeAnnotation = "volume.kubernetes.io/selected-node"

// BetaStorageClassAnnotation names a claim's or volume's class the way they did before
// storageClassName existed; when set it wins over the field, as upstream's
// GetPersistentVolume(Claim)Class.
const BetaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// ClaimStorageClass is the class a claim asks for: the beta annotation, else
// storageClassName, else "" (no class).
func ClaimStorageClass(pvc *PersistentVolumeClaim) string {
	if c, ok := pvc.GetMetadata().GetAnnotations()[BetaStorageClassAnnotation]; ok {
		return c
	}
	return pvc.GetSpec().GetStorageClassName()
}

// VolumeStorageClass is the class a volume belongs to, read as ClaimStorageClass.
func VolumeStorageClass(pv *PersistentVolume) string {
	if c, ok := pv.GetMetadata().GetAnnotations()[BetaStorageClassAnnotation]; ok {
		return c
	}
	return pv.GetSpec().GetStorageClassName()
}
