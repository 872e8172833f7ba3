package kubelet

import (
	"slices"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
)

// isSidecar: an init container with restartPolicy Always (KEP-753). It starts in init
// order but does not have to exit: the next init container starts once it is started,
// and it then runs beside the app containers for the pod's whole life.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && c.GetRestartPolicy() == RestartAlways
}

// hasSidecars: whether pod declares a sidecar.
func hasSidecars(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.GetSpec().GetInitContainers(), isSidecar)
}

// initDecision is what the init containers of a pod need in its current sandbox.
type initDecision struct {
	// Initialized: every regular init container exited 0 and every sidecar started (or an
	// app container was created, which only happens after that, so init containers
	// removed since do not run again). The app containers may run.
	Initialized bool
	// Start holds indexes into spec.initContainers, in spec order: at most one regular
	// init container (the next one), and any sidecars to (re)start.
	Start []int
	// Kill holds instances to stop before their restart (unknown state, failed startup
	// or liveness probe, changed spec).
	Kill map[string]killInfo
	// Failed: a regular init container failed and the pod's restartPolicy is Never, so
	// the pod has failed.
	Failed bool
}

// appContainerCreated: whether any app container exists in the sandbox, proof that the
// init containers completed in it before.
func appContainerCreated(pod *corev1.Pod, rt *podRuntime, sandboxID string) bool {
	for _, c := range pod.GetSpec().GetContainers() {
		if rt.latestIn(sandboxID, c.GetName()) != nil {
			return true
		}
	}
	return false
}

// initContainerActions is upstream's computeInitContainerActions, read in the pod's
// current sandbox (the exited init containers the runtime still holds are what a restarted
// kubelet goes on from). It walks the init containers from the last, so the furthest one
// that made progress decides which comes next; each sidecar before it is kept running. It
// is pure.
func initContainerActions(pod *corev1.Pod, rt *podRuntime, probes probeView) initDecision {
	if probes == nil {
		probes = noProbes{}
	}
	inits := pod.GetSpec().GetInitContainers()
	d := initDecision{Kill: map[string]killInfo{}}
	if len(inits) == 0 {
		d.Initialized = true
		return d
	}
	sb := rt.currentSandboxID()
	if sb == "" {
		d.Start = []int{0}
		return d
	}
	d.Initialized = appContainerCreated(pod, rt, sb)
	// reached: an init container at or after i has run, so those before it were done
	// (upstream's isPreviouslyInitialized).
	reached := d.Initialized
	for i := len(inits) - 1; i >= 0; i-- {
		c := inits[i]
		sidecar := isSidecar(c)
		st := rt.latestIn(sb, c.GetName())
		if st == nil {
			if reached && sidecar {
				d.Start = append(d.Start, i) // gone since it started: it must run again
			}
			continue
		}
		if reached && !sidecar {
			continue // a regular init container before the furthest: done
		}
		switch st.State {
		case runtimeapi.ContainerState_CONTAINER_CREATED:
			// Created and started happen in one step: a created one did not start.
			d.Start = append(d.Start, i)
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			if !sidecar {
				break // wait for it to exit
			}
			if c.GetStartupProbe() != nil {
				switch probes.Startup(st.ID) {
				case probeFailure:
					d.restart(i, st, c, "ProbeFailure", "Init container "+c.GetName()+" failed startup probe")
				case probeSuccess:
					d.sidecarStarted(pod, rt, probes, i, st, reached)
				}
				break // not started yet: what comes after waits
			}
			d.sidecarStarted(pod, rt, probes, i, st, reached)
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			switch {
			case sidecar:
				d.Start = append(d.Start, i) // whatever the pod's restartPolicy
			case st.ExitCode != 0 && !shouldRestartOnFailure(pod):
				return initDecision{Failed: true}
			case st.ExitCode != 0:
				d.Start = append(d.Start, i)
			case i == len(inits)-1:
				d.Initialized = true
			default:
				d.Start = append(d.Start, i+1)
			}
		default: // unknown: stop what may be left of it and run it again
			if !sidecar && !shouldRestartOnFailure(pod) {
				return initDecision{Failed: true}
			}
			d.restart(i, st, c, "", "Container is in unknown state, try killing it before restart")
		}
		reached = true
	}
	if !reached {
		d.Start = append(d.Start, 0)
	}
	slices.Reverse(d.Start)
	return d
}

// sidecarStarted handles the running and started sidecar inits[i]: the next init
// container may start (the first time only), and the sidecar is restarted when its spec
// changed or its liveness probe failed.
func (d *initDecision) sidecarStarted(pod *corev1.Pod, rt *podRuntime, probes probeView, i int, st *containerInfo, reached bool) {
	inits := pod.GetSpec().GetInitContainers()
	c := inits[i]
	switch {
	case i == len(inits)-1:
		d.Initialized = true
	case !reached:
		d.Start = append(d.Start, i+1)
	}
	switch {
	case st.Hash != "" && st.Hash != containerHash(c):
		d.restart(i, st, c, "", "Init container "+c.GetName()+" definition changed")
	case c.GetLivenessProbe() != nil && probes.Liveness(st.ID) == probeFailure:
		d.restart(i, st, c, "ProbeFailure", "Init container "+c.GetName()+" failed liveness probe")
	}
}

// restart stops instance st of init container i and starts it again.
func (d *initDecision) restart(i int, st *containerInfo, c *corev1.Container, reason, message string) {
	d.Start = append(d.Start, i)
	d.Kill[st.ID] = killInfo{Container: st, Spec: c, Reason: reason, Message: message}
}

// isRegularInit: c is one of pod's init containers that runs to completion.
func isRegularInit(pod *corev1.Pod, c *corev1.Container) bool {
	return slices.Contains(pod.GetSpec().GetInitContainers(), c) && !isSidecar(c)
}
