package kubelet

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/apiserver/apiservertest"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
)

// sidecarNginxPod is nginxPod with a sidecar "proxy" (readiness-probed) declared before
// a regular init container "setup".
func sidecarNginxPod(name, policy string) *corev1.Pod {
	p := nginxPod(name, "node-1")
	p.Spec.RestartPolicy = policy
	p.Spec.InitContainers = []*corev1.Container{
		{Name: "proxy", Image: "envoy:1.0", RestartPolicy: proto.String(RestartAlways),
			ReadinessProbe: &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"ready"}}, PeriodSeconds: 1}},
		{Name: "setup", Image: "busybox:1.36"},
	}
	return p
}

func initStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	return statusByName(p.GetStatus().GetInitContainerStatuses(), name)
}

// TestIntegrationSidecar: a pod with a sidecar reaches Running and Ready with the sidecar
// running beside the app; a sidecar that exits is restarted although the pod's
// restartPolicy is Never; when the app completes the sidecar is stopped and the pod
// Succeeds; on deletion a sidecar stops after the app.
func TestIntegrationSidecar(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	fake.ExitOnStart = func(cfg *runtimeapi.ContainerConfig) (bool, int32) {
		return cfg.GetMetadata().GetName() == "setup", 0 // the regular init container does its job at once
	}
	startKubelet(t, cs, fake, "node-1")
	ctx := context.Background()

	if _, err := cs.Pods("default").Create(ctx, sidecarNginxPod("web", RestartNever)); err != nil {
		t.Fatal(err)
	}
	pod := waitRunningReady(t, cs, "web")
	proxy := initStatus(pod, "proxy")
	if proxy.GetState().GetRunning() == nil || !proxy.GetStarted() || !proxy.GetReady() || proxy.GetRestartCount() != 0 {
		t.Errorf("sidecar status %v", proxy)
	}
	if s := initStatus(pod, "setup"); s.GetState().GetTerminated().GetReason() != "Completed" || !s.GetReady() {
		t.Errorf("init container status %v", s)
	}
	if condition(pod, CondInitialized) != "True" {
		t.Errorf("Initialized %s", condition(pod, CondInitialized))
	}
	// The sidecar started before the init container after it, and that one before the app.
	if starts := callsOf(fake.Calls(), "StartContainer "); !slices.Equal(starts, []string{"proxy", "setup", "nginx"}) {
		t.Errorf("start order %v, want proxy, setup, nginx", starts)
	}

	// The sidecar dies: restarted, restartPolicy Never notwithstanding; the pod stays Running.
	if err := fake.Exit(fake.RunningContainers("proxy")[0], 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "sidecar restarted", func() (bool, string) {
		p := getPod(t, cs, "web")
		s := initStatus(p, "proxy")
		return s.GetRestartCount() == 1 && s.GetState().GetRunning() != nil && s.GetLastState().GetTerminated().GetExitCode() == 1 &&
			p.GetStatus().GetPhase() == PodRunning, fmt.Sprint(p.GetStatus())
	})

	// The app completes: the sidecar is stopped and the pod Succeeds.
	if err := fake.Exit(fake.RunningContainers("nginx")[0], 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "pod Succeeded, sidecar stopped", func() (bool, string) {
		p := getPod(t, cs, "web")
		return p.GetStatus().GetPhase() == PodSucceeded && len(fake.RunningContainers("proxy")) == 0 &&
			initStatus(p, "proxy").GetState().GetTerminated() != nil, fmt.Sprint(p.GetStatus())
	})

	// Deletion of a running pod: the app container stops before the sidecar.
	if _, err := cs.Pods("default").Create(ctx, sidecarNginxPod("web2", RestartAlways)); err != nil {
		t.Fatal(err)
	}
	waitRunningReady(t, cs, "web2")
	before := len(fake.Calls())
	if _, err := cs.Pods("default").Delete(ctx, "web2", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "pod gone", func() (bool, string) {
		p := getPod(t, cs, "web2")
		return p == nil, fmt.Sprint(p.GetStatus())
	})
	stops := callsOf(fake.Calls()[before:], "StopContainer ")
	if len(stops) < 2 || stops[0] != "nginx" || stops[1] != "proxy" {
		t.Errorf("stop order on deletion %v, want nginx then proxy", stops)
	}
}
