package apierrors

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// GRPCCode is the gRPC code a Status travels under. It is chosen by reason first (409 is
// both AlreadyExists and Conflict), then by HTTP code for reasons it does not know:
//
//	NotFound                       → NotFound
//	AlreadyExists                  → AlreadyExists
//	Conflict                       → Aborted (an optimistic-concurrency failure: re-read, retry)
//	Invalid, BadRequest, and the
//	  media-type reasons            → InvalidArgument
//	Unauthorized                   → Unauthenticated
//	Forbidden                      → PermissionDenied
//	Gone, Expired (410)            → OutOfRange: the resourceVersion lies before the window
//	                                 storage still holds; the client must re-list, as for a
//	                                 410 over REST (not FailedPrecondition, which callers
//	                                 read as "fix the system state first")
//	MethodNotAllowed               → Unimplemented
//	TooManyRequests,
//	  RequestEntityTooLarge        → ResourceExhausted
//	Timeout                        → DeadlineExceeded
//	ServiceUnavailable             → Unavailable
//	anything else                  → Internal
func GRPCCode(s *metav1.Status) codes.Code {
	switch s.GetReason() {
	case ReasonNotFound:
		return codes.NotFound
	case ReasonAlreadyExists:
		return codes.AlreadyExists
	case ReasonConflict:
		return codes.Aborted
	case ReasonInvalid, ReasonBadRequest, ReasonUnsupportedMediaType, ReasonNotAcceptable:
		return codes.InvalidArgument
	case ReasonUnauthorized:
		return codes.Unauthenticated
	case ReasonForbidden:
		return codes.PermissionDenied
	case ReasonGone, ReasonExpired:
		return codes.OutOfRange
	case ReasonMethodNotAllowed:
		return codes.Unimplemented
	case ReasonTooManyRequests, ReasonRequestEntityTooLarge:
		return codes.ResourceExhausted
	case ReasonTimeout:
		return codes.DeadlineExceeded
	case ReasonServiceUnavailable:
		return codes.Unavailable
	}
	switch s.GetCode() {
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.Aborted
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusGone:
		return codes.OutOfRange
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// ToGRPC turns any error into the gRPC status error a server returns: the code from
// GRPCCode and, in the details, the full Status (as ToStatus builds it) so that clients
// recover it with StatusFromGRPC. A nil error stays nil.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	s := ToStatus(err)
	st := status.New(GRPCCode(s), s.GetMessage())
	if withDetails, derr := st.WithDetails(s); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// StatusFromGRPC recovers the Status behind a gRPC error: the one the server attached when
// there is one, otherwise a Status built from the gRPC code and message (for failures that
// never reached the API, such as a refused connection or an expired deadline). It returns
// nil for a nil error.
func StatusFromGRPC(err error) *metav1.Status {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return ToStatus(err)
	}
	for _, d := range st.Details() {
		if s, ok := d.(*metav1.Status); ok {
			return s
		}
	}
	code, reason := http.StatusInternalServerError, ReasonInternalError
	switch st.Code() {
	case codes.NotFound:
		code, reason = http.StatusNotFound, ReasonNotFound
	case codes.AlreadyExists:
		code, reason = http.StatusConflict, ReasonAlreadyExists
	case codes.Aborted:
		code, reason = http.StatusConflict, ReasonConflict
	case codes.InvalidArgument:
		code, reason = http.StatusBadRequest, ReasonBadRequest
	case codes.Unauthenticated:
		code, reason = http.StatusUnauthorized, ReasonUnauthorized
	case codes.PermissionDenied:
		code, reason = http.StatusForbidden, ReasonForbidden
	case codes.OutOfRange:
		code, reason = http.StatusGone, ReasonExpired
	case codes.Unimplemented:
		code, reason = http.StatusMethodNotAllowed, ReasonMethodNotAllowed
	case codes.ResourceExhausted:
		code, reason = http.StatusTooManyRequests, ReasonTooManyRequests
	case codes.DeadlineExceeded, codes.Canceled:
		code, reason = http.StatusGatewayTimeout, ReasonTimeout
	case codes.Unavailable:
		code, reason = http.StatusServiceUnavailable, ReasonServiceUnavailable
	}
	return (&StatusError{ErrStatus: &metav1.Status{
		Status: "Failure", Code: int32(code), Reason: reason, Message: st.Message(),
	}}).Status()
}

// FromGRPC is StatusFromGRPC as an error, so the Is* classifiers work on what a gRPC call
// returned: apierrors.IsConflict(apierrors.FromGRPC(err)). A nil error stays nil.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se
	}
	return FromStatus(StatusFromGRPC(err))
}
