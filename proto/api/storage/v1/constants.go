package storagev1

// The values of StorageClass fields and the annotation that marks the default class, as
// k8s.io/api/storage/v1 names them.
const (
	VolumeBindingImmediate            = "Immediate"
	VolumeBindingWaitForFirstConsumer = "WaitForFirstConsumer"

	// IsDefaultStorageClassAnnotation set to "true" makes a class the one claims that name
	// none get.
	IsDefaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"
	// BetaIsDefaultStorageClassAnnotation is the annotation's older name, still honoured.
	BetaIsDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// IsDefaultAnnotation reports whether a class's annotations make it a default class.
func IsDefaultAnnotation(annotations map[string]string) bool {
	return annotations[IsDefaultStorageClassAnnotation] == "true" || annotations[BetaIsDefaultStorageClassAnnotation] == "true"
}

// DefaultClass picks the class a claim that names none gets, as Kubernetes'
// GetDefaultClass: among the classes annotated as default, the newest, and of equally new
// ones the first by name; nil when no class is a default.
func DefaultClass(classes []*StorageClass) *StorageClass {
	var best *StorageClass
	for _, c := range classes {
		if !IsDefaultAnnotation(c.GetMetadata().GetAnnotations()) {
			continue
		}
		if best == nil || newer(c, best) {
			best = c
		}
	}
	return best
}

func newer(a, b *StorageClass) bool {
	at, bt := a.GetMetadata().GetCreationTimestamp(), b.GetMetadata().GetCreationTimestamp()
	if at.GetSeconds() != bt.GetSeconds() {
		return at.GetSeconds() > bt.GetSeconds()
	}
	if at.GetNanos() != bt.GetNanos() {
		return at.GetNanos() > bt.GetNanos()
	}
	return a.GetMetadata().GetName() < b.GetMetadata().GetName()
}
