package quota

import (
	"slices"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// What a PersistentVolumeClaim takes of a ResourceQuota, Kubernetes'
// pkg/quota/v1/evaluator/core pvc evaluator: one claim (persistentvolumeclaims and
// count/persistentvolumeclaims) and the storage it asks for (requests.storage), each also
// under its StorageClass as <class>.storageclass.storage.k8s.io/<resource>.
//
// A claim counts from its create until it is really gone: a claim being deleted (held by
// the kubernetes.io/pvc-protection finalizer while a pod uses it) still holds its room, as
// upstream, which has no terminal state for claims.
//
// Scopes: the pod scopes (Terminating, BestEffort, …) say nothing about a claim, so a
// quota with any scope tracks no claims, as upstream with the VolumeAttributesClass
// feature gate off (its default in v1.32), where a claim matches no scope.

// ClaimResources are the quota resource names a claim counts for that do not name a
// storage class; IsClaimResource also knows the per-class forms.
var ClaimResources = []string{"persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage"}

// storageClassSuffix joins a class name and a resource in a per-class quota name:
// "gold.storageclass.storage.k8s.io/requests.storage".
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// ByStorageClass is the quota resource name of resource (persistentvolumeclaims or
// requests.storage) for the claims of class.
func ByStorageClass(class, resource string) string {
	return class + storageClassSuffix + resource
}

// IsClaimResource reports whether a quota resource name counts claims: one of
// ClaimResources, or a per-class persistentvolumeclaims or requests.storage.
func IsClaimResource(name string) bool {
	return slices.Contains(ClaimResources, name) ||
		strings.HasSuffix(name, storageClassSuffix+"persistentvolumeclaims") ||
		strings.HasSuffix(name, storageClassSuffix+"requests.storage")
}

// claimStorage is the storage a claim asks for, rounded up to a whole byte (upstream
// counts whole bytes so a fractional request cannot make status.used invalid). kubelab's
// claims have no status.allocatedResources (it refuses expansion), so the request alone
// counts, which is what upstream's larger-of-request-and-allocated rule gives when
// allocatedResources is unset. ok is false for a claim without a storage request.
func claimStorage(pvc *corev1.PersistentVolumeClaim) (q resource.Quantity, ok bool) {
	p := pvc.GetSpec().GetResources().GetRequests()["storage"]
	if p == nil {
		return q, false
	}
	q, err := resource.ParseQuantity(p.GetString_())
	if err != nil {
		return q, false
	}
	if !q.IsInteger() {
		q = resource.NewQuantity(q.Value(), q.Format)
	}
	return q, true
}

// ClaimUsage is what pvc takes of each resource hard tracks (resources it does not track
// are left out).
func ClaimUsage(pvc *corev1.PersistentVolumeClaim, hard resource.List) resource.List {
	one := resource.NewQuantity(1, resource.DecimalSI)
	all := resource.List{"persistentvolumeclaims": one, "count/persistentvolumeclaims": one}
	class := corev1.ClaimStorageClass(pvc)
	if class != "" {
		all[ByStorageClass(class, "persistentvolumeclaims")] = one
	}
	if storage, ok := claimStorage(pvc); ok {
		all["requests.storage"] = storage
		if class != "" {
			all[ByStorageClass(class, "requests.storage")] = storage
		}
	}
	out := resource.List{}
	for name := range hard {
		if q, ok := all[name]; ok {
			out[name] = q
		}
	}
	return out
}

// TracksClaim reports whether a quota with spec takes anything of a claim: its hard
// limits name a claim resource and it has no scopes (no scope matches a claim).
func TracksClaim(spec *corev1.ResourceQuotaSpec) bool {
	if len(spec.GetScopes()) > 0 {
		return false
	}
	for name := range spec.GetHard() {
		if IsClaimResource(name) {
			return true
		}
	}
	return false
}

// ClaimsUsage is what claims take together of each resource a quota with spec and hard
// limits hard tracks: nothing when the quota has scopes.
func ClaimsUsage(spec *corev1.ResourceQuotaSpec, claims []*corev1.PersistentVolumeClaim, hard resource.List) resource.List {
	used := resource.List{}
	if !TracksClaim(spec) {
		return used
	}
	for _, pvc := range claims {
		used = used.Add(ClaimUsage(pvc, hard))
	}
	return used
}
