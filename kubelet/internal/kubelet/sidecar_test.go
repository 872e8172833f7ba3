package kubelet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"kubelab.io/client/record"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
)

// sidecarPod has init containers s1 (a sidecar), i1 (a regular one) and s2 (a sidecar
// with a startup probe), and app container web.
func sidecarPod(policy string) *corev1.Pod {
	p := testPod(policy, "web")
	p.Spec.InitContainers = []*corev1.Container{
		{Name: "s1", Image: "proxy:1", RestartPolicy: proto.String(RestartAlways)},
		{Name: "i1", Image: "setup:1"},
		{Name: "s2", Image: "logs:1", RestartPolicy: proto.String(RestartAlways),
			StartupProbe: &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
	}
	return p
}

func onSandbox(cs ...*containerInfo) *podRuntime {
	return &podRuntime{Sandboxes: readySandbox(), Containers: cs}
}

func TestInitContainerActionsSidecars(t *testing.T) {
	pod := sidecarPod(RestartNever)
	s1Up := ctr(pod, "s1", "s1a", running, 0, 9)
	i1Runs := ctr(pod, "i1", "i1a", running, 0, 8)
	i1Done := ctr(pod, "i1", "i1a", exited, 0, 8)
	s2Up := ctr(pod, "s2", "s2a", running, 0, 7)
	webUp := ctr(pod, "web", "w1", running, 0, 6)
	started := fakeProbes{"s2a": {startup: probeSuccess}}
	// The liveness case needs a probe in the spec to count.
	live := proto.Clone(pod).(*corev1.Pod)
	live.Spec.InitContainers[0].LivenessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	tests := []struct {
		name   string
		rt     *podRuntime
		probes probeView
		want   initDecision
		kill   []string
		pod    *corev1.Pod
	}{
		{"nothing ran: the first sidecar", onSandbox(), nil, initDecision{Start: []int{0}}, nil, nil},
		{"sidecar running (no startup probe): the next init container, without waiting for it to exit",
			onSandbox(s1Up), nil, initDecision{Start: []int{1}}, nil, nil},
		{"regular init container runs beside the sidecar: wait", onSandbox(i1Runs, s1Up), nil, initDecision{}, nil, nil},
		{"regular init container done: the second sidecar", onSandbox(i1Done, s1Up), nil, initDecision{Start: []int{2}}, nil, nil},
		{"second sidecar running, startup probe not passed yet: not initialized",
			onSandbox(s2Up, i1Done, s1Up), nil, initDecision{}, nil, nil},
		{"second sidecar started: initialized", onSandbox(s2Up, i1Done, s1Up), started, initDecision{Initialized: true}, nil, nil},
		{"second sidecar failed its startup probe: killed and started again",
			onSandbox(s2Up, i1Done, s1Up), fakeProbes{"s2a": {startup: probeFailure}}, initDecision{Start: []int{2}}, []string{"s2a"}, nil},
		{"sidecar exited during init, restartPolicy Never: restarted, the init container goes on",
			onSandbox(i1Runs, ctr(pod, "s1", "s1a", exited, 1, 9)), nil, initDecision{Start: []int{0}}, nil, nil},
		{"sidecar exited after init: restarted, still initialized",
			onSandbox(webUp, s2Up, i1Done, ctr(pod, "s1", "s1a", exited, 0, 9)), started, initDecision{Initialized: true, Start: []int{0}}, nil, nil},
		{"sidecar gone after init (removed): started again",
			onSandbox(webUp, s2Up, i1Done), started, initDecision{Initialized: true, Start: []int{0}}, nil, nil},
		{"regular init container removed after init: not run again",
			onSandbox(webUp, s2Up, s1Up), started, initDecision{Initialized: true}, nil, nil},
		{"sidecar failed its liveness probe: killed and restarted",
			onSandbox(webUp, s2Up, i1Done, s1Up), fakeProbes{"s2a": {startup: probeSuccess}, "s1a": {liveness: probeFailure}},
			initDecision{Initialized: true, Start: []int{0}}, []string{"s1a"}, live},
		{"liveness failed without a probe in the spec: ignored",
			onSandbox(webUp, s2Up, i1Done, s1Up), fakeProbes{"s2a": {startup: probeSuccess}, "s1a": {liveness: probeFailure}},
			initDecision{Initialized: true}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod
			if tt.pod != nil {
				p = tt.pod
			}
			probes := tt.probes
			if probes == nil {
				probes = noProbes{}
			}
			got := initContainerActions(p, tt.rt, probes)
			var kill []string
			for id := range got.Kill {
				kill = append(kill, id)
			}
			if got.Initialized != tt.want.Initialized || got.Failed || !slices.Equal(got.Start, tt.want.Start) || !slices.Equal(kill, tt.kill) {
				t.Errorf("got initialized %v start %v failed %v kill %v; want initialized %v start %v kill %v",
					got.Initialized, got.Start, got.Failed, kill, tt.want.Initialized, tt.want.Start, tt.kill)
			}
		})
	}
}

func TestSidecarStatus(t *testing.T) {
	now := time.Unix(5000, 0)
	pod := sidecarPod(RestartNever)
	pod.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	s1 := ctr(pod, "s1", "s1a", running, 0, 9)
	s2 := ctr(pod, "s2", "s2a", running, 0, 7)
	i1 := ctr(pod, "i1", "i1a", exited, 0, 8)
	s1Crashed := ctr(pod, "s1", "s1b", exited, 1, 2)
	s1Crashed.RestartCount = 1
	stoppedSidecars := []*containerInfo{ctr(pod, "s2", "s2a", exited, 137, 7), i1, ctr(pod, "s1", "s1a", exited, 137, 9)}
	tests := []struct {
		name              string
		rt                *podRuntime
		probes            fakeProbes
		waiting           map[string]waitingReason
		phase             string
		initialized       string
		ready, readyMsg   string
		s1State, s1Ready  string
		i1Ready, s2Starts bool
	}{
		{"first sidecar running, regular init container next: Pending", onSandbox(ctr(pod, "i1", "i1a", running, 0, 8), s1), nil, nil,
			PodPending, "containers with incomplete status: [i1 s2]", "containers with unready status: [s1 s2 web]", "", "running", "false", false, false},
		{"second sidecar not started yet: Pending", onSandbox(s2, i1, s1), fakeProbes{"s1a": {readiness: probeSuccess}}, nil,
			PodPending, "containers with incomplete status: [s2]", "containers with unready status: [s2 web]", "", "running", "true", true, false},
		{"all up, s1 not ready: Running, not Ready", onSandbox(ctr(pod, "web", "w1", running, 0, 1), s2, i1, s1),
			fakeProbes{"s2a": {startup: probeSuccess}}, nil,
			PodRunning, "True", "containers with unready status: [s1]", "", "running", "false", true, true},
		{"all up and ready: Running and Ready", onSandbox(ctr(pod, "web", "w1", running, 0, 1), s2, i1, s1),
			fakeProbes{"s2a": {startup: probeSuccess}, "s1a": {readiness: probeSuccess}}, nil,
			PodRunning, "True", "True", "", "running", "true", true, true},
		{"sidecar crashed, in back-off, restartPolicy Never: still Running", onSandbox(ctr(pod, "web", "w1", running, 0, 1), s1Crashed, s2, i1, ctr(pod, "s1", "s1a", exited, 1, 9)),
			fakeProbes{"s2a": {startup: probeSuccess}}, map[string]waitingReason{"s1": {Reason: "CrashLoopBackOff"}},
			PodRunning, "True", "containers with unready status: [s1]", "", "CrashLoopBackOff", "false", true, true},
		{"app completed, sidecars still running: Running", onSandbox(ctr(pod, "web", "w1", exited, 0, 1), s2, i1, s1),
			fakeProbes{"s2a": {startup: probeSuccess}, "s1a": {readiness: probeSuccess}}, nil,
			PodRunning, "True", "containers with unready status: [web]", "", "running", "true", true, true},
		{"app completed, sidecars stopped (137): Succeeded", onSandbox(append([]*containerInfo{ctr(pod, "web", "w1", exited, 0, 1)}, stoppedSidecars...)...),
			nil, nil, PodSucceeded, "True", "PodCompleted", "", "Error", "false", true, false},
		{"app failed, sidecars stopped: Failed", onSandbox(append([]*containerInfo{ctr(pod, "web", "w1", exited, 3, 1)}, stoppedSidecars...)...),
			nil, nil, PodFailed, "True", "PodCompleted", "", "Error", "false", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var probes probeView = noProbes{}
			if tt.probes != nil {
				probes = tt.probes
			}
			st := generatePodStatus(&statusInput{Pod: pod, Runtime: tt.rt, Probes: probes, Waiting: tt.waiting, RuntimeName: "containerd", Now: now})
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s", st.Phase, tt.phase)
			}
			if c := condOf(st, CondInitialized); c.GetStatus() != tt.initialized && c.GetMessage() != tt.initialized {
				t.Errorf("Initialized %v, want %s", c, tt.initialized)
			}
			if c := condOf(st, CondReady); c.GetStatus() != tt.ready && c.GetMessage() != tt.ready && c.GetReason() != tt.ready {
				t.Errorf("Ready %v, want %s", c, tt.ready)
			}
			if c, r := condOf(st, CondContainersReady), condOf(st, CondReady); c.GetStatus() != r.GetStatus() || c.GetMessage() != r.GetMessage() {
				t.Errorf("ContainersReady %v differs from Ready %v", c, r)
			}
			s1st := statusByName(st.InitContainerStatuses, "s1")
			state := s1st.GetState().GetWaiting().GetReason()
			switch {
			case s1st.GetState().GetRunning() != nil:
				state = "running"
			case s1st.GetState().GetTerminated() != nil:
				state = s1st.GetState().GetTerminated().GetReason()
			}
			if state != tt.s1State || fmt.Sprint(s1st.GetReady()) != tt.s1Ready {
				t.Errorf("s1 %s ready %v, want %s ready %s", state, s1st.GetReady(), tt.s1State, tt.s1Ready)
			}
			if got := statusByName(st.InitContainerStatuses, "i1").GetReady(); got != tt.i1Ready {
				t.Errorf("i1 ready %v, want %v (a completed regular init container is ready)", got, tt.i1Ready)
			}
			if got := statusByName(st.InitContainerStatuses, "s2").GetStarted(); got != tt.s2Starts {
				t.Errorf("s2 started %v, want %v", got, tt.s2Starts)
			}
		})
	}
	// A restarted sidecar reports its restart count and the exit as its last state.
	st := generatePodStatus(&statusInput{Pod: pod, Runtime: onSandbox(s1Crashed, ctr(pod, "s1", "s1a", exited, 1, 9)), Probes: noProbes{},
		Waiting: map[string]waitingReason{"s1": {Reason: "CrashLoopBackOff"}}, RuntimeName: "containerd", Now: now})
	if s := statusByName(st.InitContainerStatuses, "s1"); s.GetRestartCount() != 1 || s.GetLastState().GetTerminated().GetExitCode() != 1 {
		t.Errorf("restarted sidecar %v", s)
	}
}

// TestKillPodStopsSidecarsLast: the app containers are stopped first (their preStop hooks
// take a while), then the sidecars, the one declared last first.
func TestKillPodStopsSidecarsLast(t *testing.T) {
	fake := krt.NewFake()
	preStop := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}
	pod := sidecarPod(RestartAlways)
	pod.Spec.Containers = append(pod.Spec.Containers, &corev1.Container{Name: "worker", Image: "w:1", Lifecycle: preStop})
	pod.Spec.Containers[0].Lifecycle = preStop
	fake.Exec = func(string, []string) (string, int32) {
		time.Sleep(100 * time.Millisecond) // the apps' preStop hooks
		return "", 0
	}
	ctx := context.Background()
	sb, _ := fake.RunPodSandbox(ctx, &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Uid: "uid-1"},
		Labels: map[string]string{krt.LabelManagedBy: krt.ManagedByValue, krt.LabelPodUID: "uid-1"}})
	for _, name := range []string{"s1", "s2", "web", "worker"} {
		fake.AddImage("img")
		id, err := fake.CreateContainer(ctx, sb, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: "img"},
			Labels: map[string]string{krt.LabelManagedBy: krt.ManagedByValue, krt.LabelPodUID: "uid-1", krt.LabelContainerName: name}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	rts, err := listPodRuntimes(ctx, fake, "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.RealClock{}
	k := &Kubelet{rt: fake, clock: clk, log: testLog(), runner: newActionRunner(fake, clk),
		recorder: record.New(record.Config{Log: testLog()}), runtimeCache: map[string]*podRuntime{}}
	if err := k.killPod(ctx, pod, rts["uid-1"], 5); err != nil {
		t.Fatal(err)
	}
	stops := callsOf(fake.Calls(), "StopContainer ")
	if len(stops) != 4 || !slices.Equal(stops[2:], []string{"s2", "s1"}) {
		t.Errorf("stop order %v, want the app containers, then s2, then s1", stops)
	}
	if n := fake.RunningContainers(""); len(n) != 0 {
		t.Errorf("still running: %v", n)
	}
}

// TestTerminationOrderBoundedByGrace: a sidecar waits for the app containers no longer
// than the grace period left.
func TestTerminationOrderBoundedByGrace(t *testing.T) {
	o := newTerminationOrder(sidecarPod(RestartAlways), []string{"web", "s1"})
	clk := clock.RealClock{}
	if waited := o.waitForTurn(clk, "s1", 50*time.Millisecond); waited < 50*time.Millisecond {
		t.Errorf("s1 waited %v for a web that never stopped, want the 50ms budget", waited)
	}
	if waited := o.waitForTurn(clk, "web", time.Hour); waited != 0 {
		t.Errorf("an app container waits for nothing, waited %v", waited)
	}
	o.containerStopped("web")
	o.containerStopped("web") // a second report does not close twice
	if waited := o.waitForTurn(clk, "s1", time.Hour); waited > time.Second {
		t.Errorf("s1 waited %v after web stopped", waited)
	}
}

// callsOf is what follows prefix in the fake runtime's calls that start with it (the
// container names of "StopContainer " calls, in order).
func callsOf(calls []string, prefix string) []string {
	var out []string
	for _, c := range calls {
		if rest, ok := strings.CutPrefix(c, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}
