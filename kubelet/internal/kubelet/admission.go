package kubelet

import (
	"fmt"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// podRequests is what the pod asks of the node (resource.PodRequests: app containers
// summed, the largest init container when bigger, overhead on top), cpu in millicores and
// memory in bytes.
func podRequests(pod *corev1.Pod) (cpuMilli, memBytes int64) {
	req := resource.PodRequests(pod)
	return req["cpu"].MilliValue(), req["memory"].Value()
}

// admitPod is the kubelet's node-level admission (upstream's predicate admit handler, with
// the resource fit of the scheduler's NodeResourcesFit): whether pod fits on the node
// beside the already admitted, still active pods. On rejection it returns the pod's
// status reason (OutOfcpu, OutOfmemory, OutOfpods) and message, as Kubernetes words them.
func admitPod(pod *corev1.Pod, admitted []*corev1.Pod, allocatable resource.List) (ok bool, reason, message string) {
	type check struct {
		name                      string
		requested, used, capacity int64
	}
	var usedCPU, usedMem int64
	for _, p := range admitted {
		c, m := podRequests(p)
		usedCPU += c
		usedMem += m
	}
	reqCPU, reqMem := podRequests(pod)
	var checks []check
	if q, ok := allocatable["pods"]; ok {
		checks = append(checks, check{"pods", 1, int64(len(admitted)), q.Value()})
	}
	if q, ok := allocatable["cpu"]; ok && reqCPU > 0 {
		checks = append(checks, check{"cpu", reqCPU, usedCPU, q.MilliValue()})
	}
	if q, ok := allocatable["memory"]; ok && reqMem > 0 {
		checks = append(checks, check{"memory", reqMem, usedMem, q.Value()})
	}
	for _, c := range checks {
		if c.used+c.requested > c.capacity {
			msg := fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", c.name, c.requested, c.used, c.capacity)
			return false, "OutOf" + c.name, "Pod was rejected: " + msg
		}
	}
	return true, "", ""
}
