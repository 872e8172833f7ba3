package defaults_test

import (
	"maps"
	"testing"

	"google.golang.org/protobuf/proto"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
)

func TestJobDefaults(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		parallelism, completion *int32
		wantP, wantC            *int32
	}{
		{"neither", nil, nil, proto.Int32(1), proto.Int32(1)},
		// A work queue: completions stays unset, any success completes the job.
		{"parallelism only", proto.Int32(3), nil, proto.Int32(3), nil},
		{"completions only", nil, proto.Int32(5), proto.Int32(1), proto.Int32(5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &batchv1.Job{Spec: &batchv1.JobSpec{Parallelism: tc.parallelism, Completions: tc.completion}}
			defaults.Job(j)
			s := j.Spec
			if !sameInt32(s.Parallelism, tc.wantP) || !sameInt32(s.Completions, tc.wantC) {
				t.Errorf("parallelism, completions = %v, %v; want %v, %v", s.Parallelism, s.Completions, tc.wantP, tc.wantC)
			}
			if s.GetBackoffLimit() != 6 || s.GetCompletionMode() != "NonIndexed" || s.Suspend == nil || s.GetSuspend() {
				t.Errorf("backoffLimit %v, completionMode %v, suspend %v", s.BackoffLimit, s.CompletionMode, s.Suspend)
			}
			if rp := s.GetTemplate().GetSpec().GetRestartPolicy(); rp != "Always" {
				t.Errorf("template restartPolicy = %q, want the pod default Always (validation refuses it)", rp)
			}
		})
	}
}

func sameInt32(a, b *int32) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestJobOnCreateGeneratesSelector(t *testing.T) {
	j := &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: "pi", Uid: "u1"},
		Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "pi", "job-name": "mine"}},
		}},
		Status: &batchv1.JobStatus{Succeeded: 3},
	}
	defaults.JobOnCreate(j)
	want := map[string]string{"app": "pi", "job-name": "mine", "batch.kubernetes.io/job-name": "pi",
		"controller-uid": "u1", "batch.kubernetes.io/controller-uid": "u1"}
	if got := j.Spec.Template.Metadata.Labels; !maps.Equal(got, want) {
		t.Errorf("template labels = %v, want %v (a user's label is kept for validation)", got, want)
	}
	if got := j.Spec.Selector.GetMatchLabels(); !maps.Equal(got, map[string]string{"batch.kubernetes.io/controller-uid": "u1"}) {
		t.Errorf("selector = %v", got)
	}
	if !maps.Equal(j.Metadata.Labels, want) {
		t.Errorf("job labels = %v, want the template's", j.Metadata.Labels)
	}
	if j.Status.GetSucceeded() != 0 {
		t.Errorf("status kept on create: %v", j.Status)
	}

	manual := &batchv1.Job{Metadata: &metav1.ObjectMeta{Name: "m", Uid: "u2"}, Spec: &batchv1.JobSpec{
		ManualSelector: proto.Bool(true), Template: &corev1.PodTemplateSpec{},
	}}
	defaults.JobOnCreate(manual)
	if manual.Spec.Selector != nil || manual.Spec.Template.Metadata != nil {
		t.Errorf("manualSelector job was given %v, %v", manual.Spec.Selector, manual.Spec.Template.Metadata)
	}
}

func TestCronJobDefaults(t *testing.T) {
	cj := &batchv1.CronJob{Spec: &batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{}}}}
	defaults.CronJob(cj)
	spec := cj.Spec
	if spec.ConcurrencyPolicy != "Allow" || spec.GetSuspend() || spec.GetSuccessfulJobsHistoryLimit() != 3 || spec.GetFailedJobsHistoryLimit() != 1 {
		t.Errorf("defaults = %v", spec)
	}
	// The template's JobSpec is left for each Job to default, as Kubernetes stores it.
	if js := spec.JobTemplate.Spec; js.Parallelism != nil || js.Completions != nil || js.BackoffLimit != nil {
		t.Errorf("job template spec defaulted: %v", js)
	}
	if spec.JobTemplate.Spec.Template.Spec.DnsPolicy != "ClusterFirst" {
		t.Errorf("pod template not defaulted: %v", spec.JobTemplate.Spec.Template.Spec)
	}
}
