package protection

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/controllertest"
	"kubelab.io/controller-manager/internal/namespace"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// start runs both protection controllers as the controller-manager's RBAC identity (and,
// if withNamespaces, the namespace controller on an admin REST client: finalize is
// REST-only) against a real apiserver with the StorageObjectInUseProtection admission
// plugin on, and returns an admin client.
func start(t *testing.T, withNamespaces bool) (context.Context, *kube.Clientset) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	cs := controllertest.ControllerManagerClient(t, srv, "protection")
	ctx, cancel := context.WithTimeout(context.Background(), controllertest.Wait)
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	cc := &controllerctx.Context{Client: cs, Informers: factory, Log: log, Options: controllerctx.DefaultOptions()}
	pvc, err := NewPVC(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := NewPV(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	runs := []interface{ Run(context.Context, int) }{pvc, pv}
	if withNamespaces {
		admin := srv.Clientset(false)
		nsFactory := informers.NewSharedInformerFactory(admin.Transport(), 0, informers.WithLogger(log))
		ns, err := namespace.New(ctx, &controllerctx.Context{Client: admin, Informers: nsFactory, Log: log, Options: controllerctx.DefaultOptions()})
		if err != nil {
			t.Fatal(err)
		}
		nsFactory.Start(ctx)
		t.Cleanup(nsFactory.Shutdown)
		runs = append(runs, ns)
	}
	factory.Start(ctx)
	done := make(chan struct{}, len(runs))
	for _, r := range runs {
		go func() { r.Run(ctx, 1); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			<-done
		}
		factory.Shutdown()
	})
	return ctx, srv.Clientset(true)
}

func newClaim(name string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, StorageClassName: proto.String(""),
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
	}
}

func newPod(name, node, claim string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name}, Spec: &corev1.PodSpec{
		NodeName:   node,
		Containers: []*corev1.Container{{Name: "web", Image: "nginx", VolumeMounts: []*corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []*corev1.Volume{{Name: "data",
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}},
	}}
}

func gone[T any](t *testing.T, what string, get func() (T, error)) {
	t.Helper()
	controllertest.Eventually(t, what+" gone", func() (bool, string) {
		obj, err := get()
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("%v %v", obj, err)
	})
}

// TestDeletedClaimWaitsForItsPod: a deleted claim a running pod uses stays Terminating;
// once the pod finished (Succeeded) the finalizer goes and so does the claim. A claim only
// an unscheduled pod names goes at once.
func TestDeletedClaimWaitsForItsPod(t *testing.T) {
	ctx, admin := start(t, false)
	claims := admin.PersistentVolumeClaims("default")
	for _, name := range []string{"used", "unscheduled"} {
		if _, err := claims.Create(ctx, newClaim(name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Pods("default").Create(ctx, newPod("web", "node-1", "used")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Pods("default").Create(ctx, newPod("pending", "", "unscheduled")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"used", "unscheduled"} {
		if _, err := claims.Delete(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	gone(t, "claim named by an unscheduled pod", func() (*corev1.PersistentVolumeClaim, error) { return claims.Get(ctx, "unscheduled") })
	// The controller has acted on the other claim too (one worker, queued first); it
	// must still be there, held by its finalizer.
	used, err := claims.Get(ctx, "used")
	if err != nil || !slices.Contains(used.GetMetadata().GetFinalizers(), corev1.PVCProtectionFinalizer) {
		t.Fatalf("used claim = %v, %v; want it Terminating with %s", used.GetMetadata(), err, corev1.PVCProtectionFinalizer)
	}

	// The kubelet reports the pod finished.
	pod, err := admin.Pods("default").Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = &corev1.PodStatus{Phase: controller.PodSucceeded}
	if _, err := admin.Pods("default").UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	gone(t, "claim of a finished pod", func() (*corev1.PersistentVolumeClaim, error) { return claims.Get(ctx, "used") })
}

// TestLiveClaimGetsFinalizer: a claim made without the finalizer (as by an apiserver with
// the admission plugin off) gets it, as upstream's controller adds it.
func TestLiveClaimGetsFinalizer(t *testing.T) {
	ctx, admin := start(t, false)
	c, err := admin.PersistentVolumeClaims("default").Create(ctx, newClaim("data"))
	if err != nil {
		t.Fatal(err)
	}
	// Take the admission plugin's finalizer off; the controller puts it back.
	c.Metadata.Finalizers = nil
	if _, err := admin.PersistentVolumeClaims("default").Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "finalizer back", func() (bool, string) {
		c, err := admin.PersistentVolumeClaims("default").Get(ctx, "data")
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(c.GetMetadata().GetFinalizers(), corev1.PVCProtectionFinalizer), fmt.Sprint(c.GetMetadata().GetFinalizers())
	})
}

// TestDeletedVolumeWaitsUntilNotBound: a deleted Bound volume stays; Released, it goes.
func TestDeletedVolumeWaitsUntilNotBound(t *testing.T) {
	ctx, admin := start(t, false)
	pvs := admin.PersistentVolumes()
	pv, err := pvs.Create(ctx, &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "vol"}, Spec: &corev1.PersistentVolumeSpec{
		Capacity:    map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}},
		AccessModes: []string{corev1.ReadWriteOnce}, HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/vol"},
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
	}})
	if err != nil {
		t.Fatal(err)
	}
	pv.Status = &corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}
	if _, err := pvs.UpdateStatus(ctx, pv); err != nil {
		t.Fatal(err)
	}
	if _, err := pvs.Delete(ctx, "vol", nil); err != nil {
		t.Fatal(err)
	}
	// Another volume, deleted while Available, goes; by then the Bound one was seen.
	if _, err := pvs.Create(ctx, &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "free"}, Spec: pv.GetSpec()}); err != nil {
		t.Fatal(err)
	}
	if _, err := pvs.Delete(ctx, "free", nil); err != nil {
		t.Fatal(err)
	}
	gone(t, "pending volume", func() (*corev1.PersistentVolume, error) { return pvs.Get(ctx, "free") })
	pv, err = pvs.Get(ctx, "vol")
	if err != nil || !slices.Contains(pv.GetMetadata().GetFinalizers(), corev1.PVProtectionFinalizer) {
		t.Fatalf("bound volume = %v, %v; want it Terminating with %s", pv.GetMetadata(), err, corev1.PVProtectionFinalizer)
	}
	pv.Status.Phase = corev1.VolumeReleased
	if _, err := pvs.UpdateStatus(ctx, pv); err != nil {
		t.Fatal(err)
	}
	gone(t, "released volume", func() (*corev1.PersistentVolume, error) { return pvs.Get(ctx, "vol") })
}

// TestNamespaceWithClaimsIsDeleted: the namespace controller deletes a namespace's claims,
// and pvc-protection lets them go, so the namespace goes too (it hung Terminating before).
func TestNamespaceWithClaimsIsDeleted(t *testing.T) {
	ctx, admin := start(t, true)
	if _, err := admin.Namespaces().Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := admin.PersistentVolumeClaims("team").Create(ctx, newClaim(name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Namespaces().Delete(ctx, "team", nil); err != nil {
		t.Fatal(err)
	}
	gone(t, "namespace", func() (*corev1.Namespace, error) { return admin.Namespaces().Get(ctx, "team") })
}
