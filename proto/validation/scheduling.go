package validation

import (
	"fmt"
	"strings"

	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/apierrors"
)

// ValidatePriorityClass checks a PriorityClass as Kubernetes' ValidatePriorityClass: a name
// with the system- prefix must be one of the system classes exactly as defined (value and
// globalDefault), other classes may have at most HighestUserDefinablePriority, and
// preemptionPolicy is PreemptLowerPriority or Never. That at most one class is the global
// default is the Priority admission plugin's check, since it needs the other classes.
func ValidatePriorityClass(pc *schedulingv1.PriorityClass) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	name := pc.GetMetadata().GetName()
	if strings.HasPrefix(name, schedulingv1.SystemPriorityClassPrefix) {
		if ok, err := schedulingv1.IsKnownSystemPriorityClass(name, pc.GetValue(), pc.GetGlobalDefault()); !ok {
			errs = append(errs, apierrors.Forbidden("metadata.name", "priority class names with '"+schedulingv1.SystemPriorityClassPrefix+
				"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.GetValue() > schedulingv1.HighestUserDefinablePriority {
		errs = append(errs, apierrors.Forbidden("value", fmt.Sprintf("maximum allowed value of a user defined priority is %v", schedulingv1.HighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		errs = append(errs, validatePreemptionPolicy(pc.GetPreemptionPolicy(), "preemptionPolicy")...)
	}
	return errs
}

// ValidatePriorityClassUpdate: the class must still be valid, and value and preemptionPolicy
// may not change (pods already carry them).
func ValidatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) apierrors.FieldErrors {
	errs := ValidatePriorityClass(pc)
	if pc.GetValue() != old.GetValue() {
		errs = append(errs, apierrors.Forbidden("value", "may not be changed in an update."))
	}
	if (pc.PreemptionPolicy == nil) != (old.PreemptionPolicy == nil) || pc.GetPreemptionPolicy() != old.GetPreemptionPolicy() {
		var v any
		if pc.PreemptionPolicy != nil {
			v = pc.GetPreemptionPolicy()
		}
		errs = append(errs, apierrors.Invalid("preemptionPolicy", v, fieldImmutableErrMsg))
	}
	return errs
}

// validatePreemptionPolicy is Kubernetes' ValidatePreemptionPolicy, in its order of values.
func validatePreemptionPolicy(policy, p string) apierrors.FieldErrors {
	switch policy {
	case schedulingv1.PreemptLowerPriority, schedulingv1.PreemptNever:
		return nil
	case "":
		return apierrors.FieldErrors{apierrors.Required(p, "")}
	}
	return apierrors.FieldErrors{apierrors.NotSupported(p, policy, []string{schedulingv1.PreemptLowerPriority, schedulingv1.PreemptNever})}
}
