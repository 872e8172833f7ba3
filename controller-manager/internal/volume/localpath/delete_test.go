package localpath

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/controller-manager/internal/controllertest"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
)

// TestStaleReleasedVolumeIsNotWiped: the cache still holds a volume Released that the
// apiserver already has Bound again (an administrator cleared its claimRef and a new
// claim took it). No helper pod may be made from the stale copy: it would remove the
// new claim's data. As external-provisioner, the volume is read again before deleting.
func TestStaleReleasedVolumeIsNotWiped(t *testing.T) {
	fake := controllertest.NewTransport()
	inf := informers.NewSharedInformerFactory(fake, 0)
	c, err := NewController(Config{Client: kube.New(fake), Claims: inf.PersistentVolumeClaims(), Volumes: inf.PersistentVolumes(),
		Classes: inf.StorageClasses(), Pods: inf.Pods(), Nodes: inf.Nodes(), Recorder: &controllertest.Recorder{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := newVolume(&corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: "data", Namespace: "default", Uid: "u1"},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce},
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
	}, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "standard"}, Provisioner: ProvisionerName}, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	pv.Metadata.Uid = "pv-uid"
	pv.Status = &corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased}
	controllertest.Put(t, fake, inf, pv)
	live := volumeutil.CloneVolume(pv)
	live.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "other", Uid: "u2"}
	live.Status.Phase = corev1.VolumeBound
	fake.UpdateObject(live) // the apiserver only: the cache lags

	if err := c.sync(context.Background(), volumePrefix+pv.GetMetadata().GetName()); err != nil {
		t.Fatal(err)
	}
	if got := fake.TakeActions(); slices.ContainsFunc(got, func(a string) bool { return a == "create pods kube-system/" }) {
		t.Errorf("helper pod made for a volume Bound again: %v", got)
	}
}
