package ttlafterfinished

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// deleteCall is one Delete the controller sent, with the options it sent it with.
type deleteCall struct {
	name, policy, uid string
}

// recordingTransport is cachetest's in-memory transport that remembers deletes and gets, so
// a test can tell a delete from none and see that the apiserver was asked before deleting.
type recordingTransport struct {
	*cachetest.Transport
	mu      sync.Mutex
	deletes []deleteCall
	gets    int
}

func (r *recordingTransport) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	r.mu.Lock()
	r.gets++
	r.mu.Unlock()
	return r.Transport.Get(ctx, ref)
}

func (r *recordingTransport) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	r.mu.Lock()
	r.deletes = append(r.deletes, deleteCall{ref.Name, opts.GetPropagationPolicy(), opts.GetPreconditions().GetUid()})
	r.mu.Unlock()
	return r.Transport.Delete(ctx, ref, opts)
}

// delayQueue is a work queue that remembers the delays AddAfter was given: the requeue a
// not-yet-expired Job gets is what the tests check, not when a real clock fires it.
type delayQueue struct {
	workqueue.Interface[string]
	mu     sync.Mutex
	delays map[string]time.Duration
}

func (q *delayQueue) AddAfter(key string, d time.Duration) {
	q.mu.Lock()
	q.delays[key] = d
	q.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	tr    *recordingTransport
	inf   *informers.SharedInformerFactory
	queue *delayQueue
	c     *Controller
	now   time.Time
}

// newFixture builds the controller over a fake client whose cache the test fills directly
// (the informer never runs), so a sync sees exactly the cached Job the test put there.
func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, tr: &recordingTransport{Transport: cachetest.New()}, now: epoch}
	f.inf = informers.NewSharedInformerFactory(f.tr, 0)
	q := workqueue.NewNamed[string]("test")
	t.Cleanup(q.ShutDown)
	f.queue = &delayQueue{Interface: q, delays: map[string]time.Duration{}}
	c, err := NewController(Config{Client: kube.New(f.tr), Job: f.inf.Jobs().Informer(), Queue: f.queue,
		Now: func() time.Time { return f.now }, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// put stores server in the fake apiserver and cached in the informer's cache; they differ
// when the cache lags a change.
func (f *fixture) put(cached, server *batchv1.Job) {
	f.t.Helper()
	f.tr.UpdateObject(server)
	if err := f.inf.Jobs().Informer().GetIndexer().Update(cached); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "default/pi"); err != nil {
		f.t.Fatal(err)
	}
}

// finishedJob is a Job that turned condType at finishedAt, with ttl seconds to live.
func finishedJob(condType string, finishedAt time.Time, ttl int32) *batchv1.Job {
	return &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default", Uid: "job-uid"},
		Spec:     &batchv1.JobSpec{TtlSecondsAfterFinished: proto.Int32(ttl)},
		Status: &batchv1.JobStatus{Conditions: []*batchv1.JobCondition{
			{Type: condType, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(finishedAt)},
		}},
	}
}

func TestNotYetExpiredIsRequeuedForItsExpiry(t *testing.T) {
	f := newFixture(t)
	j := finishedJob(batchv1.JobComplete, epoch, 100)
	f.put(j, j)
	f.now = epoch.Add(30 * time.Second)
	f.sync()
	if len(f.tr.deletes) != 0 {
		t.Fatalf("deleted before expiry: %v", f.tr.deletes)
	}
	if got, want := f.queue.delays["default/pi"], 70*time.Second; got != want {
		t.Fatalf("requeued after %v, want %v", got, want)
	}
	if f.tr.gets != 0 {
		t.Errorf("the apiserver was asked %d times for a Job the cache shows unexpired", f.tr.gets)
	}
}

func TestExpiredIsDeletedForegroundWithUIDPrecondition(t *testing.T) {
	for _, cond := range []string{batchv1.JobComplete, batchv1.JobFailed} {
		t.Run(cond, func(t *testing.T) {
			f := newFixture(t)
			j := finishedJob(cond, epoch, 100)
			f.put(j, j)
			f.now = epoch.Add(100 * time.Second)
			f.sync()
			want := []deleteCall{{"pi", "Foreground", "job-uid"}}
			if len(f.tr.deletes) != 1 || f.tr.deletes[0] != want[0] {
				t.Fatalf("deletes = %v, want %v", f.tr.deletes, want)
			}
			if f.tr.gets != 1 {
				t.Errorf("the Job was read from the apiserver %d times before deleting, want 1", f.tr.gets)
			}
		})
	}
}

// A Complete Job without the condition's transition time counts from completionTime.
func TestFinishTimeFallsBackToCompletionTime(t *testing.T) {
	f := newFixture(t)
	j := finishedJob(batchv1.JobComplete, epoch, 10)
	j.Status.Conditions[0].LastTransitionTime = nil
	j.Status.CompletionTime = controller.NewTime(epoch.Add(5 * time.Second))
	f.put(j, j)
	f.now = epoch.Add(10 * time.Second)
	f.sync()
	if got, want := f.queue.delays["default/pi"], 5*time.Second; got != want || len(f.tr.deletes) != 0 {
		t.Fatalf("requeued after %v (want %v), deletes %v", got, want, f.tr.deletes)
	}
}

// The cache says expired, but the TTL was raised since: the apiserver's Job decides, it is
// kept and requeued for its new expiry.
func TestRaisedTTLAfterExpiryIsNotDeleted(t *testing.T) {
	f := newFixture(t)
	cached := finishedJob(batchv1.JobComplete, epoch, 10)
	fresh := finishedJob(batchv1.JobComplete, epoch, 3600)
	f.put(cached, fresh)
	f.now = epoch.Add(time.Minute)
	f.sync()
	if len(f.tr.deletes) != 0 {
		t.Fatalf("deleted a Job whose TTL was raised: %v", f.tr.deletes)
	}
	if got, want := f.queue.delays["default/pi"], 3600*time.Second-time.Minute; got != want {
		t.Fatalf("requeued after %v, want %v", got, want)
	}
}

func TestNothingIsDoneForJobsNotDue(t *testing.T) {
	running := finishedJob(batchv1.JobComplete, epoch, 0)
	running.Status = &batchv1.JobStatus{Conditions: []*batchv1.JobCondition{
		// Not yet terminal: the job controller still deletes the remaining pods.
		{Type: batchv1.JobSuccessCriteriaMet, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(epoch)},
	}}
	noTTL := finishedJob(batchv1.JobComplete, epoch, 0)
	noTTL.Spec.TtlSecondsAfterFinished = nil
	falseCond := finishedJob(batchv1.JobFailed, epoch, 0)
	falseCond.Status.Conditions[0].Status = controller.ConditionFalse
	deleting := finishedJob(batchv1.JobComplete, epoch, 0)
	deleting.Metadata.DeletionTimestamp = controller.NewTime(epoch)
	for name, j := range map[string]*batchv1.Job{"unfinished": running, "no ttl": noTTL, "condition false": falseCond, "being deleted": deleting} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.put(j, j)
			f.now = epoch.Add(time.Hour)
			f.sync()
			if len(f.tr.deletes) != 0 || f.tr.gets != 0 || len(f.queue.delays) != 0 {
				t.Fatalf("deletes %v, gets %d, requeues %v; want none", f.tr.deletes, f.tr.gets, f.queue.delays)
			}
			// Nor do its events queue it.
			f.c.enqueue(j)
			if n := f.queue.Len(); n != 0 {
				t.Fatalf("event queued the Job (%d keys)", n)
			}
		})
	}
}

func TestGoneJobIsNotAnError(t *testing.T) {
	f := newFixture(t)
	f.sync()
	if len(f.tr.deletes) != 0 {
		t.Fatalf("deletes = %v", f.tr.deletes)
	}
}
