package ephemeral

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// run starts one ephemeral-volume controller (one worker, so pods are handled in the order
// they were queued) as the controller-manager's RBAC identity against srv, and returns its
// recorder and a stop function that waits for it to end (also called when the test ends).
func run(t *testing.T, srv *apiservertest.Server) (*controllertest.Recorder, func()) {
	t.Helper()
	cs := controllertest.ControllerManagerClient(t, srv, "ephemeral-volume")
	ctx, cancel := context.WithTimeout(context.Background(), controllertest.Wait)
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := &controllertest.Recorder{}
	c, err := NewController(Config{Client: cs, Pods: factory.Pods(), Claims: factory.PersistentVolumeClaims(), Recorder: rec, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 1); close(done) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		factory.Shutdown()
	}
	t.Cleanup(stop)
	return rec, stop
}

func start(t *testing.T) (*apiservertest.Server, *kube.Clientset) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	return srv, srv.Clientset(true)
}

func ephemeralPod(name string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name}, Spec: &corev1.PodSpec{
		Containers: []*corev1.Container{{Name: "web", Image: "nginx", VolumeMounts: []*corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}}},
		Volumes: []*corev1.Volume{{Name: "scratch", Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"type": "scratch"}, Annotations: map[string]string{"note": "per pod"}},
			Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, StorageClassName: proto.String(""),
				Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
		}}}},
	}}
}

// claimOf waits for the claim of pod's ephemeral volume "scratch".
func claimOf(ctx context.Context, t *testing.T, cs *kube.Clientset, pod string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	controllertest.Eventually(t, "claim "+pod+"-scratch", func() (bool, string) {
		var err error
		pvc, err = cs.PersistentVolumeClaims("default").Get(ctx, pod+"-scratch")
		return err == nil, fmt.Sprint(err)
	})
	return pvc
}

// TestClaimForEphemeralVolume: the pod's claim is made from the template, controlled by
// the pod; a restarted controller leaves it be.
func TestClaimForEphemeralVolume(t *testing.T) {
	srv, admin := start(t)
	ctx := context.Background()
	rec, stop := run(t, srv)
	pod, err := admin.Pods("default").Create(ctx, ephemeralPod("web"))
	if err != nil {
		t.Fatal(err)
	}
	pvc := claimOf(ctx, t, admin, "web")
	m := pvc.GetMetadata()
	if !controller.IsControlledBy(pvc, pod) || !m.GetOwnerReferences()[0].GetBlockOwnerDeletion() || m.GetOwnerReferences()[0].GetKind() != "Pod" {
		t.Errorf("owner references %v, want the pod %s as controller, blocking its deletion", m.GetOwnerReferences(), pod.GetMetadata().GetUid())
	}
	if m.GetLabels()["type"] != "scratch" || m.GetAnnotations()["note"] != "per pod" {
		t.Errorf("labels %v, annotations %v; want the template's", m.GetLabels(), m.GetAnnotations())
	}
	if s := pvc.GetSpec(); s.GetAccessModes()[0] != corev1.ReadWriteOnce || s.GetResources().GetRequests()[corev1.ResourceStorage].GetString_() != "1Gi" || s.StorageClassName == nil {
		t.Errorf("spec %v, want the template's", s)
	}
	if err := corev1.EphemeralClaimIsForPod(pod, pvc); err != nil {
		t.Error(err)
	}

	// A new controller lists the pod again. One worker handles the queue in order, so once
	// the claim of a pod created after the restart exists, "web" was handled too.
	stop()
	rec, _ = run(t, srv)
	if _, err := admin.Pods("default").Create(ctx, ephemeralPod("later")); err != nil {
		t.Fatal(err)
	}
	claimOf(ctx, t, admin, "later")
	again, err := admin.PersistentVolumeClaims("default").Get(ctx, "web-scratch")
	if err != nil || again.GetMetadata().GetUid() != m.GetUid() || again.GetMetadata().GetResourceVersion() != m.GetResourceVersion() {
		t.Errorf("after restart claim = %v, %v; want it untouched (uid %s, rv %s)", again.GetMetadata(), err, m.GetUid(), m.GetResourceVersion())
	}
	if ev := rec.Take(); len(ev) != 0 {
		t.Errorf("events after restart: %v", ev)
	}
	list, err := admin.PersistentVolumeClaims("default").List(ctx, transport.ListOptions{})
	if err != nil || len(list.GetItems()) != 2 {
		t.Errorf("claims = %v, %v; want web-scratch and later-scratch", list.GetItems(), err)
	}
}

// TestForeignClaimIsNotAdopted: a claim of the expected name the pod does not own is
// reported on the pod (upstream's FailedBinding event) and left as it is.
func TestForeignClaimIsNotAdopted(t *testing.T) {
	srv, admin := start(t)
	ctx := context.Background()
	foreign := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "web-scratch", Labels: map[string]string{"owner": "someone"}},
		Spec: ephemeralPod("x").Spec.Volumes[0].Ephemeral.VolumeClaimTemplate.Spec}
	before, err := admin.PersistentVolumeClaims("default").Create(ctx, foreign)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := run(t, srv)
	if _, err := admin.Pods("default").Create(ctx, ephemeralPod("web")); err != nil {
		t.Fatal(err)
	}
	want := controllertest.Event{Object: "default/web", Type: "Warning", Reason: FailedBinding,
		Message: "ephemeral volume scratch: PVC default/web-scratch was not created for pod default/web (pod is not owner)"}
	var seen []controllertest.Event
	controllertest.Eventually(t, "FailedBinding event", func() (bool, string) {
		seen = append(seen, rec.Take()...)
		for _, e := range seen {
			if e == want {
				return true, ""
			}
		}
		return false, fmt.Sprint(seen)
	})
	after, err := admin.PersistentVolumeClaims("default").Get(ctx, "web-scratch")
	if err != nil || len(after.GetMetadata().GetOwnerReferences()) != 0 || after.GetMetadata().GetUid() != before.GetMetadata().GetUid() {
		t.Errorf("foreign claim = %v, %v; want it unchanged, with no owner", after.GetMetadata(), err)
	}
}
