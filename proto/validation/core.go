package validation

import (
	"fmt"
	"slices"
	"strings"

	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// ---- Namespace ----

// ValidateNamespace checks a Namespace's spec.finalizers: standard names or domain-prefixed
// qualified names.
func ValidateNamespace(ns *corev1.Namespace) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, f := range ns.GetSpec().GetFinalizers() {
		errs = append(errs, validateKubeFinalizerName(f, index("spec.finalizers", i))...)
	}
	return errs
}

// ---- Node ----

// ValidateNode checks a Node: pod CIDRs, taints, and status quantities.
func ValidateNode(n *corev1.Node) apierrors.FieldErrors {
	spec := n.GetSpec()
	var errs apierrors.FieldErrors
	if spec.GetPodCIDR() != "" {
		_, e := validCIDR(spec.GetPodCIDR(), "spec.podCIDR")
		errs = append(errs, e...)
	}
	if cidrs := spec.GetPodCIDRs(); len(cidrs) > 0 {
		fams := map[bool]int{}
		seen := map[string]bool{}
		for i, c := range cidrs {
			pfx, e := validCIDR(c, index("spec.podCIDRs", i))
			errs = append(errs, e...)
			if e == nil {
				fams[pfx.Addr().Is4()]++
			}
			if seen[c] {
				errs = append(errs, apierrors.Duplicate(index("spec.podCIDRs", i), c))
			}
			seen[c] = true
		}
		if len(cidrs) > 2 || fams[true] > 1 || fams[false] > 1 {
			errs = append(errs, apierrors.Invalid("spec.podCIDRs", goSyntax{cidrs}, "may specify no more than one CIDR for each IP family"))
		}
		if pc := spec.GetPodCIDR(); pc != "" && pc != cidrs[0] {
			errs = append(errs, apierrors.Invalid("spec.podCIDR", pc, "must match the first entry of `podCIDRs`"))
		}
	}
	errs = append(errs, validateTaints(spec.GetTaints(), "spec.taints")...)
	for _, f := range []struct {
		name string
		m    map[string]*metav1.Quantity
	}{{"capacity", n.GetStatus().GetCapacity()}, {"allocatable", n.GetStatus().GetAllocatable()}} {
		for _, k := range sortedKeys(f.m) {
			_, e := validateQuantity(f.m[k], key("status."+f.name, k))
			errs = append(errs, e...)
		}
	}
	return errs
}

// ValidateNodeUpdate checks an update of a Node: the new node must be valid, pod CIDRs may
// only go from unset to set, and providerID likewise.
func ValidateNodeUpdate(n, old *corev1.Node) apierrors.FieldErrors {
	errs := ValidateNode(n)
	const msg = "node updates may not change podCIDR except from \"\" to valid"
	if o := old.GetSpec().GetPodCIDR(); o != "" && o != n.GetSpec().GetPodCIDR() {
		errs = append(errs, apierrors.Forbidden("spec.podCIDR", msg))
	}
	if o := old.GetSpec().GetPodCIDRs(); len(o) > 0 && !slices.Equal(o, n.GetSpec().GetPodCIDRs()) {
		errs = append(errs, apierrors.Forbidden("spec.podCIDRs", msg))
	}
	if o := old.GetSpec().GetProviderID(); o != "" && o != n.GetSpec().GetProviderID() {
		errs = append(errs, apierrors.Forbidden("spec.providerID", "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateTaints(taints []*corev1.Taint, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	seen := map[[2]string]bool{}
	for i, t := range taints {
		tp := index(p, i)
		errs = append(errs, validateLabelName(t.GetKey(), child(tp, "key"))...)
		if msgs := isValidLabelValue(t.GetValue()); len(msgs) > 0 {
			errs = append(errs, apierrors.Invalid(child(tp, "value"), t.GetValue(), strings.Join(msgs, ";")))
		}
		switch e := t.GetEffect(); {
		case e == "":
			errs = append(errs, apierrors.Required(child(tp, "effect"), ""))
		case !slices.Contains(taintEffects, e):
			errs = append(errs, apierrors.NotSupported(child(tp, "effect"), e, taintEffects))
		}
		k := [2]string{t.GetKey(), t.GetEffect()}
		if seen[k] {
			d := apierrors.Duplicate(tp, bare(fmt.Sprintf("core.Taint{Key:%q, Value:%q, Effect:%q}", t.GetKey(), t.GetValue(), t.GetEffect())))
			d.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, d)
		}
		seen[k] = true
	}
	return errs
}

// ---- Event ----

// ValidateEvent checks an Event with the rules Kubernetes keeps for core/v1 Events: the
// involved object must be in the event's namespace; an event with an eventTime (a "new"
// event) needs reportingComponent, reportingInstance, action and reason.
func ValidateEvent(ev *corev1.Event) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	ns := ev.GetMetadata().GetNamespace()
	ions := ev.GetInvolvedObject().GetNamespace()
	const mismatch = "does not match event.namespace"
	if ev.GetEventTime() == nil {
		if ions == "" {
			if ns != "" && ns != "default" {
				errs = append(errs, apierrors.Invalid("involvedObject.namespace", ions, mismatch))
			}
		} else if ns != ions {
			errs = append(errs, apierrors.Invalid("involvedObject.namespace", ions, mismatch))
		}
	} else {
		if ions == "" && ns != "default" && ns != "kube-system" {
			errs = append(errs, apierrors.Invalid("involvedObject.namespace", ions, mismatch))
		}
		if ev.GetReportingComponent() == "" {
			errs = append(errs, apierrors.Required("reportingComponent", ""))
		} else {
			errs = append(errs, validateLabelName(ev.GetReportingComponent(), "reportingComponent")...)
		}
		errs = append(errs, requiredMax(ev.GetReportingInstance(), 128, "reportingInstance")...)
		errs = append(errs, requiredMax(ev.GetAction(), 128, "action")...)
		errs = append(errs, requiredMax(ev.GetReason(), 128, "reason")...)
		if len(ev.GetMessage()) > 1024 {
			errs = append(errs, apierrors.Invalid("message", "", "can have at most 1024 characters"))
		}
	}
	if t := ev.GetType(); t != "" && t != "Normal" && t != "Warning" {
		errs = append(errs, apierrors.NotSupported("type", t, []string{"Normal", "Warning"}))
	}
	if ev.GetCount() < 0 {
		errs = append(errs, nonNegative(int64(ev.GetCount()), "count")...)
	}
	return errs
}

func requiredMax(v string, max int, p string) apierrors.FieldErrors {
	switch {
	case v == "":
		return apierrors.FieldErrors{apierrors.Required(p, "")}
	case len(v) > max:
		return apierrors.FieldErrors{apierrors.Invalid(p, "", fmt.Sprintf("can have at most %d characters", max))}
	}
	return nil
}

// ---- Lease ----

// ValidateLease checks a Lease: leaseDurationSeconds > 0 and leaseTransitions ≥ 0 when set,
// a known or domain-prefixed strategy, and preferredHolder only with a strategy.
func ValidateLease(l *coordinationv1.Lease) apierrors.FieldErrors {
	spec := l.GetSpec()
	var errs apierrors.FieldErrors
	if spec == nil {
		return nil
	}
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, apierrors.Invalid("spec.leaseDurationSeconds", int64(*spec.LeaseDurationSeconds), "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, apierrors.Invalid("spec.leaseTransitions", int64(*spec.LeaseTransitions), isNegativeErrorMsg))
	}
	if spec.Strategy != nil {
		s := *spec.Strategy
		if !strings.Contains(s, "/") {
			if s != "OldestEmulationVersion" {
				errs = append(errs, apierrors.NotSupported("spec.strategy", s, []string{"OldestEmulationVersion"}))
			}
		} else {
			errs = append(errs, validateLabelName(s, "spec.strategy")...)
		}
	}
	if spec.GetPreferredHolder() != "" && spec.GetStrategy() == "" {
		errs = append(errs, apierrors.Forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
	}
	return errs
}

// ---- Binding ----

// ValidateBinding checks a pod Binding: a target name, and kind Node when a kind is given.
func ValidateBinding(b *corev1.Binding) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if k := b.GetTarget().GetKind(); k != "" && k != "Node" {
		errs = append(errs, apierrors.NotSupported("target.kind", k, []string{"Node", "<empty>"}))
	}
	if b.GetTarget().GetName() == "" {
		errs = append(errs, apierrors.Required("target.name", ""))
	}
	return errs
}

// ---- LimitRange ----

var limitTypes = []string{"Container", "PersistentVolumeClaim", "Pod"}

// ValidateLimitRange checks a LimitRange: known (or domain-prefixed) limit types, each once;
// valid, non-negative quantities; min ≤ defaultRequest ≤ default ≤ max for each resource;
// no defaults for type Pod; maxLimitRequestRatio ≥ 1.
func ValidateLimitRange(lr *corev1.LimitRange) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	types := map[string]bool{}
	for i, item := range lr.GetSpec().GetLimits() {
		ip := index("spec.limits", i)
		typ := item.GetType()
		errs = append(errs, validateLimitType(typ, child(ip, "type"))...)
		if types[typ] {
			errs = append(errs, apierrors.Duplicate(child(ip, "type"), typ))
		}
		types[typ] = true

		parse := func(field string, m map[string]*metav1.Quantity) map[string]quantity {
			out := map[string]quantity{}
			for _, k := range sortedKeys(m) {
				kp := key(child(ip, field), k)
				errs = append(errs, validateLimitRangeResourceName(typ, k, kp)...)
				q, e := validateQuantity(m[k], kp)
				errs = append(errs, e...)
				if e == nil {
					out[k] = q
				}
			}
			return out
		}
		max, min := parse("max", item.GetMax()), parse("min", item.GetMin())
		var def, defReq map[string]quantity
		if typ == "Pod" {
			if len(item.GetDefault()) > 0 {
				errs = append(errs, apierrors.Forbidden(child(ip, "default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.GetDefaultRequest()) > 0 {
				errs = append(errs, apierrors.Forbidden(child(ip, "defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			def, defReq = parse("default", item.GetDefault()), parse("defaultRequest", item.GetDefaultRequest())
		}
		if typ == "PersistentVolumeClaim" {
			_, hasMin := item.GetMin()["storage"]
			_, hasMax := item.GetMax()["storage"]
			if !hasMin && !hasMax {
				errs = append(errs, apierrors.Required(child(ip, "limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		ratios := parse("maxLimitRequestRatio", item.GetMaxLimitRequestRatio())

		names := map[string]bool{}
		for _, m := range []map[string]quantity{max, min, def, defReq, ratios} {
			for k := range m {
				names[k] = true
			}
		}
		one, _ := parseQuantity("1")
		for _, k := range sortedKeys(names) {
			mn, hasMin := min[k]
			mx, hasMax := max[k]
			d, hasDef := def[k]
			dr, hasDefReq := defReq[k]
			r, hasRatio := ratios[k]
			bad := func(field string, value quantity, format string, args ...any) {
				errs = append(errs, apierrors.Invalid(key(child(ip, field), k), bare(value.text), fmt.Sprintf(format, args...)))
			}
			if hasMin && hasMax && mn.cmp(mx) > 0 {
				bad("min", mn, "min value %s is greater than max value %s", mn.text, mx.text)
			}
			if hasDefReq && hasMin && mn.cmp(dr) > 0 {
				bad("defaultRequest", dr, "min value %s is greater than default request value %s", mn.text, dr.text)
			}
			if hasDefReq && hasMax && dr.cmp(mx) > 0 {
				bad("defaultRequest", dr, "default request value %s is greater than max value %s", dr.text, mx.text)
			}
			if hasDefReq && hasDef && dr.cmp(d) > 0 {
				bad("defaultRequest", dr, "default request value %s is greater than default limit value %s", dr.text, d.text)
			}
			if hasDef && hasMin && mn.cmp(d) > 0 {
				bad("default", mn, "min value %s is greater than default value %s", mn.text, d.text)
			}
			if hasDef && hasMax && d.cmp(mx) > 0 {
				bad("default", mx, "default value %s is greater than max value %s", d.text, mx.text)
			}
			if hasRatio && r.cmp(one) < 0 {
				bad("maxLimitRequestRatio", r, "ratio %s is less than 1", r.text)
			}
			if hasRatio && hasMin && hasMax && mn.value.Sign() > 0 {
				// As Kubernetes computes it: in milli-units while all three are small, so
				// fractional cpu ratios compare right, in whole units otherwise.
				ratio, lo, hi := float64(r.value.Value()), mn.value.Value(), mx.value.Value()
				if r.value.Value() < 1000000 && lo < 1000000 && hi < 1000000 {
					ratio, lo, hi = float64(r.value.MilliValue())/1000, mn.value.MilliValue(), mx.value.MilliValue()
				}
				if limit := float64(hi) / float64(lo); ratio > limit {
					bad("maxLimitRequestRatio", r, "ratio %s is greater than max/min = %f", r.text, limit)
				}
			}
			if !isOvercommitAllowed(k) && hasDef && hasDefReq && d.cmp(dr) != 0 {
				bad("defaultRequest", dr, "default value %s must equal to defaultRequest value %s in %s", d.text, dr.text, k)
			}
		}
	}
	return errs
}

func validateLimitType(typ, p string) apierrors.FieldErrors {
	errs := validateLabelName(typ, p)
	if len(errs) == 0 && !strings.Contains(typ, "/") && !slices.Contains(limitTypes, typ) {
		errs = append(errs, apierrors.Invalid(p, typ, "must be a standard limit type or fully qualified"))
	}
	return errs
}

func validateLimitRangeResourceName(typ, name, p string) apierrors.FieldErrors {
	switch typ {
	case "Pod", "Container":
		return validateContainerResourceName(name, p)
	}
	errs := validateLabelName(name, p)
	if len(errs) == 0 && !strings.Contains(name, "/") && !isStandardResource(name) {
		errs = append(errs, apierrors.Invalid(p, name, "must be a standard resource type or fully qualified"))
	}
	return errs
}

// ---- ResourceQuota ----

// Resources a ResourceQuota may cap without a domain prefix.
var standardQuotaResources = []string{
	"configmaps", "cpu", "ephemeral-storage", "limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"memory", "persistentvolumeclaims", "pods", "replicationcontrollers", "requests.cpu",
	"requests.ephemeral-storage", "requests.memory", "requests.storage", "resourcequotas", "secrets",
	"services", "services.loadbalancers", "services.nodeports", "storage",
}

// Quota resources that count objects, and so must be integers.
var integerQuotaResources = []string{
	"configmaps", "persistentvolumeclaims", "pods", "replicationcontrollers", "resourcequotas",
	"secrets", "services", "services.loadbalancers", "services.nodeports",
}

func isStandardResource(name string) bool {
	return slices.Contains(standardQuotaResources, name) || isHugePageResource(name) || strings.HasPrefix(name, "requests.hugepages-")
}

// ValidateResourceQuota checks a ResourceQuota: standard (or domain-prefixed) resource names
// with valid, non-negative quantities (integers for object counts), and known scopes that
// fit those resources and each other.
func ValidateResourceQuota(q *corev1.ResourceQuota) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	hard := q.GetSpec().GetHard()
	for _, k := range sortedKeys(hard) {
		kp := key("spec.hard", k)
		errs = append(errs, validateLabelName(k, kp)...)
		if !strings.Contains(k, "/") && !isStandardResource(k) {
			errs = append(errs, apierrors.Invalid(kp, k, "must be a standard resource for quota"))
		}
		v, e := validateQuantity(hard[k], kp)
		errs = append(errs, e...)
		if e == nil && (slices.Contains(integerQuotaResources, k) || strings.HasPrefix(k, "count/")) && !v.isInteger() {
			errs = append(errs, apierrors.Invalid(kp, bare(v.text), isNotIntegerErrorMsg))
		}
	}
	errs = append(errs, validateQuotaScopes(q.GetSpec())...)
	for _, f := range []struct {
		name string
		m    map[string]*metav1.Quantity
	}{{"hard", q.GetStatus().GetHard()}, {"used", q.GetStatus().GetUsed()}} {
		for _, k := range sortedKeys(f.m) {
			_, e := validateQuantity(f.m[k], key("status."+f.name, k))
			errs = append(errs, e...)
		}
	}
	return errs
}

// ValidateResourceQuotaUpdate checks an update of a ResourceQuota: the new one must be
// valid, and its scopes are immutable.
func ValidateResourceQuotaUpdate(q, old *corev1.ResourceQuota) apierrors.FieldErrors {
	errs := ValidateResourceQuota(q)
	a, b := slices.Clone(q.GetSpec().GetScopes()), slices.Clone(old.GetSpec().GetScopes())
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
		errs = append(errs, apierrors.Invalid("spec.scopes", scopesValue(q.GetSpec().GetScopes()), fieldImmutableErrMsg))
	}
	return errs
}
