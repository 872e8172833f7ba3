// Package quota is what a pod or a PersistentVolumeClaim takes of a ResourceQuota, the one
// rule both sides of quota share: the apiserver's ResourceQuota admission plugin charges a
// new pod or claim with it, and the controller-manager's resource quota controller
// recomputes status.used with it when they go away. Keeping it here means the charge and
// the recompute can never disagree about what an object counts for (Kubernetes'
// pkg/quota/v1/evaluator/core pod and pvc evaluators).
//
// Tracked for pods: pods, count/pods, cpu and requests.cpu, memory and requests.memory,
// limits.cpu, limits.memory, of pods that still Count (not finished, not past their
// deletion grace period). A quota with spec.scopes tracks only the pods that match all of
// them (Matches). For claims: see claims.go.
package quota

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

// PodResources are the quota resource names a pod can count for.
var PodResources = []string{"pods", "count/pods", "cpu", "requests.cpu", "memory", "requests.memory", "limits.cpu", "limits.memory"}

// Counts reports whether pod holds quota at now, as Kubernetes decides it: a finished pod
// (Succeeded or Failed) does not, and neither does one whose deletion grace period has run
// out: a pod stuck terminating on a lost node must not keep its owner from replacing it.
func Counts(pod *corev1.Pod, now time.Time) bool {
	switch pod.GetStatus().GetPhase() {
	case "Succeeded", "Failed":
		return false
	}
	m := pod.GetMetadata()
	if m.GetDeletionTimestamp() != nil && m.DeletionGracePeriodSeconds != nil {
		end := time.Unix(m.GetDeletionTimestamp().GetSeconds(), 0).Add(time.Duration(m.GetDeletionGracePeriodSeconds()) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// PodUsage is what pod takes at now of each resource hard tracks (resources it does not
// track are left out): one pod, and the pod's requests and limits as a whole
// (resource.PodRequests: init containers and overhead counted as Kubernetes counts them).
// A pod that no longer Counts takes nothing.
func PodUsage(pod *corev1.Pod, hard resource.List, now time.Time) resource.List {
	if !Counts(pod, now) {
		return resource.List{}
	}
	req, lim := resource.PodRequests(pod), resource.PodLimits(pod)
	out := resource.List{}
	for name := range hard {
		switch name {
		case "pods", "count/pods":
			out[name] = resource.NewQuantity(1, resource.DecimalSI)
		case "cpu", "requests.cpu":
			out[name] = req["cpu"]
		case "memory", "requests.memory":
			out[name] = req["memory"]
		case "limits.cpu":
			out[name] = lim["cpu"]
		case "limits.memory":
			out[name] = lim["memory"]
		}
	}
	return out
}

// Usage is what pods take together at now of each resource hard tracks, zero where none
// uses it.
func Usage(pods []*corev1.Pod, hard resource.List, now time.Time) resource.List {
	used := resource.List{}
	for _, pod := range pods {
		used = used.Add(PodUsage(pod, hard, now))
	}
	return Tracked(used, hard)
}

// Tracked lists used for exactly the resources hard tracks, zero where nothing uses one,
// as Kubernetes' status.used lists every tracked resource.
func Tracked(used, hard resource.List) resource.List {
	out := make(resource.List, len(hard))
	for name := range hard {
		if q, ok := used[name]; ok {
			out[name] = q
		} else {
			out[name] = resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	return out
}

// Status is the status of a quota with spec and usage used: status.hard mirrors spec.hard
// as written, status.used lists each tracked resource. It fails only when spec.hard does
// not parse, which validation refuses.
func Status(spec *corev1.ResourceQuotaSpec, used resource.List) (*corev1.ResourceQuotaStatus, error) {
	hard, err := resource.ParseList(spec.GetHard())
	if err != nil {
		return nil, fmt.Errorf("spec.hard: %w", err)
	}
	mirror := make(map[string]*metav1.Quantity, len(spec.GetHard()))
	for name, q := range spec.GetHard() {
		mirror[name] = proto.Clone(q).(*metav1.Quantity)
	}
	return &corev1.ResourceQuotaStatus{Hard: mirror, Used: Tracked(used, hard).Proto()}, nil
}

// Tracks reports whether a quota with spec takes anything of pod: its hard limits name a
// pod resource and pod matches its scopes (Kubernetes' generic Matches). A quota that does
// not track a pod neither charges it nor asks it to state requests or limits.
func Tracks(spec *corev1.ResourceQuotaSpec, pod *corev1.Pod) bool {
	for _, name := range PodResources {
		if _, ok := spec.GetHard()[name]; ok {
			return Matches(spec.GetScopes(), pod)
		}
	}
	return false
}

// Recompute is the status at now of a quota with spec over the pods and claims of its
// namespace, computed from scratch: only the pods that match its scopes count, and claims
// only when it has none.
func Recompute(spec *corev1.ResourceQuotaSpec, pods []*corev1.Pod, claims []*corev1.PersistentVolumeClaim, now time.Time) (*corev1.ResourceQuotaStatus, error) {
	hard, err := resource.ParseList(spec.GetHard())
	if err != nil {
		return nil, fmt.Errorf("spec.hard: %w", err)
	}
	var matching []*corev1.Pod
	for _, pod := range pods {
		if Matches(spec.GetScopes(), pod) {
			matching = append(matching, pod)
		}
	}
	return Status(spec, Usage(matching, hard, now).Add(ClaimsUsage(spec, claims, hard)))
}
