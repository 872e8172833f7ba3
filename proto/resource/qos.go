package resource

import (
	"slices"

	corev1 "kubelab.io/proto/api/core/v1"
)

// QOSClass is the pod's quality of service class as Kubernetes computes it
// (k8s.io/kubernetes/pkg/apis/core/helper/qos.ComputePodQOS), from the cpu and memory of
// its init and app containers: BestEffort when none states a non-zero request or limit,
// Guaranteed when every container limits both and requests no other amount, Burstable
// otherwise. It lives here, not in the kubelet, because ResourceQuota's BestEffort scope
// must sort pods exactly as the kubelet reports them in status.qosClass.
func QOSClass(pod *corev1.Pod) string {
	requests, limits := List{}, List{}
	guaranteed := true
	for _, c := range append(slices.Clone(pod.GetSpec().GetContainers()), pod.GetSpec().GetInitContainers()...) {
		req := parsed(c.GetResources().GetRequests())
		lim := parsed(c.GetResources().GetLimits())
		for _, name := range []string{"cpu", "memory"} {
			r, hasReq := req[name]
			l, hasLim := lim[name]
			if hasReq && !r.IsZero() {
				requests[name] = r
			}
			if hasLim && !l.IsZero() {
				limits[name] = l
			}
			if !hasLim || (hasReq && !r.Equal(l)) {
				guaranteed = false
			}
		}
	}
	switch {
	case len(requests) == 0 && len(limits) == 0:
		return "BestEffort"
	case guaranteed:
		return "Guaranteed"
	}
	return "Burstable"
}
