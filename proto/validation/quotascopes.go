package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/quota"
)

// Resources a scope may limit, after Kubernetes' IsResourceQuotaScopeValidForResource: a
// pod scope only sorts pods, so a scoped quota may cap pods and their compute resources but
// not, say, services; BestEffort pods have no compute resources, so a BestEffort quota
// caps only their number. Scopes outside this table (VolumeAttributesClass) allow any.
var (
	podCountQuotaResources   = []string{"pods"}
	podComputeQuotaResources = []string{"cpu", "limits.cpu", "limits.memory", "memory", "requests.cpu", "requests.memory"}
)

func scopeAllowsResource(scope, name string) bool {
	switch scope {
	case quota.ScopeTerminating, quota.ScopeNotTerminating, quota.ScopeNotBestEffort,
		quota.ScopePriorityClass, quota.ScopeCrossNamespacePodAffinity:
		return slices.Contains(podCountQuotaResources, name) || slices.Contains(podComputeQuotaResources, name)
	case quota.ScopeBestEffort:
		return slices.Contains(podCountQuotaResources, name)
	}
	return true
}

// scopesValue shows spec.scopes as Kubernetes shows its []core.ResourceQuotaScope in a
// field error (%#v of the internal type), so messages read the same as upstream's.
type scopesValue []string

func (s scopesValue) String() string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[]core.ResourceQuotaScope{" + strings.Join(q, ", ") + "}"
}

// validateQuotaScopes checks spec.scopes the way Kubernetes' validateResourceQuotaScopes
// does: every error is on spec.scopes as a whole, with the whole list as the value. One
// "unsupported scope applied to resource" comes per scope and standard resource that do not
// fit (count/* and domain-prefixed names are not checked), then one "conflicting scopes"
// per pair of opposites. Repeated scopes are allowed, as upstream allows them.
func validateQuotaScopes(spec *corev1.ResourceQuotaSpec) apierrors.FieldErrors {
	scopes := spec.GetScopes()
	if len(scopes) == 0 {
		return nil
	}
	var errs apierrors.FieldErrors
	value := scopesValue(scopes)
	hard := sortedKeys(spec.GetHard())
	for _, s := range scopes {
		if !slices.Contains(quota.Scopes, s) {
			errs = append(errs, apierrors.Invalid("spec.scopes", value, "unsupported scope"))
		}
		for _, name := range hard {
			if isStandardResource(name) && !scopeAllowsResource(s, name) {
				errs = append(errs, apierrors.Invalid("spec.scopes", value, "unsupported scope applied to resource"))
			}
		}
	}
	for _, pair := range [][2]string{{quota.ScopeBestEffort, quota.ScopeNotBestEffort}, {quota.ScopeTerminating, quota.ScopeNotTerminating}} {
		if slices.Contains(scopes, pair[0]) && slices.Contains(scopes, pair[1]) {
			errs = append(errs, apierrors.Invalid("spec.scopes", value, "conflicting scopes"))
		}
	}
	return errs
}
