package localpath

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"kubelab.io/client/informers"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
)

// delayQueue is the controller's queue, noting the delays it is asked to add keys after.
type delayQueue struct {
	*workqueue.Queue[string]
	mu     sync.Mutex
	delays []string
}

func (q *delayQueue) AddAfter(item string, d time.Duration) {
	q.mu.Lock()
	q.delays = append(q.delays, fmt.Sprintf("%s after %v", item, d))
	q.mu.Unlock()
	q.Queue.AddAfter(item, d)
}

func (q *delayQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.delays
	q.delays = nil
	return d
}

// TestFailedHelperPodBacksOff: a helper pod that fails is deleted and the next is made
// only once the deletion's backoff has passed (15 s, then 30 s, as external-provisioner's
// rate limiter), however soon the volume is synced again: the failed pod's own delete
// event wakes the volume at once. The syncs are called directly, each once the cache holds
// what the informer event that would have caused it brings, on a fake clock.
func TestFailedHelperPodBacksOff(t *testing.T) {
	cl := newCluster(t)
	ctx, admin, rec := cl.ctx, cl.admin, cl.rec
	cs := controllertest.ControllerManagerClient(t, cl.srv, "local-path")
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(slog.New(slog.DiscardHandler)))
	clk := testingclock.NewFakeClock(time.Now())
	c, err := NewController(Config{Client: cs, Claims: factory.PersistentVolumeClaims(), Volumes: factory.PersistentVolumes(),
		Classes: factory.StorageClasses(), Pods: factory.Pods(), Nodes: factory.Nodes(), Recorder: rec,
		Log: slog.New(slog.DiscardHandler), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	// The controller does not run: the test syncs it. Its queue only records delays.
	queue := &delayQueue{Queue: workqueue.New(workqueue.Config[string]{Clock: clk})}
	c.queue = queue
	factory.Start(ctx)
	t.Cleanup(func() { queue.ShutDown(); factory.Shutdown() })

	pv, err := newVolume(&corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: "data", Namespace: "default", Uid: "u1"},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce},
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
	}, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "standard"}, Provisioner: ProvisionerName,
		Parameters: map[string]string{"path": "/srv/volumes"}}, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	pv.Metadata.Finalizers = []string{Finalizer}
	if pv, err = admin.PersistentVolumes().Create(ctx, pv); err != nil {
		t.Fatal(err)
	}
	pv.Status = &corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased}
	if _, err = admin.PersistentVolumes().UpdateStatus(ctx, pv); err != nil {
		t.Fatal(err)
	}
	name, podName := pv.GetMetadata().GetName(), HelperPodName(pv.GetMetadata().GetName())
	key := volumePrefix + name
	controllertest.Eventually(t, "volume Released in the cache", func() (bool, string) {
		got, err := c.volumes.Get(name)
		return err == nil && got.GetStatus().GetPhase() == corev1.VolumeReleased, fmt.Sprint(got.GetStatus(), err)
	})
	sync := func() {
		t.Helper()
		if err := c.sync(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	// helperPod reports the helper pod in the apiserver, nil if there is none.
	helperPod := func() *corev1.Pod {
		t.Helper()
		pod, err := admin.Pods(HelperNamespace).Get(ctx, podName)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return pod
	}
	// fail has the kubelet fail the helper pod, and the controller delete it and (as the
	// pod's delete event has it do) sync the volume again at once.
	fail := func() {
		t.Helper()
		pod := helperPod()
		if pod == nil {
			t.Fatal("no helper pod")
		}
		pod.Status = &corev1.PodStatus{Phase: controller.PodFailed}
		if _, err := admin.Pods(HelperNamespace).UpdateStatus(ctx, pod); err != nil {
			t.Fatal(err)
		}
		controllertest.Eventually(t, "helper pod Failed in the cache", func() (bool, string) {
			got, err := c.pods.Namespace(HelperNamespace).Get(podName)
			return err == nil && got.GetStatus().GetPhase() == controller.PodFailed, fmt.Sprint(got.GetStatus(), err)
		})
		sync()
		if helperPod() != nil {
			t.Fatal("failed helper pod not deleted")
		}
		controllertest.Eventually(t, "helper pod gone from the cache", func() (bool, string) {
			_, err := c.pods.Namespace(HelperNamespace).Get(podName)
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		sync()
	}
	// waitFor steps the clock to just short of d since the failure, syncs and expects no
	// helper pod, then to d, syncs and expects one, in the cache too.
	waitFor := func(d time.Duration) {
		t.Helper()
		clk.Step(d - time.Millisecond)
		sync()
		if helperPod() != nil {
			t.Fatalf("helper pod made again before the backoff of %v passed", d)
		}
		clk.Step(time.Millisecond)
		sync()
		if helperPod() == nil {
			t.Fatalf("no helper pod after the backoff of %v", d)
		}
		controllertest.Eventually(t, "new helper pod in the cache", func() (bool, string) {
			got, err := c.pods.Namespace(HelperNamespace).Get(podName)
			return err == nil && got.GetStatus().GetPhase() != controller.PodFailed, fmt.Sprint(err)
		})
	}

	sync()
	if helperPod() == nil {
		t.Fatal("no helper pod for a Released volume")
	}
	controllertest.Eventually(t, "helper pod in the cache", func() (bool, string) {
		_, err := c.pods.Namespace(HelperNamespace).Get(podName)
		return err == nil, fmt.Sprint(err)
	})
	queue.take()

	fail()
	if got := queue.take(); len(got) == 0 || got[0] != key+" after 15s" {
		t.Errorf("retry after the first failure = %v, want %s after 15s first", got, key)
	}
	waitFor(DeleteRetryBase)
	queue.take()

	fail()
	if got := queue.take(); len(got) == 0 || got[0] != key+" after 30s" {
		t.Errorf("retry after the second failure = %v, want %s after 30s first", got, key)
	}
	waitFor(2 * DeleteRetryBase)

	var failed int
	for _, e := range rec.Take() {
		if e.Reason == EventVolumeFailedDelete {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d %s events, want 2", failed, EventVolumeFailedDelete)
	}
}
