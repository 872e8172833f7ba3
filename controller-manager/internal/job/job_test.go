package job

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture is a controller over a fake client whose caches the test fills directly (the
// informers never run), so a sync sees exactly what the test put there.
type fixture struct {
	t    *testing.T
	fake *controllertest.Transport
	rec  *controllertest.Recorder
	inf  *informers.SharedInformerFactory
	c    *Controller
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, fake: controllertest.NewTransport(), rec: &controllertest.Recorder{}, now: epoch}
	f.inf = informers.NewSharedInformerFactory(f.fake, 0)
	queue := workqueue.NewNamed[string]("test")
	t.Cleanup(queue.ShutDown)
	c, err := NewController(Config{
		Client: kube.New(f.fake), Job: f.inf.Jobs().Informer(), Pod: f.inf.Pods().Informer(),
		Recorder: f.rec, Now: func() time.Time { return f.now }, Queue: queue, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// put stores obj in the fake server and the cache, as a synced informer would hold it.
func (f *fixture) put(obj runtime.Object) {
	f.t.Helper()
	stored := f.fake.UpdateObject(obj)
	idx := f.inf.Pods().Informer().GetIndexer()
	if _, ok := stored.(*batchv1.Job); ok {
		idx = f.inf.Jobs().Informer().GetIndexer()
	}
	if err := idx.Update(stored); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "default/pi"); err != nil {
		f.t.Fatal(err)
	}
}

// stored is the job as the last status write left it.
func (f *fixture) stored() *batchv1.Job {
	f.t.Helper()
	j, err := f.fake.Get(context.Background(), transport.Ref{Mapping: jobMapping(), Namespace: "default", Name: "pi"})
	if err != nil {
		f.t.Fatal(err)
	}
	return j.(*batchv1.Job)
}

func (f *fixture) expect(actions []string, events ...string) {
	f.t.Helper()
	if got := f.fake.TakeActions(); !slices.Equal(got, actions) {
		f.t.Errorf("actions:\n  got  %q\n  want %q", got, actions)
	}
	var got []string
	for _, e := range f.rec.Take() {
		got = append(got, e.Type+" "+e.Reason+" "+e.Message)
	}
	sort.Strings(got)
	sort.Strings(events)
	if !slices.Equal(got, events) {
		f.t.Errorf("events:\n  got  %q\n  want %q", got, events)
	}
}

func jobMapping() scheme.Mapping { m, _ := scheme.MappingFor(Kind); return m }

func newJob(completions, parallelism, backoffLimit int32) *batchv1.Job {
	return &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default", Uid: "job-uid"},
		Spec: &batchv1.JobSpec{
			Completions: proto.Int32(completions), Parallelism: proto.Int32(parallelism), BackoffLimit: proto.Int32(backoffLimit),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.LabelControllerUID: "job-uid"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{batchv1.LabelControllerUID: "job-uid", batchv1.LabelJobName: "pi"}},
				Spec:     &corev1.PodSpec{RestartPolicy: "Never", Containers: []*corev1.Container{{Name: "pi", Image: "perl"}}},
			},
		},
	}
}

// pod is a pod of newJob's in phase, with the tracking finalizer the controller gives it.
func pod(name, phase string) *corev1.Pod {
	j := newJob(1, 1, 0)
	p := controller.PodFromTemplate(j.Spec.Template, j, controller.NewControllerRef(j, Kind))
	p.Metadata.Name, p.Metadata.Uid, p.Metadata.GenerateName = name, "uid-"+name, ""
	p.Metadata.Finalizers = []string{batchv1.JobTrackingFinalizer}
	p.Status = &corev1.PodStatus{Phase: phase}
	return p
}

func conditions(j *batchv1.Job) []string {
	var out []string
	for _, c := range j.GetStatus().GetConditions() {
		out = append(out, c.GetType()+"="+c.GetStatus()+" "+c.GetReason())
	}
	return out
}

const (
	createPod    = "create pods default/"
	updateStatus = "update jobs default/pi/status"
)

func TestParallelismBoundsActivePods(t *testing.T) {
	f := newFixture(t)
	f.put(newJob(5, 2, 6))
	f.sync()
	f.expect([]string{createPod, createPod, updateStatus},
		"Normal SuccessfulCreate Created pod: pi-00001", "Normal SuccessfulCreate Created pod: pi-00002")
	st := f.stored().GetStatus()
	if st.GetActive() != 2 || st.GetStartTime() == nil || controller.TimeOf(st.GetStartTime()) != epoch {
		t.Errorf("status = %v", st)
	}
	// The informer has not shown the two pods yet: expectations keep a second sync from
	// creating them again (it only reports what its cache shows).
	f.put(f.stored())
	f.sync()
	f.expect([]string{updateStatus})

	// Two left to complete but parallelism 2 and one running: one more pod.
	f.put(f.stored())
	f.put(pod("a", "Succeeded"))
	f.put(pod("b", "Succeeded"))
	f.put(pod("c", "Running"))
	f.c.expectations.Delete("default/pi")
	f.sync()
	f.expect([]string{createPod, "patch pods default/a", "patch pods default/b", updateStatus, updateStatus}, "Normal SuccessfulCreate Created pod: pi-00003")
	if st := f.stored().GetStatus(); st.GetSucceeded() != 2 || st.GetActive() != 2 {
		t.Errorf("status = %v", st)
	}
}

func TestCompletionsCompleteTheJob(t *testing.T) {
	f := newFixture(t)
	f.put(newJob(2, 1, 6))
	f.put(pod("a", "Succeeded"))
	f.put(pod("b", "Running"))
	f.sync()
	// One running, one to go: nothing to create while it runs.
	f.expect([]string{"patch pods default/a", updateStatus, updateStatus})
	if st := f.stored().GetStatus(); st.GetSucceeded() != 1 || st.GetActive() != 1 || len(st.GetConditions()) != 0 {
		t.Errorf("status = %v", st)
	}

	f.put(f.stored())
	f.now = epoch.Add(7 * time.Second)
	f.put(pod("b", "Succeeded"))
	f.sync()
	f.expect([]string{"patch pods default/b", updateStatus, updateStatus}, "Normal Completed Job completed")
	j := f.stored()
	if got, want := conditions(j), []string{"SuccessCriteriaMet=True CompletionsReached", "Complete=True CompletionsReached"}; !slices.Equal(got, want) {
		t.Errorf("conditions = %q, want %q", got, want)
	}
	if ct := j.GetStatus().GetCompletionTime(); ct == nil || controller.TimeOf(ct) != f.now {
		t.Errorf("completionTime = %v", ct)
	}
	if j.GetStatus().GetSucceeded() != 2 || j.GetStatus().GetActive() != 0 {
		t.Errorf("status = %v", j.GetStatus())
	}
	// A finished job is left alone.
	f.put(j)
	f.sync()
	f.expect(nil)
}

func TestBackoffLimitFailsTheJob(t *testing.T) {
	f := newFixture(t)
	f.put(newJob(3, 2, 1))
	f.put(pod("a", "Failed"))
	f.put(pod("b", "Running"))
	f.sync()
	// One failure is within backoffLimit 1: the failed pod is replaced.
	f.expect([]string{createPod, "patch pods default/a", updateStatus, updateStatus}, "Normal SuccessfulCreate Created pod: pi-00001")

	f.c.expectations.Delete("default/pi")
	f.put(f.stored())
	f.put(pod("c", "Failed"))
	f.sync()
	// Two failures: FailureTarget, and the running pod goes, keeping its finalizer until
	// it is counted: when a job fails, its pods that did not succeed count as failed, as
	// upstream. Failed waits for the pod to end.
	f.expect([]string{"delete pods default/b", "patch pods default/b", "patch pods default/c", updateStatus, updateStatus}, "Normal SuccessfulDelete Deleted pod: b")
	j := f.stored()
	if got, want := conditions(j), []string{"FailureTarget=True BackoffLimitExceeded"}; !slices.Equal(got, want) {
		t.Errorf("conditions = %q, want %q", got, want)
	}
	if j.GetStatus().GetFailed() != 3 || j.GetStatus().GetTerminating() != 1 || j.GetStatus().GetActive() != 0 {
		t.Errorf("status = %v", j.GetStatus())
	}

	f.c.expectations.Delete("default/pi")
	f.put(j)
	if err := f.inf.Pods().Informer().GetIndexer().Delete(pod("b", "Running")); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.expect([]string{updateStatus}, "Warning BackoffLimitExceeded Job has reached the specified backoff limit")
	j = f.stored()
	if got, want := conditions(j), []string{"FailureTarget=True BackoffLimitExceeded", "Failed=True BackoffLimitExceeded"}; !slices.Equal(got, want) {
		t.Errorf("conditions = %q, want %q", got, want)
	}
	if j.GetStatus().GetCompletionTime() != nil {
		t.Error("a failed job has a completionTime")
	}
}

func TestActiveDeadlineFailsTheJob(t *testing.T) {
	f := newFixture(t)
	j := newJob(1, 1, 6)
	j.Spec.ActiveDeadlineSeconds = proto.Int64(60)
	j.Status = &batchv1.JobStatus{StartTime: controller.NewTime(epoch)}
	f.put(j)
	f.put(pod("a", "Running"))
	f.now = epoch.Add(59 * time.Second)
	f.sync()
	f.expect([]string{updateStatus}) // active and ready counted; the deadline not yet passed

	f.put(f.stored())
	f.now = epoch.Add(60 * time.Second)
	f.sync()
	f.expect([]string{"delete pods default/a", "patch pods default/a", updateStatus, updateStatus}, "Normal SuccessfulDelete Deleted pod: a")
	f.c.expectations.Delete("default/pi")
	f.put(f.stored())
	f.put(pod("a", "Failed")) // the kubelet killed it
	f.sync()
	f.expect([]string{updateStatus}, "Warning DeadlineExceeded Job was active longer than specified deadline")
	if got, want := conditions(f.stored()), []string{"FailureTarget=True DeadlineExceeded", "Failed=True DeadlineExceeded"}; !slices.Equal(got, want) {
		t.Errorf("conditions = %q, want %q", got, want)
	}
}

func TestSuspendDeletesActivePods(t *testing.T) {
	f := newFixture(t)
	j := newJob(4, 2, 6)
	j.Spec.Suspend = proto.Bool(true)
	f.put(j)
	f.put(pod("a", "Running"))
	f.put(pod("b", "Pending"))
	f.sync()
	// Their finalizers go first: pods deleted for a suspension did not fail.
	f.expect([]string{"delete pods default/a", "delete pods default/b", "patch pods default/a", "patch pods default/b", updateStatus},
		"Normal Suspended Job suspended", "Normal SuccessfulDelete Deleted pod: a", "Normal SuccessfulDelete Deleted pod: b")
	if got, want := conditions(f.stored()), []string{"Suspended=True JobSuspended"}; !slices.Equal(got, want) {
		t.Errorf("conditions = %q, want %q", got, want)
	}

	// Resumed: the condition turns False, startTime restarts and pods are made again.
	f.c.expectations.Delete("default/pi")
	resumed := f.stored()
	resumed.Spec.Suspend = proto.Bool(false)
	f.put(resumed)
	for _, p := range []string{"a", "b"} {
		if err := f.inf.Pods().Informer().GetIndexer().Delete(pod(p, "Running")); err != nil {
			t.Fatal(err)
		}
	}
	f.now = epoch.Add(time.Hour)
	f.sync()
	f.expect([]string{createPod, createPod, updateStatus}, "Normal Resumed Job resumed",
		"Normal SuccessfulCreate Created pod: pi-00001", "Normal SuccessfulCreate Created pod: pi-00002")
	st := f.stored().GetStatus()
	if got, want := conditions(f.stored()), []string{"Suspended=False JobResumed"}; !slices.Equal(got, want) {
		t.Errorf("conditions = %q, want %q", got, want)
	}
	if controller.TimeOf(st.GetStartTime()) != f.now {
		t.Errorf("startTime = %v, want the resume time", st.GetStartTime())
	}
}

// TestRestartCreatesNoDuplicates: a controller that starts afresh (no expectations) over a
// cache holding the pods its predecessor made creates none.
func TestRestartCreatesNoDuplicates(t *testing.T) {
	f := newFixture(t)
	j := newJob(3, 2, 6)
	j.Status = &batchv1.JobStatus{StartTime: controller.NewTime(epoch), Active: 2, Ready: proto.Int32(0), Terminating: proto.Int32(0),
		UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	f.put(j)
	f.put(pod("a", "Running"))
	f.put(pod("b", "Pending"))
	f.sync()
	f.expect(nil)
}

func TestWantActive(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		completions               *int32
		parallelism               int32
		active, succeeded, expect int32
	}{
		{"bounded by parallelism", proto.Int32(10), 3, 0, 0, 3},
		{"bounded by the completions left", proto.Int32(4), 3, 2, 3, 1},
		{"done", proto.Int32(4), 3, 0, 4, 0},
		{"work queue before any success", nil, 3, 1, 0, 3},
		{"work queue after a success keeps what runs", nil, 3, 2, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &batchv1.JobSpec{Completions: tc.completions, Parallelism: proto.Int32(tc.parallelism)}
			if got := wantActive(spec, tc.active, tc.succeeded); got != tc.expect {
				t.Errorf("wantActive = %d, want %d", got, tc.expect)
			}
		})
	}
}
