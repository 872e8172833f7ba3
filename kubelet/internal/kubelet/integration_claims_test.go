package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/transport"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// A pod naming a claim waits, ContainerCreating with a FailedMount event, until the claim
// is bound; then its container mounts the PV's hostPath. The kubelet reads the claim and
// PV with its node's credentials, as in a cluster.
func TestIntegrationClaimVolume(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx := context.Background()
	nodeCS := nodeClientset(t, srv, "node-1")
	fake := krt.NewFake()
	startKubeletAt(t, nodeCS, fake, "node-1", t.TempDir())

	storage := map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}
	claim, err := cs.PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: "www-web-0"},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, StorageClassName: ptrTo(""),
			Resources: &corev1.VolumeResourceRequirements{Requests: storage}}})
	if err != nil {
		t.Fatal(err)
	}
	pod := nginxPod("web-0", "node-1")
	pod.Spec.Volumes = []*corev1.Volume{{Name: "www", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "www-web-0", ReadOnly: true}}}
	pod.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}}
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	want := `Unable to attach or mount volumes: unmounted volumes=[www], unattached volumes=[], failed to process volumes=[www]: error processing PVC default/www-web-0: PVC is not bound`
	eventually(t, 10*time.Second, "FailedMount for the unbound claim", func() (bool, string) {
		evs, err := cs.Events("default").List(ctx, transport.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, e := range evs.GetItems() {
			got = append(got, e.GetReason()+": "+e.GetMessage())
			if e.GetReason() == "FailedMount" && e.GetMessage() == want {
				p := getPod(t, cs, "web-0")
				reason := ""
				for _, s := range p.GetStatus().GetContainerStatuses() {
					reason = s.GetState().GetWaiting().GetReason()
				}
				return reason == "ContainerCreating", "waiting: " + reason
			}
		}
		return false, fmt.Sprint(got)
	})
	if ids := fake.RunningContainers("nginx"); len(ids) != 0 {
		t.Fatalf("containers started before the claim was bound: %v", ids)
	}

	// Play the provisioner and the binder: a hostPath PV, then both sides bound.
	dir := filepath.Join(t.TempDir(), "pvc-"+claim.GetMetadata().GetUid()+"_default_www-web-0")
	if _, err := cs.PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: "pv-web-0"},
		Spec: &corev1.PersistentVolumeSpec{Capacity: storage, AccessModes: []string{"ReadWriteOnce"},
			HostPath:                      &corev1.HostPathVolumeSource{Path: dir, Type: ptrTo("DirectoryOrCreate")},
			PersistentVolumeReclaimPolicy: "Delete",
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1", Namespace: "default", Name: "www-web-0",
				Uid: claim.GetMetadata().GetUid()}}}); err != nil {
		t.Fatal(err)
	}
	claim, err = cs.PersistentVolumeClaims("default").Get(ctx, "www-web-0")
	if err != nil {
		t.Fatal(err)
	}
	claim.Spec.VolumeName = "pv-web-0"
	if claim, err = cs.PersistentVolumeClaims("default").Update(ctx, claim); err != nil {
		t.Fatal(err)
	}
	claim.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{"ReadWriteOnce"}, Capacity: storage}
	if _, err := cs.PersistentVolumeClaims("default").UpdateStatus(ctx, claim); err != nil {
		t.Fatal(err)
	}

	waitRunningReady(t, cs, "web-0")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("DirectoryOrCreate did not make %s: %v", dir, err)
	}
	ids := fake.RunningContainers("nginx")
	if len(ids) != 1 {
		t.Fatalf("running nginx containers: %v", ids)
	}
	st, _ := fake.ContainerStatus(ctx, ids[0])
	var mounts []string
	for _, m := range st.GetMounts() {
		mounts = append(mounts, fmt.Sprintf("%s=%s:%v", m.GetContainerPath(), m.GetHostPath(), m.GetReadonly()))
	}
	if want := "/usr/share/nginx/html=" + dir + ":true"; !strings.Contains(strings.Join(mounts, " "), want) {
		t.Errorf("mounts %v, want %s (read-only, as the pod's volume says)", mounts, want)
	}
}
