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
