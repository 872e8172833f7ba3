package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// startController runs the controller against a real apiserver over gRPC, as the
// controller-manager's identity (so the bootstrap RBAC role is what lets it work), with
// the given full-resync period, and creates the namespace "team" with a quota of pods=2.
// It returns once the controller has synced that quota for the first time, so from then
// on only what a test does can make it sync again. It returns an admin clientset for the
// test's own calls.
func startController(t *testing.T, resyncPeriod time.Duration) (*kube.Clientset, *countingQueue) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	cs := controllertest.ControllerManagerClient(t, srv, "kube-controller-manager/resourcequota")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	queue := &countingQueue{Interface: workqueue.NewNamed[string]("resourcequota")}
	c, err := NewController(Config{
		Client: cs, Quota: factory.ResourceQuotas().Informer(), Pod: factory.Pods().Informer(),
		Claim: factory.PersistentVolumeClaims().Informer(),
		Log:   log, Queue: queue, ResyncPeriod: resyncPeriod,
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	if _, err := admin.Namespaces().Create(context.Background(), &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	q := &corev1.ResourceQuota{Metadata: &metav1.ObjectMeta{Name: "compute"},
		Spec: &corev1.ResourceQuotaSpec{Hard: map[string]*metav1.Quantity{"pods": {String_: "2"}}}}
	if _, err := admin.ResourceQuotas("team").Create(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the controller's first sync of the quota", func() (bool, string) {
		n := queue.synced.Load()
		return n > 0, fmt.Sprintf("%d syncs", n)
	})
	return admin, queue
}

// countingQueue counts the keys the controller finished, to tell when it synced.
type countingQueue struct {
	workqueue.Interface[string]
	synced atomic.Int64
}

func (q *countingQueue) Done(key string) {
	q.Interface.Done(key)
	q.synced.Add(1)
}

func createPod(cs *kube.Clientset, name string) error {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "web", Image: "nginx"}}}}
	_, err := cs.Pods("team").Create(context.Background(), p)
	return err
}

func mustCreatePod(t *testing.T, cs *kube.Clientset, name string) {
	t.Helper()
	if err := createPod(cs, name); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

// mustBeRefused checks that creating pod name is refused as Kubernetes refuses it: 403
// Forbidden, with the exceeded-quota message.
func mustBeRefused(t *testing.T, cs *kube.Clientset, name string) {
	t.Helper()
	err := createPod(cs, name)
	want := `pods "` + name + `" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2`
	if !apierrors.IsForbidden(err) || apierrors.CodeOf(err) != 403 || err.Error() != want {
		t.Fatalf("create pod %s over the quota: %v (code %d); want 403 %q", name, err, apierrors.CodeOf(err), want)
	}
}

// usedPodsReaches waits until the quota's status.used.pods is want.
func usedPodsReaches(t *testing.T, cs *kube.Clientset, want string) {
	t.Helper()
	controllertest.Eventually(t, "status.used.pods = "+want, func() (bool, string) {
		q, err := cs.ResourceQuotas("team").Get(context.Background(), "compute")
		if err != nil {
			return false, err.Error()
		}
		got := q.GetStatus().GetUsed()["pods"].GetString_()
		return got == want, "status.used.pods = " + got
	})
}

func TestIntegrationDeletedAndFailedPodsGiveRoomBack(t *testing.T) {
	// No full resync during the test: what gives the room back is the pod events.
	cs, _ := startController(t, time.Hour)
	ctx := context.Background()
	mustCreatePod(t, cs, "a")
	mustCreatePod(t, cs, "b")
	mustBeRefused(t, cs, "c")

	// An unbound pod goes at once; the controller returns its room.
	if _, err := cs.Pods("team").Delete(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	usedPodsReaches(t, cs, "1")
	mustCreatePod(t, cs, "c")
	mustBeRefused(t, cs, "d")

	// A pod that failed (its kubelet reports it through pods/status) holds no quota.
	c, err := cs.Pods("team").Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	c.Status = &corev1.PodStatus{Phase: "Failed"}
	if _, err := cs.Pods("team").UpdateStatus(ctx, c); err != nil {
		t.Fatal(err)
	}
	usedPodsReaches(t, cs, "1")
	mustCreatePod(t, cs, "d")
	mustBeRefused(t, cs, "e")
}

// A create refused after admission charged its quota (the name was taken) leaves a charge
// no event announces; the full resync gives it back.
func TestIntegrationFullResyncReturnsTheChargeOfAFailedCreate(t *testing.T) {
	cs, _ := startController(t, 200*time.Millisecond)
	mustCreatePod(t, cs, "a")
	if err := createPod(cs, "a"); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create pod a again: %v; want AlreadyExists", err)
	}
	usedPodsReaches(t, cs, "1")
	mustCreatePod(t, cs, "b")
	mustBeRefused(t, cs, "c")
}
