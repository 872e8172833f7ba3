package corev1

// Taints the node lifecycle controller puts on a node whose kubelet stopped reporting Ready
// (not-ready) or reporting at all (unreachable), and the tolerations that name them, as
// Kubernetes' k8s.io/api/core/v1 well-known taints.
const (
	TaintNodeNotReady    = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable = "node.kubernetes.io/unreachable"

	TaintEffectNoSchedule       = "NoSchedule"
	TaintEffectPreferNoSchedule = "PreferNoSchedule"
	TaintEffectNoExecute        = "NoExecute"

	TolerationOpExists = "Exists"
	TolerationOpEqual  = "Equal"
)
