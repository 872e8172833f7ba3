package resource

import (
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// PodRequests is what a pod asks for as a whole, Kubernetes' rule
// (k8s.io/component-helpers/resource.PodRequests) that the kubelet's admission and
// ResourceQuota both use: its containers' requests summed; an init container runs alone
// before them, so only the largest counts, beside the restartable ("sidecar") init
// containers started before it, which keep running and so add to the sum; plus the pod's
// overhead. A quantity that does not parse counts as absent (validation refuses those).
func PodRequests(pod *corev1.Pod) List {
	return podTotal(pod, func(c *corev1.Container) map[string]*metav1.Quantity { return c.GetResources().GetRequests() })
}

// PodLimits is PodRequests for limits.
func PodLimits(pod *corev1.Pod) List {
	return podTotal(pod, func(c *corev1.Container) map[string]*metav1.Quantity { return c.GetResources().GetLimits() })
}

func podTotal(pod *corev1.Pod, of func(*corev1.Container) map[string]*metav1.Quantity) List {
	spec := pod.GetSpec()
	sum := List{}
	for _, c := range spec.GetContainers() {
		l, _ := ParseList(of(c))
		sum = sum.Add(l)
	}
	sidecars, initMax := List{}, List{}
	for _, c := range spec.GetInitContainers() {
		l, _ := ParseList(of(c))
		if c.GetRestartPolicy() == "Always" {
			sum = sum.Add(l)
			sidecars = sidecars.Add(l)
			initMax = initMax.Max(sidecars)
			continue
		}
		initMax = initMax.Max(sidecars.Add(l))
	}
	sum = sum.Max(initMax)
	over, _ := ParseList(spec.GetOverhead())
	return sum.Add(over)
}
