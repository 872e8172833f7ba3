package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/controllertest"
	"kubelab.io/controller-manager/internal/garbagecollector"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// TestFinishedJobWithZeroTTLDisappears runs the controller against a real apiserver with
// the controller-manager's RBAC identity (so the role must allow deleting Jobs), beside the
// garbage collector that finishes the Foreground deletion: a Job marked Complete with
// ttlSecondsAfterFinished 0 is deleted.
func TestFinishedJobWithZeroTTLDisappears(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	cs := controllertest.ControllerManagerClient(t, srv, "ttl-after-finished-controller")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	cc := &controllerctx.Context{Client: cs, Informers: factory, Log: log, Options: controllerctx.DefaultOptions()}
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := garbagecollector.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{}, 2)
	go func() { c.Run(ctx, 1); done <- struct{}{} }()
	go func() { gc.Run(ctx, 1); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; factory.Shutdown() })

	job, err := admin.Jobs("default").Create(ctx, &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: &batchv1.JobSpec{TtlSecondsAfterFinished: proto.Int32(0),
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "Never",
				Containers: []*corev1.Container{{Name: "pi", Image: "perl"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Finished as the job controller would leave it (no job controller runs here).
	now := controller.NewTime(time.Now())
	job.Status = &batchv1.JobStatus{StartTime: now, CompletionTime: now, Succeeded: 1, Conditions: []*batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: controller.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		{Type: batchv1.JobComplete, Status: controller.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
	}}
	if _, err := admin.Jobs("default").UpdateStatus(ctx, job); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "job deleted", func() (bool, string) {
		j, err := admin.Jobs("default").Get(ctx, "pi")
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("deletionTimestamp %v, finalizers %v", j.GetMetadata().GetDeletionTimestamp(), j.GetMetadata().GetFinalizers())
	})
}
