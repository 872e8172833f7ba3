package validation

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// The values Kubernetes accepts, in the order its messages list them.
var (
	supportedAccessModes   = []string{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedReclaimPolicy = []string{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeModes   = []string{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

// validateAccessModes: known modes, and ReadWriteOncePod alone.
func validateAccessModes(modes []string, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	rwop, other := false, false
	for _, m := range modes {
		if !slices.Contains(supportedAccessModes, m) {
			errs = append(errs, apierrors.NotSupported(p, m, supportedAccessModes))
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		errs = append(errs, apierrors.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validateClassName(name, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, msg := range NameIsDNSSubdomain(name, false) {
		errs = append(errs, apierrors.Invalid(p, name, msg))
	}
	return errs
}

func validateVolumeModeValue(mode *string, p string) apierrors.FieldErrors {
	if mode != nil && !slices.Contains(supportedVolumeModes, *mode) {
		return apierrors.FieldErrors{apierrors.NotSupported(p, *mode, supportedVolumeModes)}
	}
	return nil
}

// positiveQuantity parses q and requires it above zero, as ValidatePositiveQuantityValue.
func positiveQuantity(q string, p string) apierrors.FieldErrors {
	v, msg := parseQuantity(q)
	if msg != "" {
		return apierrors.FieldErrors{apierrors.Invalid(p, q, msg)}
	}
	if v.value.Sign() <= 0 {
		return apierrors.FieldErrors{apierrors.Invalid(p, q, "must be greater than zero")}
	}
	return nil
}

// ValidatePersistentVolume checks a PersistentVolume as Kubernetes' ValidatePersistentVolume
// (spec only; metadata is ValidateObjectMeta's): access modes, a capacity of storage alone and
// above zero, a known reclaim policy and volume mode, a class name that is a DNS subdomain,
// exactly one source (hostPath or local), and node affinity for a local volume.
func ValidatePersistentVolume(pv *corev1.PersistentVolume) apierrors.FieldErrors {
	spec := pv.GetSpec()
	p := "spec"
	var errs apierrors.FieldErrors
	if len(spec.GetAccessModes()) == 0 {
		errs = append(errs, apierrors.Required(child(p, "accessModes"), ""))
	}
	errs = append(errs, validateAccessModes(spec.GetAccessModes(), child(p, "accessModes"))...)
	capacity := spec.GetCapacity()
	cp := child(p, "capacity")
	if len(capacity) == 0 {
		errs = append(errs, apierrors.Required(cp, ""))
	}
	if _, ok := capacity[corev1.ResourceStorage]; !ok || len(capacity) > 1 {
		errs = append(errs, apierrors.NotSupported(cp, quantityMapValue(capacity), []string{corev1.ResourceStorage}))
	}
	for _, k := range sortedKeys(capacity) {
		errs = append(errs, positiveQuantity(capacity[k].GetString_(), key(cp, k))...)
	}
	if rp := spec.GetPersistentVolumeReclaimPolicy(); rp != "" && !slices.Contains(supportedReclaimPolicy, rp) {
		errs = append(errs, apierrors.NotSupported(child(p, "persistentVolumeReclaimPolicy"), rp, supportedReclaimPolicy))
	}
	affinity := false
	if na := spec.GetNodeAffinity(); na != nil {
		affinity = true
		np := child(p, "nodeAffinity")
		if req := na.GetRequired(); req == nil {
			errs = append(errs, apierrors.Required(child(np, "required"), "must specify required node constraints"))
		} else {
			tp := child(child(np, "required"), "nodeSelectorTerms")
			if len(req.GetNodeSelectorTerms()) == 0 {
				errs = append(errs, apierrors.Required(tp, "must have at least one node selector term"))
			}
			for i, t := range req.GetNodeSelectorTerms() {
				errs = append(errs, validateNodeSelectorTerm(t, index(tp, i))...)
			}
		}
	}
	n := 0
	if hp := spec.GetHostPath(); hp != nil {
		n++
		sp := child(p, "hostPath")
		if hp.GetPath() == "" {
			errs = append(errs, apierrors.Required(child(sp, "path"), ""))
		} else {
			errs = append(errs, validatePathNoBacksteps(hp.GetPath(), child(sp, "path"))...)
			if hp.Type != nil && !slices.Contains(hostPathTypes, *hp.Type) {
				errs = append(errs, apierrors.NotSupported(child(sp, "type"), *hp.Type, hostPathTypes))
			}
		}
	}
	if l := spec.GetLocal(); l != nil {
		if n > 0 {
			errs = append(errs, apierrors.Forbidden(child(p, "local"), "may not specify more than 1 volume type"))
		} else {
			n++
			if l.GetPath() == "" {
				errs = append(errs, apierrors.Required(child(child(p, "local"), "path"), ""))
			} else {
				errs = append(errs, validatePathNoBacksteps(l.GetPath(), child(child(p, "local"), "path"))...)
			}
			if !affinity {
				errs = append(errs, apierrors.Required(child(p, "nodeAffinity"), "Local volume requires node affinity"))
			}
		}
	}
	if n == 0 {
		errs = append(errs, apierrors.Required(p, "must specify a volume type"))
	}
	if hp := spec.GetHostPath(); hp != nil && path.Clean(hp.GetPath()) == "/" && spec.GetPersistentVolumeReclaimPolicy() == corev1.PersistentVolumeReclaimRecycle {
		errs = append(errs, apierrors.Forbidden(child(p, "persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if sc := spec.GetStorageClassName(); sc != "" {
		errs = append(errs, validateClassName(sc, child(p, "storageClassName"))...)
	}
	errs = append(errs, validateVolumeModeValue(spec.VolumeMode, child(p, "volumeMode"))...)
	return errs
}

// quantityMapValue shows a capacity in a message as upstream's %#v of a ResourceList would,
// with the quantities as written.
func quantityMapValue(m map[string]*metav1.Quantity) bare {
	if len(m) == 0 {
		return "core.ResourceList(nil)"
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%q:%q", k, m[k].GetString_()))
	}
	return bare("core.ResourceList{" + strings.Join(parts, ", ") + "}")
}

// ValidatePersistentVolumeUpdate: valid as on create, with the source and volume mode
// unchanged and node affinity unchanged once set (the binder and scheduler relied on them).
// Like upstream, the paths of the last two lack their "spec." prefix.
func ValidatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) apierrors.FieldErrors {
	errs := ValidatePersistentVolume(pv)
	s, o := pv.GetSpec(), old.GetSpec()
	if !proto.Equal(s.GetHostPath(), o.GetHostPath()) || !proto.Equal(s.GetLocal(), o.GetLocal()) {
		errs = append(errs, apierrors.Forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
	}
	if s.GetVolumeMode() != o.GetVolumeMode() {
		errs = append(errs, apierrors.Invalid("volumeMode", optionalValue(s.VolumeMode), fieldImmutableErrMsg))
	}
	if o.GetNodeAffinity() != nil && !proto.Equal(s.GetNodeAffinity(), o.GetNodeAffinity()) {
		errs = append(errs, apierrors.Invalid("nodeAffinity", nodeAffinityValue{s.GetNodeAffinity()}, fieldImmutableErrMsg))
	}
	return errs
}

type nodeAffinityValue struct{ na *corev1.VolumeNodeAffinity }

func (v nodeAffinityValue) String() string {
	if v.na == nil {
		return "null"
	}
	return "core.VolumeNodeAffinity{...}"
}

func optionalValue(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// ValidatePersistentVolumeClaim checks a claim's spec as Kubernetes'
// ValidatePersistentVolumeClaimSpec: at least one access mode, a valid selector, a storage
// request above zero, a class name that is a DNS subdomain and a known volume mode.
func ValidatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) apierrors.FieldErrors {
	return validatePersistentVolumeClaimSpec(pvc.GetSpec(), "spec")
}

func validatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if len(spec.GetAccessModes()) == 0 {
		errs = append(errs, apierrors.Required(child(p, "accessModes"), "at least 1 access mode is required"))
	}
	if spec.GetSelector() != nil {
		errs = append(errs, ValidateLabelSelector(spec.GetSelector(), child(p, "selector"))...)
	}
	errs = append(errs, validateAccessModes(spec.GetAccessModes(), child(p, "accessModes"))...)
	// Upstream's path: the storage key under resources, not under resources.requests.
	sp := key(child(p, "resources"), corev1.ResourceStorage)
	if q, ok := spec.GetResources().GetRequests()[corev1.ResourceStorage]; !ok {
		errs = append(errs, apierrors.Required(sp, ""))
	} else {
		errs = append(errs, positiveQuantity(q.GetString_(), sp)...)
	}
	if sc := spec.StorageClassName; sc != nil && *sc != "" {
		errs = append(errs, validateClassName(*sc, child(p, "storageClassName"))...)
	}
	errs = append(errs, validateVolumeModeValue(spec.VolumeMode, child(p, "volumeMode"))...)
	return errs
}

// ValidatePersistentVolumeClaimUpdate: valid as on create, and the spec immutable but for
// what Kubernetes lets change: volumeName once (the binder binds), storageClassName from unset
// to a class (the retroactive default), and, for a bound claim, a larger storage request.
// kubelab does not expand volumes yet, so that last one is refused plainly.
func ValidatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) apierrors.FieldErrors {
	errs := ValidatePersistentVolumeClaim(pvc)
	ns, os := proto.Clone(pvc.GetSpec()).(*corev1.PersistentVolumeClaimSpec), proto.Clone(old.GetSpec()).(*corev1.PersistentVolumeClaimSpec)
	if ns == nil {
		ns = &corev1.PersistentVolumeClaimSpec{}
	}
	if os == nil {
		os = &corev1.PersistentVolumeClaimSpec{}
	}
	if os.GetVolumeName() == "" {
		os.VolumeName = ns.GetVolumeName()
	}
	if os.StorageClassName == nil && ns.GetStorageClassName() != "" {
		ns.StorageClassName = nil
	}
	newSize := ns.GetResources().GetRequests()[corev1.ResourceStorage]
	oldSize := os.GetResources().GetRequests()[corev1.ResourceStorage]
	bound := pvc.GetStatus().GetPhase() == corev1.ClaimBound
	if bound && ns.GetResources().GetRequests() != nil {
		if oldSize == nil {
			delete(ns.Resources.Requests, corev1.ResourceStorage)
		} else {
			ns.Resources.Requests[corev1.ResourceStorage] = oldSize
		}
	}
	if !proto.Equal(ns, os) {
		errs = append(errs, apierrors.Forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	if newSize != nil && oldSize != nil {
		nq, nmsg := parseQuantity(newSize.GetString_())
		oq, omsg := parseQuantity(oldSize.GetString_())
		if nmsg == "" && omsg == "" {
			switch c := nq.cmp(oq); {
			case c < 0:
				errs = append(errs, apierrors.Forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
			case c > 0 && bound:
				errs = append(errs, apierrors.Forbidden("spec.resources.requests.storage", "kubelab does not expand volumes yet"))
			}
		}
	}
	if pvc.GetSpec().GetVolumeMode() != old.GetSpec().GetVolumeMode() {
		errs = append(errs, apierrors.Invalid("volumeMode", optionalValue(pvc.GetSpec().VolumeMode), fieldImmutableErrMsg))
	}
	return errs
}

// The limits Kubernetes puts on a StorageClass's parameters.
const (
	maxProvisionerParameterLen  = 512
	maxProvisionerParameterSize = 256 * (1 << 10)
)

var (
	supportedClassReclaimPolicy = []string{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}
	supportedBindingModes       = []string{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}
)

// ValidateStorageClass checks a StorageClass as Kubernetes' ValidateStorageClass: a
// provisioner that is a qualified name, at most 512 parameters of at most 256 KiB in all, a
// reclaim policy of Delete or Retain, a binding mode, and well-formed allowedTopologies.
func ValidateStorageClass(sc *storagev1.StorageClass) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if sc.GetProvisioner() == "" {
		errs = append(errs, apierrors.Required("provisioner", ""))
	} else {
		for _, msg := range labels.IsQualifiedName(strings.ToLower(sc.GetProvisioner())) {
			errs = append(errs, apierrors.Invalid("provisioner", sc.GetProvisioner(), msg))
		}
	}
	errs = append(errs, validateClassParameters(sc.GetParameters(), "parameters")...)
	if rp := sc.GetReclaimPolicy(); rp != "" && !slices.Contains(supportedClassReclaimPolicy, rp) {
		errs = append(errs, apierrors.NotSupported("reclaimPolicy", rp, supportedClassReclaimPolicy))
	}
	if sc.VolumeBindingMode == nil {
		errs = append(errs, apierrors.Required("volumeBindingMode", ""))
	} else if m := sc.GetVolumeBindingMode(); !slices.Contains(supportedBindingModes, m) {
		errs = append(errs, apierrors.NotSupported("volumeBindingMode", m, supportedBindingModes))
	}
	errs = append(errs, validateAllowedTopologies(sc.GetAllowedTopologies(), "allowedTopologies")...)
	return errs
}

func validateClassParameters(params map[string]string, p string) apierrors.FieldErrors {
	if len(params) > maxProvisionerParameterLen {
		return apierrors.FieldErrors{{Type: apierrors.CauseFieldValueTooLong, Field: p,
			Detail: fmt.Sprintf("may not be more than %d bytes", maxProvisionerParameterLen)}}
	}
	var errs apierrors.FieldErrors
	size := 0
	for _, k := range sortedKeys(params) {
		if k == "" {
			errs = append(errs, apierrors.Invalid(p, k, "field can not be empty."))
		}
		size += len(k) + len(params[k])
	}
	if size > maxProvisionerParameterSize {
		errs = append(errs, &apierrors.FieldError{Type: apierrors.CauseFieldValueTooLong, Field: p,
			Detail: fmt.Sprintf("may not be more than %d bytes", maxProvisionerParameterSize)})
	}
	return errs
}

// validateAllowedTopologies is ValidateTopologySelectorTerm for each term, and no term twice.
func validateAllowedTopologies(terms []*corev1.TopologySelectorTerm, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	var seen []map[string][]string
	for i, t := range terms {
		tp := index(p, i)
		exprs := map[string][]string{}
		for j, r := range t.GetMatchLabelExpressions() {
			rp := index(child(tp, "matchLabelExpressions"), j)
			errs = append(errs, validateLabelName(r.GetKey(), child(rp, "key"))...)
			if len(r.GetValues()) == 0 {
				errs = append(errs, apierrors.Required(child(rp, "values"), ""))
			}
			vals := map[string]bool{}
			for k, v := range r.GetValues() {
				vp := index(child(rp, "values"), k)
				for _, msg := range labels.IsValidLabelValue(v) {
					errs = append(errs, apierrors.Invalid(vp, v, msg))
				}
				if vals[v] {
					errs = append(errs, apierrors.Duplicate(vp, v))
				}
				vals[v] = true
			}
			if _, dup := exprs[r.GetKey()]; dup {
				errs = append(errs, apierrors.Duplicate(child(rp, "key"), r.GetKey()))
			}
			exprs[r.GetKey()] = slices.Sorted(maps.Keys(vals))
		}
		for _, s := range seen {
			if maps.EqualFunc(s, exprs, slices.Equal) {
				errs = append(errs, apierrors.Duplicate(child(tp, "matchLabelExpressions"), ""))
			}
		}
		seen = append(seen, exprs)
	}
	return errs
}

// ValidateStorageClassUpdate: valid as on create, with parameters, provisioner, reclaim
// policy and binding mode unchanged (volumes were made with them).
func ValidateStorageClassUpdate(sc, old *storagev1.StorageClass) apierrors.FieldErrors {
	errs := ValidateStorageClass(sc)
	if !maps.Equal(sc.GetParameters(), old.GetParameters()) {
		errs = append(errs, apierrors.Forbidden("parameters", "updates to parameters are forbidden."))
	}
	if sc.GetProvisioner() != old.GetProvisioner() {
		errs = append(errs, apierrors.Forbidden("provisioner", "updates to provisioner are forbidden."))
	}
	if sc.GetReclaimPolicy() != old.GetReclaimPolicy() {
		errs = append(errs, apierrors.Forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
	}
	if sc.GetVolumeBindingMode() != old.GetVolumeBindingMode() {
		errs = append(errs, apierrors.Invalid("volumeBindingMode", optionalValue(sc.VolumeBindingMode), fieldImmutableErrMsg))
	}
	return errs
}
