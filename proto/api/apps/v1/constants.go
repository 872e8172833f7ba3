package appsv1

// DaemonSet update strategy types.
const (
	RollingUpdateDaemonSetStrategyType = "RollingUpdate"
	OnDeleteDaemonSetStrategyType      = "OnDelete"
)

// Labels the DaemonSet controller puts on its pods and ControllerRevisions, as Kubernetes'
// controller does: the revision hash of the template a pod was made from.
const (
	ControllerRevisionHashLabelKey = "controller-revision-hash"
	DefaultDaemonSetUniqueLabelKey = ControllerRevisionHashLabelKey
)

// StatefulSet update strategy types and pod management policies.
const (
	RollingUpdateStatefulSetStrategyType = "RollingUpdate"
	OnDeleteStatefulSetStrategyType      = "OnDelete"

	OrderedReadyPodManagement = "OrderedReady"
	ParallelPodManagement     = "Parallel"
)

// A StatefulSet's persistentVolumeClaimRetentionPolicy values.
const (
	RetainPersistentVolumeClaimRetentionPolicyType = "Retain"
	DeletePersistentVolumeClaimRetentionPolicyType = "Delete"
)

// Labels the StatefulSet controller puts on its pods, as Kubernetes' controller does: the
// revision (the ControllerRevision's name) a pod was made from, its name, and its ordinal.
const (
	StatefulSetRevisionLabel = ControllerRevisionHashLabelKey
	StatefulSetPodNameLabel  = "statefulset.kubernetes.io/pod-name"
	PodIndexLabel            = "apps.kubernetes.io/pod-index"
)
