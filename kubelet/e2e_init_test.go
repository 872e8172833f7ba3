package kubelet_test

// Init containers on the real containerd: they run in order before the app container and
// share an emptyDir with it; a kubelet restart between two of them does not run the
// finished one again; one that fails fails a restartPolicy Never pod (no app container
// is ever created) and is restarted with back-off under Always. A sidecar runs beside the
// app and stops when the app completes.

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/kubelet/internal/kubelet"
	corev1 "kubelab.io/proto/api/core/v1"
)

// tool is the nginx image's kubelab-tool (the image has no shell).
const tool = "/usr/local/bin/kubelab-tool"

func initContainer(name string, cmd ...string) *corev1.Container {
	return &corev1.Container{Name: name, Image: "nginx:1.14.2", ImagePullPolicy: "IfNotPresent", Command: cmd}
}

// runtimeIDs lists the runtime ids of the pod's containers named name.
func (e *e2eEnv) runtimeIDs(uid, name string) []string {
	var ids []string
	for _, c := range e.containersOf(uid) {
		if c.GetMetadata().GetName() == name {
			ids = append(ids, c.GetId())
		}
	}
	return ids
}

func TestE2EInitContainersOnContainerd(t *testing.T) {
	e := startE2E(t, "kubelab-e2e-init", 5*time.Minute, func(c *kubelet.Config) {
		c.CrashBackoffInitial, c.CrashBackoffMax = time.Second, 4*time.Second
	})

	t.Run("init containers fill an emptyDir that nginx serves; a kubelet restart runs none twice", func(t *testing.T) {
		le := e.sub(t)
		p := le.nginx("init-web", func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{{Name: "html", EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			p.Spec.InitContainers = []*corev1.Container{
				initContainer("write", tool, "write", "/work/index.html", "written by the init container"),
				initContainer("wait", tool, "sleep", "4s"),
			}
			for _, c := range p.Spec.InitContainers {
				c.VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/work"}}
			}
			p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/usr/share/nginx/html", ReadOnly: true}}
		})
		uid := p.GetMetadata().GetUid()
		wait(t, 60*time.Second, "the first init container done, the second running: Init:1/2", func() (bool, string) {
			p = le.pod("init-web")
			s := p.GetStatus().GetInitContainerStatuses()
			return len(s) == 2 && s[0].GetState().GetTerminated().GetExitCode() == 0 && s[0].GetState().GetTerminated() != nil &&
					s[1].GetState().GetRunning() != nil && p.GetStatus().GetPhase() == "Pending" && podCondition(p, "Initialized") == "False" &&
					len(p.GetStatus().GetContainerStatuses()) == 1 && p.GetStatus().GetContainerStatuses()[0].GetState().GetWaiting().GetReason() == "PodInitializing",
				fmt.Sprint(p.GetStatus())
		})
		if n := len(le.runtimeIDs(uid, "nginx")); n != 0 {
			t.Fatalf("app container created while an init container runs (%d)", n)
		}
		first := le.runtimeIDs(uid, "write")
		e.stop() // the kubelet goes away between the two init containers
		e.startKubelet()
		p = le.waitRunningReady("init-web", 60*time.Second)
		wait(t, 20*time.Second, "nginx serves what the init container wrote", func() (bool, string) {
			body, err := httpBody("http://" + p.GetStatus().GetPodIP() + "/")
			return err == nil && body == "written by the init container\n", fmt.Sprint(body, err)
		})
		if again := le.runtimeIDs(uid, "write"); len(first) != 1 || fmt.Sprint(again) != fmt.Sprint(first) {
			t.Errorf("init container %q: runtime instances %v before the restart, %v after: it ran again", "write", first, again)
		}
		if n := len(le.runtimeIDs(uid, "wait")); n != 1 {
			t.Errorf("init container %q ran %d times", "wait", n)
		}
		s := p.GetStatus().GetInitContainerStatuses()
		if podCondition(p, "Initialized") != "True" || len(s) != 2 || s[0].GetState().GetTerminated().GetReason() != "Completed" ||
			s[1].GetState().GetTerminated().GetReason() != "Completed" ||
			s[1].GetState().GetTerminated().GetStartedAt().GetSeconds() < s[0].GetState().GetTerminated().GetFinishedAt().GetSeconds() {
			t.Errorf("init container statuses after start: %v", s)
		}
		le.deleteAndWait(30*time.Second, "init-web")
	})

	t.Run("a sidecar runs beside the app and is stopped when the app completes", func(t *testing.T) {
		le := e.sub(t)
		p := le.nginx("sidecar", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Never"
			side := initContainer("side", tool, "sleep", "1h")
			side.RestartPolicy = proto.String("Always")
			p.Spec.InitContainers = []*corev1.Container{side, initContainer("setup", tool, "exit", "0")}
			p.Spec.Containers[0].Command = []string{tool, "sleep", "6s"}
		})
		wait(t, 60*time.Second, "Running with the sidecar started and ready beside the app", func() (bool, string) {
			p = le.pod("sidecar")
			if len(p.GetStatus().GetInitContainerStatuses()) != 2 || len(p.GetStatus().GetContainerStatuses()) != 1 {
				return false, fmt.Sprint(p.GetStatus())
			}
			side := p.GetStatus().GetInitContainerStatuses()[0]
			return p.GetStatus().GetPhase() == "Running" && podCondition(p, "Initialized") == "True" && side.GetState().GetRunning() != nil &&
				side.GetStarted() && side.GetReady() && p.GetStatus().GetContainerStatuses()[0].GetState().GetRunning() != nil, fmt.Sprint(p.GetStatus())
		})
		wait(t, 60*time.Second, "Succeeded once the app exited, the sidecar stopped", func() (bool, string) {
			p = le.pod("sidecar")
			s := p.GetStatus().GetInitContainerStatuses()
			return p.GetStatus().GetPhase() == "Succeeded" && len(s) == 2 && s[0].GetState().GetTerminated() != nil && s[0].GetRestartCount() == 0 &&
				s[1].GetState().GetTerminated().GetReason() == "Completed", fmt.Sprint(p.GetStatus())
		})
		le.deleteAndWait(30*time.Second, "sidecar")
	})

	t.Run("a failing init container fails a restartPolicy Never pod; no app container", func(t *testing.T) {
		le := e.sub(t)
		p := le.nginx("init-fails", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Never"
			p.Spec.InitContainers = []*corev1.Container{initContainer("fail", tool, "exit", "1")}
		})
		wait(t, 60*time.Second, "phase Failed, init container exited 1", func() (bool, string) {
			p = le.pod("init-fails")
			s := p.GetStatus().GetInitContainerStatuses()
			return p.GetStatus().GetPhase() == "Failed" && len(s) == 1 && s[0].GetState().GetTerminated().GetExitCode() == 1 &&
				s[0].GetState().GetTerminated().GetReason() == "Error" && podCondition(p, "Initialized") == "False", fmt.Sprint(p.GetStatus())
		})
		uid := p.GetMetadata().GetUid()
		if ids := le.runtimeIDs(uid, "nginx"); len(ids) != 0 {
			t.Fatalf("app container created for a pod whose init container failed: %v", ids)
		}
		if ids := le.runtimeIDs(uid, "fail"); len(ids) != 1 {
			t.Errorf("init container instances %v, want exactly 1 (restartPolicy Never)", ids)
		}
		le.deleteAndWait(30*time.Second, "init-fails")
	})

	t.Run("a failing init container is restarted with back-off under Always", func(t *testing.T) {
		le := e.sub(t)
		p := le.nginx("init-crashloop", func(p *corev1.Pod) {
			p.Spec.InitContainers = []*corev1.Container{initContainer("fail", tool, "exit", "3")}
		})
		seen := map[string]bool{}
		wait(t, 60*time.Second, "restarted, in CrashLoopBackOff", func() (bool, string) {
			p = le.pod("init-crashloop")
			s := p.GetStatus().GetInitContainerStatuses()
			if len(s) == 1 {
				seen[s[0].GetState().GetWaiting().GetReason()] = true
			}
			return len(s) == 1 && s[0].GetRestartCount() >= 2 && seen["CrashLoopBackOff"] && p.GetStatus().GetPhase() == "Pending" &&
				hasEvent(le.events("init-crashloop"), "BackOff: Back-off restarting failed container fail"), fmt.Sprint(p.GetStatus(), seen)
		})
		if ids := le.runtimeIDs(p.GetMetadata().GetUid(), "nginx"); len(ids) != 0 {
			t.Fatalf("app container created while init keeps failing: %v", ids)
		}
		le.deleteAndWait(30*time.Second, "init-crashloop")
	})
}
