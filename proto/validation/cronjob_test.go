package validation_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

// newCronJob is a CronJob as the apiserver stores it after
// `kubectl create cronjob hello --image=busybox --schedule="*/1 * * * *"`.
func newCronJob() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		Metadata: &metav1.ObjectMeta{Name: "hello", Namespace: "default", Uid: "u1"},
		Spec: &batchv1.CronJobSpec{
			Schedule: "*/1 * * * *",
			JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{
				RestartPolicy: "OnFailure",
				Containers:    []*corev1.Container{{Name: "hello", Image: "busybox"}},
			}}}},
		},
	}
	defaults.CronJob(cj)
	return cj
}

func TestCronJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(cj *batchv1.CronJob)
		want   want
	}{
		{"valid", func(*batchv1.CronJob) {}, want{}},
		{"macro", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, want{}},
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = proto.String("Europe/Paris") }, want{}},
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, want{"spec.schedule", required, ""}},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" },
			want{"spec.schedule", invalid, "end of range (61) above maximum (59): 61"}},
		{"six fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 * * * * *" },
			want{"spec.schedule", invalid, "expected exactly 5 fields, found 6: [0 * * * * *]"}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC * * * * *" },
			want{"spec.schedule", invalid, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"}},
		{"unknown zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = proto.String("Europe/Pariss") },
			want{"spec.timeZone", invalid, "unknown time zone Europe/Pariss"}},
		{"Local zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = proto.String("Local") },
			want{"spec.timeZone", invalid, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"}},
		{"empty zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = proto.String("") },
			want{"spec.timeZone", invalid, "timeZone must be nil or non-empty string"}},
		{"bad policy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" },
			want{"spec.concurrencyPolicy", notSupported, `supported values: "Allow", "Forbid", "Replace"`}},
		{"negative deadline", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = proto.Int64(-1) },
			want{"spec.startingDeadlineSeconds", invalid, "must be greater than or equal to 0"}},
		{"negative history", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = proto.Int32(-1) },
			want{"spec.failedJobsHistoryLimit", invalid, "must be greater than or equal to 0"}},
		{"restartPolicy Always", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = "Always" },
			want{"spec.jobTemplate.spec.template.spec.restartPolicy", required, `valid values: "OnFailure", "Never"`}},
		{"selector", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, want{"spec.jobTemplate.spec.selector", invalid, "`selector` will be auto-generated"}},
		{"manualSelector", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = proto.Bool(true) },
			want{"spec.jobTemplate.spec.manualSelector", notSupported, `supported values: "nil", "false"`}},
		{"long name", func(cj *batchv1.CronJob) { cj.Metadata.Name = strings.Repeat("a", 53) },
			want{"metadata.name", invalid, "must be no more than 52 characters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob()
			tc.mutate(cj)
			expect(t, validation.ValidateCronJob(cj), tc.want)
		})
	}
}

func TestCronJobUpdate(t *testing.T) {
	old := newCronJob()
	old.Metadata.Name = strings.Repeat("a", 60) // long names from before the limit stay updatable
	old.Spec.Schedule = "TZ=UTC 0 * * * *"
	cj := proto.Clone(old).(*batchv1.CronJob)
	cj.Spec.Suspend = proto.Bool(true)
	expect(t, validation.ValidateCronJobUpdate(cj, old), want{})

	cj.Spec.TimeZone = proto.String("UTC")
	expect(t, validation.ValidateCronJobUpdate(cj, old),
		want{"spec.schedule", invalid, "cannot use both timeZone field and TZ or CRON_TZ in schedule"})

	fresh := newCronJob()
	tz := proto.Clone(fresh).(*batchv1.CronJob)
	tz.Spec.Schedule = "TZ=UTC 0 * * * *"
	expect(t, validation.ValidateCronJobUpdate(tz, fresh),
		want{"spec.schedule", invalid, "cannot use TZ or CRON_TZ in schedule"})
}
