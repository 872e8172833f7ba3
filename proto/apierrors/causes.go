package apierrors

import (
	"errors"
	"fmt"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// CauseNamespaceTerminating is core/v1's NamespaceTerminatingCause: the StatusCause that
// marks a create refused because its namespace is being deleted. Controllers look for it
// to drop the create quietly instead of retrying it or reporting a failure, since the
// namespace's deletion removes whatever they meant to create anyway.
const CauseNamespaceTerminating = "NamespaceTerminating"

// NewNamespaceTerminating is NamespaceLifecycle's 403 for a create in a namespace being
// deleted: `pods "x" is forbidden: unable to create new content in namespace ns because it
// is being terminated`, with a NamespaceTerminating cause on metadata.namespace.
func NewNamespaceTerminating(gr GroupResource, name, namespace string) *StatusError {
	err := NewForbidden(gr, name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
	if err.ErrStatus.Details == nil {
		err.ErrStatus.Details = &metav1.StatusDetails{}
	}
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, &metav1.StatusCause{
		Reason:  CauseNamespaceTerminating,
		Message: fmt.Sprintf("namespace %s is being terminated", namespace),
		Field:   "metadata.namespace",
	})
	return err
}

// StatusCauseOf returns the first cause of err's Status whose reason is reason, as
// apimachinery's errors.StatusCause.
func StatusCauseOf(err error, reason string) (*metav1.StatusCause, bool) {
	var se *StatusError
	if !errors.As(err, &se) {
		return nil, false
	}
	for _, c := range se.ErrStatus.GetDetails().GetCauses() {
		if c.GetReason() == reason {
			return c, true
		}
	}
	return nil, false
}

// HasStatusCause reports whether err carries a Status cause with that reason, as
// apimachinery's errors.HasStatusCause: the way to tell a NamespaceTerminating 403 from
// any other Forbidden without reading its message.
func HasStatusCause(err error, reason string) bool {
	_, ok := StatusCauseOf(err, reason)
	return ok
}
