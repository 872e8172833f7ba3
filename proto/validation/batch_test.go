package validation_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
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

// TestJobPodFailurePolicy: upstream's messages and paths for spec.podFailurePolicy.
func TestJobPodFailurePolicy(t *testing.T) {
	codes := func(op string, values ...int32) *batchv1.PodFailurePolicyRule {
		return &batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: values}}
	}
	disrupted := func() *batchv1.PodFailurePolicyRule {
		return &batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []*batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget", Status: "True"}}}
	}
	const rule0 = "spec.podFailurePolicy.rules[0]"
	for _, tc := range []struct {
		name  string
		rules []*batchv1.PodFailurePolicyRule
		tweak func(j *batchv1.Job)
		want  want
	}{
		{"valid", []*batchv1.PodFailurePolicyRule{codes("In", 1, 42), disrupted(), codes("NotIn", 0, 3)}, nil, want{}},
		{"no rules", nil, nil, want{}},
		{"OnFailure", []*batchv1.PodFailurePolicyRule{disrupted()}, func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "OnFailure" },
			want{"spec.template.spec.restartPolicy", invalid,
				`spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified`}},
		{"too many rules", slices.Repeat([]*batchv1.PodFailurePolicyRule{disrupted()}, 21), nil,
			want{"spec.podFailurePolicy.rules", apierrors.CauseFieldValueTooMany, "spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items"}},
		{"0 with In", []*batchv1.PodFailurePolicyRule{codes("In", 0, 1)}, nil,
			want{rule0 + ".onExitCodes.values[0]", invalid, rule0 + ".onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator"}},
		{"0 with NotIn", []*batchv1.PodFailurePolicyRule{codes("NotIn", 0)}, nil, want{}},
		{"duplicate value", []*batchv1.PodFailurePolicyRule{codes("In", 1, 1)}, nil,
			want{rule0 + ".onExitCodes.values[1]", duplicate, rule0 + ".onExitCodes.values[1]: Duplicate value: 1"}},
		{"unordered", []*batchv1.PodFailurePolicyRule{codes("In", 2, 1)}, nil,
			want{rule0 + ".onExitCodes.values", invalid, rule0 + ".onExitCodes.values: Invalid value: []int32{2, 1}: must be ordered"}},
		{"no values", []*batchv1.PodFailurePolicyRule{codes("In")}, nil,
			want{rule0 + ".onExitCodes.values", invalid, "Invalid value: []int32(nil): at least one value is required"}},
		{"256 values", []*batchv1.PodFailurePolicyRule{codes("NotIn", func() []int32 {
			v := make([]int32, 256)
			for i := range v {
				v[i] = int32(i)
			}
			return v
		}()...)}, nil, want{rule0 + ".onExitCodes.values", apierrors.CauseFieldValueTooMany, "Too many: 256: must have at most 255 items"}},
		{"no operator", []*batchv1.PodFailurePolicyRule{codes("", 1)}, nil,
			want{rule0 + ".onExitCodes.operator", required, `Required value: valid values: ["In" "NotIn"]`}},
		{"unknown operator", []*batchv1.PodFailurePolicyRule{codes("Has", 1)}, nil,
			want{rule0 + ".onExitCodes.operator", notSupported, `Unsupported value: "Has": supported values: "In", "NotIn"`}},
		{"unknown container", []*batchv1.PodFailurePolicyRule{codes("In", 1)}, func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy.Rules[0].OnExitCodes.ContainerName = proto.String("sidecar")
		}, want{rule0 + ".onExitCodes.containerName", invalid, `Invalid value: "sidecar": must be one of the container or initContainer names in the pod template`}},
		{"init container", []*batchv1.PodFailurePolicyRule{codes("In", 1)}, func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers = []*corev1.Container{{Name: "setup", Image: "busybox", ImagePullPolicy: "IfNotPresent", TerminationMessagePolicy: "File"}}
			j.Spec.PodFailurePolicy.Rules[0].OnExitCodes.ContainerName = proto.String("setup")
		}, want{}},
		{"both", []*batchv1.PodFailurePolicyRule{codes("In", 1)}, func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy.Rules[0].OnPodConditions = disrupted().OnPodConditions
		}, want{rule0, invalid, rule0 + ": Invalid value: specifying both OnExitCodes and OnPodConditions is not supported"}},
		{"neither", []*batchv1.PodFailurePolicyRule{{Action: "Count"}}, nil,
			want{rule0, invalid, rule0 + ": Invalid value: specifying one of OnExitCodes and OnPodConditions is required"}},
		{"no action", []*batchv1.PodFailurePolicyRule{codes("In", 1)}, func(j *batchv1.Job) { j.Spec.PodFailurePolicy.Rules[0].Action = "" },
			want{rule0 + ".action", required, `Required value: valid values: ["Count" "FailIndex" "FailJob" "Ignore"]`}},
		{"unknown action", []*batchv1.PodFailurePolicyRule{codes("In", 1)}, func(j *batchv1.Job) { j.Spec.PodFailurePolicy.Rules[0].Action = "Retry" },
			want{rule0 + ".action", notSupported, `Unsupported value: "Retry": supported values: "Count", "FailIndex", "FailJob", "Ignore"`}},
		// kubelab has no backoffLimitPerIndex, so FailIndex can never be used.
		{"FailIndex", []*batchv1.PodFailurePolicyRule{codes("In", 1)}, func(j *batchv1.Job) { j.Spec.PodFailurePolicy.Rules[0].Action = "FailIndex" },
			want{rule0 + ".action", invalid, `Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set`}},
		{"bad condition type", []*batchv1.PodFailurePolicyRule{disrupted()}, func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Type = "Disruption Target"
		}, want{rule0 + ".onPodConditions[0].type", invalid, `Invalid value: "Disruption Target": name part must consist of`}},
		{"bad condition status", []*batchv1.PodFailurePolicyRule{disrupted()}, func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status = "Yes"
		}, want{rule0 + ".onPodConditions[0].status", notSupported, `Unsupported value: "Yes": supported values: "False", "True", "Unknown"`}},
		{"too many patterns", []*batchv1.PodFailurePolicyRule{disrupted()}, func(j *batchv1.Job) {
			r := j.Spec.PodFailurePolicy.Rules[0]
			r.OnPodConditions = slices.Repeat(r.OnPodConditions, 21)
		}, want{rule0 + ".onPodConditions", apierrors.CauseFieldValueTooMany, "Too many: 21: must have at most 20 items"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob()
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: tc.rules}
			if tc.tweak != nil {
				tc.tweak(j)
			}
			expect(t, validation.ValidateJob(j), tc.want)
		})
	}
}

// TestJobPodFailurePolicyDefaultsAndUpdate: a pattern's status defaults to True, the policy
// is immutable, and a CronJob's job template is held to the same rules.
func TestJobPodFailurePolicyDefaultsAndUpdate(t *testing.T) {
	old := newJob()
	old.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []*batchv1.PodFailurePolicyRule{{Action: "Ignore",
		OnPodConditions: []*batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget"}}}}}
	defaults.Job(old)
	if s := old.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status; s != "True" {
		t.Fatalf("pattern status defaulted to %q, want True", s)
	}
	expect(t, validation.ValidateJob(old), want{})

	changed := proto.Clone(old).(*batchv1.Job)
	changed.Spec.PodFailurePolicy.Rules[0].Action = "Count"
	expect(t, validation.ValidateJobUpdate(changed, old), want{"spec.podFailurePolicy", invalid, "field is immutable"})

	cj := &batchv1.CronJob{
		Metadata: &metav1.ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: &batchv1.CronJobSpec{Schedule: "0 1 * * *", ConcurrencyPolicy: "Allow", JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []*batchv1.PodFailurePolicyRule{{Action: "FailJob",
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: "In", Values: []int32{0}}}}},
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "OnFailure",
				Containers: []*corev1.Container{{Name: "main", Image: "busybox"}}}},
		}}},
	}
	errs := validation.ValidateCronJob(cj)
	expect(t, errs, want{"spec.jobTemplate.spec.podFailurePolicy.rules[0].onExitCodes.values[0]", invalid, "must not be 0 for the In operator"})
	expect(t, errs, want{"spec.jobTemplate.spec.template.spec.restartPolicy", invalid, `only "Never" is supported`})
}
