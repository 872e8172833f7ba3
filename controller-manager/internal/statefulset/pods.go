package statefulset

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

// A StatefulSet's pods carry their identity in their names: <set>-<ordinal>. Everything
// here is pure: it reads pods and sets and never writes to them, except where a function
// says it fills a pod it was given (a new one, or a copy).

// podNameRegexp splits a pod name into its set's name and its ordinal.
var podNameRegexp = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// parentAndOrdinal is the set name and ordinal pod's name says; ordinal is -1 for a name
// no StatefulSet makes.
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNameRegexp.FindStringSubmatch(pod.GetMetadata().GetName())
	if m == nil {
		return "", -1
	}
	n, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(n)
}

func ordinalOf(pod *corev1.Pod) int {
	_, o := parentAndOrdinal(pod)
	return o
}

// isMemberOf reports whether pod's name makes it one of set's.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(pod)
	return parent == set.GetMetadata().GetName()
}

func replicasOf(set *appsv1.StatefulSet) int {
	if r := set.GetSpec().Replicas; r != nil {
		return int(*r)
	}
	return 1
}

// startOrdinal and endOrdinal bound set's ordinals, both inclusive.
func startOrdinal(set *appsv1.StatefulSet) int { return int(set.GetSpec().GetOrdinals().GetStart()) }
func endOrdinal(set *appsv1.StatefulSet) int   { return startOrdinal(set) + replicasOf(set) - 1 }

func inOrdinalRange(pod *corev1.Pod, set *appsv1.StatefulSet) bool {
	o := ordinalOf(pod)
	return o >= startOrdinal(set) && o <= endOrdinal(set)
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.GetMetadata().GetName(), ordinal)
}

func partition(set *appsv1.StatefulSet) int {
	return int(set.GetSpec().GetUpdateStrategy().GetRollingUpdate().GetPartition())
}

// identityMatches reports whether pod has the name, namespace and labels of its ordinal in
// set.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(pod)
	m := pod.GetMetadata()
	return ordinal >= 0 && parent == set.GetMetadata().GetName() && m.GetName() == podName(set, ordinal) &&
		m.GetNamespace() == set.GetMetadata().GetNamespace() &&
		m.GetLabels()[appsv1.StatefulSetPodNameLabel] == m.GetName() &&
		m.GetLabels()[appsv1.PodIndexLabel] == strconv.Itoa(ordinal)
}

// updateIdentity gives pod (a new pod or a copy) the name, namespace and identity labels of
// its ordinal in set.
func updateIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	ordinal := ordinalOf(pod)
	m := pod.Metadata
	m.Name = podName(set, ordinal)
	m.Namespace = set.GetMetadata().GetNamespace()
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[appsv1.StatefulSetPodNameLabel] = m.Name
	m.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
}

// newPod is set's pod of ordinal made from set's template: generateName "<set>-" as every
// controller's pods, name <set>-<ordinal>, the identity labels, and hostname and subdomain
// (serviceName) so that the headless Service gives it <name>.<serviceName> in DNS. Those two
// are set at creation only. It mounts its ordinal's claim of each volumeClaimTemplate.
func newPod(set *appsv1.StatefulSet, ordinal int) *corev1.Pod {
	pod := controller.PodFromTemplate(set.GetSpec().GetTemplate(), set, controller.NewControllerRef(set, Kind))
	pod.Metadata.Name = podName(set, ordinal)
	updateIdentity(set, pod)
	updateStorage(set, pod)
	pod.Spec.Hostname = pod.Metadata.Name
	pod.Spec.Subdomain = set.GetSpec().GetServiceName()
	return pod
}

// newVersionedPod is the pod to create for ordinal: with RollingUpdate, an ordinal below
// the partition (counted from the start ordinal) is made from the current revision's set,
// as it must not be updated yet; everything else from the update revision's.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRevision, updateRevision string, ordinal int) *corev1.Pod {
	us := currentSet.GetSpec().GetUpdateStrategy()
	if us.GetType() == appsv1.RollingUpdateStatefulSetStrategyType &&
		(us.GetRollingUpdate() == nil && ordinal < startOrdinal(currentSet)+int(currentSet.GetStatus().GetCurrentReplicas()) ||
			us.GetRollingUpdate() != nil && ordinal < startOrdinal(currentSet)+partition(currentSet)) {
		pod := newPod(currentSet, ordinal)
		setRevision(pod, currentRevision)
		return pod
	}
	pod := newPod(updateSet, ordinal)
	setRevision(pod, updateRevision)
	return pod
}

// revisionOf is the ControllerRevision name pod was made from (its controller-revision-hash
// label: for StatefulSet pods, the whole revision name).
func revisionOf(pod *corev1.Pod) string {
	return pod.GetMetadata().GetLabels()[appsv1.StatefulSetRevisionLabel]
}

func setRevision(pod *corev1.Pod, revision string) {
	if revision == "" {
		return
	}
	if pod.Metadata.Labels == nil {
		pod.Metadata.Labels = map[string]string{}
	}
	pod.Metadata.Labels[appsv1.StatefulSetRevisionLabel] = revision
}

// isCreated: the apiserver gives every pod a phase, so a pod without one is a placeholder
// this sync made for an ordinal that has no pod yet.
func isCreated(pod *corev1.Pod) bool { return pod.GetStatus().GetPhase() != "" }

func isFailed(pod *corev1.Pod) bool    { return pod.GetStatus().GetPhase() == controller.PodFailed }
func isSucceeded(pod *corev1.Pod) bool { return pod.GetStatus().GetPhase() == controller.PodSucceeded }
func isTerminating(pod *corev1.Pod) bool {
	return pod.GetMetadata().GetDeletionTimestamp() != nil
}

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.GetStatus().GetPhase() == controller.PodRunning && controller.IsPodReady(pod)
}

func isRunningAndAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return controller.IsPodAvailable(pod, minReadySeconds, now)
}

// isHealthy: Running and Ready, and not being deleted.
func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }
