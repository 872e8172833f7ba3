package validation

import (
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/resource"
)

// quantity is a parsed resource quantity: the text as written, for messages, and its value
// as Kubernetes' resource.Quantity would hold it (exact at nano, finer values rounded up).
type quantity struct {
	text  string
	value resource.Quantity
}

func (q quantity) cmp(o quantity) int { return q.value.Cmp(o.value) }

func (q quantity) isInteger() bool { return q.value.IsInteger() }

// parseQuantity parses s with the API's one quantity parser; on failure it returns the
// parser's message, which is Kubernetes' resource.ParseQuantity message.
func parseQuantity(s string) (quantity, string) {
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return quantity{}, err.Error()
	}
	return quantity{text: s, value: v}, ""
}

// validateQuantity parses q at path, with an error for bad syntax or a negative value; the
// quantity is usable only when there are no errors.
func validateQuantity(q *metav1.Quantity, path string) (quantity, apierrors.FieldErrors) {
	s := q.GetString_()
	v, msg := parseQuantity(s)
	if msg != "" {
		return v, apierrors.FieldErrors{apierrors.Invalid(path, s, msg)}
	}
	if v.value.Sign() < 0 {
		return v, apierrors.FieldErrors{apierrors.Invalid(path, s, isNegativeErrorMsg)}
	}
	return v, nil
}
