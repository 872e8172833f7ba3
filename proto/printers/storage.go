package printers

import (
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/runtime"
)

var (
	persistentVolumeColumns = []Column{
		nameColumn,
		{Name: "Capacity", Type: "string", Description: "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"},
		{Name: "Access Modes", Type: "string", Description: "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"},
		{Name: "Reclaim Policy", Type: "string", Description: "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming"},
		{Name: "Status", Type: "string", Description: "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase"},
		{Name: "Claim", Type: "string", Description: "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding"},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pv"},
		{Name: "VolumeAttributesClass", Type: "string", Description: "VolumeAttributesClass of the pv"},
		{Name: "Reason", Type: "string", Description: "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."},
		ageColumn,
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec."},
	}

	persistentVolumeClaimColumns = []Column{
		nameColumn,
		{Name: "Status", Type: "string", Description: "phase represents the current phase of PersistentVolumeClaim."},
		{Name: "Volume", Type: "string", Description: "volumeName is the binding reference to the PersistentVolume backing this claim."},
		{Name: "Capacity", Type: "string", Description: "capacity represents the actual resources of the underlying volume."},
		{Name: "Access Modes", Type: "string", Description: "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pvc"},
		{Name: "VolumeAttributesClass", Type: "string", Description: "VolumeAttributesClass of the pvc"},
		ageColumn,
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec."},
	}

	storageClassColumns = []Column{
		nameColumn,
		{Name: "Provisioner", Type: "string", Description: "provisioner indicates the type of the provisioner."},
		{Name: "ReclaimPolicy", Type: "string", Description: "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete."},
		{Name: "VolumeBindingMode", Type: "string", Description: "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature."},
		{Name: "AllowVolumeExpansion", Type: "string", Description: "allowVolumeExpansion shows whether the storage class allow volume expand."},
		ageColumn,
	}
)

// AccessModesString is kubectl's GetAccessModesAsString: the short names in a fixed order,
// each once.
func AccessModesString(modes []string) string {
	var out []string
	for _, m := range []struct{ mode, short string }{
		{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"}, {corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"},
	} {
		for _, have := range modes {
			if have == m.mode {
				out = append(out, m.short)
				break
			}
		}
	}
	return strings.Join(out, ",")
}

// persistentVolumeRow: NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS
// VOLUMEATTRIBUTESCLASS REASON AGE (and VOLUMEMODE wide). A volume being deleted is
// Terminating; kubelab has no VolumeAttributesClasses, so that cell is always <unset>.
func persistentVolumeRow(obj runtime.Object, o *Options) []any {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil
	}
	spec := pv.GetSpec()
	claim := ""
	if ref := spec.GetClaimRef(); ref != nil {
		claim = ref.GetNamespace() + "/" + ref.GetName()
	}
	phase := pv.GetStatus().GetPhase()
	if pv.GetMetadata().GetDeletionTimestamp() != nil {
		phase = "Terminating"
	}
	class := corev1.VolumeStorageClass(pv)
	cells := []any{pv.GetMetadata().GetName(), quantity(spec.GetCapacity()[corev1.ResourceStorage]), AccessModesString(spec.GetAccessModes()),
		spec.GetPersistentVolumeReclaimPolicy(), phase, claim, class, "<unset>", pv.GetStatus().GetReason(), age(pv, o)}
	if o.Wide {
		cells = append(cells, optionalOrUnset(spec.VolumeMode))
	}
	return cells
}

// persistentVolumeClaimRow: NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS
// VOLUMEATTRIBUTESCLASS AGE (and VOLUMEMODE wide). Capacity and access modes are the bound
// volume's, so empty until the claim names one.
func persistentVolumeClaimRow(obj runtime.Object, o *Options) []any {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	spec := pvc.GetSpec()
	phase := pvc.GetStatus().GetPhase()
	if pvc.GetMetadata().GetDeletionTimestamp() != nil {
		phase = "Terminating"
	}
	class := corev1.ClaimStorageClass(pvc)
	capacity, modes := "", ""
	if spec.GetVolumeName() != "" {
		modes = AccessModesString(pvc.GetStatus().GetAccessModes())
		capacity = quantity(pvc.GetStatus().GetCapacity()[corev1.ResourceStorage])
	}
	cells := []any{pvc.GetMetadata().GetName(), phase, spec.GetVolumeName(), capacity, modes, class, "<unset>", age(pvc, o)}
	if o.Wide {
		cells = append(cells, optionalOrUnset(spec.VolumeMode))
	}
	return cells
}

// storageClassRow: NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE,
// the default class's name followed by " (default)", unset fields as their defaults.
func storageClassRow(obj runtime.Object, o *Options) []any {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil
	}
	name := sc.GetMetadata().GetName()
	if storagev1.IsDefaultAnnotation(sc.GetMetadata().GetAnnotations()) {
		name += " (default)"
	}
	reclaim, mode := corev1.PersistentVolumeReclaimDelete, storagev1.VolumeBindingImmediate
	if sc.ReclaimPolicy != nil {
		reclaim = sc.GetReclaimPolicy()
	}
	if sc.VolumeBindingMode != nil {
		mode = sc.GetVolumeBindingMode()
	}
	return []any{name, sc.GetProvisioner(), reclaim, mode, sc.GetAllowVolumeExpansion(), age(sc, o)}
}

func optionalOrUnset(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}
