package kubelet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
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
	// Order, when set, holds the container's SIGTERM until its turn (sidecars last).
	Order *terminationOrder
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
	// InitContainersToStart are indexes into spec.initContainers, in spec order: at most
	// one regular init container (they run one at a time, and no app container starts
	// before they are done) and the sidecars to (re)start.
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

	init := initContainerActions(pod, rt, probes)
	switch {
	case pod.GetMetadata().GetDeletionTimestamp() != nil && !init.Initialized:
		return a // nothing starts in a pod being deleted
	case init.Failed:
		a.KillPod = true // restartPolicy Never: the pod has failed
		return a
	}
	if pod.GetMetadata().GetDeletionTimestamp() == nil {
		a.InitContainersToStart = init.Start
		maps.Copy(a.ContainersToKill, init.Kill)
	}
	if !init.Initialized {
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
		// Every app container is done for good: sidecars do not keep the pod alive, they
		// are stopped with it.
		a.KillPod = true
		a.InitContainersToStart = nil
	}
	return a
}
