package validation

import (
	"bytes"
	"encoding/json"
	"reflect"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// ValidateDaemonSet checks a DaemonSet as Kubernetes' ValidateDaemonSetSpec does: a
// non-empty selector that selects the template's labels, a valid template whose pods restart
// Always and have no activeDeadlineSeconds, non-negative minReadySeconds and
// revisionHistoryLimit, and an update strategy of RollingUpdate (with exactly one of
// maxUnavailable and maxSurge non-zero) or OnDelete.
func ValidateDaemonSet(ds *appsv1.DaemonSet) apierrors.FieldErrors {
	spec := ds.GetSpec()
	p := "spec"
	sp, tp := child(p, "selector"), child(p, "template")
	t := spec.GetTemplate()
	if t == nil {
		t = &corev1.PodTemplateSpec{}
	}
	sel := spec.GetSelector()
	var errs apierrors.FieldErrors
	if sel != nil {
		errs = append(errs, ValidateLabelSelector(sel, sp)...)
	}
	// A missing selector selects nothing, so it is the template's labels that are reported,
	// as Kubernetes does.
	if s, err := labels.FromLabelSelector(sel); sel == nil || err == nil && !s.Matches(t.GetMetadata().GetLabels()) {
		errs = append(errs, apierrors.Invalid(child(child(tp, "metadata"), "labels"),
			goSyntax{templateLabels(t)}, "`selector` does not match template `labels`"))
	}
	if sel != nil && len(sel.GetMatchLabels())+len(sel.GetMatchExpressions()) == 0 {
		errs = append(errs, apierrors.Invalid(sp, selectorValue{sel}, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, ValidatePodTemplateSpec(t, tp)...)
	if rp := t.GetSpec().GetRestartPolicy(); rp != "Always" {
		errs = append(errs, apierrors.NotSupported(child(child(tp, "spec"), "restartPolicy"), rp, []string{"Always"}))
	}
	if ads := t.GetSpec().ActiveDeadlineSeconds; ads != nil {
		errs = append(errs, apierrors.Invalid(child(child(tp, "spec"), "activeDeadlineSeconds"), *ads, "activeDeadlineSeconds must be nil for daemonset"))
	}
	errs = append(errs, nonNegative(int64(spec.GetMinReadySeconds()), child(p, "minReadySeconds"))...)
	errs = append(errs, validateDaemonSetUpdateStrategy(spec.GetUpdateStrategy(), child(p, "updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(spec.GetRevisionHistoryLimit()), child(p, "revisionHistoryLimit"))...)
	}
	st := ds.GetStatus()
	for _, f := range []struct {
		v int64
		n string
	}{
		{int64(st.GetCurrentNumberScheduled()), "currentNumberScheduled"},
		{int64(st.GetNumberMisscheduled()), "numberMisscheduled"},
		{int64(st.GetDesiredNumberScheduled()), "desiredNumberScheduled"},
		{int64(st.GetNumberReady()), "numberReady"},
		{st.GetObservedGeneration(), "observedGeneration"},
		{int64(st.GetUpdatedNumberScheduled()), "updatedNumberScheduled"},
		{int64(st.GetNumberAvailable()), "numberAvailable"},
		{int64(st.GetNumberUnavailable()), "numberUnavailable"},
		{int64(st.GetCollisionCount()), "collisionCount"},
	} {
		errs = append(errs, nonNegative(f.v, child("status", f.n))...)
	}
	return errs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, p string) apierrors.FieldErrors {
	switch s.GetType() {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := s.GetRollingUpdate()
		if ru == nil {
			return apierrors.FieldErrors{apierrors.Required(child(p, "rollingUpdate"), "")}
		}
		rp := child(p, "rollingUpdate")
		up, sp := child(rp, "maxUnavailable"), child(rp, "maxSurge")
		var errs apierrors.FieldErrors
		hasUnavailable := ru.MaxUnavailable != nil && intOrPercentValue(ru.MaxUnavailable) != 0
		hasSurge := ru.MaxSurge != nil && intOrPercentValue(ru.MaxSurge) != 0
		if hasUnavailable {
			errs = append(errs, validatePositiveIntOrPercent(ru.MaxUnavailable, up)...)
			errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, up)...)
		}
		if hasSurge {
			errs = append(errs, validatePositiveIntOrPercent(ru.MaxSurge, sp)...)
			errs = append(errs, notMoreThan100Percent(ru.MaxSurge, sp)...)
		}
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, apierrors.Invalid(sp, intOrStringValue(ru.MaxSurge), "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, apierrors.Required(up, "cannot be 0 when maxSurge is 0"))
		}
		return errs
	}
	return apierrors.FieldErrors{apierrors.NotSupported(p, s.GetType(), []string{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType})}
}

// ValidateDaemonSetUpdate checks an update of a DaemonSet: the new one must be valid and
// its selector is unchanged (apps/v1).
func ValidateDaemonSetUpdate(ds, old *appsv1.DaemonSet) apierrors.FieldErrors {
	errs := validateSelectorImmutable(ds.GetSpec().GetSelector(), old.GetSpec().GetSelector())
	return append(errs, ValidateDaemonSet(ds)...)
}

// ValidateControllerRevision checks a ControllerRevision as Kubernetes does: it has data
// and a non-negative revision. kubelab also wants the data to be JSON, since it is written
// back inline (a gRPC client could otherwise store bytes no JSON reader can take).
func ValidateControllerRevision(cr *appsv1.ControllerRevision) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	switch raw := cr.GetData().GetRaw(); {
	case len(raw) == 0:
		errs = append(errs, apierrors.Required("data", "data is mandatory"))
	case !json.Valid(raw):
		errs = append(errs, apierrors.Invalid("data", string(raw), "must be a JSON document"))
	}
	return append(errs, nonNegative(cr.GetRevision(), "revision")...)
}

// ValidateControllerRevisionUpdate checks an update of a ControllerRevision: its data is
// immutable (the revision number may change, as when a rollback reuses a revision). The
// data is compared as JSON values, as Kubernetes compares the decoded objects: a patch of
// the revision that rewrites the data's keys in another order changes nothing.
func ValidateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) apierrors.FieldErrors {
	errs := ValidateControllerRevision(cr)
	if !sameJSON(cr.GetData().GetRaw(), old.GetData().GetRaw()) {
		errs = append(errs, apierrors.Invalid("data", bare(cr.GetData().GetRaw()), fieldImmutableErrMsg))
	}
	return errs
}

// sameJSON says whether two JSON documents hold the same value.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return false
	}
	return reflect.DeepEqual(av, bv)
}
