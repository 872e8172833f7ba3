package validation

import (
	"fmt"

	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/disruption"
)

// ValidatePodDisruptionBudget checks a PodDisruptionBudget as Kubernetes'
// ValidatePodDisruptionBudgetSpec does: minAvailable and maxUnavailable not both set (policy/v1
// accepts neither: the budget then wants no healthy pod), each a non-negative integer or a
// percentage of at most 100%, a valid selector and a known unhealthyPodEvictionPolicy; and the
// status counters non-negative, as its status update validation does.
func ValidatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) apierrors.FieldErrors {
	spec := pdb.GetSpec()
	var errs apierrors.FieldErrors
	if spec.GetMinAvailable() != nil && spec.GetMaxUnavailable() != nil {
		errs = append(errs, apierrors.Invalid("spec", pdbSpecValue{spec}, "minAvailable and maxUnavailable cannot be both set"))
	}
	for _, f := range []struct {
		v *metav1.IntOrString
		p string
	}{{spec.GetMinAvailable(), "spec.minAvailable"}, {spec.GetMaxUnavailable(), "spec.maxUnavailable"}} {
		if f.v != nil {
			errs = append(errs, validatePositiveIntOrPercent(f.v, f.p)...)
			errs = append(errs, notMoreThan100Percent(f.v, f.p)...)
		}
	}
	errs = append(errs, ValidateLabelSelector(spec.GetSelector(), "spec.selector")...)
	if spec != nil && spec.UnhealthyPodEvictionPolicy != nil {
		switch p := spec.GetUnhealthyPodEvictionPolicy(); p {
		case disruption.UnhealthyPodEvictionIfHealthyBudget, disruption.UnhealthyPodEvictionAlwaysAllow:
		default:
			errs = append(errs, apierrors.NotSupported("spec.unhealthyPodEvictionPolicy", p,
				[]string{disruption.UnhealthyPodEvictionAlwaysAllow, disruption.UnhealthyPodEvictionIfHealthyBudget}))
		}
	}
	st := pdb.GetStatus()
	errs = append(errs, nonNegative(int64(st.GetDisruptionsAllowed()), "status.disruptionsAllowed")...)
	errs = append(errs, nonNegative(int64(st.GetCurrentHealthy()), "status.currentHealthy")...)
	errs = append(errs, nonNegative(int64(st.GetDesiredHealthy()), "status.desiredHealthy")...)
	errs = append(errs, nonNegative(int64(st.GetExpectedPods()), "status.expectedPods")...)
	return errs
}

// pdbSpecValue shows a spec in the shape of Kubernetes' %#v of it, pointers and all, so the
// message reads like upstream's (which prints addresses; these print the values instead).
type pdbSpecValue struct {
	s *policyv1.PodDisruptionBudgetSpec
}

func (v pdbSpecValue) String() string {
	ios := func(x *metav1.IntOrString) string {
		if x == nil {
			return "(*intstr.IntOrString)(nil)"
		}
		return "&intstr.IntOrString{" + string(intOrStringValue(x)) + "}"
	}
	policy := "(*policy.UnhealthyPodEvictionPolicyType)(nil)"
	if v.s.UnhealthyPodEvictionPolicy != nil {
		policy = fmt.Sprintf("%q", v.s.GetUnhealthyPodEvictionPolicy())
	}
	return fmt.Sprintf("policy.PodDisruptionBudgetSpec{MinAvailable:%s, Selector:%s, MaxUnavailable:%s, UnhealthyPodEvictionPolicy:%s}",
		ios(v.s.GetMinAvailable()), selectorValue{v.s.GetSelector()}, ios(v.s.GetMaxUnavailable()), policy)
}
