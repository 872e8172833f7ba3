package kubelet_test

// Volumes on the real containerd: a hostPath nginx serves from, an emptyDir the kubelet
// makes and removes, a hostPath whose type check fails until the path appears, and a pod
// directory left by a dead kubelet that housekeeping removes, a bound claim's hostPath PV. ConfigMap and Secret volumes
// are in e2e_objects_test.go.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// httpBody GETs url and returns the body ("" and the error when it fails).
func httpBody(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// containersOf lists the runtime's containers of the pod with uid.
func (e *e2eEnv) containersOf(uid string) []*runtimeapi.Container {
	e.t.Helper()
	ctrs, err := e.rt.ListContainers(e.ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{krt.LabelPodUID: uid}})
	if err != nil {
		e.t.Fatal(err)
	}
	return ctrs
}

func waitingReason(p *corev1.Pod, name string) (reason, message string) {
	for _, cs := range append(p.GetStatus().GetInitContainerStatuses(), p.GetStatus().GetContainerStatuses()...) {
		if cs.GetName() == name {
			return cs.GetState().GetWaiting().GetReason(), cs.GetState().GetWaiting().GetMessage()
		}
	}
	return "", ""
}

func TestE2EVolumesOnContainerd(t *testing.T) {
	e := startE2E(t, "kubelab-e2e-vol", 4*time.Minute, nil)
	root := e.cfg.RootDir

	t.Run("hostPath and emptyDir are mounted, and the pod's directory goes with the pod", func(t *testing.T) {
		le := e.sub(t)
		html := filepath.Join(t.TempDir(), "html")
		p := le.nginx("mounts", func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{
				{Name: "html", HostPath: &corev1.HostPathVolumeSource{Path: html, Type: ptr("DirectoryOrCreate")}},
				{Name: "cache", EmptyDir: &corev1.EmptyDirVolumeSource{}},
			}
			p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{
				{Name: "html", MountPath: "/usr/share/nginx/html", ReadOnly: true},
				{Name: "cache", MountPath: "/var/cache/nginx"},
			}
		})
		uid := p.GetMetadata().GetUid()
		p = le.waitRunningReady("mounts", 60*time.Second)
		// DirectoryOrCreate made it before the container started; fill it now.
		if err := os.WriteFile(filepath.Join(html, "index.html"), []byte("served from a hostPath\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wait(t, 20*time.Second, "nginx serves the hostPath's file", func() (bool, string) {
			body, err := httpBody("http://" + p.GetStatus().GetPodIP() + "/")
			return err == nil && body == "served from a hostPath\n", fmt.Sprint(body, err)
		})
		emptyDir := filepath.Join(root, "pods", uid, "volumes", "kubernetes.io~empty-dir", "cache")
		if fi, err := os.Stat(emptyDir); err != nil || !fi.IsDir() {
			t.Fatalf("emptyDir %s: %v", emptyDir, err)
		}
		le.deleteAndWait(30*time.Second, "mounts")
		if _, err := os.Stat(filepath.Join(root, "pods", uid)); !os.IsNotExist(err) {
			t.Errorf("pod directory still there after deletion: %v", err)
		}
		if _, err := os.Stat(filepath.Join(html, "index.html")); err != nil {
			t.Errorf("hostPath content gone: %v", err)
		}
	})

	t.Run("a failing hostPath type check is FailedMount, retried until the path is there", func(t *testing.T) {
		le := e.sub(t)
		dir := filepath.Join(t.TempDir(), "later")
		p := le.nginx("hostpath-wait", func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{{Name: "later", HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr("Directory")}}}
			p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "later", MountPath: "/mnt/later"}}
		})
		wait(t, 30*time.Second, "FailedMount event, ContainerCreating", func() (bool, string) {
			got := le.pod("hostpath-wait")
			reason, _ := waitingReason(got, "nginx")
			want := fmt.Sprintf(`FailedMount: MountVolume.SetUp failed for volume "later" : hostPath type check failed: %s is not a directory`, dir)
			return reason == "ContainerCreating" && got.GetStatus().GetPhase() == "Pending" && hasEvent(le.events("hostpath-wait"), want),
				fmt.Sprint(reason, le.events("hostpath-wait"))
		})
		if n := len(le.containersOf(p.GetMetadata().GetUid())); n != 0 {
			t.Fatalf("%d containers created before the volume was mounted", n)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		le.waitRunningReady("hostpath-wait", 60*time.Second)
		le.deleteAndWait(30*time.Second, "hostpath-wait")
	})

	t.Run("a bound claim's hostPath PV is mounted, and nginx serves its files", func(t *testing.T) {
		le := e.sub(t)
		dir := filepath.Join(t.TempDir(), "pv")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("served from a claim\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		le.boundHostPathClaim("www-web-0", "pv-web-0", dir)
		le.nginx("claim", func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{{Name: "www", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "www-web-0", ReadOnly: true}}}
			p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}}
		})
		p := le.waitRunningReady("claim", 60*time.Second)
		wait(t, 20*time.Second, "nginx serves the PV's file", func() (bool, string) {
			body, err := httpBody("http://" + p.GetStatus().GetPodIP() + "/")
			return err == nil && body == "served from a claim\n", fmt.Sprint(body, err)
		})
		le.deleteAndWait(30*time.Second, "claim")
		if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
			t.Errorf("the PV's content gone with the pod: %v", err)
		}
	})

	t.Run("housekeeping removes the directory of a pod that is gone", func(t *testing.T) {
		dir := filepath.Join(root, "pods", "00000000-dead-kube-let0-000000000000", "volumes", "kubernetes.io~empty-dir", "data")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		wait(t, 30*time.Second, "orphaned pod directory removed", func() (bool, string) {
			_, err := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(dir))))
			return os.IsNotExist(err), fmt.Sprint(err)
		})
	})
}

// boundHostPathClaim creates claim bound to a hostPath PV at dir, as the provisioner and
// the binder leave them.
func (e *e2eEnv) boundHostPathClaim(claim, pv, dir string) {
	e.t.Helper()
	storage := map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}
	c, err := e.cs.PersistentVolumeClaims("default").Create(e.ctx, &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: claim},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, StorageClassName: ptr(""), VolumeName: pv,
			Resources: &corev1.VolumeResourceRequirements{Requests: storage}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cs.PersistentVolumes().Create(e.ctx, &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: pv},
		Spec: &corev1.PersistentVolumeSpec{Capacity: storage, AccessModes: []string{"ReadWriteOnce"},
			HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr("Directory")},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1", Namespace: "default", Name: claim, Uid: c.GetMetadata().GetUid()}}}); err != nil {
		e.t.Fatal(err)
	}
	c.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{"ReadWriteOnce"}, Capacity: storage}
	if _, err := e.cs.PersistentVolumeClaims("default").UpdateStatus(e.ctx, c); err != nil {
		e.t.Fatal(err)
	}
}
