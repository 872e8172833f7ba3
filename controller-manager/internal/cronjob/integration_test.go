package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/record"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestCronJobRunsEveryMinute runs the controller against a real apiserver, with the
// controller-manager's RBAC identity, on a fake clock that both the controller and its queue
// read: a `* * * * *` CronJob gets a Job once the clock passes each minute (the requeue for
// the next start time fires when the clock is stepped, nothing sleeps a minute), the Job
// completing shows in the status, and with successfulJobsHistoryLimit 1 the older Job is
// deleted once a newer one completed.
func TestCronJobRunsEveryMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	cs := controllertest.ControllerManagerClient(t, srv, "cronjob-controller")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: "cronjob-controller", Log: log})
	clk := clocktesting.NewFakeClock(time.Now())
	c, err := NewController(Config{
		Client: cs, CronJob: factory.CronJobs().Informer(), Job: factory.Jobs().Informer(), Recorder: rec, Log: log,
		Now: clk.Now, Queue: workqueue.New(workqueue.Config[string]{Name: "cronjob", Clock: clk}),
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	go rec.Run(ctx)
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	cj, err := admin.CronJobs("default").Create(ctx, &batchv1.CronJob{
		Kind: "CronJob", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "tick", Namespace: "default"},
		Spec: &batchv1.CronJobSpec{Schedule: "* * * * *", SuccessfulJobsHistoryLimit: ptr[int32](1),
			JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{
				RestartPolicy: "Never", Containers: []*corev1.Container{{Name: "tick", Image: "busybox"}}}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first start time is the minute after the CronJob's creation (by the apiserver's
	// clock, which the fake one started from).
	first := controller.TimeOf(cj.GetMetadata().GetCreationTimestamp()).Truncate(time.Minute).Add(time.Minute)

	// runMinute moves the clock past the start time at, and waits for that run's Job and the
	// status that lists it.
	runMinute := func(at time.Time) *batchv1.Job {
		t.Helper()
		// Only once the controller has queued the CronJob for at does stepping fire it.
		controllertest.Eventually(t, "requeue for "+at.Format(time.TimeOnly), func() (bool, string) {
			return clk.HasWaiters(), "no timer"
		})
		clk.SetTime(at.Add(time.Second))
		name := fmt.Sprintf("tick-%d", at.Unix()/60)
		var j *batchv1.Job
		controllertest.Eventually(t, "job "+name, func() (bool, string) {
			cur, err := admin.CronJobs("default").Get(ctx, "tick")
			if err != nil {
				return false, err.Error()
			}
			for _, ref := range cur.GetStatus().GetActive() {
				if ref.GetName() == name {
					j, err = admin.Jobs("default").Get(ctx, name)
					return err == nil, fmt.Sprint(err)
				}
			}
			return false, fmt.Sprintf("active %v", cur.GetStatus().GetActive())
		})
		if got := j.GetMetadata().GetAnnotations()[batchv1.CronJobScheduledTimestampAnnotation]; got != at.UTC().Format(time.RFC3339) {
			t.Errorf("%s scheduled timestamp = %q", name, got)
		}
		if !controller.IsControlledBy(j, cj) {
			t.Errorf("%s owner references = %v", name, j.GetMetadata().GetOwnerReferences())
		}
		return j
	}
	complete := func(j *batchv1.Job) {
		t.Helper()
		now := clk.Now()
		j.Status = &batchv1.JobStatus{Succeeded: 1, StartTime: controller.NewTime(now), CompletionTime: controller.NewTime(now),
			Conditions: []*batchv1.JobCondition{{Type: batchv1.JobComplete, Status: "True", LastTransitionTime: controller.NewTime(now)}}}
		if _, err := admin.Jobs("default").UpdateStatus(ctx, j); err != nil {
			t.Fatal(err)
		}
	}

	j1 := runMinute(first)
	complete(j1)
	controllertest.Eventually(t, "first job seen complete", func() (bool, string) {
		cur, err := admin.CronJobs("default").Get(ctx, "tick")
		if err != nil {
			return false, err.Error()
		}
		st := cur.GetStatus()
		return len(st.GetActive()) == 0 && st.GetLastSuccessfulTime() != nil, fmt.Sprint(st)
	})

	j2 := runMinute(first.Add(time.Minute))
	complete(j2)
	controllertest.Eventually(t, "older job deleted by the history limit", func() (bool, string) {
		_, err := admin.Jobs("default").Get(ctx, j1.GetMetadata().GetName())
		return err != nil, fmt.Sprint(err)
	})
	if _, err := admin.Jobs("default").Get(ctx, j2.GetMetadata().GetName()); err != nil {
		t.Errorf("newest job: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
