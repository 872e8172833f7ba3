package kubelet

import (
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
)

// A deleted pod's last status is terminal whatever its restart policy, as upstream's
// generateAPIPodStatus with podIsTerminal and TerminatePod make it.
func TestGeneratePodStatusTerminal(t *testing.T) {
	now := time.Unix(5000, 0)
	type ctrState struct {
		state runtimeapi.ContainerState
		exit  int32
	}
	for _, tt := range []struct {
		name    string
		policy  string
		ctrs    map[string]ctrState // by container name; absent: never created
		waiting map[string]waitingReason
		want    string
		// wantReason is each container's terminated reason, wantExit its exit code.
		wantReason map[string]string
		wantExit   map[string]int32
	}{
		{name: "always, all exited 0", policy: RestartAlways, ctrs: map[string]ctrState{"a": {exited, 0}, "b": {exited, 0}},
			want: PodSucceeded, wantReason: map[string]string{"a": "Completed", "b": "Completed"}},
		{name: "always, one killed", policy: RestartAlways, ctrs: map[string]ctrState{"a": {exited, 0}, "b": {exited, 143}},
			want: PodFailed, wantReason: map[string]string{"a": "Completed", "b": "Error"}, wantExit: map[string]int32{"b": 143}},
		{name: "never, exited 0", policy: RestartNever, ctrs: map[string]ctrState{"a": {exited, 0}, "b": {exited, 0}},
			want: PodSucceeded, wantReason: map[string]string{"a": "Completed", "b": "Completed"}},
		{name: "on failure, one never created", policy: RestartOnFailure, ctrs: map[string]ctrState{"a": {exited, 0}},
			want: PodFailed, wantReason: map[string]string{"a": "Completed", "b": "ContainerStatusUnknown"}, wantExit: map[string]int32{"b": 137}},
		{name: "always, waiting for a restart", policy: RestartAlways, ctrs: map[string]ctrState{"a": {exited, 1}, "b": {exited, 0}},
			waiting: map[string]waitingReason{"a": {Reason: "CrashLoopBackOff"}},
			want:    PodFailed, wantReason: map[string]string{"a": "Error", "b": "Completed"}, wantExit: map[string]int32{"a": 1}},
		{name: "pending: nothing ran", policy: RestartAlways, waiting: map[string]waitingReason{"a": {Reason: "ErrImagePull"}},
			want: PodFailed, wantReason: map[string]string{"a": "ContainerStatusUnknown", "b": "ContainerStatusUnknown"}, wantExit: map[string]int32{"a": 137, "b": 137}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(tt.policy, "a", "b")
			rt := &podRuntime{}
			for name, s := range tt.ctrs {
				rt.Containers = append(rt.Containers, ctr(pod, name, "id-"+name, s.state, s.exit, 1))
			}
			st := generatePodStatus(&statusInput{Pod: pod, Runtime: rt, Waiting: tt.waiting, Now: now, Terminal: true})
			if st.Phase != tt.want {
				t.Errorf("phase %s, want %s", st.Phase, tt.want)
			}
			for _, cs := range st.ContainerStatuses {
				term := cs.GetState().GetTerminated()
				if term.GetReason() != tt.wantReason[cs.GetName()] || term.GetExitCode() != tt.wantExit[cs.GetName()] {
					t.Errorf("container %s state %v, want terminated %s exit %d", cs.GetName(), cs.GetState(), tt.wantReason[cs.GetName()], tt.wantExit[cs.GetName()])
				}
			}
			if c := condOf(st, CondReady); c.GetStatus() != "False" || c.GetReason() != "PodCompleted" {
				t.Errorf("Ready %v", c)
			}
		})
	}
}

// Init containers that never started are not reported as failed, but the first one and
// every one up to the last that started are.
func TestGeneratePodStatusTerminalInitContainers(t *testing.T) {
	pod := testPod(RestartAlways, "app")
	pod.Spec.InitContainers = []*corev1.Container{{Name: "i1", Image: "busybox"}, {Name: "i2", Image: "busybox"}, {Name: "i3", Image: "busybox"}}
	i1 := ctr(pod, "i1", "id-i1", exited, 0, 2)
	st := generatePodStatus(&statusInput{Pod: pod, Runtime: &podRuntime{Containers: []*containerInfo{i1}}, Now: time.Unix(5000, 0), Terminal: true})
	if st.Phase != PodFailed {
		t.Errorf("phase %s, want Failed", st.Phase)
	}
	want := map[string]string{"i1": "Completed", "i2": "", "i3": ""}
	for _, cs := range st.InitContainerStatuses {
		if got := cs.GetState().GetTerminated().GetReason(); got != want[cs.GetName()] {
			t.Errorf("init container %s state %v, want terminated reason %q", cs.GetName(), cs.GetState(), want[cs.GetName()])
		}
	}
	// Not initialized: the app container that never ran keeps waiting.
	if cs := st.ContainerStatuses[0]; cs.GetState().GetWaiting() == nil {
		t.Errorf("app container %v, want waiting", cs.GetState())
	}
}

// The kubelet writes its own conditions and keeps everyone else's as the API holds them,
// even ones added after it last read the pod.
func TestMergeStatusKeepsOthersConditions(t *testing.T) {
	api := &corev1.PodStatus{Phase: PodRunning, Conditions: []*corev1.PodCondition{
		{Type: CondReady, Status: "True"},
		{Type: "DisruptionTarget", Status: "True", Reason: "DeletionByTaintManager"},
	}}
	mine := &corev1.PodStatus{Phase: PodFailed, Conditions: []*corev1.PodCondition{
		{Type: CondReady, Status: "False", Reason: "PodCompleted"},
		{Type: "example.com/gate", Status: "True"}, // stale: the API no longer has it
	}}
	got := mergeStatus(api, mine)
	if got.Phase != PodFailed || len(got.Conditions) != 2 || condOf(got, CondReady).GetReason() != "PodCompleted" ||
		condOf(got, "DisruptionTarget").GetReason() != "DeletionByTaintManager" {
		t.Errorf("merged %v", got)
	}
	if len(mine.Conditions) != 2 || mine.Conditions[1].GetType() != "example.com/gate" {
		t.Errorf("mergeStatus modified its input: %v", mine)
	}
}
