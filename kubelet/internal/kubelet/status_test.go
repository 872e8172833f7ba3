package kubelet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

func condOf(st *corev1.PodStatus, typ string) *corev1.PodCondition {
	for _, c := range st.GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	return nil
}

func TestGeneratePodStatus(t *testing.T) {
	now := time.Unix(5000, 0)
	pod := testPod(RestartAlways, "web")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	started := time.Unix(4000, 0)
	c1 := ctr(pod, "web", "c1", running, 0, 1)
	c1.StartedAt, c1.ImageRef, c1.RestartCount = started, "sha256:abc", 1
	c0 := ctr(pod, "web", "c0", exited, 137, 5)
	c0.Reason, c0.FinishedAt = "Error", time.Unix(3990, 0)
	rt := &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{c1, c0}}

	in := &statusInput{Pod: pod, Runtime: rt, HostIPs: []string{"192.168.1.10"}, RuntimeName: "containerd", Now: now}
	st := generatePodStatus(in)
	if st.Phase != PodRunning || st.PodIP != "10.88.0.2" || st.HostIP != "192.168.1.10" || st.StartTime.GetSeconds() != 5000 || st.QosClass != "BestEffort" {
		t.Errorf("status %v", st)
	}
	cs := st.ContainerStatuses[0]
	if cs.Ready || cs.GetState().GetRunning().GetStartedAt().GetSeconds() != 4000 || cs.ContainerID != "containerd://c1" || cs.RestartCount != 1 ||
		cs.GetLastState().GetTerminated().GetExitCode() != 137 || !cs.GetStarted() || cs.ImageID != "sha256:abc" {
		t.Errorf("container status %v", cs)
	}
	if c := condOf(st, CondReady); c.GetStatus() != "False" || c.GetReason() != "ContainersNotReady" || c.GetMessage() != "containers with unready status: [web]" {
		t.Errorf("Ready %v", c)
	}

	// Readiness passes: Ready, with a new transition time; the unchanged ones keep theirs.
	in.Old, in.Now = st, now.Add(time.Minute)
	in.Probes = fakeProbes{"c1": {readiness: probeSuccess}}
	st2 := generatePodStatus(in)
	if c := condOf(st2, CondReady); c.GetStatus() != "True" || c.GetLastTransitionTime().GetSeconds() != 5060 {
		t.Errorf("Ready %v", c)
	}
	if c := condOf(st2, CondInitialized); c.GetLastTransitionTime().GetSeconds() != 5000 {
		t.Errorf("Initialized transition moved: %v", c)
	}
	if st2.StartTime.GetSeconds() != 5000 {
		t.Errorf("startTime moved")
	}
	// Same inputs, same status: nothing to write.
	if !statusEqual(st2, generatePodStatus(&statusInput{Pod: pod, Runtime: rt, HostIPs: in.HostIPs, RuntimeName: "containerd", Now: now.Add(2 * time.Minute), Old: st2, Probes: in.Probes})) {
		t.Error("status changed without a change of state")
	}
}

func TestGeneratePodStatusWaitingAndPhases(t *testing.T) {
	now := time.Unix(5000, 0)
	pod := testPod(RestartAlways, "web")
	st := generatePodStatus(&statusInput{Pod: pod, Runtime: &podRuntime{}, Now: now,
		Waiting: map[string]waitingReason{"web": {Reason: "ErrImagePull", Message: "boom"}}})
	if st.Phase != PodPending || st.ContainerStatuses[0].GetState().GetWaiting().GetReason() != "ErrImagePull" {
		t.Errorf("pull failure: %v", st)
	}
	st = generatePodStatus(&statusInput{Pod: pod, Runtime: &podRuntime{}, Now: now})
	if st.ContainerStatuses[0].GetState().GetWaiting().GetReason() != "ContainerCreating" {
		t.Errorf("creating: %v", st)
	}

	crashed := ctr(pod, "web", "c1", exited, 1, 1)
	crashed.RestartCount = 3
	st = generatePodStatus(&statusInput{Pod: pod, Runtime: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{crashed}}, Now: now,
		Waiting: map[string]waitingReason{"web": {Reason: "CrashLoopBackOff", Message: "back-off 40s"}}})
	cs := st.ContainerStatuses[0]
	if st.Phase != PodRunning || cs.GetState().GetWaiting().GetReason() != "CrashLoopBackOff" || cs.GetLastState().GetTerminated().GetExitCode() != 1 || cs.RestartCount != 3 {
		t.Errorf("crash loop: phase %s %v", st.Phase, cs)
	}

	for _, tt := range []struct {
		policy string
		exit   int32
		want   string
	}{
		{RestartNever, 0, PodSucceeded}, {RestartNever, 1, PodFailed},
		{RestartOnFailure, 0, PodSucceeded}, {RestartOnFailure, 1, PodRunning},
		{RestartAlways, 0, PodRunning},
	} {
		p := testPod(tt.policy, "job")
		st := generatePodStatus(&statusInput{Pod: p, Runtime: &podRuntime{Containers: []*containerInfo{ctr(p, "job", "c1", exited, tt.exit, 1)}}, Now: now})
		if st.Phase != tt.want {
			t.Errorf("%s exit %d: phase %s, want %s", tt.policy, tt.exit, st.Phase, tt.want)
		}
		if tt.want == PodSucceeded && condOf(st, CondReady).GetReason() != "PodCompleted" {
			t.Errorf("%s: Ready %v", tt.policy, condOf(st, CondReady))
		}
	}
	// A terminal phase is never left.
	old := &corev1.PodStatus{Phase: PodFailed, Reason: "OutOfcpu", Message: "m"}
	st = generatePodStatus(&statusInput{Pod: pod, Runtime: &podRuntime{}, Now: now, Old: old})
	if st.Phase != PodFailed || st.Reason != "OutOfcpu" {
		t.Errorf("terminal phase lost: %v", st)
	}
}

func TestQOSClass(t *testing.T) {
	q := func(req, lim map[string]string) string {
		p := testPod(RestartAlways, "a")
		r := &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{}, Limits: map[string]*metav1.Quantity{}}
		for k, v := range req {
			r.Requests[k] = &metav1.Quantity{String_: v}
		}
		for k, v := range lim {
			r.Limits[k] = &metav1.Quantity{String_: v}
		}
		p.Spec.Containers[0].Resources = r
		return resource.QOSClass(p)
	}
	if got := q(nil, nil); got != "BestEffort" {
		t.Error(got)
	}
	if got := q(map[string]string{"cpu": "1"}, nil); got != "Burstable" {
		t.Error(got)
	}
	if got := q(map[string]string{"cpu": "1", "memory": "1Gi"}, map[string]string{"cpu": "1", "memory": "1Gi"}); got != "Guaranteed" {
		t.Error(got)
	}
}

func TestAdmitPod(t *testing.T) {
	alloc := resource.List{"cpu": resource.MustParse("1900m"), "memory": resource.MustParse("1Gi"), "pods": resource.MustParse("2")}
	withReq := func(cpu, mem string) *corev1.Pod {
		p := testPod(RestartAlways, "a")
		req := map[string]*metav1.Quantity{}
		if cpu != "" {
			req["cpu"] = &metav1.Quantity{String_: cpu}
		}
		if mem != "" {
			req["memory"] = &metav1.Quantity{String_: mem}
		}
		p.Spec.Containers[0].Resources = &corev1.ResourceRequirements{Requests: req}
		return p
	}
	tests := []struct {
		name        string
		pod         *corev1.Pod
		others      []*corev1.Pod
		ok          bool
		reason, msg string
	}{
		{name: "fits", pod: withReq("1", "512Mi"), others: []*corev1.Pod{withReq("500m", "")}, ok: true},
		{name: "best effort always fits", pod: withReq("", ""), others: []*corev1.Pod{withReq("1900m", "1Gi")}, ok: true},
		{name: "cpu", pod: withReq("1", ""), others: []*corev1.Pod{withReq("1500m", "")}, reason: "OutOfcpu",
			msg: "Pod was rejected: Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 1900"},
		{name: "memory", pod: withReq("", "2Gi"), reason: "OutOfmemory",
			msg: "Pod was rejected: Node didn't have enough resource: memory, requested: 2147483648, used: 0, capacity: 1073741824"},
		{name: "pods", pod: withReq("", ""), others: []*corev1.Pod{withReq("", ""), withReq("", "")}, reason: "OutOfpods",
			msg: "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := admitPod(tt.pod, tt.others, alloc)
			if ok != tt.ok || reason != tt.reason || msg != tt.msg {
				t.Errorf("got %v %q %q\nwant %v %q %q", ok, reason, msg, tt.ok, tt.reason, tt.msg)
			}
		})
	}
}

func TestNodeStatus(t *testing.T) {
	now := time.Unix(9000, 0)
	in := &nodeStatusInput{Host: testHost, MaxPods: 110, Reserved: resource.List{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("100Mi")},
		RuntimeVer: "containerd://1.6.20", Now: now, NeedPodCIDR: true, Runtime: runtimeStatus(true, true)}
	st := nodeStatus(in)
	ready := st.Conditions[3]
	if ready.GetType() != "Ready" || ready.GetStatus() != "False" || ready.GetReason() != "KubeletNotReady" {
		t.Errorf("without podCIDR: %v", ready)
	}
	if got := st.Allocatable["cpu"].GetString_(); got != "3900m" {
		t.Errorf("allocatable cpu %s", got)
	}
	if got := st.Allocatable["memory"].GetString_(); got != "8092Mi" {
		t.Errorf("allocatable memory %s", got)
	}
	if st.NodeInfo.GetOsImage() != testHost.OSImage || st.NodeInfo.GetKubeletVersion() != KubeletVersion {
		t.Errorf("nodeInfo %v", st.NodeInfo)
	}
	in.PodCIDR, in.Old, in.Now = "10.244.1.0/24", st, now.Add(10*time.Second)
	st2 := nodeStatus(in)
	if r := st2.Conditions[3]; r.GetStatus() != "True" || r.GetMessage() != "kubelet is posting ready status" || r.GetLastTransitionTime().GetSeconds() != 9010 {
		t.Errorf("ready: %v", r)
	}
	if mp := st2.Conditions[0]; mp.GetLastTransitionTime().GetSeconds() != 9000 || mp.GetLastHeartbeatTime().GetSeconds() != 9010 {
		t.Errorf("MemoryPressure times %v", mp)
	}
	if !nodeStatusChanged(st, st2) {
		t.Error("Ready flip not seen as a change")
	}
	in.Old, in.Now = st2, now.Add(20*time.Second)
	if st3 := nodeStatus(in); nodeStatusChanged(st2, st3) {
		t.Error("a heartbeat alone counted as a change")
	}
	in.Runtime = runtimeStatus(true, false)
	if r := nodeStatus(in).Conditions[3]; r.GetStatus() != "False" || r.GetMessage() == "" {
		t.Errorf("network not ready: %v", r)
	}
}

func TestProbeState(t *testing.T) {
	t0 := time.Unix(100, 0)
	p := &corev1.Probe{InitialDelaySeconds: 5, FailureThreshold: 3, SuccessThreshold: 2}
	target := probeTarget{ContainerID: "c1", Running: true, StartedAt: t0, Started: true}

	rd := &probeState{Kind: readiness}
	run, set := rd.prepare(target, p, t0.Add(time.Second))
	if run || set == nil || *set != probeFailure {
		t.Fatalf("readiness during initial delay: run %v set %v", run, set)
	}
	if run, _ := rd.prepare(target, p, t0.Add(5*time.Second)); !run {
		t.Fatal("no probe after the initial delay")
	}
	if r := rd.observe(probeSuccess, p); r != nil {
		t.Fatalf("one success of two set %v", *r)
	}
	if r := rd.observe(probeSuccess, p); r == nil || *r != probeSuccess {
		t.Fatalf("two successes: %v", r)
	}
	for i := 0; i < 2; i++ {
		if r := rd.observe(probeFailure, p); r != nil {
			t.Fatalf("failure %d set %v", i+1, *r)
		}
	}
	if r := rd.observe(probeFailure, p); r == nil || *r != probeFailure {
		t.Fatal("three failures did not fail readiness")
	}
	if rd.OnHold {
		t.Fatal("readiness went on hold")
	}

	lv := &probeState{Kind: liveness}
	_, set = lv.prepare(target, p, t0.Add(6*time.Second))
	if set == nil || *set != probeSuccess {
		t.Fatalf("liveness initial %v", set)
	}
	for range 3 {
		lv.observe(probeFailure, p)
	}
	if !lv.OnHold {
		t.Fatal("failed liveness not on hold")
	}
	if run, _ := lv.prepare(target, p, t0.Add(time.Minute)); run {
		t.Fatal("probing a container about to be killed")
	}
	// The restarted container gets a fresh start.
	next := probeTarget{ContainerID: "c2", Running: true, StartedAt: t0.Add(time.Minute), Started: true}
	if run, set := lv.prepare(next, p, t0.Add(time.Minute+6*time.Second)); !run || set == nil || lv.OnHold {
		t.Fatalf("new container: run %v set %v hold %v", run, set, lv.OnHold)
	}

	// Startup gates liveness and readiness, and stops once it succeeded.
	gated := probeTarget{ContainerID: "c3", Running: true, StartedAt: t0, Started: false}
	if run, _ := (&probeState{Kind: liveness}).prepare(gated, &corev1.Probe{}, t0.Add(time.Hour)); run {
		t.Fatal("liveness ran before startup succeeded")
	}
	su := &probeState{Kind: startup}
	if run, _ := su.prepare(gated, &corev1.Probe{}, t0.Add(time.Second)); !run {
		t.Fatal("startup probe did not run")
	}
	gated.Started = true
	if run, _ := su.prepare(gated, &corev1.Probe{}, t0.Add(2*time.Second)); run {
		t.Fatal("startup probe ran after success")
	}
	// Not running: nothing.
	if run, _ := (&probeState{Kind: readiness}).prepare(probeTarget{ContainerID: "c4"}, p, t0); run {
		t.Fatal("probed a stopped container")
	}
}

func TestProbeWorkerWithFakeClock(t *testing.T) {
	clk := newFakeClock(time.Unix(100, 0))
	results := newProbeResults()
	var failing atomic.Bool
	failing.Store(true)
	changes := make(chan string, 10)
	m := &probeManager{
		results: results, clock: clk, workers: map[probeKey]context.CancelFunc{},
		runner: &actionRunner{rt: execRuntime(func() int32 {
			if failing.Load() {
				return 1
			}
			return 0
		}), clock: clk},
		target: func(uid, name string) (probeTarget, string) {
			return probeTarget{ContainerID: "c1", Running: true, StartedAt: time.Unix(100, 0), Started: true}, "10.0.0.1"
		},
		onChange: func(uid string) { changes <- uid },
	}
	pod := testPod(RestartAlways, "web")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"check"}}, PeriodSeconds: 5, FailureThreshold: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.addPod(ctx, pod)
	<-changes // initial Failure
	failing.Store(false)
	waitFor(t, func() bool {
		clk.Step(5 * time.Second)
		return results.Readiness("c1") == probeSuccess
	})
	m.removePod("uid-1")
	if len(m.workers) != 0 {
		t.Fatal("workers left")
	}
}
