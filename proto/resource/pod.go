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
	return PodRequestsWith(pod, PodResourcesOptions{})
}

// PodResourcesOptions changes how PodRequestsWith counts, after Kubernetes' option of that
// name.
type PodResourcesOptions struct {
	// NonMissingContainerRequests, when set, is what each container (init and sidecar
	// containers included) counts for a resource it does not request, before the rule
	// combines them; the overhead is not defaulted. kube-scheduler scores with cpu and
	// memory defaulted so that best-effort pods still spread. An explicit zero request is
	// honoured, as in Kubernetes.
	NonMissingContainerRequests List
}

// PodRequestsWith is PodRequests counted as opts says.
func PodRequestsWith(pod *corev1.Pod, opts PodResourcesOptions) List {
	return podTotal(pod, func(c *corev1.Container) List {
		return withDefaults(parsed(c.GetResources().GetRequests()), opts.NonMissingContainerRequests)
	})
}

// PodLimits is PodRequests for limits.
func PodLimits(pod *corev1.Pod) List {
	return podTotal(pod, func(c *corev1.Container) List { return parsed(c.GetResources().GetLimits()) })
}

// parsed is ParseList with a bad map counting as absent.
func parsed(m map[string]*metav1.Quantity) List {
	l, _ := ParseList(m)
	return l
}

// withDefaults sets in l each resource of defaults that l lacks; l is
// freshly parsed, so it is modified in place.
func withDefaults(l, defaults List) List {
	for name, d := range defaults {
		if _, ok := l[name]; !ok {
			if l == nil {
				l = List{}
			}
			l[name] = d
		}
	}
	return l
}

func podTotal(pod *corev1.Pod, of func(*corev1.Container) List) List {
	spec := pod.GetSpec()
	sum := List{}
	for _, c := range spec.GetContainers() {
		sum = sum.Add(of(c))
	}
	sidecars, initMax := List{}, List{}
	for _, c := range spec.GetInitContainers() {
		l := of(c)
		if c.GetRestartPolicy() == "Always" {
			sum = sum.Add(l)
			sidecars = sidecars.Add(l)
			initMax = initMax.Max(sidecars)
			continue
		}
		initMax = initMax.Max(sidecars.Add(l))
	}
	sum = sum.Max(initMax)
	return sum.Add(parsed(spec.GetOverhead()))
}
