package apierrors

import (
	"fmt"
	"testing"
)

func TestNamespaceTerminatingCause(t *testing.T) {
	err := NewNamespaceTerminating(GroupResource{Resource: "pods"}, "web-0", "team-a")
	if got, want := err.Error(), `pods "web-0" is forbidden: unable to create new content in namespace team-a because it is being terminated`; got != want {
		t.Errorf("message %q\nwant    %q", got, want)
	}
	if !IsForbidden(err) || CodeOf(err) != 403 {
		t.Errorf("reason %q code %d, want Forbidden 403", ReasonOf(err), CodeOf(err))
	}
	c, ok := StatusCauseOf(fmt.Errorf("create pod: %w", err), CauseNamespaceTerminating)
	if !ok {
		t.Fatalf("no %s cause in a wrapped error: %v", CauseNamespaceTerminating, err.ErrStatus.GetDetails())
	}
	if c.GetField() != "metadata.namespace" || c.GetMessage() != "namespace team-a is being terminated" {
		t.Errorf("cause = %v", c)
	}
	for _, other := range []error{
		nil,
		fmt.Errorf("unable to create new content in namespace team-a because it is being terminated"),
		NewForbidden(GroupResource{Resource: "pods"}, "web-0", fmt.Errorf("no")),
		NewInvalid("Pod", "", "web-0", FieldErrors{Required("metadata.namespace", "")}),
	} {
		if HasStatusCause(other, CauseNamespaceTerminating) {
			t.Errorf("HasStatusCause(%v) = true, want false", other)
		}
	}
}
