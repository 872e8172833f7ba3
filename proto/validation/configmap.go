package validation

import (
	"fmt"
	"maps"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// MaxSecretSize bounds the data of a Secret, and of a ConfigMap (data plus binaryData).
const MaxSecretSize = 1 << 20

const immutableSetErrMsg = "field is immutable when `immutable` is set"

func tooLong(path string, max int) *apierrors.FieldError {
	return &apierrors.FieldError{Type: apierrors.CauseFieldValueTooLong, Field: path, Detail: fmt.Sprintf("may not be more than %d bytes", max)}
}

// validateDataKeys checks that every key of a ConfigMap's or Secret's data map is a valid
// config key, and sums the sizes of its values.
func validateDataKeys[V string | []byte](data map[string]V, path string) (apierrors.FieldErrors, int) {
	var errs apierrors.FieldErrors
	size := 0
	for _, k := range sortedKeys(data) {
		for _, msg := range isConfigMapKey(k) {
			errs = append(errs, apierrors.Invalid(key(path, k), k, msg))
		}
		size += len(data[k])
	}
	return errs, size
}

// ValidateConfigMap checks a ConfigMap: valid keys, none in both data and binaryData, and at
// most MaxSecretSize bytes of values (reported on the whole object, with an empty path).
func ValidateConfigMap(cm *corev1.ConfigMap) apierrors.FieldErrors {
	errs, size := validateDataKeys(cm.GetData(), "data")
	for _, k := range sortedKeys(cm.GetData()) {
		if _, dup := cm.GetBinaryData()[k]; dup {
			errs = append(errs, apierrors.Invalid(key("data", k), k, "duplicate of key present in binaryData"))
		}
	}
	binErrs, binSize := validateDataKeys(cm.GetBinaryData(), "binaryData")
	errs, size = append(errs, binErrs...), size+binSize
	if size > MaxSecretSize {
		errs = append(errs, tooLong("", MaxSecretSize))
	}
	return errs
}

// ValidateConfigMapUpdate checks an update: once immutable is true, it stays true and data
// and binaryData do not change.
func ValidateConfigMapUpdate(cm, old *corev1.ConfigMap) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if old.GetImmutable() {
		if !cm.GetImmutable() {
			errs = append(errs, apierrors.Forbidden("immutable", immutableSetErrMsg))
		}
		if !maps.Equal(cm.GetData(), old.GetData()) {
			errs = append(errs, apierrors.Forbidden("data", immutableSetErrMsg))
		}
		if !maps.EqualFunc(cm.GetBinaryData(), old.GetBinaryData(), bytesEqual) {
			errs = append(errs, apierrors.Forbidden("binaryData", immutableSetErrMsg))
		}
	}
	return append(errs, ValidateConfigMap(cm)...)
}

// ValidateSecret checks a Secret (after defaulting merged stringData into data): valid keys
// and at most MaxSecretSize bytes of data.
//
// Kubernetes also checks the keys that well-known types require (kubernetes.io/tls needs
// tls.crt and tls.key, kubernetes.io/dockerconfigjson a parseable .dockerconfigjson, a
// service-account-token its annotation, …); kubelab does not yet, and accepts any type.
func ValidateSecret(s *corev1.Secret) apierrors.FieldErrors {
	errs, size := validateDataKeys(s.GetData(), "data")
	if size > MaxSecretSize {
		errs = append(errs, tooLong("data", MaxSecretSize))
	}
	return errs
}

// ValidateSecretUpdate checks an update: type never changes; once immutable is true, it
// stays true and data does not change (stringData was merged into data before this runs).
func ValidateSecretUpdate(s, old *corev1.Secret) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if s.GetType() != old.GetType() {
		errs = append(errs, apierrors.Invalid("type", s.GetType(), fieldImmutableErrMsg))
	}
	if old.GetImmutable() {
		if !s.GetImmutable() {
			errs = append(errs, apierrors.Forbidden("immutable", immutableSetErrMsg))
		}
		if !maps.EqualFunc(s.GetData(), old.GetData(), bytesEqual) {
			errs = append(errs, apierrors.Forbidden("data", immutableSetErrMsg))
		}
	}
	return append(errs, ValidateSecret(s)...)
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
