package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/transport"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
)

// runAsNonRoot is checked against the image's user before a container is created: a root
// image leaves the container waiting with CreateContainerConfigError and upstream's
// message, retried, while an image with a numeric non-root user runs. An fsGroup pod's
// emptyDir belongs to the group, setgid.
func TestIntegrationPodSecurityContext(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a volume to the fsGroup needs root")
	}
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	fake.SetImageUser("app:uid101", "101")
	root := t.TempDir()
	startKubeletAt(t, cs, fake, "node-1", root)
	ctx := context.Background()

	nonRoot := func(name, image string) *corev1.Pod {
		p := nginxPod(name, "node-1")
		p.Spec.Containers[0].Name, p.Spec.Containers[0].Image = "app", image
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: proto.Bool(true)}
		return p
	}
	for _, p := range []*corev1.Pod{nonRoot("rootimage", "nginx:1.14.2"), nonRoot("userimage", "app:uid101")} {
		if _, err := cs.Pods("default").Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitRunningReady(t, cs, "userimage")
	var want string
	eventually(t, 10*time.Second, "CreateContainerConfigError", func() (bool, string) {
		p := getPod(t, cs, "rootimage")
		want = fmt.Sprintf(`container has runAsNonRoot and image will run as root (pod: "rootimage_default(%s)", container: app)`, p.GetMetadata().GetUid())
		s := p.GetStatus().GetContainerStatuses()
		return len(s) == 1 && s[0].GetState().GetWaiting().GetReason() == "CreateContainerConfigError" &&
			s[0].GetState().GetWaiting().GetMessage() == want && p.GetStatus().GetPhase() == PodPending, fmt.Sprint(p.GetStatus())
	})
	eventually(t, 5*time.Second, "the Failed event", func() (bool, string) {
		evs, err := cs.Events("default").List(ctx, transport.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.GetItems() {
			if e.GetInvolvedObject().GetName() == "rootimage" {
				seen = append(seen, e.GetReason()+": "+e.GetMessage())
				if e.GetReason() == "Failed" && e.GetMessage() == "Error: "+want {
					return true, ""
				}
			}
		}
		return false, strings.Join(seen, "\n")
	})
	// Only the runnable one was created: the other is refused before CreateContainer.
	if n := fake.CountCalls("CreateContainer app"); n != 1 {
		t.Errorf("CreateContainer called %d times, want once (userimage only)", n)
	}

	pod := nginxPod("fsgroup", "node-1")
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FsGroup: proto.Int64(testFSGroup)}
	pod.Spec.Volumes = []*corev1.Volume{{Name: "data", EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	pod.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod = waitRunningReady(t, cs, "fsgroup")
	dir := filepath.Join(root, "pods", pod.GetMetadata().GetUid(), "volumes", "kubernetes.io~empty-dir", "data")
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != testFSGroup || fi.Mode() != os.ModeDir|os.ModeSetgid|0o777 {
		t.Errorf("emptyDir of the fsGroup pod: group %d, mode %v; want %d, dgrwxrwxrwx", gid, fi.Mode(), testFSGroup)
	}
}
