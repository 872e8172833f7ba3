package cronjob

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
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
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
)

// created is when the test CronJobs were created: 10:00:30 UTC.
var created = time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)

// minute is the minutes-since-epoch suffix of a Job scheduled at 10:mm UTC that day.
func minute(mm int) int64 { return time.Date(2026, 3, 2, 10, mm, 0, 0, time.UTC).Unix() / 60 }

// apiTransport is the recording fake with two things of a real apiserver the controller
// relies on: a create of an existing name is AlreadyExists, and deletes carry options.
type apiTransport struct {
	*controllertest.Transport
	mu       sync.Mutex
	policies []string
}

func (t *apiTransport) Create(ctx context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	name := obj.GetMetadata().GetName()
	if _, err := t.Transport.Transport.Get(ctx, transport.Ref{Mapping: ref.Mapping, Namespace: ref.Namespace, Name: name}); err == nil {
		return nil, apierrors.NewAlreadyExists(apierrors.GroupResource{Group: ref.Mapping.Kind.Group, Resource: ref.Mapping.Plural}, name)
	}
	return t.Transport.Create(ctx, ref, obj)
}

func (t *apiTransport) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	t.mu.Lock()
	t.policies = append(t.policies, opts.GetPropagationPolicy())
	t.mu.Unlock()
	return t.Transport.Delete(ctx, ref, opts)
}

// delayQueue remembers the delay of each AddAfter: the requeue for the next start time is
// what a sync promises, and no test waits for a timer.
type delayQueue struct {
	workqueue.Interface[string]
	mu     sync.Mutex
	delays map[string]time.Duration
}

func (q *delayQueue) AddAfter(key string, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.delays[key] = d
}

type fixture struct {
	t     *testing.T
	tr    *apiTransport
	inf   *informers.SharedInformerFactory
	rec   *controllertest.Recorder
	queue *delayQueue
	c     *Controller
	now   time.Time
}

func newFixture(t *testing.T, now time.Time) *fixture {
	f := &fixture{t: t, tr: &apiTransport{Transport: controllertest.NewTransport()}, rec: &controllertest.Recorder{}, now: now}
	f.inf = informers.NewSharedInformerFactory(f.tr, 0)
	q := workqueue.NewNamed[string]("test")
	t.Cleanup(q.ShutDown)
	f.queue = &delayQueue{Interface: q, delays: map[string]time.Duration{}}
	c, err := NewController(Config{Client: kube.New(f.tr), CronJob: f.inf.CronJobs().Informer(), Job: f.inf.Jobs().Informer(),
		Recorder: f.rec, Queue: f.queue, Now: func() time.Time { return f.now }, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func (f *fixture) put(objs ...runtime.Object) {
	f.t.Helper()
	controllertest.Put(f.t, f.tr.Transport, f.inf, objs...)
}

// sync runs one sync of default/hello and returns the writes it made.
func (f *fixture) sync() []string {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "default/hello"); err != nil {
		f.t.Fatal(err)
	}
	return f.tr.TakeActions()
}

// stored is the CronJob as the controller left it in the fake apiserver.
func (f *fixture) stored() *batchv1.CronJob {
	f.t.Helper()
	cj, err := kube.New(f.tr).CronJobs("default").Get(context.Background(), "hello")
	if err != nil {
		f.t.Fatal(err)
	}
	return cj
}

func (f *fixture) reasons() []string {
	var out []string
	for _, e := range f.rec.Take() {
		out = append(out, e.Reason)
	}
	return out
}

// newCronJob is a defaulted CronJob "hello" running every minute, created at 10:00:30.
func newCronJob(mutate ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		Kind: "CronJob", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "hello", Namespace: "default", Uid: "cj-uid", CreationTimestamp: controller.NewTime(created)},
		Spec: &batchv1.CronJobSpec{
			Schedule: "* * * * *",
			JobTemplate: &batchv1.JobTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "hello"}, Annotations: map[string]string{"note": "x"}},
				Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "OnFailure",
					Containers: []*corev1.Container{{Name: "hello", Image: "busybox"}}}}},
			},
		},
		Status: &batchv1.CronJobStatus{},
	}
	defaults.CronJob(cj)
	for _, m := range mutate {
		m(cj)
	}
	return cj
}

// ownedJob is a Job of hello's, scheduled at 10:mm, started then, and finished with cond
// ("" for still running) a minute later.
func ownedJob(mm int, cond string) *batchv1.Job {
	at := time.Date(2026, 3, 2, 10, mm, 0, 0, time.UTC)
	j := &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: jobName(newCronJob(), at), Namespace: "default", Uid: "uid-" + jobName(newCronJob(), at),
			OwnerReferences: []*metav1.OwnerReference{controller.NewControllerRef(newCronJob(), Kind)}},
		Status: &batchv1.JobStatus{StartTime: controller.NewTime(at)},
	}
	if cond != "" {
		j.Status.Conditions = []*batchv1.JobCondition{{Type: cond, Status: "True", LastTransitionTime: controller.NewTime(at.Add(time.Minute))}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = controller.NewTime(at.Add(time.Minute))
		}
	}
	return j
}

func withActive(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, jobRef(j))
		}
	}
}

func TestCreatesTheJobThatIsDue(t *testing.T) {
	f := newFixture(t, time.Date(2026, 3, 2, 10, 1, 5, 0, time.UTC))
	f.put(newCronJob())
	name := jobName(newCronJob(), time.Date(2026, 3, 2, 10, 1, 0, 0, time.UTC))
	if got, want := f.sync(), []string{"create jobs default/", "update cronjobs default/hello/status"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	if name != "hello-"+strconv.FormatInt(minute(1), 10) {
		t.Fatalf("job name %q", name)
	}
	j, err := kube.New(f.tr).Jobs("default").Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	m := j.GetMetadata()
	if m.GetLabels()["app"] != "hello" || m.GetAnnotations()["note"] != "x" ||
		m.GetAnnotations()[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-02T10:01:00Z" ||
		!controller.IsControlledBy(j, newCronJob()) || j.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() != "busybox" {
		t.Errorf("job = %v", j)
	}
	st := f.stored().GetStatus()
	if len(st.GetActive()) != 1 || st.GetActive()[0].GetName() != name || st.GetActive()[0].GetKind() != "Job" ||
		st.GetLastScheduleTime().GetSeconds() != time.Date(2026, 3, 2, 10, 1, 0, 0, time.UTC).Unix() {
		t.Errorf("status = %v", st)
	}
	if got := f.reasons(); !slices.Equal(got, []string{SuccessfulCreate}) {
		t.Errorf("events = %v", got)
	}
	// Next: 10:02:00 (+100ms), 54.9 s from 10:01:05.
	if d := f.queue.delays["default/hello"]; d != 55*time.Second+100*time.Millisecond {
		t.Errorf("requeue after %v", d)
	}
}

func TestNothingDueWaitsForTheNextTime(t *testing.T) {
	f := newFixture(t, created.Add(15*time.Second)) // 10:00:45
	f.put(newCronJob())
	if got := f.sync(); len(got) != 0 {
		t.Fatalf("actions = %q", got)
	}
	if d := f.queue.delays["default/hello"]; d != 15*time.Second+100*time.Millisecond {
		t.Errorf("requeue after %v", d)
	}
}

// A crash between the Job's create and the status write: the Job exists, the status does not
// list it. The next sync records it and creates nothing.
func TestExistingJobIsRecordedNotDuplicated(t *testing.T) {
	f := newFixture(t, time.Date(2026, 3, 2, 10, 1, 5, 0, time.UTC))
	running := ownedJob(1, "")
	// The cache has not seen the Job yet: only the apiserver has it.
	f.tr.AddObject(running)
	f.put(newCronJob())
	if got, want := f.sync(), []string{"update cronjobs default/hello/status"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	if st := f.stored().GetStatus(); len(st.GetActive()) != 1 || st.GetActive()[0].GetUid() != running.GetMetadata().GetUid() {
		t.Errorf("status = %v", st)
	}
	if got := f.reasons(); len(got) != 0 {
		t.Errorf("events = %v", got)
	}
}

func TestConcurrencyPolicy(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 2, 5, 0, time.UTC)
	forbid := func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }
	replace := func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent }
	lastAt1 := func(cj *batchv1.CronJob) {
		cj.Status.LastScheduleTime = controller.NewTime(time.Date(2026, 3, 2, 10, 1, 0, 0, time.UTC))
	}

	t.Run("Forbid", func(t *testing.T) {
		f := newFixture(t, now)
		running := ownedJob(1, "")
		f.put(running, newCronJob(forbid, lastAt1, withActive(running)))
		if got := f.sync(); len(got) != 0 {
			t.Fatalf("actions = %q", got)
		}
		if got := f.reasons(); !slices.Equal(got, []string{JobAlreadyActive}) {
			t.Errorf("events = %v", got)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		f := newFixture(t, now)
		running := ownedJob(1, "")
		f.put(running, newCronJob(replace, lastAt1, withActive(running)))
		want := []string{"create jobs default/", "delete jobs default/" + running.GetMetadata().GetName(), "update cronjobs default/hello/status"}
		if got := f.sync(); !slices.Equal(got, want) {
			t.Fatalf("actions = %q, want %q", got, want)
		}
		if !slices.Equal(f.tr.policies, []string{"Background"}) {
			t.Errorf("delete propagation = %v", f.tr.policies)
		}
		if st := f.stored().GetStatus(); len(st.GetActive()) != 1 || st.GetActive()[0].GetName() != "hello-"+strconv.FormatInt(minute(2), 10) {
			t.Errorf("active = %v", st.GetActive())
		}
		if got := f.reasons(); !slices.Equal(got, []string{SuccessfulDelete, SuccessfulCreate}) {
			t.Errorf("events = %v", got)
		}
	})
	t.Run("Allow", func(t *testing.T) {
		f := newFixture(t, now)
		running := ownedJob(1, "")
		f.put(running, newCronJob(lastAt1, withActive(running)))
		f.sync()
		if st := f.stored().GetStatus(); len(st.GetActive()) != 2 {
			t.Errorf("active = %v", st.GetActive())
		}
	})
}

func TestStartingDeadline(t *testing.T) {
	// The 10:01 run is due; at 10:01:50 a 30 s deadline has passed: it is skipped. A 60 s
	// one has not.
	now := time.Date(2026, 3, 2, 10, 1, 50, 0, time.UTC)
	f := newFixture(t, now)
	f.put(newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = proto.Int64(30) }))
	if got := f.sync(); len(got) != 0 {
		t.Fatalf("actions = %q", got)
	}
	// As upstream, the deadline bounds how far back start times are looked for, so the
	// skipped 10:01 is not even seen; the next look is at 10:02.
	if d := f.queue.delays["default/hello"]; d != 10*time.Second+100*time.Millisecond {
		t.Errorf("requeue after %v", d)
	}

	f = newFixture(t, now)
	f.put(newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = proto.Int64(60) }))
	if got := f.sync(); len(got) != 2 {
		t.Fatalf("actions = %q", got)
	}
}

func TestTooManyMissedTimesRunsTheLatest(t *testing.T) {
	now := created.Add(3 * time.Hour) // 13:00:30: 180 missed minutes
	f := newFixture(t, now)
	f.put(newCronJob())
	f.sync()
	if got := f.rec.Take(); len(got) != 2 || got[0].Reason != TooManyMissedTimes || got[1].Reason != SuccessfulCreate ||
		got[0].Message != "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew" {
		t.Errorf("events = %v", got)
	}
	if st := f.stored().GetStatus(); st.GetLastScheduleTime().GetSeconds() != time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("lastScheduleTime = %v", st.GetLastScheduleTime())
	}
}

func TestSuspendedRunsNothing(t *testing.T) {
	f := newFixture(t, created.Add(time.Hour))
	f.put(newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = proto.Bool(true) }))
	if got := f.sync(); len(got) != 0 {
		t.Fatalf("actions = %q", got)
	}
	if _, ok := f.queue.delays["default/hello"]; ok {
		t.Error("a suspended CronJob is requeued: it waits for the update that resumes it")
	}
}

func TestStatusFollowsTheJobs(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 2, 30, 0, time.UTC)
	f := newFixture(t, now)
	done := ownedJob(1, batchv1.JobComplete)
	gone := ownedJob(0, "")
	f.tr.DeleteObject(gone)
	f.put(done, newCronJob(withActive(done, gone), func(cj *batchv1.CronJob) {
		cj.Status.LastScheduleTime = controller.NewTime(time.Date(2026, 3, 2, 10, 2, 0, 0, time.UTC))
	}))
	if got, want := f.sync(), []string{"update cronjobs default/hello/status"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	st := f.stored().GetStatus()
	if len(st.GetActive()) != 0 || st.GetLastSuccessfulTime().GetSeconds() != done.GetStatus().GetCompletionTime().GetSeconds() {
		t.Errorf("status = %v", st)
	}
	got := f.rec.Take()
	if len(got) != 2 || got[0].Reason != SawCompletedJob || got[0].Message != "Saw completed job: "+done.GetMetadata().GetName()+", condition: Complete" ||
		got[1].Reason != MissingJob {
		t.Errorf("events = %v", got)
	}
}

func TestHistoryLimitsDeleteTheOldest(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 9, 30, 0, time.UTC)
	f := newFixture(t, now)
	var objs []runtime.Object
	for mm := 1; mm <= 5; mm++ {
		objs = append(objs, ownedJob(mm, batchv1.JobComplete))
	}
	objs = append(objs, ownedJob(6, batchv1.JobFailed), ownedJob(7, batchv1.JobFailed), ownedJob(8, ""))
	objs = append(objs, newCronJob(withActive(ownedJob(8, "")), func(cj *batchv1.CronJob) {
		cj.Status.LastScheduleTime = controller.NewTime(time.Date(2026, 3, 2, 10, 9, 0, 0, time.UTC))
		cj.Status.LastSuccessfulTime = controller.NewTime(time.Date(2026, 3, 2, 10, 6, 0, 0, time.UTC))
	}))
	f.put(objs...)
	want := []string{
		"delete jobs default/hello-" + strconv.FormatInt(minute(1), 10), "delete jobs default/hello-" + strconv.FormatInt(minute(2), 10),
		"delete jobs default/hello-" + strconv.FormatInt(minute(6), 10), "update cronjobs default/hello/status",
	}
	if got := f.sync(); !slices.Equal(got, want) {
		t.Fatalf("actions = %q\nwant %q", got, want)
	}
	if slices.ContainsFunc(f.tr.policies, func(p string) bool { return p != "Background" }) {
		t.Errorf("delete propagation = %v", f.tr.policies)
	}
}

func TestTimeZone(t *testing.T) {
	// 09:00 in Tokyo is 00:00 UTC.
	now := time.Date(2026, 3, 3, 0, 0, 20, 0, time.UTC)
	f := newFixture(t, now)
	f.put(newCronJob(func(cj *batchv1.CronJob) {
		cj.Spec.Schedule, cj.Spec.TimeZone = "0 9 * * *", proto.String("Asia/Tokyo")
	}))
	f.sync()
	at := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	j, err := kube.New(f.tr).Jobs("default").Get(context.Background(), jobName(newCronJob(), at))
	if err != nil {
		t.Fatal(err)
	}
	if got := j.GetMetadata().GetAnnotations()[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-03-03T09:00:00+09:00" {
		t.Errorf("scheduled timestamp = %q", got)
	}
	if d := f.queue.delays["default/hello"]; d != 24*time.Hour-20*time.Second+100*time.Millisecond {
		t.Errorf("requeue after %v", d)
	}
}

func TestJobEventsQueueTheirCronJob(t *testing.T) {
	f := newFixture(t, created)
	f.put(newCronJob())
	f.c.enqueueOwner(ownedJob(1, ""))
	other := ownedJob(2, "")
	other.Metadata.OwnerReferences[0].Uid = "another-uid" // a former CronJob of the name
	f.c.enqueueOwner(other)
	if got := controllertest.DrainQueue(f.queue); !slices.Equal(got, []string{"default/hello"}) {
		t.Errorf("queued %v", got)
	}
}
