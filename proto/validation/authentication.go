package validation

import (
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	"kubelab.io/proto/apierrors"
)

// ValidateTokenRequest bounds a requested token's lifetime: at least ten minutes, so a
// holder renewing at 80 % of it is not forever renewing, and at most 2^32 seconds. (Which
// objects a token may be bound to is the serviceaccounts/token subresource's check.)
func ValidateTokenRequest(tr *authenticationv1.TokenRequest) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	p := "spec.expirationSeconds"
	switch e := tr.GetSpec().GetExpirationSeconds(); {
	case e < 10*60:
		errs = append(errs, apierrors.Invalid(p, e, "may not specify a duration less than 10 minutes"))
	case e > maxTokenExpirationSeconds:
		errs = append(errs, apierrors.Invalid(p, e, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}
