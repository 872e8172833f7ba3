package kubelet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
)

// Restart policies.
const (
	RestartAlways    = "Always"
	RestartOnFailure = "OnFailure"
	RestartNever     = "Never"
)

// probeResult is a probe's verdict on one container.
type probeResult int

const (
	probeUnknown probeResult = iota
	probeSuccess
	probeFailure
)

func (r probeResult) String() string {
	switch r {
	case probeSuccess:
		return "Success"
	case probeFailure:
		return "Failure"
	}
	return "Unknown"
}

// probeView answers what the probes last concluded about a container id.
type probeView interface {
	Liveness(containerID string) probeResult
	Readiness(containerID string) probeResult
	Startup(containerID string) probeResult
}

// noProbes is a probeView with no results.
type noProbes struct{}

func (noProbes) Liveness(string) probeResult  { return probeUnknown }
func (noProbes) Readiness(string) probeResult { return probeUnknown }
func (noProbes) Startup(string) probeResult   { return probeUnknown }

// killInfo says why a container is killed.
type killInfo struct {
	Container *containerInfo
	// Spec is the container's spec, when the pod still has it (for preStop).
	Spec    *corev1.Container
	Reason  string
	Message string
}

// podActions is what a pod sync must do, decided from desired and actual state alone
// (upstream's kuberuntime computePodActions).
type podActions struct {
	// KillPod stops every container and the sandbox(es).
	KillPod bool
	// CreateSandbox runs a new sandbox with Attempt (after KillPod).
	CreateSandbox bool
	Attempt       uint32
	// SandboxID is the ready sandbox to start containers in (when not CreateSandbox).
	SandboxID string
	// InitContainersToStart holds at most one index into spec.initContainers: init
	// containers run one at a time, and no app container starts before they are done.
	InitContainersToStart []int
	// ContainersToStart are indexes into spec.containers.
	ContainersToStart []int
	// ContainersToKill maps a container id to why it is killed.
	ContainersToKill map[string]killInfo
}

// containerHash fingerprints the parts of a container spec that, when changed, require a
// new container (image, command, env, …): everything but what the kubelet applies live.
func containerHash(c *corev1.Container) string {
	cp := proto.Clone(c).(*corev1.Container)
	cp.LivenessProbe, cp.ReadinessProbe, cp.StartupProbe = nil, nil, nil
	cp.Resources = nil
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(cp)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func encodeCommand(cmd []string) string {
	b, _ := json.Marshal(cmd)
	return string(b)
}

func decodeCommand(s string) []string {
	var cmd []string
	if json.Unmarshal([]byte(s), &cmd) != nil {
		return nil
	}
	return cmd
}

func restartPolicy(pod *corev1.Pod) string {
	if p := pod.GetSpec().GetRestartPolicy(); p != "" {
		return p
	}
	return RestartAlways
}

// shouldRestartOnFailure: a failed container is run again.
func shouldRestartOnFailure(pod *corev1.Pod) bool {
	return restartPolicy(pod) != RestartNever
}

func containerSucceeded(c *corev1.Container, rt *podRuntime) bool {
	st := rt.latest(c.GetName())
	return st != nil && st.State == runtimeapi.ContainerState_CONTAINER_EXITED && st.ExitCode == 0
}

// shouldContainerBeRestarted: whether a container that is not running is to be started
// (again), by the pod's restart policy.
func shouldContainerBeRestarted(c *corev1.Container, pod *corev1.Pod, rt *podRuntime) bool {
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		return false
	}
	st := rt.latest(c.GetName())
	if st == nil {
		return true
	}
	switch st.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return false
	case runtimeapi.ContainerState_CONTAINER_CREATED, runtimeapi.ContainerState_CONTAINER_UNKNOWN:
		return true
	}
	switch restartPolicy(pod) {
	case RestartNever:
		return false
	case RestartOnFailure:
		return st.ExitCode != 0
	}
	return true
}

// latestIn is the newest container named name in sandbox sandboxID (nil when none).
func (p *podRuntime) latestIn(sandboxID, name string) *containerInfo {
	if p == nil {
		return nil
	}
	for _, c := range p.Containers {
		if c.Name == name && c.SandboxID == sandboxID {
			return c
		}
	}
	return nil
}

// currentSandboxID is the newest sandbox's id ("" when there is none): init containers
// run once per sandbox, so their progress is read in it.
func (p *podRuntime) currentSandboxID() string {
	if p == nil || len(p.Sandboxes) == 0 {
		return ""
	}
	return p.Sandboxes[0].ID
}

// initProgress is where a pod's init containers stand in its current sandbox.
type initProgress struct {
	// Done: every init container exited 0 (or an app container was created, which only
	// happens after that, so init containers removed since do not run again).
	Done bool
	// Next is the index of the init container to start, -1 while one runs or when Done.
	Next int
	// Failed is the newest instance of Next when it exited non-zero (nil otherwise).
	Failed *containerInfo
}

// nextInitContainer is upstream's findNextInitContainerToRun, read in the pod's current
// sandbox: the exited init containers the runtime still holds are what a restarted
// kubelet goes on from. It is pure.
func nextInitContainer(pod *corev1.Pod, rt *podRuntime) initProgress {
	inits := pod.GetSpec().GetInitContainers()
	if len(inits) == 0 {
		return initProgress{Done: true, Next: -1}
	}
	sb := rt.currentSandboxID()
	if sb == "" {
		return initProgress{Next: 0}
	}
	for _, c := range pod.GetSpec().GetContainers() {
		if rt.latestIn(sb, c.GetName()) != nil {
			return initProgress{Done: true, Next: -1}
		}
	}
	for i := len(inits) - 1; i >= 0; i-- {
		st := rt.latestIn(sb, inits[i].GetName())
		if st == nil {
			continue
		}
		switch st.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			return initProgress{Next: -1}
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			if st.ExitCode != 0 {
				return initProgress{Next: i, Failed: st}
			}
			if i == len(inits)-1 {
				return initProgress{Done: true, Next: -1}
			}
			return initProgress{Next: i + 1}
		}
		return initProgress{Next: i} // created but not started, or unknown: again
	}
	return initProgress{Next: 0}
}

// unsupportedContainers refuses what this kubelet cannot run as the spec means it:
// restartable init containers (sidecars) would need their own lifecycle.
func unsupportedContainers(pod *corev1.Pod) error {
	for _, c := range pod.GetSpec().GetInitContainers() {
		if c.RestartPolicy != nil && c.GetRestartPolicy() == RestartAlways {
			return &podConfigError{fmt.Sprintf("init container %q: restartPolicy Always (a sidecar) is not supported by this kubelet", c.GetName())}
		}
	}
	return nil
}

// podSandboxChanged: whether the pod needs a new sandbox, the attempt number to give it,
// and the current sandbox's id.
func podSandboxChanged(pod *corev1.Pod, rt *podRuntime) (bool, uint32, string) {
	if rt == nil || len(rt.Sandboxes) == 0 {
		return true, 0, ""
	}
	ready := 0
	for _, s := range rt.Sandboxes {
		if s.Ready {
			ready++
		}
	}
	newest := rt.Sandboxes[0]
	if ready > 1 {
		return true, newest.Attempt + 1, newest.ID
	}
	if !newest.Ready {
		return true, newest.Attempt + 1, newest.ID
	}
	if !pod.GetSpec().GetHostNetwork() && len(newest.IPs) == 0 {
		// A pod-network sandbox without an IP lost its network: start over.
		return true, newest.Attempt + 1, newest.ID
	}
	return false, newest.Attempt, newest.ID
}

// computeActions decides what a sync of pod must do given its actual state rt and the
// probes' verdicts. It is pure; back-off is applied when the actions are carried out.
func computeActions(pod *corev1.Pod, rt *podRuntime, probes probeView) podActions {
	if probes == nil {
		probes = noProbes{}
	}
	create, attempt, sandboxID := podSandboxChanged(pod, rt)
	a := podActions{KillPod: create, CreateSandbox: create, Attempt: attempt, SandboxID: sandboxID, ContainersToKill: map[string]killInfo{}}
	containers := pod.GetSpec().GetContainers()

	if create {
		if !shouldRestartOnFailure(pod) && attempt != 0 && rt != nil && len(rt.Containers) != 0 {
			// restartPolicy Never: the containers ran in the old sandbox; never again.
			a.CreateSandbox = false
			return a
		}
		for i, c := range containers {
			if restartPolicy(pod) == RestartOnFailure && containerSucceeded(c, rt) {
				continue
			}
			if restartPolicy(pod) == RestartNever && rt.latest(c.GetName()) != nil {
				continue
			}
			a.ContainersToStart = append(a.ContainersToStart, i)
		}
		if len(a.ContainersToStart) == 0 && attempt != 0 {
			a.CreateSandbox = false
		}
		if a.CreateSandbox && len(pod.GetSpec().GetInitContainers()) > 0 {
			// A new sandbox runs the init containers again, from the first.
			a.InitContainersToStart, a.ContainersToStart = []int{0}, nil
		}
		return a
	}

	if init := nextInitContainer(pod, rt); !init.Done {
		switch {
		case pod.GetMetadata().GetDeletionTimestamp() != nil:
		case init.Failed != nil && !shouldRestartOnFailure(pod):
			a.KillPod = true // restartPolicy Never: the pod has failed
		case init.Next >= 0:
			a.InitContainersToStart = []int{init.Next}
			spec := pod.GetSpec().GetInitContainers()[init.Next]
			if st := rt.latestIn(rt.currentSandboxID(), spec.GetName()); st != nil && st.State == runtimeapi.ContainerState_CONTAINER_UNKNOWN {
				a.ContainersToKill[st.ID] = killInfo{Container: st, Spec: spec, Message: "Container is in unknown state, try killing it before restart"}
			}
		}
		return a
	}

	keep := 0
	for i, c := range containers {
		st := rt.latest(c.GetName())
		if st == nil || !st.running() {
			if shouldContainerBeRestarted(c, pod, rt) {
				a.ContainersToStart = append(a.ContainersToStart, i)
				if st != nil && st.State == runtimeapi.ContainerState_CONTAINER_UNKNOWN {
					a.ContainersToKill[st.ID] = killInfo{Container: st, Spec: c, Message: "Container is in unknown state, try killing it before restart"}
				}
			}
			continue
		}
		var reason, message string
		restart := shouldRestartOnFailure(pod)
		switch {
		case st.Hash != "" && st.Hash != containerHash(c):
			message, restart = "Container "+c.GetName()+" definition changed", true
		case c.GetLivenessProbe() != nil && probes.Liveness(st.ID) == probeFailure:
			reason, message = "ProbeFailure", "Container "+c.GetName()+" failed liveness probe"
		case c.GetStartupProbe() != nil && probes.Startup(st.ID) == probeFailure:
			reason, message = "ProbeFailure", "Container "+c.GetName()+" failed startup probe"
		default:
			keep++
			continue
		}
		if restart {
			a.ContainersToStart = append(a.ContainersToStart, i)
		}
		a.ContainersToKill[st.ID] = killInfo{Container: st, Spec: c, Reason: reason, Message: message}
	}
	// Containers no longer in the spec (or stale instances still running) go too.
	specNames := map[string]bool{}
	for _, c := range append(slices.Clone(containers), pod.GetSpec().GetInitContainers()...) {
		specNames[c.GetName()] = true
	}
	for _, st := range rt.Containers {
		if !st.running() {
			continue
		}
		if _, dup := a.ContainersToKill[st.ID]; dup {
			continue
		}
		if !specNames[st.Name] || rt.latest(st.Name) != st {
			a.ContainersToKill[st.ID] = killInfo{Container: st, Message: "Container is not in the pod's spec"}
		}
	}
	if keep == 0 && len(a.ContainersToStart) == 0 {
		a.KillPod = true
	}
	return a
}
