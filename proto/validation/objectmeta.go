package validation

import (
	"fmt"
	"strings"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// TotalAnnotationSizeLimitB is the most bytes an object's annotations (keys and values) may
// hold: 256 KiB.
const TotalAnnotationSizeLimitB = 256 * (1 << 10)

// ValidateObjectMeta checks the metadata of an object being written, with Kubernetes' rules:
// a name (or a generateName to make one from) that is an RFC 1123 subdomain, or a label when
// nameIsDNSLabel (Namespaces); a namespace exactly when namespaced; valid labels, annotations,
// owner references and finalizers. path is where the metadata sits ("metadata").
func ValidateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, nameIsDNSLabel bool, path string) apierrors.FieldErrors {
	nameFn := NameIsDNSSubdomain
	if nameIsDNSLabel {
		nameFn = NameIsDNSLabel
	}
	return ValidateObjectMetaName(meta, namespaced, nameFn, path)
}

// ValidateObjectMetaName is ValidateObjectMeta with the kind's own name rule (NameFunc).
func ValidateObjectMetaName(meta *metav1.ObjectMeta, namespaced bool, nameFn ValidateNameFunc, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if gn := meta.GetGenerateName(); gn != "" {
		for _, msg := range nameFn(gn, true) {
			errs = append(errs, apierrors.Invalid(child(path, "generateName"), gn, msg))
		}
	}
	if name := meta.GetName(); name == "" {
		if meta.GetGenerateName() == "" {
			errs = append(errs, apierrors.Required(child(path, "name"), "name or generateName is required"))
		}
	} else {
		for _, msg := range nameFn(name, false) {
			errs = append(errs, apierrors.Invalid(child(path, "name"), name, msg))
		}
	}
	if ns := meta.GetNamespace(); namespaced {
		if ns == "" {
			errs = append(errs, apierrors.Required(child(path, "namespace"), ""))
		} else {
			for _, msg := range NameIsDNSLabel(ns, false) {
				errs = append(errs, apierrors.Invalid(child(path, "namespace"), ns, msg))
			}
		}
	} else if ns != "" {
		errs = append(errs, apierrors.Forbidden(child(path, "namespace"), "not allowed on this type"))
	}
	errs = append(errs, nonNegative(meta.GetGeneration(), child(path, "generation"))...)
	errs = append(errs, ValidateLabels(meta.GetLabels(), child(path, "labels"))...)
	errs = append(errs, ValidateAnnotations(meta.GetAnnotations(), child(path, "annotations"))...)
	errs = append(errs, validateOwnerReferences(meta.GetOwnerReferences(), child(path, "ownerReferences"))...)
	errs = append(errs, validateFinalizers(meta.GetFinalizers(), child(path, "finalizers"))...)
	return errs
}

// ValidateLabels checks that every key is a qualified name and every value a valid label
// value. Errors come in key order.
func ValidateLabels(labels map[string]string, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, k := range sortedKeys(labels) {
		errs = append(errs, validateLabelName(k, path)...)
		for _, msg := range isValidLabelValue(labels[k]) {
			errs = append(errs, apierrors.Invalid(path, labels[k], msg))
		}
	}
	return errs
}

// ValidateAnnotations checks that every key is a qualified name (case-insensitively) and that
// keys and values together hold at most TotalAnnotationSizeLimitB bytes.
func ValidateAnnotations(annotations map[string]string, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	size := 0
	for _, k := range sortedKeys(annotations) {
		for _, msg := range isQualifiedName(strings.ToLower(k)) {
			errs = append(errs, apierrors.Invalid(path, k, msg))
		}
		size += len(k) + len(annotations[k])
	}
	if size > TotalAnnotationSizeLimitB {
		errs = append(errs, &apierrors.FieldError{
			Type: apierrors.CauseFieldValueTooLong, Field: path,
			Detail: fmt.Sprintf("may not be more than %d bytes", TotalAnnotationSizeLimitB),
		})
	}
	return errs
}

func validateOwnerReferences(refs []*metav1.OwnerReference, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	firstController := ""
	for _, ref := range refs {
		_, version, _ := splitAPIVersion(ref.GetApiVersion())
		if version == "" {
			errs = append(errs, apierrors.Invalid(child(path, "apiVersion"), ref.GetApiVersion(), "version must not be empty"))
		}
		if ref.GetKind() == "" {
			errs = append(errs, apierrors.Invalid(child(path, "kind"), ref.GetKind(), "must not be empty"))
		}
		if ref.GetName() == "" {
			errs = append(errs, apierrors.Invalid(child(path, "name"), ref.GetName(), "must not be empty"))
		}
		if ref.GetUid() == "" {
			errs = append(errs, apierrors.Invalid(child(path, "uid"), ref.GetUid(), "must not be empty"))
		}
		if group, version, _ := splitAPIVersion(ref.GetApiVersion()); group == "" && version == "v1" && ref.GetKind() == "Event" {
			errs = append(errs, apierrors.Invalid(path, bare(ownerRefString(ref)), "/v1, Kind=Event is disallowed from being an owner"))
		}
		if ref.GetController() {
			cur := ref.GetKind() + "/" + ref.GetName()
			if firstController != "" {
				errs = append(errs, apierrors.Invalid(path, bare(ownerRefsString(refs)),
					fmt.Sprintf("Only one reference can have Controller set to true. Found \"true\" in references for %s and %s", firstController, cur)))
			} else {
				firstController = cur
			}
		}
	}
	return errs
}

func ownerRefString(r *metav1.OwnerReference) string {
	s := fmt.Sprintf("v1.OwnerReference{APIVersion:%q, Kind:%q, Name:%q, UID:%q", r.GetApiVersion(), r.GetKind(), r.GetName(), r.GetUid())
	if r.Controller != nil {
		s += fmt.Sprintf(", Controller:%t", r.GetController())
	}
	if r.BlockOwnerDeletion != nil {
		s += fmt.Sprintf(", BlockOwnerDeletion:%t", r.GetBlockOwnerDeletion())
	}
	return s + "}"
}

func ownerRefsString(refs []*metav1.OwnerReference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = ownerRefString(r)
	}
	return "[]v1.OwnerReference{" + strings.Join(parts, ", ") + "}"
}

// splitAPIVersion splits "apps/v1" into group and version ("v1" is the core group).
func splitAPIVersion(apiVersion string) (group, version string, ok bool) {
	switch strings.Count(apiVersion, "/") {
	case 0:
		return "", apiVersion, true
	case 1:
		g, v, _ := strings.Cut(apiVersion, "/")
		return g, v, true
	}
	return "", "", false
}

// Finalizers Kubernetes itself defines, valid without a domain prefix.
var standardFinalizers = map[string]bool{"kubernetes": true, "orphan": true, "foregroundDeletion": true}

func validateFinalizers(finalizers []string, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	orphan, foreground := false, false
	for _, f := range finalizers {
		errs = append(errs, validateLabelName(f, path)...)
		orphan = orphan || f == "orphan"
		foreground = foreground || f == "foregroundDeletion"
	}
	if orphan && foreground {
		errs = append(errs, apierrors.Invalid(path, goSyntax{finalizers}, "finalizer orphan and foregroundDeletion cannot be both set"))
	}
	return errs
}

// validateKubeFinalizerName is the stricter rule of a Namespace's spec.finalizers: a
// qualified name, and either standard or domain-prefixed.
func validateKubeFinalizerName(f, path string) apierrors.FieldErrors {
	errs := validateLabelName(f, path)
	if !strings.Contains(f, "/") && !standardFinalizers[f] {
		errs = append(errs, apierrors.Invalid(path, f, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

// ValidateLabelSelector checks a label selector's keys, values and operators (a nil selector
// is valid here; callers that need one check for it).
func ValidateLabelSelector(s *metav1.LabelSelector, path string) apierrors.FieldErrors {
	if s == nil {
		return nil
	}
	errs := ValidateLabels(s.MatchLabels, child(path, "matchLabels"))
	for i, r := range s.MatchExpressions {
		p := index(child(path, "matchExpressions"), i)
		switch r.GetOperator() {
		case "In", "NotIn":
			if len(r.GetValues()) == 0 {
				errs = append(errs, apierrors.Required(child(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case "Exists", "DoesNotExist":
			if len(r.GetValues()) > 0 {
				errs = append(errs, apierrors.Forbidden(child(p, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		default:
			errs = append(errs, apierrors.Invalid(child(p, "operator"), r.GetOperator(), "not a valid selector operator"))
		}
		errs = append(errs, validateLabelName(r.GetKey(), child(p, "key"))...)
		for j, v := range r.GetValues() {
			for _, msg := range isValidLabelValue(v) {
				errs = append(errs, apierrors.Invalid(index(child(p, "values"), j), v, msg))
			}
		}
	}
	return errs
}
