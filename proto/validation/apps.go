package validation

import (
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// ValidateDeployment checks a Deployment's spec with Kubernetes' apps/v1 rules.
func ValidateDeployment(d *appsv1.Deployment) apierrors.FieldErrors {
	spec := d.GetSpec()
	p := "spec"
	errs := nonNegative(int64(spec.GetReplicas()), child(p, "replicas"))
	errs = append(errs, validateSelectorAndTemplate(spec.GetSelector(), spec.GetTemplate(), p)...)
	errs = append(errs, validateDeploymentStrategy(spec.GetStrategy(), child(p, "strategy"))...)
	errs = append(errs, nonNegative(int64(spec.GetMinReadySeconds()), child(p, "minReadySeconds"))...)
	if spec.GetRevisionHistoryLimit() < 0 {
		errs = append(errs, nonNegative(int64(spec.GetRevisionHistoryLimit()), child(p, "revisionHistoryLimit"))...)
	}
	if spec != nil && spec.ProgressDeadlineSeconds != nil {
		pds := int64(*spec.ProgressDeadlineSeconds)
		errs = append(errs, nonNegative(pds, child(p, "progressDeadlineSeconds"))...)
		if pds <= int64(spec.MinReadySeconds) {
			errs = append(errs, apierrors.Invalid(child(p, "progressDeadlineSeconds"), pds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

// ValidateDeploymentUpdate checks an update of a Deployment: the new one must be valid, and
// its selector is immutable (apps/v1).
func ValidateDeploymentUpdate(d, old *appsv1.Deployment) apierrors.FieldErrors {
	errs := ValidateDeployment(d)
	return append(errs, validateSelectorImmutable(d.GetSpec().GetSelector(), old.GetSpec().GetSelector())...)
}

// ValidateReplicaSet checks a ReplicaSet's spec with Kubernetes' apps/v1 rules.
func ValidateReplicaSet(rs *appsv1.ReplicaSet) apierrors.FieldErrors {
	spec := rs.GetSpec()
	p := "spec"
	errs := nonNegative(int64(spec.GetReplicas()), child(p, "replicas"))
	errs = append(errs, nonNegative(int64(spec.GetMinReadySeconds()), child(p, "minReadySeconds"))...)
	return append(errs, validateSelectorAndTemplate(spec.GetSelector(), spec.GetTemplate(), p)...)
}

// ValidateReplicaSetUpdate checks an update of a ReplicaSet: the new one must be valid, and
// its selector is immutable (apps/v1).
func ValidateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) apierrors.FieldErrors {
	errs := ValidateReplicaSet(rs)
	return append(errs, validateSelectorImmutable(rs.GetSpec().GetSelector(), old.GetSpec().GetSelector())...)
}

func validateSelectorImmutable(sel, old *metav1.LabelSelector) apierrors.FieldErrors {
	if !proto.Equal(sel, old) {
		return apierrors.FieldErrors{apierrors.Invalid("spec.selector", selectorValue{sel}, fieldImmutableErrMsg)}
	}
	return nil
}

// validateSelectorAndTemplate is the part Deployments and ReplicaSets share: a non-empty
// selector that selects the template's labels, and a template whose pods restart Always.
func validateSelectorAndTemplate(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	sp, tp := child(p, "selector"), child(p, "template")
	if sel == nil {
		errs = append(errs, apierrors.Required(sp, ""))
	} else {
		errs = append(errs, ValidateLabelSelector(sel, sp)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			// Kubernetes says "deployment" for ReplicaSets too.
			errs = append(errs, apierrors.Invalid(sp, selectorValue{sel}, "empty selector is invalid for deployment"))
		}
		if s, err := labels.FromLabelSelector(sel); err != nil {
			errs = append(errs, apierrors.Invalid(sp, selectorValue{sel}, "invalid label selector"))
		} else if !s.Empty() && !s.Matches(t.GetMetadata().GetLabels()) {
			errs = append(errs, apierrors.Invalid(child(child(tp, "metadata"), "labels"),
				goSyntax{templateLabels(t)}, "`selector` does not match template `labels`"))
		}
	}
	if t == nil {
		t = &corev1.PodTemplateSpec{}
	}
	errs = append(errs, ValidatePodTemplateSpec(t, tp)...)
	if rp := t.GetSpec().GetRestartPolicy(); rp != "Always" && rp != "" {
		errs = append(errs, apierrors.NotSupported(child(child(tp, "spec"), "restartPolicy"), rp, []string{"Always"}))
	}
	if t.GetSpec().ActiveDeadlineSeconds != nil {
		errs = append(errs, apierrors.Forbidden(child(child(tp, "spec"), "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}

// templateLabels is the template's labels as a Go map (nil when there are none), the value
// Kubernetes shows.
func templateLabels(t *corev1.PodTemplateSpec) map[string]string {
	l := t.GetMetadata().GetLabels()
	if len(l) == 0 {
		return map[string]string(nil)
	}
	return l
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, p string) apierrors.FieldErrors {
	switch s.GetType() {
	case "Recreate":
		if s.GetRollingUpdate() != nil {
			return apierrors.FieldErrors{apierrors.Forbidden(child(p, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case "RollingUpdate":
		if s.GetRollingUpdate() == nil {
			return apierrors.FieldErrors{apierrors.Required(child(p, "rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdateDeployment(s.GetRollingUpdate(), child(p, "rollingUpdate"))
	case "":
		return apierrors.FieldErrors{apierrors.Required(child(p, "type"), "")}
	default:
		return apierrors.FieldErrors{apierrors.NotSupported(child(p, "type"), s.GetType(), []string{"Recreate", "RollingUpdate"})}
	}
	return nil
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, p string) apierrors.FieldErrors {
	up, sp := child(p, "maxUnavailable"), child(p, "maxSurge")
	errs := validatePositiveIntOrPercent(ru.MaxUnavailable, up)
	errs = append(errs, validatePositiveIntOrPercent(ru.MaxSurge, sp)...)
	if intOrPercentValue(ru.MaxUnavailable) == 0 && intOrPercentValue(ru.MaxSurge) == 0 {
		errs = append(errs, apierrors.Invalid(up, intOrStringValue(ru.MaxUnavailable), "may not be 0 when `maxSurge` is 0"))
	}
	return append(errs, notMoreThan100Percent(ru.MaxUnavailable, up)...)
}

// notMoreThan100Percent is Kubernetes' IsNotMoreThan100Percent: a percentage above 100%
// makes no sense for a share of pods.
func notMoreThan100Percent(v *metav1.IntOrString, p string) apierrors.FieldErrors {
	if n, isPercent := percentValue(v); isPercent && n > 100 {
		return apierrors.FieldErrors{apierrors.Invalid(p, intOrStringValue(v), "must not be greater than 100%")}
	}
	return nil
}

var percentRegexp = regexp.MustCompile(`^[0-9]+%$`)

const percentErrMsg = "a valid percent string must be a numeric string followed by an ending '%'"

func validatePositiveIntOrPercent(v *metav1.IntOrString, p string) apierrors.FieldErrors {
	switch v.GetType() {
	case 1:
		if !percentRegexp.MatchString(v.GetStrVal()) {
			return apierrors.FieldErrors{apierrors.Invalid(p, intOrStringValue(v), regexError(percentErrMsg, "[0-9]+%", "1%", "93%"))}
		}
	case 0:
		return nonNegative(int64(v.GetIntVal()), p)
	default:
		return apierrors.FieldErrors{apierrors.Invalid(p, intOrStringValue(v), "must be an integer or percentage (e.g '5%')")}
	}
	return nil
}

// percentValue is the number of a "N%" value; isPercent is false for anything else.
func percentValue(v *metav1.IntOrString) (int, bool) {
	if v.GetType() != 1 || !percentRegexp.MatchString(v.GetStrVal()) {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.GetStrVal(), "%"))
	return n, err == nil
}

// intOrPercentValue is the integer or the percent number of v (-1 for a malformed string,
// which is reported on its own).
func intOrPercentValue(v *metav1.IntOrString) int {
	if v.GetType() == 1 {
		n, ok := percentValue(v)
		if !ok {
			return -1
		}
		return n
	}
	return int(v.GetIntVal())
}
