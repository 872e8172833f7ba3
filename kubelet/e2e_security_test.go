package kubelet_test

// The pod security context on the real containerd: an fsGroup pod's emptyDir is the
// group's (setgid), so what a non-root container writes there is too; runAsNonRoot is
// verified against the user containerd reports for the image (nginx sets none: root).

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
)

func TestE2EPodSecurityOnContainerd(t *testing.T) {
	e := startE2E(t, "kubelab-e2e-sec", 4*time.Minute, nil)

	t.Run("an fsGroup pod's emptyDir keeps what a non-root container writes the group's", func(t *testing.T) {
		le := e.sub(t)
		p := le.writerPod("fsgroup", nil, "written by uid 1000", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FsGroup: proto.Int64(2000)}
			p.Spec.InitContainers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: proto.Int64(1000)}
		})
		le.waitServes("fsgroup", "written by uid 1000\n")
		file := filepath.Join(e.cfg.RootDir, "pods", p.GetMetadata().GetUid(), "volumes", "kubernetes.io~empty-dir", "html", "index.html")
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 2000 {
			t.Errorf("%s is %d:%d, want 1000:2000", file, st.Uid, st.Gid)
		}
		le.deleteAndWait(30*time.Second, "fsgroup")
	})

	t.Run("runAsNonRoot refuses an image that runs as root", func(t *testing.T) {
		le := e.sub(t)
		p := le.nginx("nonroot", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: proto.Bool(true)}
		})
		want := fmt.Sprintf(`container has runAsNonRoot and image will run as root (pod: "nonroot_default(%s)", container: nginx)`, p.GetMetadata().GetUid())
		wait(t, 60*time.Second, "CreateContainerConfigError", func() (bool, string) {
			reason, msg := waitingReason(le.pod("nonroot"), "nginx")
			return reason == "CreateContainerConfigError" && msg == want, reason + ": " + msg
		})
		if n := len(le.runtimeIDs(p.GetMetadata().GetUid(), "nginx")); n != 0 {
			t.Errorf("%d nginx containers created, want none", n)
		}
		le.deleteAndWait(30*time.Second, "nonroot")
	})
}
