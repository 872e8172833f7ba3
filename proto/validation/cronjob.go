package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	// The zone database is built in, as Kubernetes' is when the host has none: a CronJob's
	// timeZone must be judged the same on every machine.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// MaxCronJobNameLength is the longest CronJob name: the controller names each Job
// "<cronjob>-<minutes since the epoch>", an 11-character suffix, and a Job name must fit in
// 63 characters (a DNS-1035 label, as the pods' job-name label).
const MaxCronJobNameLength = 63 - 11

// ParseCronSchedule parses a CronJob's schedule as Kubernetes does: five fields (minute,
// hour, day of month, month, day of week) or a macro (@yearly, @annually, @monthly, @weekly,
// @daily, @midnight, @hourly). The controller and validation share it, so a schedule the
// apiserver took is one the controller can run.
func ParseCronSchedule(schedule string) (cron.Schedule, error) {
	return cron.ParseStandard(schedule)
}

// ValidateCronJob checks a new CronJob as Kubernetes' ValidateCronJobCreate does: a
// schedule that parses and names no zone (timeZone does that), a known IANA timeZone, a
// concurrencyPolicy of Allow, Forbid or Replace, non-negative deadlines and history limits,
// a job template whose selector the apiserver will generate, and a name short enough for
// the Jobs' names.
func ValidateCronJob(cj *batchv1.CronJob) apierrors.FieldErrors {
	errs := validateCronJobSpec(cj.GetSpec(), nil)
	if name := cj.GetMetadata().GetName(); len(name) > MaxCronJobNameLength {
		errs = append(errs, apierrors.Invalid("metadata.name", name, fmt.Sprintf("must be no more than %d characters", MaxCronJobNameLength)))
	}
	return errs
}

// ValidateCronJobUpdate checks an update of a CronJob: its spec as on create, except that a
// schedule that already named a zone may keep it (CronJobs from before timeZone), and an
// unchanged timeZone is not checked again (the zone database may have lost it). The name's
// length is not checked, so an old long-named CronJob can still be updated and deleted.
func ValidateCronJobUpdate(cj, old *batchv1.CronJob) apierrors.FieldErrors {
	return validateCronJobSpec(cj.GetSpec(), old.GetSpec())
}

func validateCronJobSpec(spec, old *batchv1.CronJobSpec) apierrors.FieldErrors {
	p := "spec"
	var errs apierrors.FieldErrors
	if spec.GetSchedule() == "" {
		errs = append(errs, apierrors.Required(child(p, "schedule"), ""))
	} else {
		allowTZ := old != nil && strings.Contains(old.GetSchedule(), "TZ")
		errs = append(errs, validateSchedule(spec.GetSchedule(), allowTZ, spec.TimeZone != nil, child(p, "schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, nonNegative(spec.GetStartingDeadlineSeconds(), child(p, "startingDeadlineSeconds"))...)
	}
	if old == nil || (spec.TimeZone == nil) != (old.TimeZone == nil) || spec.GetTimeZone() != old.GetTimeZone() {
		errs = append(errs, validateTimeZone(spec.TimeZone, child(p, "timeZone"))...)
	}
	cpp := child(p, "concurrencyPolicy")
	switch cp := spec.GetConcurrencyPolicy(); cp {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, apierrors.Required(cpp, ""))
	default:
		errs = append(errs, apierrors.NotSupported(cpp, cp, []string{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	errs = append(errs, validateJobTemplateSpec(spec.GetJobTemplate(), child(p, "jobTemplate"))...)
	if spec.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(spec.GetSuccessfulJobsHistoryLimit()), child(p, "successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(spec.GetFailedJobsHistoryLimit()), child(p, "failedJobsHistoryLimit"))...)
	}
	return errs
}

func validateSchedule(schedule string, allowTZ, hasTimeZone bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if _, err := ParseCronSchedule(schedule); err != nil {
		errs = append(errs, apierrors.Invalid(p, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && hasTimeZone:
		errs = append(errs, apierrors.Invalid(p, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		errs = append(errs, apierrors.Invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

// validTimeZoneCharacters is what one component of an IANA zone name may hold (letters,
// '.', '-', '_', and the digits and '+' of legacy names), at most 14 characters.
var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, p string) apierrors.FieldErrors {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return apierrors.FieldErrors{apierrors.Invalid(p, "", "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return apierrors.FieldErrors{apierrors.Invalid(p, *tz, "unknown time zone "+*tz)}
		}
	}
	var errs apierrors.FieldErrors
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, apierrors.Invalid(p, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, apierrors.Invalid(p, *tz, err.Error()))
	}
	return errs
}

// validateJobTemplateSpec checks a CronJob's job template as Kubernetes'
// ValidateJobTemplateSpec: the Job's rules that do not depend on its identity, and no
// selector, which each Job made from the template gets generated.
func validateJobTemplateSpec(t *batchv1.JobTemplateSpec, p string) apierrors.FieldErrors {
	spec := t.GetSpec()
	sp := child(p, "spec")
	errs := validateJobCounts(spec, sp)
	errs = append(errs, validatePodFailurePolicy(spec, child(sp, "podFailurePolicy"))...)
	pt := spec.GetTemplate()
	if pt == nil {
		pt = &corev1.PodTemplateSpec{}
	}
	errs = append(errs, validateJobPodTemplate(pt, child(sp, "template"), spec.GetPodFailurePolicy() != nil)...)
	if spec.GetSelector() != nil {
		errs = append(errs, apierrors.Invalid(child(sp, "selector"), selectorValue{spec.GetSelector()}, "`selector` will be auto-generated"))
	}
	if spec.GetManualSelector() {
		errs = append(errs, apierrors.NotSupported(child(sp, "manualSelector"), true, []string{"nil", "false"}))
	}
	return errs
}
