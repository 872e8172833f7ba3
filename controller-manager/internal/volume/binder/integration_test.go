package binder

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/controllertest"
	"kubelab.io/controller-manager/internal/volume/protection"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
)

// cluster is a real apiserver with the binder and both protection controllers running as
// the controller-manager's RBAC identity; events are kept for the test to read.
type cluster struct {
	t     *testing.T
	ctx   context.Context
	admin *kube.Clientset
	rec   *controllertest.Recorder
}

func startCluster(t *testing.T) *cluster {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	cs := controllertest.ControllerManagerClient(t, srv, "persistentvolume-binder")
	ctx, cancel := context.WithTimeout(context.Background(), controllertest.Wait)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(slog.New(slog.DiscardHandler)))
	rec := &controllertest.Recorder{}
	cc := &controllerctx.Context{Client: cs, Informers: factory, Log: log, Options: controllerctx.DefaultOptions()}
	b, err := NewController(Config{Client: cs, Volumes: factory.PersistentVolumes(), Claims: factory.PersistentVolumeClaims(),
		Classes: factory.StorageClasses(), Recorder: rec, Log: log, SyncPeriod: -1})
	if err != nil {
		t.Fatal(err)
	}
	pvc, err := protection.NewPVC(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := protection.NewPV(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	runs := []interface{ Run(context.Context, int) }{b, pvc, pv}
	done := make(chan struct{}, len(runs))
	for _, r := range runs {
		go func() { r.Run(ctx, 2); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			<-done
		}
		factory.Shutdown()
	})
	return &cluster{t: t, ctx: ctx, admin: srv.Clientset(true), rec: rec}
}

// event waits for an event of reason on object "namespace/name" ("/name" for volumes).
func (cl *cluster) event(object, reason string) controllertest.Event {
	cl.t.Helper()
	return cl.rec.WaitFor(cl.t, object, reason)
}

func (cl *cluster) createVolume(pv *corev1.PersistentVolume) {
	cl.t.Helper()
	if _, err := cl.admin.PersistentVolumes().Create(cl.ctx, pv); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *cluster) createClaim(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	cl.t.Helper()
	pvc.Metadata.Uid = ""
	got, err := cl.admin.PersistentVolumeClaims("default").Create(cl.ctx, pvc)
	if err != nil {
		cl.t.Fatal(err)
	}
	return got
}

func (cl *cluster) volumePhase(name, phase string) *corev1.PersistentVolume {
	cl.t.Helper()
	var pv *corev1.PersistentVolume
	controllertest.Eventually(cl.t, "volume "+name+" "+phase, func() (bool, string) {
		var err error
		pv, err = cl.admin.PersistentVolumes().Get(cl.ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return pv.GetStatus().GetPhase() == phase, pv.GetStatus().String()
	})
	return pv
}

func (cl *cluster) claimPhase(name, phase string) *corev1.PersistentVolumeClaim {
	cl.t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	controllertest.Eventually(cl.t, "claim "+name+" "+phase, func() (bool, string) {
		var err error
		pvc, err = cl.admin.PersistentVolumeClaims("default").Get(cl.ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return pvc.GetStatus().GetPhase() == phase, pvc.GetStatus().String()
	})
	return pvc
}

func (cl *cluster) deleteClaim(name string) {
	cl.t.Helper()
	if _, err := cl.admin.PersistentVolumeClaims("default").Delete(cl.ctx, name, nil); err != nil {
		cl.t.Fatal(err)
	}
	controllertest.Eventually(cl.t, "claim "+name+" gone", func() (bool, string) {
		_, err := cl.admin.PersistentVolumeClaims("default").Get(cl.ctx, name)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// TestStaticBinding: a claim of class "" binds to the smallest classless volume that
// holds it and offers its access modes, both sides written as upstream writes them; its
// deletion releases the volume, which Retain keeps.
func TestStaticBinding(t *testing.T) {
	cl := startCluster(t)
	rwo, rwx := corev1.ReadWriteOnce, corev1.ReadWriteMany
	for _, pv := range []*corev1.PersistentVolume{volume("small", "1Gi", "", rwo), volume("fits", "3Gi", "", rwo),
		volume("big", "10Gi", "", rwo), volume("classy", "2Gi", "fast", rwo), volume("shared", "5Gi", "", rwo, rwx)} {
		pv.Status = nil
		cl.createVolume(pv)
	}
	cl.volumePhase("small", corev1.VolumeAvailable)
	cl.createClaim(claim("data", "2Gi", proto.String(""), rwo))
	pvc := cl.claimPhase("data", corev1.ClaimBound)
	if got := pvc.GetSpec().GetVolumeName(); got != "fits" {
		t.Fatalf("claim bound to %q, want fits", got)
	}
	ann := pvc.GetMetadata().GetAnnotations()
	if ann[volumeutil.AnnBindCompleted] != "yes" || ann[volumeutil.AnnBoundByController] != "yes" {
		t.Errorf("claim annotations = %v", ann)
	}
	if got := pvc.GetStatus().GetCapacity()[corev1.ResourceStorage].GetString_(); got != "3Gi" {
		t.Errorf("claim capacity = %q, want the volume's 3Gi", got)
	}
	if !slices.Equal(pvc.GetStatus().GetAccessModes(), []string{rwo}) {
		t.Errorf("claim access modes = %v", pvc.GetStatus().GetAccessModes())
	}
	pv := cl.volumePhase("fits", corev1.VolumeBound)
	if ref := pv.GetSpec().GetClaimRef(); ref.GetUid() != pvc.GetMetadata().GetUid() || ref.GetName() != "data" || ref.GetKind() != "PersistentVolumeClaim" {
		t.Errorf("volume claimRef = %v", ref)
	}
	if pv.GetMetadata().GetAnnotations()[volumeutil.AnnBoundByController] != "yes" {
		t.Errorf("volume annotations = %v", pv.GetMetadata().GetAnnotations())
	}

	// A ReadWriteMany claim can only have the shared volume.
	cl.createClaim(claim("many", "1Gi", proto.String(""), rwx))
	if got := cl.claimPhase("many", corev1.ClaimBound).GetSpec().GetVolumeName(); got != "shared" {
		t.Errorf("rwx claim bound to %q, want shared", got)
	}
	// A claim nothing fits stays Pending, with upstream's event.
	cl.createClaim(claim("huge", "100Gi", proto.String(""), rwo))
	cl.event("default/huge", EventFailedBinding)
	cl.claimPhase("huge", corev1.ClaimPending)

	cl.deleteClaim("data")
	pv = cl.volumePhase("fits", corev1.VolumeReleased)
	if pv.GetSpec().GetClaimRef().GetName() != "data" {
		t.Errorf("released volume lost its claimRef: %v", pv.GetSpec().GetClaimRef())
	}
}

// TestPreboundBothWays: a claim naming its volume, and a volume whose claimRef names a
// claim, bind to exactly those.
func TestPreboundBothWays(t *testing.T) {
	cl := startCluster(t)
	rwo := corev1.ReadWriteOnce
	cl.createVolume(volume("small", "1Gi", "", rwo))
	named := volume("named", "5Gi", "", rwo)
	cl.createVolume(named)
	reserved := volume("reserved", "5Gi", "", rwo)
	reserved.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "wants-reserved"}
	cl.createVolume(reserved)

	c := claim("wants-named", "1Gi", proto.String(""), rwo)
	c.Spec.VolumeName = "named"
	cl.createClaim(c)
	cl.createClaim(claim("wants-reserved", "1Gi", proto.String(""), rwo))
	if got := cl.claimPhase("wants-named", corev1.ClaimBound); got.GetSpec().GetVolumeName() != "named" ||
		got.GetMetadata().GetAnnotations()[volumeutil.AnnBoundByController] != "" {
		t.Errorf("claim naming its volume = %v %v", got.GetSpec().GetVolumeName(), got.GetMetadata().GetAnnotations())
	}
	if got := cl.claimPhase("wants-reserved", corev1.ClaimBound).GetSpec().GetVolumeName(); got != "reserved" {
		t.Errorf("claim with a reserved volume bound to %q", got)
	}
	if pv := cl.volumePhase("reserved", corev1.VolumeBound); pv.GetMetadata().GetAnnotations()[volumeutil.AnnBoundByController] != "" {
		t.Errorf("user's pre-binding marked as the controller's: %v", pv.GetMetadata().GetAnnotations())
	}
	cl.volumePhase("small", corev1.VolumeAvailable)
}

// TestDeletePolicyWithoutDeleter: a released Delete volume no provisioner made fails, as
// upstream's does when no plugin can delete it.
func TestDeletePolicyWithoutDeleter(t *testing.T) {
	cl := startCluster(t)
	pv := volume("manual", "1Gi", "", corev1.ReadWriteOnce)
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	cl.createVolume(pv)
	cl.createClaim(claim("data", "1Gi", proto.String(""), corev1.ReadWriteOnce))
	cl.claimPhase("data", corev1.ClaimBound)
	cl.deleteClaim("data")
	got := cl.volumePhase("manual", corev1.VolumeFailed)
	if got.GetStatus().GetMessage() != "no deletable volume plugin matched" {
		t.Errorf("failed volume message = %q", got.GetStatus().GetMessage())
	}
	cl.event("/manual", EventVolumeFailedDelete)
}

// TestDynamicProvisioningRequest: a claim of an Immediate class is handed to the class's
// provisioner at once; one of a WaitForFirstConsumer class waits for the scheduler's
// selected-node. A volume the provisioner then makes, pre-bound to the claim, completes
// the binding; a claim deleted then releases it and leaves deleting it to the provisioner.
func TestDynamicProvisioningRequest(t *testing.T) {
	cl := startCluster(t)
	const provisioner = "kubelab.io/local-path"
	for name, mode := range map[string]string{"now": storagev1.VolumeBindingImmediate, "later": storagev1.VolumeBindingWaitForFirstConsumer} {
		if _, err := cl.admin.StorageClasses().Create(cl.ctx, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: name},
			Provisioner: provisioner, VolumeBindingMode: proto.String(mode)}); err != nil {
			t.Fatal(err)
		}
	}
	cl.createClaim(claim("now", "1Gi", proto.String("now"), corev1.ReadWriteOnce))
	cl.createClaim(claim("later", "1Gi", proto.String("later"), corev1.ReadWriteOnce))
	e := cl.event("default/now", EventExternalProvisioning)
	if want := "Waiting for a volume to be created either by the external provisioner 'kubelab.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."; e.Message != want {
		t.Errorf("ExternalProvisioning message = %q", e.Message)
	}
	annotated := func(name string) bool {
		pvc, err := cl.admin.PersistentVolumeClaims("default").Get(cl.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		a := pvc.GetMetadata().GetAnnotations()
		return a[volumeutil.AnnStorageProvisioner] == provisioner && a[volumeutil.AnnBetaStorageProvisioner] == provisioner
	}
	controllertest.Eventually(t, "immediate claim annotated", func() (bool, string) { return annotated("now"), "" })
	if e := cl.event("default/later", EventWaitForFirstConsumer); e.Message != "waiting for first consumer to be created before binding" {
		t.Errorf("WaitForFirstConsumer message = %q", e.Message)
	}
	if annotated("later") {
		t.Fatal("WaitForFirstConsumer claim annotated for provisioning before a node was selected")
	}
	// The scheduler chooses a node.
	later, err := cl.admin.PersistentVolumeClaims("default").Get(cl.ctx, "later")
	if err != nil {
		t.Fatal(err)
	}
	later.Metadata.Annotations = map[string]string{corev1.SelectedNodeAnnotation: "node-1"}
	if later, err = cl.admin.PersistentVolumeClaims("default").Update(cl.ctx, later); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "selected claim annotated", func() (bool, string) { return annotated("later"), "" })

	// The provisioner makes a volume pre-bound to the claim.
	pv := volume("pvc-"+later.GetMetadata().GetUid(), "1Gi", "later", corev1.ReadWriteOnce)
	pv.Status = nil
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	pv.Spec.ClaimRef = volumeutil.ClaimRef(later)
	pv.Metadata.Annotations = map[string]string{volumeutil.AnnDynamicallyProvisioned: provisioner}
	cl.createVolume(pv)
	if got := cl.claimPhase("later", corev1.ClaimBound).GetSpec().GetVolumeName(); got != pv.GetMetadata().GetName() {
		t.Errorf("claim bound to %q, want the provisioned volume", got)
	}
	bound := cl.volumePhase(pv.GetMetadata().GetName(), corev1.VolumeBound)
	if _, ok := bound.GetMetadata().GetAnnotations()[volumeutil.AnnBoundByController]; ok {
		t.Error("provisioned volume marked bound-by-controller; its provisioner bound it")
	}
	cl.deleteClaim("later")
	cl.volumePhase(pv.GetMetadata().GetName(), corev1.VolumeReleased)
	// Left for the provisioner: not Failed, still there.
	if got, err := cl.admin.PersistentVolumes().Get(cl.ctx, pv.GetMetadata().GetName()); err != nil || got.GetStatus().GetPhase() != corev1.VolumeReleased {
		t.Errorf("provisioned volume after release = %v, %v", got.GetStatus(), err)
	}
}

// TestReleasedElsewhereStaysFailed: a dynamically provisioned Delete volume whose claim
// is bound to another volume is released and, its in-tree provisioner having no deleter,
// fails; syncing it again leaves it Failed rather than releasing and failing it anew (as
// upstream: Failed is not overwritten), so the resync records no second event. The
// controller is not run: its sync is called directly, over a real apiserver and caches.
func TestReleasedElsewhereStaysFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	cs := controllertest.ControllerManagerClient(t, srv, "persistentvolume-binder")
	admin := srv.Clientset(true)
	ctx, cancel := context.WithTimeout(context.Background(), controllertest.Wait)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(slog.New(slog.DiscardHandler)))
	rec := &controllertest.Recorder{}
	c, err := NewController(Config{Client: cs, Volumes: factory.PersistentVolumes(), Claims: factory.PersistentVolumeClaims(),
		Classes: factory.StorageClasses(), Recorder: rec, Log: slog.New(slog.DiscardHandler), SyncPeriod: -1})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	t.Cleanup(func() { cancel(); factory.Shutdown() })

	pvc := claim("data", "1Gi", proto.String(""), corev1.ReadWriteOnce)
	pvc.Metadata.Uid = ""
	pvc.Metadata.Annotations = map[string]string{volumeutil.AnnBindCompleted: "yes"}
	pvc.Spec.VolumeName = "other"
	pvc, err = admin.PersistentVolumeClaims("default").Create(ctx, pvc)
	if err != nil {
		t.Fatal(err)
	}
	pv := volume("dyn", "1Gi", "", corev1.ReadWriteOnce)
	pv.Metadata.Annotations = map[string]string{volumeutil.AnnDynamicallyProvisioned: "kubernetes.io/no-such-plugin"}
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data",
		Uid: pvc.GetMetadata().GetUid()}
	pv, err = admin.PersistentVolumes().Create(ctx, pv)
	if err != nil {
		t.Fatal(err)
	}
	pv.Status = &corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}
	if pv, err = admin.PersistentVolumes().UpdateStatus(ctx, pv); err != nil {
		t.Fatal(err)
	}
	// The claim must come from the cache, as in a resync: a claim missing from it would
	// be taken for gone, which is the other (already guarded) branch.
	controllertest.Eventually(t, "claim in the cache", func() (bool, string) {
		_, err := c.claims.Namespace("default").Get("data")
		return err == nil, fmt.Sprint(err)
	})

	var failedVersion string
	for i := range 2 {
		if err := c.syncVolume(ctx, pv); err != nil {
			t.Fatalf("sync %d: %v", i+1, err)
		}
		if pv, err = admin.PersistentVolumes().Get(ctx, "dyn"); err != nil {
			t.Fatal(err)
		}
		if got := pv.GetStatus().GetPhase(); got != corev1.VolumeFailed {
			t.Fatalf("after sync %d: phase %s, want Failed", i+1, got)
		}
		if i == 0 {
			failedVersion = pv.GetMetadata().GetResourceVersion()
		} else if v := pv.GetMetadata().GetResourceVersion(); v != failedVersion {
			t.Errorf("second sync wrote the Failed volume (resourceVersion %s, then %s)", failedVersion, v)
		}
	}
	var failed []controllertest.Event
	for _, e := range rec.Take() {
		if e.Reason == EventVolumeFailedDelete {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 {
		t.Errorf("%d %s events, want 1: %v", len(failed), EventVolumeFailedDelete, failed)
	}
}
