package kubelet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/printers"
	"kubelab.io/proto/resource"
)

// initPod is a pod with init containers i1, i2 and app container web.
func initPod(policy string) *corev1.Pod {
	p := testPod(policy, "web")
	p.Spec.InitContainers = []*corev1.Container{{Name: "i1", Image: "nginx:1.14.2"}, {Name: "i2", Image: "nginx:1.14.2"}}
	return p
}

func TestInitContainerActionsRegular(t *testing.T) {
	pod := initPod(RestartAlways)
	never := initPod(RestartNever)
	tests := []struct {
		name string
		pod  *corev1.Pod
		rt   *podRuntime
		want initDecision
	}{
		{"no init containers", testPod(RestartAlways, "web"), &podRuntime{}, initDecision{Initialized: true}},
		{"no sandbox yet: the first", pod, &podRuntime{}, initDecision{Start: []int{0}}},
		{"sandbox, nothing ran: the first", pod, &podRuntime{Sandboxes: readySandbox()}, initDecision{Start: []int{0}}},
		{"first runs: wait", pod, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "i1", "c1", running, 0, 1)}},
			initDecision{}},
		{"first done: the second", pod, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "i1", "c1", exited, 0, 1)}},
			initDecision{Start: []int{1}}},
		{"both done", pod, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "i2", "c2", exited, 0, 1), ctr(pod, "i1", "c1", exited, 0, 2)}},
			initDecision{Initialized: true}},
		{"second failed: it again", pod, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "i2", "c2", exited, 1, 1), ctr(pod, "i1", "c1", exited, 0, 2)}},
			initDecision{Start: []int{1}}},
		{"second failed, Never: the pod failed", never, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "i2", "c2", exited, 1, 1), ctr(pod, "i1", "c1", exited, 0, 2)}},
			initDecision{Failed: true}},
		{"first created, never started: it again", pod, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "i1", "c1", created, 0, 1)}},
			initDecision{Start: []int{0}}},
		{"an app container exists: done (init containers removed since)", pod, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(pod, "web", "c3", exited, 1, 1)}},
			initDecision{Initialized: true}},
		{"done in an older sandbox only: again from the first", pod, &podRuntime{
			Sandboxes:  []*sandboxInfo{{ID: "sb2", Ready: true, IPs: []string{"x"}}, {ID: "sb1"}},
			Containers: []*containerInfo{ctr(pod, "web", "c3", exited, 0, 1), ctr(pod, "i2", "c2", exited, 0, 2), ctr(pod, "i1", "c1", exited, 0, 3)}},
			initDecision{Start: []int{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := initContainerActions(tt.pod, tt.rt, nil)
			if got.Initialized != tt.want.Initialized || !slices.Equal(got.Start, tt.want.Start) || got.Failed != tt.want.Failed || len(got.Kill) != 0 {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestComputeActionsInitContainers(t *testing.T) {
	always, never, onFailure := initPod(RestartAlways), initPod(RestartNever), initPod(RestartOnFailure)
	deleting := proto.Clone(always).(*corev1.Pod)
	deleting.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1}
	// Sidecars s1 and s2 (started once running: no startup probe here) around i1.
	sidecars := sidecarPod(RestartNever)
	sidecars.Spec.InitContainers[2].StartupProbe = nil
	sidecarsDeleting := proto.Clone(sidecars).(*corev1.Pod)
	sidecarsDeleting.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1}
	initialized := func(web, s1 *containerInfo) *podRuntime {
		return onSandbox(web, ctr(sidecars, "s2", "s2a", running, 0, 7), ctr(sidecars, "i1", "i1a", exited, 0, 8), s1)
	}
	tests := []struct {
		name                string
		pod                 *corev1.Pod
		rt                  *podRuntime
		wantInit, wantStart []int
		wantKillPod         bool
	}{
		{"new pod: sandbox and the first init container only", always, &podRuntime{}, []int{0}, nil, true},
		{"first running: nothing", always, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "i1", "c1", running, 0, 1)}}, nil, nil, false},
		{"first done: the second", always, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "i1", "c1", exited, 0, 1)}}, []int{1}, nil, false},
		{"all done: the app container", always, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "i2", "c2", exited, 0, 1), ctr(always, "i1", "c1", exited, 0, 2)}}, nil, []int{0}, false},
		{"failed, Always: restarted", always, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "i1", "c1", exited, 1, 1)}}, []int{0}, nil, false},
		{"failed, OnFailure: restarted", onFailure, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(onFailure, "i1", "c1", exited, 1, 1)}}, []int{0}, nil, false},
		{"failed, Never: the pod is killed, nothing starts", never, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(never, "i1", "c1", exited, 1, 1)}}, nil, nil, true},
		{"deleting while initializing: nothing starts", deleting, &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "i1", "c1", exited, 0, 1)}}, nil, nil, false},
		{"sandbox died after init, Always: init containers again", always, &podRuntime{Sandboxes: []*sandboxInfo{{ID: "sb1", Attempt: 0}},
			Containers: []*containerInfo{ctr(always, "web", "c3", exited, 137, 1), ctr(always, "i2", "c2", exited, 0, 2), ctr(always, "i1", "c1", exited, 0, 3)}}, []int{0}, nil, true},
		{"sidecars: a new pod starts the first sidecar", sidecars, &podRuntime{}, []int{0}, nil, true},
		{"sidecars: all started, the app container starts", sidecars,
			onSandbox(ctr(sidecars, "s2", "s2a", running, 0, 7), ctr(sidecars, "i1", "i1a", exited, 0, 8), ctr(sidecars, "s1", "s1a", running, 0, 9)), nil, []int{0}, false},
		{"sidecars: one exited under Never while the app runs, only it restarts", sidecars,
			initialized(ctr(sidecars, "web", "w1", running, 0, 1), ctr(sidecars, "s1", "s1a", exited, 2, 9)), []int{0}, nil, false},
		{"sidecars: the app completed under Never, the pod stops with its sidecars, none restarts", sidecars,
			initialized(ctr(sidecars, "web", "w1", exited, 0, 1), ctr(sidecars, "s1", "s1a", exited, 2, 9)), nil, nil, true},
		{"sidecars: deleting, none restarts", sidecarsDeleting,
			initialized(ctr(sidecars, "web", "w1", running, 0, 1), ctr(sidecars, "s1", "s1a", exited, 0, 9)), nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := computeActions(tt.pod, tt.rt, nil)
			if !slices.Equal(got.InitContainersToStart, tt.wantInit) || !slices.Equal(got.ContainersToStart, tt.wantStart) || got.KillPod != tt.wantKillPod {
				t.Errorf("got init %v start %v killPod %v; want init %v start %v killPod %v",
					got.InitContainersToStart, got.ContainersToStart, got.KillPod, tt.wantInit, tt.wantStart, tt.wantKillPod)
			}
		})
	}
}

// TestInitContainerStatus checks the status the kubelet writes for a pod with init
// containers, through what kubectl shows of it (the STATUS column of proto/printers,
// which is kubectl's logic).
func TestInitContainerStatus(t *testing.T) {
	now := time.Unix(5000, 0)
	tests := []struct {
		name                  string
		pod                   *corev1.Pod
		rt                    *podRuntime
		waiting               map[string]waitingReason
		phase, initialized    string
		initMessage, kubectl  string
		initReasons, appState string
	}{
		{"nothing yet", initPod(RestartAlways), &podRuntime{}, nil,
			PodPending, "False", "containers with incomplete status: [i1 i2]", "Init:0/2", "PodInitializing PodInitializing", "PodInitializing"},
		{"first runs", initPod(RestartAlways), &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(initPod(RestartAlways), "i1", "c1", running, 0, 1)}}, nil,
			PodPending, "False", "containers with incomplete status: [i1 i2]", "Init:0/2", "running PodInitializing", "PodInitializing"},
		{"first done", initPod(RestartAlways), &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(initPod(RestartAlways), "i1", "c1", exited, 0, 1)}}, nil,
			PodPending, "False", "containers with incomplete status: [i2]", "Init:1/2", "Completed PodInitializing", "PodInitializing"},
		{"first in back-off", initPod(RestartAlways), &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(initPod(RestartAlways), "i1", "c1", exited, 1, 1)}},
			map[string]waitingReason{"i1": {Reason: "CrashLoopBackOff"}},
			PodPending, "False", "containers with incomplete status: [i1 i2]", "Init:CrashLoopBackOff", "CrashLoopBackOff PodInitializing", "PodInitializing"},
		{"first failed, Never", initPod(RestartNever), &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(initPod(RestartNever), "i1", "c1", exited, 1, 1)}}, nil,
			PodFailed, "False", "containers with incomplete status: [i1 i2]", "Init:Error", "Error PodInitializing", "PodInitializing"},
		{"all done, app runs", initPod(RestartAlways), &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{
			ctr(initPod(RestartAlways), "web", "c3", running, 0, 1), ctr(initPod(RestartAlways), "i2", "c2", exited, 0, 2), ctr(initPod(RestartAlways), "i1", "c1", exited, 0, 3)}}, nil,
			PodRunning, "True", "", "Running", "Completed Completed", "running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := generatePodStatus(&statusInput{Pod: tt.pod, Runtime: tt.rt, Waiting: tt.waiting, RuntimeName: "containerd", Now: now})
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s", st.Phase, tt.phase)
			}
			c := condOf(st, CondInitialized)
			if c.GetStatus() != tt.initialized || c.GetMessage() != tt.initMessage || (tt.initialized == "False") != (c.GetReason() == "ContainersNotInitialized") {
				t.Errorf("Initialized %v, want %s %q", c, tt.initialized, tt.initMessage)
			}
			state := func(cs *corev1.ContainerStatus) string {
				switch s := cs.GetState(); {
				case s.GetRunning() != nil:
					return "running"
				case s.GetTerminated() != nil:
					return s.GetTerminated().GetReason()
				}
				return cs.GetState().GetWaiting().GetReason()
			}
			var inits []string
			for _, cs := range st.InitContainerStatuses {
				inits = append(inits, state(cs))
			}
			if got := fmt.Sprint(inits); got != "["+tt.initReasons+"]" {
				t.Errorf("init container states %s, want [%s]", got, tt.initReasons)
			}
			if got := state(st.ContainerStatuses[0]); got != tt.appState {
				t.Errorf("app container state %s, want %s", got, tt.appState)
			}
			pod := proto.Clone(tt.pod).(*corev1.Pod)
			pod.Kind, pod.Status = "Pod", st
			row := printers.TableFor(pod, "Pod", printers.Options{Now: now}).Rows[0]
			if got := row.Cells[2]; got != tt.kubectl {
				t.Errorf("kubectl STATUS %v, want %s", got, tt.kubectl)
			}
		})
	}
}

func TestQOSClassCountsInitContainers(t *testing.T) {
	pod := initPod(RestartAlways)
	if got := resource.QOSClass(pod); got != "BestEffort" {
		t.Fatalf("no resources: %s", got)
	}
	pod.Spec.InitContainers[1].Resources = &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"memory": {String_: "64Mi"}}}
	if got := resource.QOSClass(pod); got != "Burstable" {
		t.Fatalf("an init container's request: %s, want Burstable", got)
	}
}
