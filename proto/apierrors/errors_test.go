package apierrors

import "testing"

// A repeated field error is told once in the message but kept in every cause, as
// Kubernetes' NewInvalid (ErrorList.ToAggregate) reports it.
func TestNewInvalidNamesRepeatedErrorsOnce(t *testing.T) {
	dup := Invalid("spec.scopes", "x", "unsupported scope applied to resource")
	err := NewInvalid("ResourceQuota", "", "q", FieldErrors{dup, dup})
	if got, want := err.ErrStatus.GetMessage(), `ResourceQuota "q" is invalid: spec.scopes: Invalid value: "x": unsupported scope applied to resource`; got != want {
		t.Errorf("message %q\nwant    %q", got, want)
	}
	if n := len(err.ErrStatus.GetDetails().GetCauses()); n != 2 {
		t.Errorf("%d causes, want 2", n)
	}
	two := NewInvalid("ResourceQuota", "", "q", FieldErrors{dup, Invalid("spec.scopes", "x", "conflicting scopes")})
	if got, want := two.ErrStatus.GetMessage(), `ResourceQuota "q" is invalid: [spec.scopes: Invalid value: "x": unsupported scope applied to resource, spec.scopes: Invalid value: "x": conflicting scopes]`; got != want {
		t.Errorf("message %q\nwant    %q", got, want)
	}
}
