package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/resource"
)

func testLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("KUBELAB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

var testHost = HostInfo{CPUMilli: 4000, MemoryBytes: 8 << 30, KernelVersion: "6.1.0-test", OSImage: "Debian GNU/Linux 12 (bookworm)",
	OperatingSystem: "linux", Architecture: "amd64", Hostname: "node-1"}

// startKubelet runs a kubelet for node on the fake runtime until the returned stop is
// called (or the test ends).
func startKubelet(t *testing.T, cs *kube.Clientset, fake *krt.Fake, node string) (stop func()) {
	t.Helper()
	return startKubeletAt(t, cs, fake, node, "")
}

// startKubeletAt is startKubelet with root as the kubelet's root directory (empty: the
// default).
func startKubeletAt(t *testing.T, cs *kube.Clientset, fake *krt.Fake, node, root string) (stop func()) {
	t.Helper()
	_, stop = runTestKubelet(t, cs, fake, node, root)
	return stop
}

// runTestKubelet is startKubeletAt that also returns the kubelet, for tests of its API,
// on any runtime (the fake, or a test's wrapper of it).
func runTestKubelet(t *testing.T, cs *kube.Clientset, rt krt.Runtime, node, root string) (k *Kubelet, stop func()) {
	t.Helper()
	k, err := New(Config{
		NodeName: node, Client: cs, Runtime: rt, Log: testLog(), Host: &testHost, NodeIP: "192.168.1.10", RootDir: root,
		RegisterNode: true, Reserved: resource.List{"cpu": resource.MustParse("100m")},
		PodLogDir: t.TempDir(), ResolvConf: "/nonexistent",
		ResyncInterval: time.Second, LeaseRenewInterval: 300 * time.Millisecond, NodeStatusUpdateFrequency: 500 * time.Millisecond,
		RelistPeriod: 200 * time.Millisecond, HousekeepingInterval: 300 * time.Millisecond,
		CrashBackoffInitial: 500 * time.Millisecond, CrashBackoffMax: 2 * time.Second,
		ImageBackoffInitial: 500 * time.Millisecond, ImageBackoffMax: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := k.Run(ctx); err != nil {
			t.Errorf("kubelet: %v", err)
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return k, stop
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := f()
		if ok {
			return
		}
		last = msg
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func nginxPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: proto.Int64(5),
			Containers: []*corev1.Container{{
				Name: "nginx", Image: "nginx:1.14.2",
				Ports: []*corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}},
				Env:   []*corev1.EnvVar{{Name: "MY_POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
				Resources: &corev1.ResourceRequirements{
					Requests: map[string]*metav1.Quantity{"cpu": {String_: "100m"}, "memory": {String_: "64Mi"}},
				},
			}},
		},
	}
}

func getPod(t *testing.T, cs *kube.Clientset, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.Pods("default").Get(context.Background(), name)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return p
}

func condition(p *corev1.Pod, typ string) string {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == typ {
			return c.GetStatus()
		}
	}
	return ""
}

func TestIntegrationNodeAndLease(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	startKubelet(t, cs, krt.NewFake(), "node-1")
	ctx := context.Background()

	eventually(t, 10*time.Second, "node Ready", func() (bool, string) {
		n, err := cs.Nodes().Get(ctx, "node-1")
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.GetStatus().GetConditions() {
			if c.GetType() == "Ready" {
				return c.GetStatus() == "True", c.GetMessage()
			}
		}
		return false, "no Ready condition"
	})
	n, _ := cs.Nodes().Get(ctx, "node-1")
	if got := n.GetMetadata().GetLabels()["kubernetes.io/hostname"]; got != "node-1" {
		t.Errorf("hostname label %q", got)
	}
	if got := n.GetStatus().GetCapacity()["pods"].GetString_(); got != "110" {
		t.Errorf("capacity pods %q", got)
	}
	if got := n.GetStatus().GetAllocatable()["cpu"].GetString_(); got != "3900m" {
		t.Errorf("allocatable cpu %q, want 3900m", got)
	}
	if got := n.GetStatus().GetNodeInfo().GetKubeletVersion(); got != KubeletVersion {
		t.Errorf("kubeletVersion %q", got)
	}
	if got := n.GetStatus().GetNodeInfo().GetContainerRuntimeVersion(); got != "fake://1.0.0" {
		t.Errorf("containerRuntimeVersion %q", got)
	}

	var first *metav1.MicroTime
	eventually(t, 10*time.Second, "lease renewed", func() (bool, string) {
		l, err := cs.Leases(NodeLeaseNamespace).Get(ctx, "node-1")
		if err != nil {
			return false, err.Error()
		}
		if l.GetSpec().GetHolderIdentity() != "node-1" || l.GetSpec().GetLeaseDurationSeconds() != 40 {
			return false, fmt.Sprintf("lease spec %v", l.GetSpec())
		}
		if first == nil {
			first = l.GetSpec().GetRenewTime()
			return false, "first sighting"
		}
		rt := l.GetSpec().GetRenewTime()
		return rt.GetSeconds() > first.GetSeconds() || rt.GetNanos() != first.GetNanos(), "not renewed yet"
	})
}

func waitRunningReady(t *testing.T, cs *kube.Clientset, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 15*time.Second, "pod "+name+" Running and Ready", func() (bool, string) {
		pod = getPod(t, cs, name)
		return pod.GetStatus().GetPhase() == PodRunning && condition(pod, CondReady) == "True" && pod.GetStatus().GetPodIP() != "",
			fmt.Sprintf("%v", pod.GetStatus())
	})
	return pod
}

func TestIntegrationPodLifecycle(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	stop := startKubelet(t, cs, fake, "node-1")
	ctx := context.Background()

	if _, err := cs.Pods("default").Create(ctx, nginxPod("web", "node-1")); err != nil {
		t.Fatal(err)
	}
	pod := waitRunningReady(t, cs, "web")
	cs0 := pod.GetStatus().GetContainerStatuses()[0]
	if cs0.GetState().GetRunning() == nil || !cs0.GetReady() || cs0.GetContainerID() == "" || cs0.GetImageID() == "" || !cs0.GetStarted() {
		t.Errorf("container status %v", cs0)
	}
	if pod.GetStatus().GetHostIP() != "192.168.1.10" || pod.GetStatus().GetStartTime() == nil {
		t.Errorf("hostIP %q startTime %v", pod.GetStatus().GetHostIP(), pod.GetStatus().GetStartTime())
	}
	if n := fake.CountCalls("RunPodSandbox"); n != 1 {
		t.Errorf("RunPodSandbox called %d times", n)
	}
	// The container got the pod IP through the downward API.
	ids := fake.RunningContainers("nginx")
	if len(ids) != 1 {
		t.Fatalf("running nginx containers: %v", ids)
	}
	st, _ := fake.ContainerStatus(ctx, ids[0])
	_ = st
	eventually(t, 5*time.Second, "Pulled event", func() (bool, string) {
		evs, err := cs.Events("default").List(ctx, transport.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var reasons []string
		for _, e := range evs.GetItems() {
			reasons = append(reasons, e.GetReason()+": "+e.GetMessage())
			if e.GetReason() == "Pulled" {
				return true, ""
			}
		}
		return false, fmt.Sprint(reasons)
	})

	// Restart: a new kubelet adopts the running pod and duplicates nothing.
	stop()
	startKubelet(t, cs, fake, "node-1")
	time.Sleep(2 * time.Second)
	if ids := fake.RunningContainers(""); len(ids) != 1 {
		t.Fatalf("after restart: running containers %v, want 1", ids)
	}
	if n := fake.CountCalls("RunPodSandbox"); n != 1 {
		t.Errorf("after restart: RunPodSandbox called %d times", n)
	}
	waitRunningReady(t, cs, "web")

	// A container killed behind the kubelet's back is restarted with restartCount 1.
	if err := fake.Exit(fake.RunningContainers("nginx")[0], 137); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "restartCount 1", func() (bool, string) {
		p := getPod(t, cs, "web")
		s := p.GetStatus().GetContainerStatuses()
		return len(s) == 1 && s[0].GetRestartCount() == 1 && s[0].GetState().GetRunning() != nil && s[0].GetLastState().GetTerminated().GetExitCode() == 137,
			fmt.Sprint(s)
	})

	// Graceful deletion runs through to the pod object being gone.
	if _, err := cs.Pods("default").Delete(ctx, "web", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "pod gone", func() (bool, string) {
		p := getPod(t, cs, "web")
		return p == nil, fmt.Sprint(p.GetMetadata().GetDeletionTimestamp())
	})
	eventually(t, 5*time.Second, "runtime empty", func() (bool, string) {
		s, c := fake.Counts()
		return s == 0 && c == 0, fmt.Sprintf("%d sandboxes, %d containers", s, c)
	})
}

func TestIntegrationCrashLoopBackOff(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	fake.ExitOnStart = func(cfg *runtimeapi.ContainerConfig) (bool, int32) {
		return cfg.GetMetadata().GetName() == "crash", 1
	}
	startKubelet(t, cs, fake, "node-1")
	ctx := context.Background()
	pod := nginxPod("crasher", "node-1")
	pod.Spec.Containers[0].Name = "crash"
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "CrashLoopBackOff", func() (bool, string) {
		p := getPod(t, cs, "crasher")
		s := p.GetStatus().GetContainerStatuses()
		return len(s) == 1 && s[0].GetState().GetWaiting().GetReason() == "CrashLoopBackOff" && s[0].GetRestartCount() >= 2 &&
				s[0].GetLastState().GetTerminated().GetExitCode() == 1 && p.GetStatus().GetPhase() == PodRunning && condition(p, CondReady) == "False",
			fmt.Sprint(p.GetStatus())
	})
}

func TestIntegrationImagePullBackOffAndRejection(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	fake.SetImageMissing("nginx:does-not-exist")
	startKubelet(t, cs, fake, "node-1")
	ctx := context.Background()
	pod := nginxPod("badimage", "node-1")
	pod.Spec.Containers[0].Image = "nginx:does-not-exist"
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	eventually(t, 15*time.Second, "ErrImagePull then ImagePullBackOff", func() (bool, string) {
		p := getPod(t, cs, "badimage")
		s := p.GetStatus().GetContainerStatuses()
		if len(s) == 1 {
			seen[s[0].GetState().GetWaiting().GetReason()] = true
		}
		return seen["ImagePullBackOff"] && (seen["ErrImagePull"] || fake.CountCalls("PullImage nginx:does-not-exist") >= 2), fmt.Sprint(seen)
	})

	big := nginxPod("toobig", "node-1")
	big.Spec.Containers[0].Resources.Requests["cpu"] = &metav1.Quantity{String_: "8"}
	if _, err := cs.Pods("default").Create(ctx, big); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "OutOfcpu", func() (bool, string) {
		p := getPod(t, cs, "toobig")
		return p.GetStatus().GetPhase() == PodFailed && p.GetStatus().GetReason() == "OutOfcpu", fmt.Sprint(p.GetStatus())
	})
	p := getPod(t, cs, "toobig")
	if want := "Pod was rejected: Node didn't have enough resource: cpu, requested: 8000, used: 100, capacity: 3900"; p.GetStatus().GetMessage() != want {
		t.Errorf("message %q\nwant    %q", p.GetStatus().GetMessage(), want)
	}
}
