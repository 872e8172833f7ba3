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
