package validation

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// ValidateStatefulSet checks a StatefulSet as Kubernetes 1.32's ValidateStatefulSetSpec does:
// podManagementPolicy OrderedReady or Parallel; updateStrategy RollingUpdate (a non-negative
// partition; a maxUnavailable, if one got past the strategy, positive and at most 100%) or
// OnDelete without rollingUpdate; a claim retention policy of Retain or Delete; non-negative
// replicas, minReadySeconds and ordinals.start; a non-empty selector that selects the
// template's labels; pods that restart Always and have no activeDeadlineSeconds; and each
// volumeClaimTemplate's spec valid as a claim's (spec.volumeClaimTemplates[i].spec…), as
// upstream validates them once a set is created. As upstream, the template's pod spec is not
// validated here (its labels and annotations are): a pod the controller cannot create
// shows as a FailedCreate event.
func ValidateStatefulSet(ss *appsv1.StatefulSet) apierrors.FieldErrors {
	return validateStatefulSet(ss, true)
}

// validateStatefulSet is ValidateStatefulSet; claimTemplates says whether to validate the
// volumeClaimTemplates. An update skips them, as upstream: they cannot change, and a set
// stored before they were validated must stay updatable (to scale, or to delete).
func validateStatefulSet(ss *appsv1.StatefulSet, claimTemplates bool) apierrors.FieldErrors {
	spec := ss.GetSpec()
	p := "spec"
	var errs apierrors.FieldErrors
	switch pmp := spec.GetPodManagementPolicy(); pmp {
	case "":
		errs = append(errs, apierrors.Required(child(p, "podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, apierrors.Invalid(child(p, "podManagementPolicy"), pmp,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	errs = append(errs, validateStatefulSetUpdateStrategy(spec.GetUpdateStrategy(), child(p, "updateStrategy"))...)
	if rp := spec.GetPersistentVolumeClaimRetentionPolicy(); rp != nil {
		rpp := child(p, "persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateClaimRetention(rp.GetWhenDeleted(), child(rpp, "whenDeleted"))...)
		errs = append(errs, validateClaimRetention(rp.GetWhenScaled(), child(rpp, "whenScaled"))...)
	}
	if claimTemplates {
		for i, t := range spec.GetVolumeClaimTemplates() {
			errs = append(errs, validatePersistentVolumeClaimSpec(t.GetSpec(), child(index(child(p, "volumeClaimTemplates"), i), "spec"))...)
		}
	}
	errs = append(errs, nonNegative(int64(spec.GetReplicas()), child(p, "replicas"))...)
	errs = append(errs, nonNegative(int64(spec.GetMinReadySeconds()), child(p, "minReadySeconds"))...)
	if o := spec.GetOrdinals(); o != nil {
		errs = append(errs, nonNegative(int64(o.GetStart()), child(p, "ordinals.start"))...)
	}

	sp, tp := child(p, "selector"), child(p, "template")
	sel := spec.GetSelector()
	if sel == nil {
		errs = append(errs, apierrors.Required(sp, ""))
	} else {
		errs = append(errs, ValidateLabelSelector(sel, sp)...)
		if len(sel.GetMatchLabels())+len(sel.GetMatchExpressions()) == 0 {
			errs = append(errs, apierrors.Invalid(sp, selectorValue{sel}, "empty selector is invalid for statefulset"))
		}
	}
	t := spec.GetTemplate()
	if t == nil {
		t = &corev1.PodTemplateSpec{}
	}
	if s, err := labels.FromLabelSelector(sel); err != nil {
		errs = append(errs, apierrors.Invalid(sp, selectorValue{sel}, ""))
	} else {
		if !s.Empty() && !s.Matches(t.GetMetadata().GetLabels()) {
			errs = append(errs, apierrors.Invalid(child(child(tp, "metadata"), "labels"),
				goSyntax{templateLabels(t)}, "`selector` does not match template `labels`"))
		}
		// Upstream's paths, which skip "metadata".
		errs = append(errs, ValidateLabels(t.GetMetadata().GetLabels(), child(tp, "labels"))...)
		errs = append(errs, ValidateAnnotations(t.GetMetadata().GetAnnotations(), child(tp, "annotations"))...)
	}
	if rp := t.GetSpec().GetRestartPolicy(); rp != "Always" {
		errs = append(errs, apierrors.NotSupported(child(child(tp, "spec"), "restartPolicy"), rp, []string{"Always"}))
	}
	if t.GetSpec().ActiveDeadlineSeconds != nil {
		errs = append(errs, apierrors.Forbidden(child(child(tp, "spec"), "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
	}
	return append(errs, validateStatefulSetStatus(ss.GetStatus())...)
}

func validateStatefulSetUpdateStrategy(us *appsv1.StatefulSetUpdateStrategy, p string) apierrors.FieldErrors {
	ru := us.GetRollingUpdate()
	switch us.GetType() {
	case "":
		return apierrors.FieldErrors{apierrors.Required(p, "")}
	case appsv1.OnDeleteStatefulSetStrategyType:
		if ru != nil {
			return apierrors.FieldErrors{apierrors.Invalid(child(p, "rollingUpdate"), rollingUpdateValue{ru},
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType))}
		}
		return nil
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru == nil {
			return nil
		}
		rp := child(p, "rollingUpdate")
		errs := nonNegative(int64(ru.GetPartition()), child(rp, "partition"))
		if mu := ru.GetMaxUnavailable(); mu != nil {
			mp := child(rp, "maxUnavailable")
			errs = append(errs, validatePositiveIntOrPercent(mu, mp)...)
			if intOrPercentValue(mu) == 0 {
				errs = append(errs, apierrors.Invalid(mp, intOrStringValue(mu), "cannot be 0"))
			}
			errs = append(errs, notMoreThan100Percent(mu, mp)...)
		}
		return errs
	}
	return apierrors.FieldErrors{apierrors.Invalid(p, strategyValue{us},
		fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType))}
}

func validateClaimRetention(policy, p string) apierrors.FieldErrors {
	switch policy {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return apierrors.FieldErrors{apierrors.NotSupported(p, policy, []string{
		appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType})}
}

// validateStatefulSetStatus is ValidateStatefulSetStatus: counts non-negative, none above
// status.replicas, and availableReplicas not above readyReplicas.
func validateStatefulSetStatus(st *appsv1.StatefulSetStatus) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, f := range []struct {
		v int64
		n string
	}{
		{int64(st.GetReplicas()), "replicas"},
		{int64(st.GetReadyReplicas()), "readyReplicas"},
		{int64(st.GetCurrentReplicas()), "currentReplicas"},
		{int64(st.GetUpdatedReplicas()), "updatedReplicas"},
		{int64(st.GetAvailableReplicas()), "availableReplicas"},
		{st.GetObservedGeneration(), "observedGeneration"},
		{int64(st.GetCollisionCount()), "collisionCount"},
	} {
		errs = append(errs, nonNegative(f.v, child("status", f.n))...)
	}
	const msg = "cannot be greater than status.replicas"
	for _, f := range []struct {
		v int32
		n string
	}{
		{st.GetReadyReplicas(), "readyReplicas"},
		{st.GetCurrentReplicas(), "currentReplicas"},
		{st.GetUpdatedReplicas(), "updatedReplicas"},
		{st.GetAvailableReplicas(), "availableReplicas"},
	} {
		if f.v > st.GetReplicas() {
			errs = append(errs, apierrors.Invalid(child("status", f.n), f.v, msg))
		}
	}
	if st.GetAvailableReplicas() > st.GetReadyReplicas() {
		errs = append(errs, apierrors.Invalid("status.availableReplicas", st.GetAvailableReplicas(), "cannot be greater than status.readyReplicas"))
	}
	return errs
}

// ValidateStatefulSetUpdate checks an update of a StatefulSet: the new one must be valid;
// only replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy
// and minReadySeconds may change (the selector, serviceName and volumeClaimTemplates may
// not); and status.collisionCount never goes down.
func ValidateStatefulSetUpdate(ss, old *appsv1.StatefulSet) apierrors.FieldErrors {
	errs := validateStatefulSet(ss, false)
	mutable := func(spec *appsv1.StatefulSetSpec) *appsv1.StatefulSetSpec {
		c, _ := proto.Clone(spec).(*appsv1.StatefulSetSpec)
		if c == nil {
			c = &appsv1.StatefulSetSpec{}
		}
		c.Replicas, c.Template, c.UpdateStrategy, c.MinReadySeconds, c.Ordinals, c.PersistentVolumeClaimRetentionPolicy = nil, nil, nil, 0, nil, nil
		return c
	}
	if !proto.Equal(mutable(ss.GetSpec()), mutable(old.GetSpec())) {
		errs = append(errs, apierrors.Forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	collisions := func(s *appsv1.StatefulSetStatus) *int32 {
		if s == nil {
			return nil
		}
		return s.CollisionCount
	}
	if cur, prev := collisions(ss.GetStatus()), collisions(old.GetStatus()); prev != nil && (cur == nil || *cur < *prev) {
		errs = append(errs, apierrors.Invalid("status.collisionCount", ss.GetStatus().GetCollisionCount(), "cannot be decremented"))
	}
	return errs
}

// rollingUpdateValue and strategyValue render the strategy as Kubernetes' messages do (the
// %#v of its internal types).
type rollingUpdateValue struct {
	ru *appsv1.RollingUpdateStatefulSetStrategy
}

func (v rollingUpdateValue) String() string {
	mu := "(*intstr.IntOrString)(nil)"
	if v.ru.GetMaxUnavailable() != nil {
		mu = "&intstr.IntOrString{" + string(intOrStringValue(v.ru.GetMaxUnavailable())) + "}"
	}
	return fmt.Sprintf("&apps.RollingUpdateStatefulSetStrategy{Partition:%d, MaxUnavailable:%s}", v.ru.GetPartition(), mu)
}

type strategyValue struct {
	us *appsv1.StatefulSetUpdateStrategy
}

func (v strategyValue) String() string {
	ru := "(*apps.RollingUpdateStatefulSetStrategy)(nil)"
	if v.us.GetRollingUpdate() != nil {
		ru = rollingUpdateValue{v.us.GetRollingUpdate()}.String()
	}
	return fmt.Sprintf("apps.StatefulSetUpdateStrategy{Type:%q, RollingUpdate:%s}", v.us.GetType(), ru)
}
