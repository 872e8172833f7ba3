package kubelet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

// Pod phases and condition types.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"

	CondPodScheduled              = "PodScheduled"
	CondInitialized               = "Initialized"
	CondContainersReady           = "ContainersReady"
	CondReady                     = "Ready"
	CondPodReadyToStartContainers = "PodReadyToStartContainers"
)

// waitingReason is why a container is not running, as the last sync found
// (ErrImagePull, CrashLoopBackOff, …).
type waitingReason struct {
	Reason, Message string
}

// statusInput is everything the API status of a pod is computed from.
type statusInput struct {
	Pod     *corev1.Pod
	Runtime *podRuntime
	// Waiting holds the waiting reasons by container name.
	Waiting map[string]waitingReason
	Probes  probeView
	HostIPs []string
	// RuntimeName prefixes container ids ("containerd").
	RuntimeName string
	Now         time.Time
	// Old is the status the kubelet last computed or the API holds (nil for none).
	Old *corev1.PodStatus
	// Terminal: the pod is being deleted and every container of it has stopped, so none
	// runs again whatever the restart policy; the status is its last (upstream's
	// podIsTerminal).
	Terminal bool
}

func apiTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Seconds: t.Unix()}
}

func isTerminalPhase(phase string) bool { return phase == PodSucceeded || phase == PodFailed }

// containerStarted: running, and past its startup probe when it has one.
func containerStarted(c *corev1.Container, st *containerInfo, probes probeView) bool {
	if st == nil || !st.running() {
		return false
	}
	return c.GetStartupProbe() == nil || probes.Startup(st.ID) == probeSuccess
}

// containerReady: started, and passing its readiness probe when it has one.
func containerReady(c *corev1.Container, st *containerInfo, probes probeView) bool {
	if !containerStarted(c, st, probes) {
		return false
	}
	return c.GetReadinessProbe() == nil || probes.Readiness(st.ID) == probeSuccess
}

func terminatedState(st *containerInfo, runtimeName string) *corev1.ContainerState {
	reason := st.Reason
	if reason == "" {
		reason = "Error"
		if st.ExitCode == 0 {
			reason = "Completed"
		}
	}
	return &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: st.ExitCode, Reason: reason, Message: st.Message,
		StartedAt: apiTime(st.StartedAt), FinishedAt: apiTime(st.FinishedAt),
		ContainerID: runtimeName + "://" + st.ID,
	}}
}

// defaultWaitingReason is the waiting reason of a container the runtime has not created
// (yet) and the kubelet has nothing more to say about: PodInitializing, for init and app
// containers alike, in a pod with init containers (as upstream's kubelet reports it).
func defaultWaitingReason(pod *corev1.Pod) string {
	if len(pod.GetSpec().GetInitContainers()) > 0 {
		return "PodInitializing"
	}
	return "ContainerCreating"
}

// containerStatus is the API status of spec container c (an app or an init container).
func containerStatus(in *statusInput, c *corev1.Container) *corev1.ContainerStatus {
	st := in.Runtime.latest(c.GetName())
	cs := &corev1.ContainerStatus{Name: c.GetName(), Image: c.GetImage(), Started: proto.Bool(false)}
	waiting := in.Waiting[c.GetName()]
	if st == nil {
		if waiting.Reason == "" {
			waiting.Reason = defaultWaitingReason(in.Pod)
		}
		cs.State = &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting.Reason, Message: waiting.Message}}
		return cs
	}
	cs.RestartCount = int32(st.RestartCount)
	cs.ImageID = st.ImageRef
	if st.Image != "" && !strings.HasPrefix(st.Image, "sha256:") {
		cs.Image = st.Image
	}
	cs.ContainerID = in.RuntimeName + "://" + st.ID
	if prev := in.Runtime.previous(c.GetName()); prev != nil && !prev.running() {
		cs.LastState = terminatedState(prev, in.RuntimeName)
	}
	switch st.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		cs.State = &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: apiTime(st.StartedAt)}}
		cs.Started = proto.Bool(containerStarted(c, st, in.Probes))
		cs.Ready = containerReady(c, st, in.Probes) && !isRegularInit(in.Pod, c)
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		if waiting.Reason != "" && !in.Terminal {
			// Waiting to be restarted: the exit is the last state.
			cs.State = &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting.Reason, Message: waiting.Message}}
			cs.LastState = terminatedState(st, in.RuntimeName)
		} else {
			cs.State = terminatedState(st, in.RuntimeName)
			// A regular init container is ready once it completed, as upstream's prober
			// manager reports it.
			cs.Ready = st.ExitCode == 0 && isRegularInit(in.Pod, c)
		}
	default: // created, not (yet) started, or unknown
		if waiting.Reason == "" {
			waiting.Reason = defaultWaitingReason(in.Pod)
		}
		cs.State = &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting.Reason, Message: waiting.Message}}
	}
	return cs
}

// statusByName is the status of the container named name (nil when none).
func statusByName(statuses []*corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for _, s := range statuses {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

// podPhase is upstream's getPhase: from the init and app containers' states and the
// restart policy. A regular init container that failed fails a restartPolicy Never pod;
// one that has not finished keeps the pod Pending. A sidecar counts while it runs (it
// keeps a pod whose app containers exited Running until it is stopped) and keeps the pod
// Pending until it has started; a sidecar that exited never fails the pod. In a terminal
// pod (see statusInput.Terminal) nothing restarts, so stopped app containers make it
// Succeeded when all exited 0 and Failed otherwise, whatever the restart policy.
func podPhase(pod *corev1.Pod, initStatuses, statuses []*corev1.ContainerStatus, terminal bool) string {
	var pendingInit, failedInit, pendingSidecars int
	var waiting, running, stopped, succeeded, unknown int
	for _, c := range pod.GetSpec().GetInitContainers() {
		cs := statusByName(initStatuses, c.GetName())
		if isSidecar(c) {
			switch {
			case cs == nil:
				unknown++
			case cs.GetState().GetRunning() != nil:
				running++
				if !cs.GetStarted() {
					pendingSidecars++
				}
			case cs.GetState().GetTerminated() != nil:
			case cs.GetState().GetWaiting() != nil && cs.GetLastState().GetTerminated() == nil:
				pendingSidecars++
				waiting++
			}
			continue
		}
		switch {
		case cs == nil || cs.GetState().GetRunning() != nil:
			pendingInit++
		case cs.GetState().GetTerminated() != nil:
			if cs.GetState().GetTerminated().GetExitCode() != 0 {
				failedInit++
			}
		case cs.GetState().GetWaiting() != nil && cs.GetLastState().GetTerminated() != nil:
			if cs.GetLastState().GetTerminated().GetExitCode() != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	if failedInit > 0 && restartPolicy(pod) == RestartNever {
		return PodFailed
	}
	appRunning, appStopped := 0, 0
	for _, c := range pod.GetSpec().GetContainers() {
		cs := statusByName(statuses, c.GetName())
		switch {
		case cs == nil:
			unknown++
		case cs.GetState().GetRunning() != nil:
			appRunning++
		case cs.GetState().GetTerminated() != nil:
			appStopped++
			if cs.GetState().GetTerminated().GetExitCode() == 0 {
				succeeded++
			}
		case cs.GetState().GetWaiting() != nil:
			if cs.GetLastState().GetTerminated() != nil {
				appStopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	running += appRunning
	stopped += appStopped
	switch {
	case pendingInit > 0 && appRunning == 0 && appStopped == 0:
		// Init containers still to run: nothing of the app has started.
		return PodPending
	case pendingSidecars > 0 && stopped == 0:
		// A sidecar has not started yet in a sandbox where nothing else ran.
		return PodPending
	case waiting > 0:
		return PodPending
	case running > 0 && unknown == 0:
		return PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if terminal {
			if stopped == succeeded {
				return PodSucceeded
			}
			return PodFailed
		}
		switch restartPolicy(pod) {
		case RestartAlways:
			return PodRunning
		}
		if stopped == succeeded {
			return PodSucceeded
		}
		if restartPolicy(pod) == RestartNever {
			return PodFailed
		}
		return PodRunning
	}
	return PodPending
}

// setCondition puts c into conds, keeping the old lastTransitionTime when the status did
// not change.
func setCondition(conds []*corev1.PodCondition, old []*corev1.PodCondition, c *corev1.PodCondition, now time.Time) []*corev1.PodCondition {
	c.LastTransitionTime = apiTime(now)
	for _, o := range old {
		if o.GetType() == c.GetType() && o.GetStatus() == c.GetStatus() && o.GetLastTransitionTime() != nil {
			c.LastTransitionTime = o.GetLastTransitionTime()
		}
	}
	return append(conds, c)
}

// generatePodStatus computes the pod's API status from its actual state. It is pure. A
// terminal phase, once reached, is kept.
func generatePodStatus(in *statusInput) *corev1.PodStatus {
	pod := in.Pod
	old := in.Old
	if old == nil {
		old = pod.GetStatus()
	}
	if in.Probes == nil {
		in.Probes = noProbes{}
	}
	st := &corev1.PodStatus{QosClass: old.GetQosClass()}
	if st.QosClass == "" {
		st.QosClass = resource.QOSClass(pod)
	}
	for _, c := range pod.GetSpec().GetInitContainers() {
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(in, c))
	}
	for _, c := range pod.GetSpec().GetContainers() {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(in, c))
	}
	st.Phase = podPhase(pod, st.InitContainerStatuses, st.ContainerStatuses, in.Terminal)
	if isTerminalPhase(old.GetPhase()) {
		st.Phase = old.GetPhase()
		st.Reason, st.Message = old.GetReason(), old.GetMessage()
	}
	if in.Terminal {
		terminatePodStatus(pod, st)
	}

	// Addresses.
	for _, ip := range in.HostIPs {
		st.HostIPs = append(st.HostIPs, &corev1.HostIP{Ip: ip})
	}
	if len(in.HostIPs) > 0 {
		st.HostIP = in.HostIPs[0]
	}
	var podIPs []string
	if sb := in.Runtime.readySandbox(); sb != nil {
		podIPs = sb.IPs
	}
	if len(podIPs) == 0 && in.Runtime != nil && len(in.Runtime.Sandboxes) > 0 {
		// A stopped sandbox keeps the IP it had, as Kubernetes reports it after exit.
		for _, ip := range old.GetPodIPs() {
			podIPs = append(podIPs, ip.GetIp())
		}
	}
	if pod.GetSpec().GetHostNetwork() {
		podIPs = in.HostIPs
	}
	for _, ip := range podIPs {
		st.PodIPs = append(st.PodIPs, &corev1.PodIP{Ip: ip})
	}
	if len(podIPs) > 0 {
		st.PodIP = podIPs[0]
	}
	st.StartTime = old.GetStartTime()
	if st.StartTime == nil {
		st.StartTime = apiTime(in.Now)
	}

	// Conditions, in Kubernetes' order.
	var unready []string
	for _, c := range pod.GetSpec().GetInitContainers() {
		// A sidecar serves beside the app: the pod is ready only when it is.
		if isSidecar(c) && !statusByName(st.InitContainerStatuses, c.GetName()).GetReady() {
			unready = append(unready, c.GetName())
		}
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.GetReady() {
			unready = append(unready, cs.GetName())
		}
	}
	oldConds := old.GetConditions()
	// What other components own (readiness gates, DisruptionTarget) is read from the pod
	// as the API last showed it, not from the kubelet's own last status, as upstream's
	// generateAPIPodStatus does: a condition added since is not lost.
	apiConds := pod.GetStatus().GetConditions()
	sandboxReady := in.Runtime.readySandbox() != nil
	conds := setCondition(nil, oldConds, &corev1.PodCondition{Type: CondPodReadyToStartContainers, Status: boolStatus(sandboxReady)}, in.Now)
	conds = setCondition(conds, oldConds, initializedCondition(pod, in.Runtime, in.Probes), in.Now)
	ready := &corev1.PodCondition{Type: CondReady, Status: "True"}
	cready := &corev1.PodCondition{Type: CondContainersReady, Status: "True"}
	switch {
	case st.Phase == PodSucceeded || st.Phase == PodFailed:
		ready.Status, ready.Reason = "False", "PodCompleted"
		cready.Status, cready.Reason = "False", "PodCompleted"
	case len(unready) > 0:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		ready.Status, ready.Reason, ready.Message = "False", "ContainersNotReady", msg
		cready.Status, cready.Reason, cready.Message = "False", "ContainersNotReady", msg
	}
	if ready.Status == "True" {
		var missing []string
		for _, g := range pod.GetSpec().GetReadinessGates() {
			ok := false
			for _, c := range apiConds {
				if c.GetType() == g.GetConditionType() && c.GetStatus() == "True" {
					ok = true
				}
			}
			if !ok {
				missing = append(missing, g.GetConditionType())
			}
		}
		if len(missing) > 0 {
			ready.Status, ready.Reason = "False", "ReadinessGatesNotReady"
			ready.Message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", missing[0])
		}
	}
	conds = setCondition(conds, oldConds, ready, in.Now)
	conds = setCondition(conds, oldConds, cready, in.Now)
	scheduled := &corev1.PodCondition{Type: CondPodScheduled, Status: "True"}
	conds = setCondition(conds, oldConds, scheduled, in.Now)
	st.Conditions = append(conds, othersConditions(apiConds)...)
	return st
}

// kubeletConditions are the pod conditions the kubelet owns (upstream's
// PodConditionByKubelet); it keeps every other one as the API holds it.
var kubeletConditions = []string{CondPodReadyToStartContainers, CondInitialized, CondReady, CondContainersReady, CondPodScheduled}

// othersConditions are copies of the conditions in conds that other components own
// (readiness gates, DisruptionTarget, …).
func othersConditions(conds []*corev1.PodCondition) []*corev1.PodCondition {
	var out []*corev1.PodCondition
	for _, c := range conds {
		if !slices.Contains(kubeletConditions, c.GetType()) {
			out = append(out, proto.Clone(c).(*corev1.PodCondition))
		}
	}
	return out
}

// mergeStatus is st to write over api, the status the API holds: the conditions the
// kubelet does not own are api's, so one another component set after the kubelet last
// read the pod (DisruptionTarget from an eviction) survives, as upstream's status
// manager's mergePodStatus keeps them. st is not modified.
func mergeStatus(api, st *corev1.PodStatus) *corev1.PodStatus {
	out := proto.Clone(st).(*corev1.PodStatus)
	out.Conditions = nil
	for _, c := range st.GetConditions() {
		if slices.Contains(kubeletConditions, c.GetType()) {
			out.Conditions = append(out.Conditions, c)
		}
	}
	out.Conditions = append(out.Conditions, othersConditions(api.GetConditions())...)
	return out
}

// containerStatusUnknown is the state of a container the kubelet found no trace of when
// its pod ended: a failure, since nothing says it succeeded.
func containerStatusUnknown() *corev1.ContainerState {
	return &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 137, Reason: "ContainerStatusUnknown", Message: "The container could not be located when the pod was terminated",
	}}
}

// terminatePodStatus makes st, the last status of a pod whose containers have all
// stopped, terminal, as upstream's status manager TerminatePod: once the pod initialized,
// an app container that has no terminated state failed; so did every init container up
// to the last that ever started (the first at least); and a phase still Pending or
// Running becomes Failed.
func terminatePodStatus(pod *corev1.Pod, st *corev1.PodStatus) {
	if podHasInitialized(pod, st) {
		for _, cs := range st.ContainerStatuses {
			if cs.GetState().GetTerminated() == nil {
				cs.State = containerStatusUnknown()
			}
		}
	}
	inits := st.InitContainerStatuses
	last := 0
	for i := len(inits) - 1; i > 0; i-- {
		if inits[i].GetState().GetWaiting() == nil || inits[i].GetLastState().GetTerminated() != nil {
			last = i
			break
		}
	}
	for i := 0; i < len(inits) && i <= last; i++ {
		if inits[i].GetState().GetTerminated() == nil {
			inits[i].State = containerStatusUnknown()
		}
	}
	if !isTerminalPhase(st.Phase) {
		st.Phase = PodFailed
	}
}

// podHasInitialized is upstream's hasPodInitialized: a pod without init containers
// always has; otherwise once an app container ever left waiting, or the last init
// container exited 0.
func podHasInitialized(pod *corev1.Pod, st *corev1.PodStatus) bool {
	inits := pod.GetSpec().GetInitContainers()
	if len(inits) == 0 {
		return true
	}
	for _, cs := range st.GetContainerStatuses() {
		if cs.GetLastState().GetTerminated() != nil || cs.GetState().GetWaiting() == nil {
			return true
		}
	}
	cs := statusByName(st.GetInitContainerStatuses(), inits[len(inits)-1].GetName())
	if t := cs.GetState().GetTerminated(); t != nil && t.GetExitCode() == 0 {
		return true
	}
	t := cs.GetLastState().GetTerminated()
	return t != nil && t.GetExitCode() == 0
}

// initializedCondition is True once, in the pod's current sandbox, every regular init
// container exited 0 and every sidecar started; until then False, naming those that have
// not.
func initializedCondition(pod *corev1.Pod, rt *podRuntime, probes probeView) *corev1.PodCondition {
	if initContainerActions(pod, rt, probes).Initialized {
		return &corev1.PodCondition{Type: CondInitialized, Status: "True"}
	}
	var incomplete []string
	sb := rt.currentSandboxID()
	for _, c := range pod.GetSpec().GetInitContainers() {
		st := rt.latestIn(sb, c.GetName())
		if isSidecar(c) {
			if !containerStarted(c, st, probes) {
				incomplete = append(incomplete, c.GetName())
			}
			continue
		}
		if st == nil || st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 {
			incomplete = append(incomplete, c.GetName())
		}
	}
	return &corev1.PodCondition{Type: CondInitialized, Status: "False", Reason: "ContainersNotInitialized",
		Message: fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))}
}

func boolStatus(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// statusEqual compares two statuses as the API would store them.
func statusEqual(a, b *corev1.PodStatus) bool {
	return proto.Equal(a, b)
}
