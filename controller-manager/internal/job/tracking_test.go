package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllertest"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// errCrash stands for the controller dying in the middle of a sync.
var errCrash = errors.New("controller killed")

// faultyTransport fails the writes a test names, so that a sync stops exactly between two
// of its steps, as a killed controller would.
type faultyTransport struct {
	transport.Interface
	failPodPatch  atomic.Bool
	statusWrites  atomic.Int32
	failStatusNth int32 // the n-th status write fails (1-based); 0: none
}

func (f *faultyTransport) Patch(ctx context.Context, ref transport.Ref, pt transport.PatchType, data []byte, sub string) (runtime.Object, error) {
	if ref.Mapping.Kind.Kind == "Pod" && f.failPodPatch.Load() {
		return nil, errCrash
	}
	return f.Interface.Patch(ctx, ref, pt, data, sub)
}

func (f *faultyTransport) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, sub string) (runtime.Object, error) {
	if sub == "status" && f.statusWrites.Add(1) == f.failStatusNth {
		return nil, errCrash
	}
	return f.Interface.Update(ctx, ref, obj, sub)
}

// live is a job controller over a real apiserver whose syncs the test calls one at a time:
// its informers run, its workers do not. A new live is a restarted controller: empty
// caches and no expectations.
type live struct {
	t  *testing.T
	c  *Controller
	tr *faultyTransport
}

func startLive(t *testing.T, srv *apiservertest.Server, opts ...func(*Config)) *live {
	t.Helper()
	cs := controllertest.ControllerManagerClient(t, srv, "job-controller")
	tr := &faultyTransport{Interface: cs.Transport()}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	cfg := Config{
		Client: kube.New(tr), Job: factory.Jobs().Informer(), Pod: factory.Pods().Informer(),
		Recorder: &controllertest.Recorder{}, Log: log,
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := NewController(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	controllertest.Eventually(t, "caches synced", func() (bool, string) {
		for _, s := range c.synced {
			if !s() {
				return false, "not synced"
			}
		}
		return true, ""
	})
	return &live{t: t, c: c, tr: tr}
}

// sees waits until the controller's caches hold the job as stored and satisfy cond.
func (l *live) sees(what string, cond func(job *batchv1.Job, pods []*corev1.Pod) bool) {
	l.t.Helper()
	controllertest.Eventually(l.t, what, func() (bool, string) {
		job, err := l.c.jobLister.Namespace("default").Get("pi")
		if err != nil {
			return false, err.Error()
		}
		stored, err := l.c.client.Jobs("default").Get(context.Background(), "pi")
		if err != nil || stored.GetMetadata().GetResourceVersion() != job.GetMetadata().GetResourceVersion() {
			return false, "job cache behind"
		}
		pods, _ := l.c.podLister.Namespace("default").List(labels.Everything())
		return cond(job, pods), fmt.Sprint(job.GetStatus(), len(pods))
	})
}

func (l *live) sync() error { return l.c.sync(context.Background(), "default/pi") }

func createJob(t *testing.T, admin *kube.Clientset, completions, parallelism, backoffLimit int32, mutate ...func(*batchv1.Job)) *batchv1.Job {
	t.Helper()
	j := &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: &batchv1.JobSpec{Completions: proto.Int32(completions), Parallelism: proto.Int32(parallelism), BackoffLimit: proto.Int32(backoffLimit),
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "Never",
				Containers: []*corev1.Container{{Name: "pi", Image: "perl"}}}}},
	}
	for _, m := range mutate {
		m(j)
	}
	job, err := admin.Jobs("default").Create(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func getJob(t *testing.T, admin *kube.Clientset) *batchv1.Job {
	t.Helper()
	j, err := admin.Jobs("default").Get(context.Background(), "pi")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func listPods(t *testing.T, admin *kube.Clientset) []*corev1.Pod {
	t.Helper()
	l, err := admin.Pods("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.GetItems()
}

// setPhase reports pod ended in phase, as its kubelet would.
func setPhase(t *testing.T, admin *kube.Clientset, p *corev1.Pod, phase string) {
	t.Helper()
	fresh, err := admin.Pods("default").Get(context.Background(), p.GetMetadata().GetName())
	if err != nil {
		t.Fatal(err)
	}
	fresh.Status = &corev1.PodStatus{Phase: phase}
	if _, err := admin.Pods("default").UpdateStatus(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
}

func podsIn(pods []*corev1.Pod, phase string) (n int) {
	for _, p := range pods {
		if p.GetStatus().GetPhase() == phase {
			n++
		}
	}
	return n
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
}

// A succeeded pod is counted once whatever step the controller dies after: after writing
// its uid to uncountedTerminatedPods (the finalizer removal never happens), and after
// removing its finalizer (the final status write never happens).
func TestSucceededPodCountedOnceAcrossRestarts(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 2, 1, 6)

	a := startLive(t, srv)
	a.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	pods := listPods(t, admin)
	if len(pods) != 1 || !slices.Equal(pods[0].GetMetadata().GetFinalizers(), []string{batchv1.JobTrackingFinalizer}) {
		t.Fatalf("pods = %v", pods)
	}
	first := pods[0]
	setPhase(t, admin, first, "Succeeded")

	// Killed after step 1: the uid is recorded, the finalizer is still there.
	a.tr.failPodPatch.Store(true)
	a.sees("pod succeeded", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Succeeded") == 1 })
	if err := a.sync(); !errors.Is(err, errCrash) {
		t.Fatalf("sync = %v, want the crash", err)
	}
	st := getJob(t, admin).GetStatus()
	if got := st.GetUncountedTerminatedPods().GetSucceeded(); !slices.Equal(got, []string{first.GetMetadata().GetUid()}) || st.GetSucceeded() != 0 {
		t.Fatalf("after step 1: status = %v", st)
	}

	// A new controller finds the uid recorded: it removes the finalizer and counts it once.
	b := startLive(t, srv)
	b.sees("uncounted uid", func(j *batchv1.Job, _ []*corev1.Pod) bool {
		return len(j.GetStatus().GetUncountedTerminatedPods().GetSucceeded()) == 1
	})
	if err := b.sync(); err != nil {
		t.Fatal(err)
	}
	st = getJob(t, admin).GetStatus()
	if st.GetSucceeded() != 1 || len(st.GetUncountedTerminatedPods().GetSucceeded()) != 0 {
		t.Fatalf("after restart: status = %v", st)
	}
	// A second sync of the same controller, once its cache has caught up, adds nothing.
	b.sees("two pods, one counted", func(j *batchv1.Job, ps []*corev1.Pod) bool {
		return len(ps) == 2 && j.GetStatus().GetSucceeded() == 1
	})
	if err := b.sync(); err != nil {
		t.Fatal(err)
	}
	if got := getJob(t, admin).GetStatus().GetSucceeded(); got != 1 {
		t.Fatalf("second sync: succeeded = %d", got)
	}

	// Killed after step 2: the second pod's finalizer is gone, the count not yet written.
	var second *corev1.Pod
	for _, p := range listPods(t, admin) {
		if p.GetStatus().GetPhase() != "Succeeded" {
			second = p
		}
	}
	setPhase(t, admin, second, "Succeeded")
	c := startLive(t, srv)
	c.tr.failStatusNth = 2
	c.sees("second pod succeeded", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Succeeded") == 2 })
	if err := c.sync(); !errors.Is(err, errCrash) {
		t.Fatalf("sync = %v, want the crash", err)
	}
	st = getJob(t, admin).GetStatus()
	if st.GetSucceeded() != 1 || len(st.GetUncountedTerminatedPods().GetSucceeded()) != 1 {
		t.Fatalf("after step 2: status = %v", st)
	}
	for _, p := range listPods(t, admin) {
		if len(p.GetMetadata().GetFinalizers()) != 0 {
			t.Fatalf("pod %s keeps %v", p.GetMetadata().GetName(), p.GetMetadata().GetFinalizers())
		}
	}
	// The next controller counts the uid whose pod lost its finalizer, and finishes.
	d := startLive(t, srv)
	d.sees("uncounted second uid", func(j *batchv1.Job, ps []*corev1.Pod) bool {
		return len(j.GetStatus().GetUncountedTerminatedPods().GetSucceeded()) == 1 && len(ps[0].GetMetadata().GetFinalizers())+len(ps[1].GetMetadata().GetFinalizers()) == 0
	})
	if err := d.sync(); err != nil {
		t.Fatal(err)
	}
	j := getJob(t, admin)
	if st := j.GetStatus(); st.GetSucceeded() != 2 || st.GetFailed() != 0 || !conditionTrue(st, batchv1.JobComplete) {
		t.Fatalf("finished: status = %v", st)
	}
	if n := len(listPods(t, admin)); n != 2 {
		t.Fatalf("%d pods, want 2", n)
	}
}

// A pod that failed and was deleted by someone before the controller saw it is kept by its
// finalizer until the controller counted it; then it goes.
func TestFailedPodDeletedBeforeCounted(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 1, 1, 6)
	l := startLive(t, srv)
	l.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	p := listPods(t, admin)[0]
	setPhase(t, admin, p, "Failed")
	if _, err := admin.Pods("default").Delete(context.Background(), p.GetMetadata().GetName(), &metav1.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	kept, err := admin.Pods("default").Get(context.Background(), p.GetMetadata().GetName())
	if err != nil || kept.GetMetadata().GetDeletionTimestamp() == nil {
		t.Fatalf("the deleted pod is not kept by its finalizer: %v, %v", kept, err)
	}
	l.sees("deleted failed pod", func(_ *batchv1.Job, ps []*corev1.Pod) bool {
		return len(ps) == 1 && ps[0].GetMetadata().GetDeletionTimestamp() != nil && ps[0].GetStatus().GetPhase() == "Failed"
	})
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	if st := getJob(t, admin).GetStatus(); st.GetFailed() != 1 || len(st.GetUncountedTerminatedPods().GetFailed()) != 0 {
		t.Fatalf("status = %v", st)
	}
	controllertest.Eventually(t, "the counted pod gone", func() (bool, string) {
		_, err := admin.Pods("default").Get(context.Background(), p.GetMetadata().GetName())
		return err != nil, fmt.Sprint(err)
	})
}

// Suspending a job deletes its running pods without counting them: upstream's
// deleteJobPods removes their finalizer before deleting them (1.32, default feature gates),
// so the Failed phase the kubelet then reports is never counted, and backoffLimit 0 is not
// exceeded.
func TestSuspendDoesNotCountDeletedPods(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 4, 2, 0)
	l := startLive(t, srv)
	l.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	l.sees("two pods", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return len(ps) == 2 })
	j := getJob(t, admin)
	j.Spec.Suspend = proto.Bool(true)
	if _, err := admin.Jobs("default").Update(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	l.sees("suspended", func(j *batchv1.Job, _ []*corev1.Pod) bool { return j.GetSpec().GetSuspend() })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	for _, p := range listPods(t, admin) {
		// What a kubelet reports of a container it killed.
		setPhase(t, admin, p, "Failed")
	}
	l.sees("pods failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == len(ps) })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	st := getJob(t, admin).GetStatus()
	if st.GetFailed() != 0 || conditionTrue(st, batchv1.JobFailureTarget) || !conditionTrue(st, batchv1.JobSuspended) {
		t.Fatalf("status = %v", st)
	}
}

// When a job completes, the pods it still had lose their finalizer; when a job is deleted,
// the orphan worker removes the finalizer of the pods it leaves.
func TestFinalizersRemovedWhenJobFinishesOrGoes(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 1, 2, 6, func(j *batchv1.Job) { j.Spec.Completions = nil })
	l := startLive(t, srv)
	l.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	pods := listPods(t, admin)
	if len(pods) != 2 {
		t.Fatalf("%d pods", len(pods))
	}
	// A work queue: one success, the other pod ends too.
	setPhase(t, admin, pods[0], "Succeeded")
	setPhase(t, admin, pods[1], "Succeeded")
	l.sees("both succeeded", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Succeeded") == 2 })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	if st := getJob(t, admin).GetStatus(); !conditionTrue(st, batchv1.JobComplete) || st.GetSucceeded() != 2 {
		t.Fatalf("status = %v", st)
	}
	for _, p := range listPods(t, admin) {
		if len(p.GetMetadata().GetFinalizers()) != 0 {
			t.Fatalf("pod %s of the finished job keeps %v", p.GetMetadata().GetName(), p.GetMetadata().GetFinalizers())
		}
	}

	// A running job deleted: its pods are orphans whose finalizer the orphan worker takes.
	if _, err := admin.Jobs("default").Delete(context.Background(), "pi", &metav1.DeleteOptions{PropagationPolicy: proto.String("Background")}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "job gone", func() (bool, string) {
		_, err := admin.Jobs("default").Get(context.Background(), "pi")
		return err != nil, fmt.Sprint(err)
	})
	createJob(t, admin, 3, 1, 6)
	m := startLive(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.c.Run(ctx, 1); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	var running *corev1.Pod
	controllertest.Eventually(t, "a pod of the new job", func() (bool, string) {
		for _, p := range listPods(t, admin) {
			if p.GetStatus().GetPhase() == "" || p.GetStatus().GetPhase() == "Pending" {
				running = p
			}
		}
		return running != nil, ""
	})
	if _, err := admin.Jobs("default").Delete(context.Background(), "pi", &metav1.DeleteOptions{PropagationPolicy: proto.String("Background")}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "finalizer of the orphan removed", func() (bool, string) {
		p, err := admin.Pods("default").Get(context.Background(), running.GetMetadata().GetName())
		if err != nil {
			return false, err.Error()
		}
		return len(p.GetMetadata().GetFinalizers()) == 0, fmt.Sprint(p.GetMetadata().GetFinalizers())
	})
}

// An orphan pod a job adopts gets the tracking finalizer in the adopting patch, as
// upstream's ControllerRefManager adds it: deleted after it succeeds, it is still counted.
func TestAdoptedPodIsTracked(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	orphan := &corev1.Pod{Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: "orphan", Namespace: "default", Labels: map[string]string{"app": "pi"}},
		Spec:     &corev1.PodSpec{RestartPolicy: "Never", Containers: []*corev1.Container{{Name: "pi", Image: "perl"}}}}
	if _, err := admin.Pods("default").Create(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	createJob(t, admin, 1, 1, 6, func(j *batchv1.Job) {
		j.Spec.ManualSelector = proto.Bool(true)
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		j.Spec.Template.Metadata = &metav1.ObjectMeta{Labels: map[string]string{"app": "pi"}}
	})
	l := startLive(t, srv)
	l.sees("job and orphan", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return len(ps) == 1 })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	adopted, err := admin.Pods("default").Get(context.Background(), "orphan")
	if err != nil {
		t.Fatal(err)
	}
	if !hasTrackingFinalizer(adopted) || len(adopted.GetMetadata().GetOwnerReferences()) != 1 {
		t.Fatalf("adopted pod: finalizers %v, owners %v", adopted.GetMetadata().GetFinalizers(), adopted.GetMetadata().GetOwnerReferences())
	}
	if n := len(listPods(t, admin)); n != 1 {
		t.Fatalf("%d pods after adoption, want the adopted one only", n)
	}
	setPhase(t, admin, adopted, "Succeeded")
	if _, err := admin.Pods("default").Delete(context.Background(), "orphan", &metav1.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	l.sees("deleted succeeded pod", func(_ *batchv1.Job, ps []*corev1.Pod) bool {
		return len(ps) == 1 && ps[0].GetMetadata().GetDeletionTimestamp() != nil && ps[0].GetStatus().GetPhase() == "Succeeded"
	})
	// Counting takes several syncs (uncounted, finalizer removed, counted); one may meet a
	// cache behind its own last write and conflict, as a real sync would, and is retried.
	controllertest.Eventually(t, "job complete with the adopted pod counted", func() (bool, string) {
		if err := l.sync(); err != nil {
			return false, err.Error()
		}
		st := getJob(t, admin).GetStatus()
		return st.GetSucceeded() == 1 && st.GetFailed() == 0, fmt.Sprint(st)
	})
}
