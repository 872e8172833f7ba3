package kubelet_test

// End-to-end lifecycle scenarios on the real containerd (issue 6's "done when"): a
// container killed behind the kubelet's back, liveness and readiness probes, a missing
// image, graceful deletion (preStop, SIGTERM), a kubelet restart that duplicates
// nothing, and nothing left in containerd once every pod is gone.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestE2ELifecycleOnContainerd(t *testing.T) {
	e := startE2E(t, "kubelab-e2e-life", 5*time.Minute, nil)
	var uids []string
	track := func(p *corev1.Pod) *corev1.Pod {
		uids = append(uids, p.GetMetadata().GetUid())
		return p
	}

	t.Run("kubelet restart adopts, duplicates nothing", func(t *testing.T) {
		le := e.sub(t)
		track(le.nginx("survivor", nil))
		before := le.waitRunningReady("survivor", 60*time.Second)
		id := containerIDOf(before)
		e.stop() // abrupt: the context ends mid-whatever (the SIGKILL e2e runs the binary)
		e.startKubelet()
		time.Sleep(3 * time.Second) // several relists and syncs
		after := le.waitRunningReady("survivor", 30*time.Second)
		sel := map[string]string{krt.LabelPodUID: before.GetMetadata().GetUid()}
		ctrs, err := e.rt.ListContainers(e.ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		sbs, err := e.rt.ListPodSandboxes(e.ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		if len(ctrs) != 1 || len(sbs) != 1 || ctrs[0].GetId() != id {
			t.Fatalf("after restart: %d containers (want 1, %s), %d sandboxes (want 1)", len(ctrs), id, len(sbs))
		}
		if cs := after.GetStatus().GetContainerStatuses()[0]; cs.GetRestartCount() != 0 || containerIDOf(after) != id {
			t.Errorf("after restart: status %v", cs)
		}
	})

	t.Run("container killed behind the kubelet's back restarts", func(t *testing.T) {
		le := e.sub(t)
		track(le.nginx("killed", nil))
		p := le.waitRunningReady("killed", 60*time.Second)
		id := containerIDOf(p)
		if err := e.rt.StopContainer(e.ctx, id, 0); err != nil { // CRI StopContainer, timeout 0: SIGKILL
			t.Fatal(err)
		}
		wait(t, 30*time.Second, "restartCount 1, running again", func() (bool, string) {
			p = le.pod("killed")
			s := p.GetStatus().GetContainerStatuses()
			return len(s) == 1 && s[0].GetRestartCount() == 1 && s[0].GetState().GetRunning() != nil && containerIDOf(p) != id &&
				s[0].GetLastState().GetTerminated().GetExitCode() == 137, fmt.Sprint(s)
		})
		le.waitRunningReady("killed", 30*time.Second)
	})

	t.Run("failing liveness probe restarts", func(t *testing.T) {
		le := e.sub(t)
		track(le.nginx("liveness", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
				HttpGet:             &corev1.HTTPGetAction{Path: "/no-such-page", Port: &metav1.IntOrString{IntVal: 80}},
				InitialDelaySeconds: 1, PeriodSeconds: 1, FailureThreshold: 2,
			}
		}))
		wait(t, 60*time.Second, "restarted by the liveness probe", func() (bool, string) {
			s := le.pod("liveness").GetStatus().GetContainerStatuses()
			return len(s) == 1 && s[0].GetRestartCount() >= 1, fmt.Sprint(s)
		})
		evs := le.events("liveness")
		if !hasEvent(evs, "Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 404") || !hasEvent(evs, "Killing: Container nginx failed liveness probe") {
			t.Errorf("events: %q", evs)
		}
	})

	t.Run("failing readiness probe makes the pod NotReady", func(t *testing.T) {
		le := e.sub(t)
		track(le.nginx("unready", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
				HttpGet: &corev1.HTTPGetAction{Path: "/no-such-page", Port: &metav1.IntOrString{IntVal: 80}}, PeriodSeconds: 1,
			}
		}))
		wait(t, 60*time.Second, "Running, probed, not Ready", func() (bool, string) {
			p := le.pod("unready")
			return p.GetStatus().GetPhase() == "Running" && podCondition(p, "Ready") == "False" && podCondition(p, "ContainersReady") == "False" &&
				hasEvent(le.events("unready"), "Unhealthy: Readiness probe failed"), fmt.Sprint(p.GetStatus())
		})
		time.Sleep(3 * time.Second)
		p := le.pod("unready")
		if podCondition(p, "Ready") != "False" || p.GetStatus().GetContainerStatuses()[0].GetReady() || p.GetStatus().GetContainerStatuses()[0].GetRestartCount() != 0 {
			t.Errorf("later: %v", p.GetStatus())
		}
	})

	t.Run("missing image goes ErrImagePull then ImagePullBackOff", func(t *testing.T) {
		le := e.sub(t)
		track(le.nginx("noimage", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:no-such-tag" }))
		seen := map[string]bool{}
		wait(t, 60*time.Second, "ImagePullBackOff with events", func() (bool, string) {
			s := le.pod("noimage").GetStatus().GetContainerStatuses()
			if len(s) == 1 {
				seen[s[0].GetState().GetWaiting().GetReason()] = true
			}
			evs := le.events("noimage")
			return seen["ImagePullBackOff"] && hasEvent(evs, `Failed: Failed to pull image "nginx:no-such-tag"`) &&
				hasEvent(evs, "Failed: Error: ErrImagePull") && hasEvent(evs, `BackOff: Back-off pulling image "nginx:no-such-tag"`) &&
				hasEvent(evs, "Failed: Error: ImagePullBackOff"), fmt.Sprint(seen, evs)
		})
		if p := le.pod("noimage"); p.GetStatus().GetPhase() != "Pending" {
			t.Errorf("phase %s", p.GetStatus().GetPhase())
		}
	})

	t.Run("delete runs preStop and stops nginx with SIGTERM", func(t *testing.T) {
		le := e.sub(t)
		var preStopAt atomic.Int64
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/prestop" {
				preStopAt.CompareAndSwap(0, time.Now().UnixNano())
			}
		}))
		defer hook.Close()
		_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(hook.URL, "http://"))
		port, _ := strconv.Atoi(portStr)
		p := track(le.nginx("graceful", func(p *corev1.Pod) {
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(20))
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				// httpGet hooks run in the kubelet, here in the test process.
				HttpGet: &corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/prestop", Port: &metav1.IntOrString{IntVal: int32(port)}},
			}}
		}))
		le.waitRunningReady("graceful", 60*time.Second)
		// nginx logs to stderr, that is the CRI log file. It runs as PID 1, which ignores
		// a SIGTERM that comes before it has set its handlers (as on any Kubernetes node):
		// the pod is Ready the moment the container starts, so wait for nginx's own
		// "start worker processes", logged once its handlers are in place.
		logFile := filepath.Join("/var/log/pods", "default_graceful_"+p.GetMetadata().GetUid(), "nginx", "0.log")
		wait(t, 30*time.Second, "nginx up (its handlers set)", func() (bool, string) {
			b, _ := os.ReadFile(logFile)
			return strings.Contains(string(b), "start worker processes"), lastLines(string(b), 2)
		})
		start := time.Now()
		le.deleteAndWait(30*time.Second, "graceful")
		took := time.Since(start)
		if preStopAt.Load() == 0 {
			t.Error("the preStop hook did not run")
		}
		if took > 15*time.Second {
			t.Errorf("deletion took %v: nginx did not stop on SIGTERM (grace 20 s)", took)
		}
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatalf("container log: %v", err)
		}
		if !strings.Contains(string(b), "signal 15 (SIGTERM) received") {
			t.Errorf("no SIGTERM in the container's log:\n%s", b)
		}
		_ = os.RemoveAll(filepath.Dir(filepath.Dir(logFile)))
		t.Logf("deleted in %v; nginx log: %s", took.Round(time.Millisecond), lastLines(string(b), 2))
	})

	t.Run("nothing left in containerd once all pods are gone", func(t *testing.T) {
		le := e.sub(t)
		le.deleteAndWait(60*time.Second, "survivor", "killed", "liveness", "unready", "noimage")
		for _, uid := range uids {
			sel := map[string]string{krt.LabelPodUID: uid}
			sbs, err := e.rt.ListPodSandboxes(e.ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
			if err != nil {
				t.Fatal(err)
			}
			ctrs, err := e.rt.ListContainers(e.ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
			if err != nil {
				t.Fatal(err)
			}
			if len(sbs)+len(ctrs) != 0 {
				t.Errorf("pod %s: %d sandboxes and %d containers left", uid, len(sbs), len(ctrs))
			}
		}
		sel := map[string]string{krt.LabelNodeName: e.node}
		sbs, _ := e.rt.ListPodSandboxes(e.ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
		ctrs, _ := e.rt.ListContainers(e.ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
		if len(sbs)+len(ctrs) != 0 {
			t.Errorf("node %s: %d sandboxes and %d containers left", e.node, len(sbs), len(ctrs))
		}
	})
}

func ptr[T any](v T) *T { return &v }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
