package validation

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// ValidateJob checks a Job as Kubernetes' ValidateJob does: non-negative counts, a selector
// that selects the template's labels, a template whose pods end (restartPolicy OnFailure or
// Never), and, unless manualSelector, the selector and labels the apiserver generated; an
// Indexed job needs completions, and only an Indexed job has completedIndexes.
func ValidateJob(j *batchv1.Job) apierrors.FieldErrors {
	spec := j.GetSpec()
	p := "spec"
	errs := validateJobCounts(spec, p)
	errs = append(errs, validatePodFailurePolicy(spec, child(p, "podFailurePolicy"))...)
	errs = append(errs, validateJobSelectorAndTemplate(spec, p)...)
	errs = append(errs, validateGeneratedSelector(j)...)
	if ci := j.GetStatus().GetCompletedIndexes(); ci != "" && spec.GetCompletionMode() != batchv1.IndexedCompletion {
		errs = append(errs, apierrors.Invalid("status.completedIndexes", ci, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	return append(errs, validateJobStatus(j.GetStatus())...)
}

// maxParallelismForIndexedJob bounds an Indexed job's parallelism, as upstream.
const maxParallelismForIndexedJob = 100000

// validateJobCounts checks what a Job and a CronJob's job template share besides the pod
// template: non-negative counts and a known completion mode; Indexed needs completions.
func validateJobCounts(spec *batchv1.JobSpec, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, f := range []struct {
		set bool
		v   int64
		n   string
	}{
		{spec.Parallelism != nil, int64(spec.GetParallelism()), "parallelism"},
		{spec.Completions != nil, int64(spec.GetCompletions()), "completions"},
		{spec.ActiveDeadlineSeconds != nil, spec.GetActiveDeadlineSeconds(), "activeDeadlineSeconds"},
		{spec.BackoffLimit != nil, int64(spec.GetBackoffLimit()), "backoffLimit"},
		{spec.TtlSecondsAfterFinished != nil, int64(spec.GetTtlSecondsAfterFinished()), "ttlSecondsAfterFinished"},
	} {
		if f.set {
			errs = append(errs, nonNegative(f.v, child(p, f.n))...)
		}
	}
	if spec.CompletionMode != nil {
		switch m := spec.GetCompletionMode(); m {
		case batchv1.NonIndexedCompletion:
		case batchv1.IndexedCompletion:
			if spec.Completions == nil {
				errs = append(errs, apierrors.Required(child(p, "completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
			}
			if spec.Parallelism != nil && spec.GetParallelism() > maxParallelismForIndexedJob {
				errs = append(errs, apierrors.Invalid(child(p, "parallelism"), spec.GetParallelism(),
					fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
			}
		default:
			errs = append(errs, apierrors.NotSupported(child(p, "completionMode"), m,
				[]string{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
	}
	return errs
}

func validateJobSelectorAndTemplate(spec *batchv1.JobSpec, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	sp, tp := child(p, "selector"), child(p, "template")
	t := spec.GetTemplate()
	if t == nil {
		t = &corev1.PodTemplateSpec{}
	}
	if sel := spec.GetSelector(); sel == nil {
		errs = append(errs, apierrors.Required(sp, ""))
	} else {
		errs = append(errs, ValidateLabelSelector(sel, sp)...)
		// Whether generated or manual, the selector must select the pods the job makes.
		if s, err := labels.FromLabelSelector(sel); err == nil && !s.Matches(t.GetMetadata().GetLabels()) {
			errs = append(errs, apierrors.Invalid(child(child(tp, "metadata"), "labels"),
				goSyntax{templateLabels(t)}, "`selector` does not match template `labels`"))
		}
	}
	return append(errs, validateJobPodTemplate(t, tp, spec.GetPodFailurePolicy() != nil)...)
}

// validateJobPodTemplate checks the pod template of a Job (or of a CronJob's job template):
// a valid template whose pods end, and, with a podFailurePolicy, whose pods end at their
// containers' first failure, so the policy sees every exit code.
func validateJobPodTemplate(t *corev1.PodTemplateSpec, tp string, withPodFailurePolicy bool) apierrors.FieldErrors {
	errs := ValidatePodTemplateSpec(t, tp)
	// Defaulting turns an unset restartPolicy into Always, so both mean the user gave none.
	rpp := child(child(tp, "spec"), "restartPolicy")
	switch rp := t.GetSpec().GetRestartPolicy(); rp {
	case "OnFailure", "Never":
		if withPodFailurePolicy && rp != "Never" {
			errs = append(errs, apierrors.Invalid(rpp, rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", "Never")))
		}
	case "Always", "":
		errs = append(errs, apierrors.Required(rpp, fmt.Sprintf("valid values: %q, %q", "OnFailure", "Never")))
	default:
		errs = append(errs, apierrors.NotSupported(rpp, rp, []string{"OnFailure", "Never"}))
	}
	return errs
}

// validateGeneratedSelector checks that a job without manualSelector carries what the
// apiserver generated on create: a user's label of the same key with another value would
// otherwise let the job adopt pods that are not its own.
func validateGeneratedSelector(j *batchv1.Job) apierrors.FieldErrors {
	spec := j.GetSpec()
	if spec.GetManualSelector() || spec.GetSelector() == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	uid, name := j.GetMetadata().GetUid(), j.GetMetadata().GetName()
	if uid == "" {
		errs = append(errs, apierrors.Required("metadata.uid", ""))
	}
	tm := spec.GetTemplate().GetMetadata()
	lp := "spec.template.metadata.labels"
	for _, want := range []struct{ k, v string }{
		{batchv1.LabelLegacyControllerUID, uid}, {batchv1.LabelLegacyJobName, name},
		{batchv1.LabelControllerUID, uid}, {batchv1.LabelJobName, name},
	} {
		got, ok := tm.GetLabels()[want.k]
		switch {
		case !ok:
			errs = append(errs, apierrors.Required(key(lp, want.k), want.v))
		case got != want.v:
			errs = append(errs, apierrors.Invalid(key(lp, want.k), goSyntax{tm.GetLabels()}, fmt.Sprintf("must be '%s'", want.v)))
		}
	}
	sel := spec.GetSelector()
	if len(sel.GetMatchExpressions()) > 0 || len(sel.GetMatchLabels()) != 1 || sel.GetMatchLabels()[batchv1.LabelControllerUID] != uid {
		errs = append(errs, apierrors.Invalid("spec.selector", selectorValue{sel}, "`selector` not auto-generated"))
	}
	return errs
}

func validateJobStatus(st *batchv1.JobStatus) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	errs = append(errs, nonNegative(int64(st.GetActive()), "status.active")...)
	errs = append(errs, nonNegative(int64(st.GetSucceeded()), "status.succeeded")...)
	errs = append(errs, nonNegative(int64(st.GetFailed()), "status.failed")...)
	errs = append(errs, nonNegative(int64(st.GetReady()), "status.ready")...)
	errs = append(errs, nonNegative(int64(st.GetTerminating()), "status.terminating")...)
	// A uid is listed once, in one list: the job controller counts each pod exactly once.
	seen := map[string]bool{}
	u := st.GetUncountedTerminatedPods()
	for _, l := range []struct {
		path string
		uids []string
	}{{"status.uncountedTerminatedPods.succeeded", u.GetSucceeded()}, {"status.uncountedTerminatedPods.failed", u.GetFailed()}} {
		for i, uid := range l.uids {
			switch p := index(l.path, i); {
			case uid == "":
				errs = append(errs, apierrors.Invalid(p, uid, "must not be empty"))
			case seen[uid]:
				errs = append(errs, apierrors.Duplicate(p, uid))
			default:
				seen[uid] = true
			}
		}
	}
	return errs
}

// ValidateJobUpdate checks an update of a Job: the new one must be valid, and what decides
// which pods are the job's (selector, manualSelector, template, completions, completionMode)
// and podFailurePolicy cannot change; parallelism, activeDeadlineSeconds, backoffLimit and
// suspend can.
func ValidateJobUpdate(j, old *batchv1.Job) apierrors.FieldErrors {
	errs := ValidateJob(j)
	spec, os := j.GetSpec(), old.GetSpec()
	errs = append(errs, validateSelectorImmutable(spec.GetSelector(), os.GetSelector())...)
	if spec.GetManualSelector() != os.GetManualSelector() {
		errs = append(errs, apierrors.Invalid("spec.manualSelector", spec.GetManualSelector(), fieldImmutableErrMsg))
	}
	if !proto.Equal(spec.GetTemplate(), os.GetTemplate()) {
		errs = append(errs, apierrors.Invalid("spec.template", bare("core.PodTemplateSpec{...}"), fieldImmutableErrMsg))
	}
	if spec.Completions != nil && os.Completions != nil && spec.GetCompletions() != os.GetCompletions() ||
		(spec.Completions == nil) != (os.Completions == nil) {
		errs = append(errs, apierrors.Invalid("spec.completions", spec.GetCompletions(), fieldImmutableErrMsg))
	}
	if spec.GetCompletionMode() != os.GetCompletionMode() {
		errs = append(errs, apierrors.Invalid("spec.completionMode", spec.GetCompletionMode(), fieldImmutableErrMsg))
	}
	if !proto.Equal(spec.GetPodFailurePolicy(), os.GetPodFailurePolicy()) {
		errs = append(errs, apierrors.Invalid("spec.podFailurePolicy", bare("batch.PodFailurePolicy{...}"), fieldImmutableErrMsg))
	}
	return errs
}

// Bounds of a podFailurePolicy, as upstream's.
const (
	maxPodFailurePolicyRules                   = 20
	maxPodFailurePolicyOnExitCodesValues       = 255
	maxPodFailurePolicyOnPodConditionsPatterns = 20
)

// validatePodFailurePolicy checks spec.podFailurePolicy, when set, as upstream's
// validatePodFailurePolicy: at most 20 rules, each with a known action and exactly one of
// onExitCodes and onPodConditions. FailIndex needs backoffLimitPerIndex, a field kubelab
// does not have, so it is always refused with upstream's message for its absence.
func validatePodFailurePolicy(spec *batchv1.JobSpec, p string) apierrors.FieldErrors {
	pfp := spec.GetPodFailurePolicy()
	if pfp == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	rp := child(p, "rules")
	if n := len(pfp.GetRules()); n > maxPodFailurePolicyRules {
		errs = append(errs, apierrors.TooMany(rp, n, maxPodFailurePolicyRules))
	}
	names := map[string]bool{}
	for _, c := range spec.GetTemplate().GetSpec().GetContainers() {
		names[c.GetName()] = true
	}
	for _, c := range spec.GetTemplate().GetSpec().GetInitContainers() {
		names[c.GetName()] = true
	}
	actions := []string{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}
	for i, r := range pfp.GetRules() {
		p := index(rp, i)
		ap := child(p, "action")
		switch a := r.GetAction(); a {
		case "":
			errs = append(errs, apierrors.Required(ap, fmt.Sprintf("valid values: %q", actions)))
		case batchv1.PodFailurePolicyActionFailIndex:
			errs = append(errs, apierrors.Invalid(ap, a, "requires the backoffLimitPerIndex to be set"))
		case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore:
		default:
			errs = append(errs, apierrors.NotSupported(ap, a, actions))
		}
		if r.GetOnExitCodes() != nil {
			errs = append(errs, validateOnExitCodes(r.GetOnExitCodes(), child(p, "onExitCodes"), names)...)
		}
		if len(r.GetOnPodConditions()) > 0 {
			errs = append(errs, validateOnPodConditions(r.GetOnPodConditions(), child(p, "onPodConditions"))...)
		}
		switch hasCodes, hasConds := r.GetOnExitCodes() != nil, len(r.GetOnPodConditions()) > 0; {
		case hasCodes && hasConds:
			errs = append(errs, apierrors.Invalid(p, apierrors.OmitValue, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case !hasCodes && !hasConds:
			errs = append(errs, apierrors.Invalid(p, apierrors.OmitValue, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
	}
	return errs
}

func validateOnExitCodes(r *batchv1.PodFailurePolicyOnExitCodesRequirement, p string, containerNames map[string]bool) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	ops := []string{batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}
	op := r.GetOperator()
	switch {
	case op == "":
		errs = append(errs, apierrors.Required(child(p, "operator"), fmt.Sprintf("valid values: %q", ops)))
	case op != batchv1.PodFailurePolicyOnExitCodesOpIn && op != batchv1.PodFailurePolicyOnExitCodesOpNotIn:
		errs = append(errs, apierrors.NotSupported(child(p, "operator"), op, ops))
	}
	if r.ContainerName != nil && !containerNames[r.GetContainerName()] {
		errs = append(errs, apierrors.Invalid(child(p, "containerName"), r.GetContainerName(), "must be one of the container or initContainer names in the pod template"))
	}
	vp := child(p, "values")
	values := r.GetValues()
	switch {
	case len(values) == 0:
		errs = append(errs, apierrors.Invalid(vp, goSyntax{values}, "at least one value is required"))
	case len(values) > maxPodFailurePolicyOnExitCodesValues:
		errs = append(errs, apierrors.TooMany(vp, len(values), maxPodFailurePolicyOnExitCodesValues))
	}
	seen := map[int32]bool{}
	ordered := true
	for i, v := range values {
		if op == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
			errs = append(errs, apierrors.Invalid(index(vp, i), v, "must not be 0 for the In operator"))
		}
		if seen[v] {
			errs = append(errs, apierrors.Duplicate(index(vp, i), v))
		}
		seen[v] = true
		if i > 0 && values[i-1] > v {
			ordered = false
		}
	}
	if !ordered {
		errs = append(errs, apierrors.Invalid(vp, goSyntax{values}, "must be ordered"))
	}
	return errs
}

func validateOnPodConditions(patterns []*batchv1.PodFailurePolicyOnPodConditionsPattern, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if len(patterns) > maxPodFailurePolicyOnPodConditionsPatterns {
		errs = append(errs, apierrors.TooMany(p, len(patterns), maxPodFailurePolicyOnPodConditionsPatterns))
	}
	statuses := []string{"False", "True", "Unknown"}
	for i, c := range patterns {
		cp := index(p, i)
		errs = append(errs, validateLabelName(c.GetType(), child(cp, "type"))...)
		switch s := c.GetStatus(); s {
		case "":
			errs = append(errs, apierrors.Required(child(cp, "status"), fmt.Sprintf("valid values: %q", statuses)))
		case "False", "True", "Unknown":
		default:
			errs = append(errs, apierrors.NotSupported(child(cp, "status"), s, statuses))
		}
	}
	return errs
}
