package localpath

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/controllertest"
	"kubelab.io/controller-manager/internal/volume/binder"
	"kubelab.io/controller-manager/internal/volume/protection"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
)

type cluster struct {
	t     *testing.T
	srv   *apiservertest.Server
	ctx   context.Context
	admin *kube.Clientset
	rec   *controllertest.Recorder
}

func newCluster(t *testing.T) *cluster {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), controllertest.Wait)
	t.Cleanup(cancel)
	return &cluster{t: t, srv: srv, ctx: ctx, admin: srv.Clientset(true), rec: &controllertest.Recorder{}}
}

// run starts the provisioner and, if withBinder, the binder and the protection
// controllers, as the controller-manager's RBAC identity; the returned stop kills them
// (a controller-manager crash: nothing is flushed).
func (cl *cluster) run(withBinder bool) (stop func()) {
	t := cl.t
	cs := controllertest.ControllerManagerClient(t, cl.srv, "local-path")
	ctx, cancel := context.WithCancel(cl.ctx)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(slog.New(slog.DiscardHandler)))
	cc := &controllerctx.Context{Client: cs, Informers: factory, Log: log, Options: controllerctx.DefaultOptions()}
	p, err := NewController(Config{Client: cs, Claims: factory.PersistentVolumeClaims(), Volumes: factory.PersistentVolumes(),
		Classes: factory.StorageClasses(), Pods: factory.Pods(), Nodes: factory.Nodes(), Recorder: cl.rec, Log: log.With("c", "localpath")})
	if err != nil {
		t.Fatal(err)
	}
	runs := []interface{ Run(context.Context, int) }{p}
	if withBinder {
		b, err := binder.NewController(binder.Config{Client: cs, Volumes: factory.PersistentVolumes(), Claims: factory.PersistentVolumeClaims(),
			Classes: factory.StorageClasses(), Recorder: cl.rec, Log: log.With("c", "binder"), SyncPeriod: -1})
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
		runs = append(runs, b, pvc, pv)
	}
	factory.Start(ctx)
	done := make(chan struct{}, len(runs))
	for _, r := range runs {
		go func() { r.Run(ctx, 2); done <- struct{}{} }()
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			for range runs {
				<-done
			}
			factory.Shutdown()
		})
	}
	t.Cleanup(stop)
	return stop
}

func (cl *cluster) event(object, reason string) controllertest.Event {
	cl.t.Helper()
	return cl.rec.WaitFor(cl.t, object, reason)
}

func (cl *cluster) class(name, mode, policy string, params map[string]string) {
	cl.t.Helper()
	if _, err := cl.admin.StorageClasses().Create(cl.ctx, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: name},
		Provisioner: ProvisionerName, VolumeBindingMode: proto.String(mode), ReclaimPolicy: proto.String(policy), Parameters: params}); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *cluster) claim(name, class string, annotations map[string]string) *corev1.PersistentVolumeClaim {
	cl.t.Helper()
	pvc, err := cl.admin.PersistentVolumeClaims("default").Create(cl.ctx, &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, StorageClassName: proto.String(class),
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "2Gi"}}}},
	})
	if err != nil {
		cl.t.Fatal(err)
	}
	return pvc
}

func (cl *cluster) bound(name string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	cl.t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	var pv *corev1.PersistentVolume
	controllertest.Eventually(cl.t, "claim "+name+" and its volume Bound", func() (bool, string) {
		var err error
		if pvc, err = cl.admin.PersistentVolumeClaims("default").Get(cl.ctx, name); err != nil {
			return false, err.Error()
		}
		if pvc.GetStatus().GetPhase() != corev1.ClaimBound {
			return false, "claim " + pvc.GetStatus().GetPhase()
		}
		if pv, err = cl.admin.PersistentVolumes().Get(cl.ctx, pvc.GetSpec().GetVolumeName()); err != nil {
			return false, err.Error()
		}
		return pv.GetStatus().GetPhase() == corev1.VolumeBound, "volume " + pv.GetStatus().GetPhase()
	})
	return pvc, pv
}

func (cl *cluster) deleteClaim(name string) {
	cl.t.Helper()
	if _, err := cl.admin.PersistentVolumeClaims("default").Delete(cl.ctx, name, nil); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *cluster) volumes() []string {
	cl.t.Helper()
	list, err := cl.admin.PersistentVolumes().List(cl.ctx, transport.ListOptions{})
	if err != nil {
		cl.t.Fatal(err)
	}
	var names []string
	for _, pv := range list.GetItems() {
		names = append(names, pv.GetMetadata().GetName())
	}
	return names
}

// TestProvisionAndDelete: a claim of a WaitForFirstConsumer class, once the scheduler
// selected its node, gets a hostPath volume on that node, bound both ways; deleted, the
// volume is released, a helper pod removes its directory on the node, and the pod and the
// volume go.
func TestProvisionAndDelete(t *testing.T) {
	cl := newCluster(t)
	cl.run(true)
	cl.class("standard", storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete, map[string]string{"path": "/srv/volumes"})
	created := cl.claim("data", "standard", map[string]string{corev1.SelectedNodeAnnotation: "node-2"})
	pvc, pv := cl.bound("data")

	uid := created.GetMetadata().GetUid()
	if pv.GetMetadata().GetName() != "pvc-"+uid || pvc.GetSpec().GetVolumeName() != pv.GetMetadata().GetName() {
		t.Fatalf("volume %q for claim %s", pv.GetMetadata().GetName(), uid)
	}
	spec := pv.GetSpec()
	if hp := spec.GetHostPath(); hp.GetPath() != "/srv/volumes/pvc-"+uid+"_default_data" || hp.GetType() != "DirectoryOrCreate" {
		t.Errorf("hostPath = %v", hp)
	}
	terms := spec.GetNodeAffinity().GetRequired().GetNodeSelectorTerms()
	if len(terms) != 1 || len(terms[0].GetMatchExpressions()) != 1 || terms[0].GetMatchExpressions()[0].GetKey() != "kubernetes.io/hostname" ||
		!slices.Equal(terms[0].GetMatchExpressions()[0].GetValues(), []string{"node-2"}) {
		t.Errorf("nodeAffinity = %v", spec.GetNodeAffinity())
	}
	if spec.GetCapacity()[corev1.ResourceStorage].GetString_() != "2Gi" || !slices.Equal(spec.GetAccessModes(), []string{corev1.ReadWriteOnce}) ||
		spec.GetStorageClassName() != "standard" || spec.GetPersistentVolumeReclaimPolicy() != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("spec = %v", spec)
	}
	if ref := spec.GetClaimRef(); ref.GetUid() != uid || ref.GetNamespace() != "default" || ref.GetName() != "data" {
		t.Errorf("claimRef = %v", ref)
	}
	if got := pv.GetMetadata().GetAnnotations()[volumeutil.AnnDynamicallyProvisioned]; got != ProvisionerName {
		t.Errorf("provisioned-by = %q", got)
	}
	if e := cl.event("default/data", EventProvisioning); e.Message != `External provisioner is provisioning volume for claim "default/data"` {
		t.Errorf("Provisioning message = %q", e.Message)
	}
	if e := cl.event("default/data", EventProvisioningSucceeded); e.Message != "Successfully provisioned volume "+pv.GetMetadata().GetName() {
		t.Errorf("ProvisioningSucceeded message = %q", e.Message)
	}

	cl.deleteClaim("data")
	podName := HelperPodName(pv.GetMetadata().GetName())
	var pod *corev1.Pod
	controllertest.Eventually(t, "helper pod", func() (bool, string) {
		var err error
		pod, err = cl.admin.Pods(HelperNamespace).Get(cl.ctx, podName)
		return err == nil, fmt.Sprint(err)
	})
	ps := pod.GetSpec()
	if ps.GetNodeName() != "node-2" || ps.GetRestartPolicy() != "Never" || len(ps.GetTolerations()) != 1 || ps.GetTolerations()[0].GetOperator() != "Exists" {
		t.Errorf("helper pod spec = %v", ps)
	}
	if v := ps.GetVolumes(); len(v) != 1 || v[0].GetHostPath().GetPath() != "/srv/volumes" {
		t.Errorf("helper pod volumes = %v", v)
	}
	if c := ps.GetContainers()[0]; c.GetImage() != DefaultHelperImage ||
		!slices.Equal(c.GetCommand(), []string{"/usr/local/bin/kubelab-tool", "rm", "/data/pvc-" + uid + "_default_data"}) {
		t.Errorf("helper container = %v", c)
	}
	// The volume waits for the pod.
	if got, err := cl.admin.PersistentVolumes().Get(cl.ctx, pv.GetMetadata().GetName()); err != nil || got.GetStatus().GetPhase() != corev1.VolumeReleased {
		t.Fatalf("volume while the helper runs = %v, %v", got.GetStatus(), err)
	}
	// The kubelet runs the pod to completion.
	pod.Status = &corev1.PodStatus{Phase: controller.PodSucceeded}
	if _, err := cl.admin.Pods(HelperNamespace).UpdateStatus(cl.ctx, pod); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "volume and helper pod gone", func() (bool, string) {
		_, perr := cl.admin.Pods(HelperNamespace).Get(cl.ctx, podName)
		_, verr := cl.admin.PersistentVolumes().Get(cl.ctx, pv.GetMetadata().GetName())
		return apierrors.IsNotFound(perr) && apierrors.IsNotFound(verr), fmt.Sprint(perr, verr)
	})
}

// TestImmediateClassRetain: a claim of an Immediate class is provisioned without a
// selected node (on the first Ready node); with Retain, its deletion leaves the volume
// Released and no helper pod.
func TestImmediateClassRetain(t *testing.T) {
	cl := newCluster(t)
	for _, n := range []struct {
		name  string
		ready string
	}{{"node-a", "False"}, {"node-b", "True"}, {"node-c", "True"}} {
		node, err := cl.admin.Nodes().Create(cl.ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: n.name}})
		if err != nil {
			t.Fatal(err)
		}
		node.Status = &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: n.ready}}}
		if _, err := cl.admin.Nodes().UpdateStatus(cl.ctx, node); err != nil {
			t.Fatal(err)
		}
	}
	cl.run(true)
	cl.class("keep", storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimRetain, nil)
	cl.claim("data", "keep", nil)
	_, pv := cl.bound("data")
	if got := volumeNode(pv); got != "node-b" {
		t.Errorf("volume on %q, want the first Ready node node-b", got)
	}
	if !slices.Contains([]string{DefaultBasePath}, pv.GetSpec().GetHostPath().GetPath()[:len(DefaultBasePath)]) {
		t.Errorf("hostPath %q not under the default base", pv.GetSpec().GetHostPath().GetPath())
	}
	if slices.Contains(pv.GetMetadata().GetFinalizers(), Finalizer) {
		t.Errorf("retained volume has the provisioner's finalizer: %v", pv.GetMetadata().GetFinalizers())
	}
	cl.deleteClaim("data")
	controllertest.Eventually(t, "volume Released", func() (bool, string) {
		got, err := cl.admin.PersistentVolumes().Get(cl.ctx, pv.GetMetadata().GetName())
		return err == nil && got.GetStatus().GetPhase() == corev1.VolumeReleased, fmt.Sprint(got.GetStatus(), err)
	})
	if _, err := cl.admin.Pods(HelperNamespace).Get(cl.ctx, HelperPodName(pv.GetMetadata().GetName())); !apierrors.IsNotFound(err) {
		t.Errorf("helper pod for a retained volume: %v", err)
	}
}

// TestRestartAfterProvisioning: the controller-manager dies after the volume was created
// but before the claim was bound; the next one binds that volume and makes no second.
func TestRestartAfterProvisioning(t *testing.T) {
	cl := newCluster(t)
	cl.class("standard", storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete, nil)
	// As the binder and the scheduler left it.
	pvc := cl.claim("data", "standard", map[string]string{corev1.SelectedNodeAnnotation: "node-1",
		volumeutil.AnnStorageProvisioner: ProvisionerName, volumeutil.AnnBetaStorageProvisioner: ProvisionerName})
	stop := cl.run(false) // the provisioner alone: nothing binds
	want := VolumeName(pvc)
	controllertest.Eventually(t, "volume created", func() (bool, string) {
		return slices.Equal(cl.volumes(), []string{want}), fmt.Sprint(cl.volumes())
	})
	stop()
	if got, _ := cl.admin.PersistentVolumeClaims("default").Get(cl.ctx, "data"); got.GetSpec().GetVolumeName() != "" {
		t.Fatalf("claim bound before the restart: %v", got.GetSpec())
	}

	cl.run(true)
	got, _ := cl.bound("data")
	if got.GetSpec().GetVolumeName() != want {
		t.Errorf("claim bound to %q, want %q", got.GetSpec().GetVolumeName(), want)
	}
	if vols := cl.volumes(); !slices.Equal(vols, []string{want}) {
		t.Errorf("volumes = %v, want only %s", vols, want)
	}
}

// TestDeleteVolumeObjectFirst: a provisioned Delete volume carries external-provisioner's
// finalizer, so deleting the volume object directly while it is Released (its helper pod
// not done yet) still removes its directory: the volume stays, Terminating, until the
// helper pod succeeded, and only then goes.
func TestDeleteVolumeObjectFirst(t *testing.T) {
	cl := newCluster(t)
	cl.run(true)
	cl.class("standard", storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete, nil)
	cl.claim("data", "standard", map[string]string{corev1.SelectedNodeAnnotation: "node-1"})
	_, pv := cl.bound("data")
	name := pv.GetMetadata().GetName()
	if !slices.Contains(pv.GetMetadata().GetFinalizers(), Finalizer) {
		t.Fatalf("provisioned volume's finalizers = %v, want %s", pv.GetMetadata().GetFinalizers(), Finalizer)
	}

	cl.deleteClaim("data")
	podName := HelperPodName(name)
	var pod *corev1.Pod
	controllertest.Eventually(t, "helper pod", func() (bool, string) {
		var err error
		pod, err = cl.admin.Pods(HelperNamespace).Get(cl.ctx, podName)
		return err == nil, fmt.Sprint(err)
	})
	if _, err := cl.admin.PersistentVolumes().Delete(cl.ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	// pv-protection lets the Released volume go; ours holds it for the helper.
	controllertest.Eventually(t, "volume Terminating behind the provisioner's finalizer alone", func() (bool, string) {
		got, err := cl.admin.PersistentVolumes().Get(cl.ctx, name)
		if err != nil {
			return false, "volume gone before its data was removed: " + err.Error()
		}
		return got.GetMetadata().GetDeletionTimestamp() != nil && slices.Equal(got.GetMetadata().GetFinalizers(), []string{Finalizer}),
			fmt.Sprint(got.GetMetadata().GetFinalizers())
	})
	pod.Status = &corev1.PodStatus{Phase: controller.PodSucceeded}
	if _, err := cl.admin.Pods(HelperNamespace).UpdateStatus(cl.ctx, pod); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "volume and helper pod gone", func() (bool, string) {
		_, perr := cl.admin.Pods(HelperNamespace).Get(cl.ctx, podName)
		_, verr := cl.admin.PersistentVolumes().Get(cl.ctx, name)
		return apierrors.IsNotFound(perr) && apierrors.IsNotFound(verr), fmt.Sprint(perr, verr)
	})
}

// TestFinalizerFollowsReclaimPolicy: a Delete volume of ours made without the finalizer
// (before it existed) gets it; changed to Retain, it loses it, so deleting the object
// leaves the data and runs no helper.
func TestFinalizerFollowsReclaimPolicy(t *testing.T) {
	cl := newCluster(t)
	pv, err := cl.admin.PersistentVolumes().Create(cl.ctx, &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: "pvc-old", Annotations: map[string]string{volumeutil.AnnDynamicallyProvisioned: ProvisionerName}},
		Spec: &corev1.PersistentVolumeSpec{
			Capacity:    map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}},
			HostPath:    &corev1.HostPathVolumeSource{Path: "/srv/volumes/pvc-old_default_data"},
			AccessModes: []string{corev1.ReadWriteOnce}, PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.run(true)
	finalizers := func(want bool) {
		t.Helper()
		controllertest.Eventually(t, fmt.Sprintf("finalizer present = %v", want), func() (bool, string) {
			got, err := cl.admin.PersistentVolumes().Get(cl.ctx, "pvc-old")
			if err != nil {
				return false, err.Error()
			}
			pv = got
			return slices.Contains(got.GetMetadata().GetFinalizers(), Finalizer) == want, fmt.Sprint(got.GetMetadata().GetFinalizers())
		})
	}
	finalizers(true)
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	if _, err := cl.admin.PersistentVolumes().Update(cl.ctx, pv); err != nil {
		t.Fatal(err)
	}
	finalizers(false)
	if _, err := cl.admin.PersistentVolumes().Delete(cl.ctx, "pvc-old", nil); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "retained volume object gone", func() (bool, string) {
		_, err := cl.admin.PersistentVolumes().Get(cl.ctx, "pvc-old")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if _, err := cl.admin.Pods(HelperNamespace).Get(cl.ctx, HelperPodName("pvc-old")); !apierrors.IsNotFound(err) {
		t.Errorf("helper pod for a retained volume: %v", err)
	}
}
