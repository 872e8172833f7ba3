package job

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/controllertest"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestJobRunsToCompletion runs the controller against a real apiserver, with the
// controller-manager's RBAC identity: a Job of completions 2 and parallelism 1 gets its pods
// one after another, each marked Succeeded through the status subresource as a kubelet
// would, and ends Complete.
func TestJobRunsToCompletion(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	cs := controllertest.ControllerManagerClient(t, srv, "job-controller")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: "job-controller", Log: log})
	c, err := New(ctx, &controllerctx.Context{
		Client: cs, Informers: factory, Log: log, Options: controllerctx.DefaultOptions(),
		Recorder: func(string) *record.Recorder { return rec },
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	go rec.Run(ctx)
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	job, err := admin.Jobs("default").Create(ctx, &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1",
		Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: &batchv1.JobSpec{Completions: proto.Int32(2), Parallelism: proto.Int32(1),
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "Never",
				Containers: []*corev1.Container{{Name: "pi", Image: "perl"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	selector := batchv1.LabelControllerUID + "=" + job.GetMetadata().GetUid()
	for i := range 2 {
		var running *corev1.Pod
		controllertest.Eventually(t, fmt.Sprintf("pod %d", i+1), func() (bool, string) {
			l, err := admin.Pods("default").List(ctx, transport.ListOptions{LabelSelector: selector})
			if err != nil {
				return false, err.Error()
			}
			var active, done int
			for _, p := range l.GetItems() {
				if p.GetStatus().GetPhase() == "Succeeded" {
					done++
				} else {
					active, running = active+1, p
				}
			}
			// Parallelism 1: never a second pod beside the running one.
			if active > 1 {
				t.Fatalf("%d active pods", active)
			}
			return active == 1 && done == i, fmt.Sprintf("%d active, %d succeeded", active, done)
		})
		if got := running.GetMetadata().GetOwnerReferences(); len(got) != 1 || got[0].GetUid() != job.GetMetadata().GetUid() || !got[0].GetController() {
			t.Fatalf("pod owner references = %v", got)
		}
		running.Status.Phase = "Succeeded"
		if _, err := admin.Pods("default").UpdateStatus(ctx, running); err != nil {
			t.Fatal(err)
		}
	}
	controllertest.Eventually(t, "job complete", func() (bool, string) {
		j, err := admin.Jobs("default").Get(ctx, "pi")
		if err != nil {
			return false, err.Error()
		}
		st := j.GetStatus()
		return conditionTrue(st, batchv1.JobComplete) && st.GetSucceeded() == 2 && st.GetCompletionTime() != nil, fmt.Sprint(st)
	})
	controllertest.Eventually(t, "Completed event", func() (bool, string) {
		l, err := admin.Events("default").List(ctx, transport.ListOptions{FieldSelector: "involvedObject.name=pi,reason=Completed"})
		if err != nil {
			return false, err.Error()
		}
		return len(l.GetItems()) == 1, fmt.Sprint(len(l.GetItems()))
	})
}
