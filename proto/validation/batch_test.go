package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

// newJob is a job as the apiserver stores it after `kubectl create job pi --image=perl`.
func newJob() *batchv1.Job {
	j := &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default", Uid: "u1"},
		Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{
			RestartPolicy: "Never",
			Containers:    []*corev1.Container{{Name: "pi", Image: "perl"}},
		}}},
	}
	defaults.Job(j)
	defaults.JobOnCreate(j)
	return j
}

func TestJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   want
	}{
		{"valid", func(*batchv1.Job) {}, want{}},
		{"OnFailure", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "OnFailure" }, want{}},
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Always" },
			want{"spec.template.spec.restartPolicy", required, `valid values: "OnFailure", "Never"`}},
		{"restartPolicy unknown", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Sometimes" },
			want{"spec.template.spec.restartPolicy", notSupported, `supported values: "OnFailure", "Never"`}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = proto.Int32(-1) },
			want{"spec.parallelism", invalid, "must be greater than or equal to 0"}},
		{"negative backoffLimit", func(j *batchv1.Job) { j.Spec.BackoffLimit = proto.Int32(-1) },
			want{"spec.backoffLimit", invalid, "must be greater than or equal to 0"}},
		{"negative activeDeadlineSeconds", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = proto.Int64(-5) },
			want{"spec.activeDeadlineSeconds", invalid, "must be greater than or equal to 0"}},
		{"Indexed", func(j *batchv1.Job) {
			j.Spec.CompletionMode, j.Spec.Completions = proto.String("Indexed"), proto.Int32(3)
			j.Status.CompletedIndexes = "0,2"
		}, want{}},
		// Defaulting sets completions 1 when parallelism is unset too: only a job that sets
		// parallelism alone reaches validation without completions.
		{"Indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode, j.Spec.Completions, j.Spec.Parallelism = proto.String("Indexed"), nil, proto.Int32(2)
		},
			want{"spec.completions", required, "when completion mode is Indexed"}},
		{"Indexed parallelism too high", func(j *batchv1.Job) {
			j.Spec.CompletionMode, j.Spec.Completions, j.Spec.Parallelism = proto.String("Indexed"), proto.Int32(3), proto.Int32(100001)
		}, want{"spec.parallelism", invalid, "must be less than or equal to 100000 when completion mode is Indexed"}},
		{"completedIndexes of a NonIndexed job", func(j *batchv1.Job) { j.Status.CompletedIndexes = "1" },
			want{"status.completedIndexes", invalid, "cannot set non-empty completedIndexes when non-indexed completion mode"}},
		{"unknown completionMode", func(j *batchv1.Job) { j.Spec.CompletionMode = proto.String("Sorted") },
			want{"spec.completionMode", notSupported, `supported values: "NonIndexed", "Indexed"`}},
		{"no selector", func(j *batchv1.Job) { j.Spec.Selector = nil }, want{"spec.selector", required, ""}},
		{"wrong controller-uid label", func(j *batchv1.Job) { j.Spec.Template.Metadata.Labels["controller-uid"] = "other" },
			want{"spec.template.metadata.labels[controller-uid]", invalid, "must be 'u1'"}},
		{"selector not generated", func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["app"] = "pi"
			j.Spec.Template.Metadata.Labels["app"] = "pi"
		}, want{"spec.selector", invalid, "`selector` not auto-generated"}},
		{"manual selector not matching", func(j *batchv1.Job) {
			j.Spec.ManualSelector = proto.Bool(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
		}, want{"spec.template.metadata.labels", invalid, "`selector` does not match template `labels`"}},
		{"manual selector", func(j *batchv1.Job) {
			j.Spec.ManualSelector = proto.Bool(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "pi"}}
		}, want{}},
		{"negative status", func(j *batchv1.Job) { j.Status.Failed = -1 },
			want{"status.failed", invalid, "must be greater than or equal to 0"}},
		{"uncounted uids", func(j *batchv1.Job) {
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []string{"a", "b"}, Failed: []string{"c"}}
		}, want{}},
		{"uncounted uid twice", func(j *batchv1.Job) {
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []string{"a", "a"}}
		}, want{"status.uncountedTerminatedPods.succeeded[1]", duplicate, `"a"`}},
		{"uncounted uid in both lists", func(j *batchv1.Job) {
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []string{"a"}, Failed: []string{"a"}}
		}, want{"status.uncountedTerminatedPods.failed[0]", duplicate, `"a"`}},
		{"uncounted uid empty", func(j *batchv1.Job) {
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Failed: []string{""}}
		}, want{"status.uncountedTerminatedPods.failed[0]", invalid, "must not be empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob()
			tc.mutate(j)
			expect(t, validation.ValidateJob(j), tc.want)
		})
	}
}

func TestJobUpdate(t *testing.T) {
	old := newJob()
	ok := proto.Clone(old).(*batchv1.Job)
	ok.Spec.Parallelism, ok.Spec.Suspend, ok.Spec.ActiveDeadlineSeconds = proto.Int32(3), proto.Bool(true), proto.Int64(60)
	expect(t, validation.ValidateJobUpdate(ok, old), want{})

	tmpl := proto.Clone(old).(*batchv1.Job)
	tmpl.Spec.Template.Spec.Containers[0].Image = "perl:2"
	expect(t, validation.ValidateJobUpdate(tmpl, old), want{"spec.template", invalid, "field is immutable"})

	comp := proto.Clone(old).(*batchv1.Job)
	comp.Spec.Completions = proto.Int32(4)
	expect(t, validation.ValidateJobUpdate(comp, old), want{"spec.completions", invalid, "field is immutable"})
}
