// Package apierrors is the one place where failures become Kubernetes Status objects: every
// component builds its errors here and every front door (REST, gRPC, clients) reads them back
// with the Is* classifiers, never by comparing strings.
package apierrors

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// Reasons, as Kubernetes spells them in Status.reason.
const (
	ReasonBadRequest            = "BadRequest"
	ReasonUnauthorized          = "Unauthorized"
	ReasonForbidden             = "Forbidden"
	ReasonNotFound              = "NotFound"
	ReasonAlreadyExists         = "AlreadyExists"
	ReasonConflict              = "Conflict"
	ReasonGone                  = "Gone"
	ReasonExpired               = "Expired"
	ReasonInvalid               = "Invalid"
	ReasonMethodNotAllowed      = "MethodNotAllowed"
	ReasonNotAcceptable         = "NotAcceptable"
	ReasonUnsupportedMediaType  = "UnsupportedMediaType"
	ReasonRequestEntityTooLarge = "RequestEntityTooLarge"
	ReasonTooManyRequests       = "TooManyRequests"
	ReasonInternalError         = "InternalError"
	ReasonTimeout               = "Timeout"
	ReasonServiceUnavailable    = "ServiceUnavailable"
)

// Cause types for field errors (StatusCause.reason), as Kubernetes' field.ErrorType.
const (
	CauseFieldValueInvalid      = "FieldValueInvalid"
	CauseFieldValueRequired     = "FieldValueRequired"
	CauseFieldValueNotSupported = "FieldValueNotSupported"
	CauseFieldValueDuplicate    = "FieldValueDuplicate"
	CauseFieldValueForbidden    = "FieldValueForbidden"
	CauseFieldValueTooLong      = "FieldValueTooLong"
	CauseFieldValueTooMany      = "FieldValueTooMany"
	CauseUnexpectedServerResp   = "UnexpectedServerResponse"
)

// StatusError is an error that carries the Status to send to a client.
type StatusError struct {
	ErrStatus *metav1.Status
}

func (e *StatusError) Error() string { return e.ErrStatus.GetMessage() }

// Status returns the Status to write, with kind and apiVersion filled.
func (e *StatusError) Status() *metav1.Status {
	s := e.ErrStatus
	s.Kind, s.ApiVersion = "Status", "v1"
	if s.Status == "" {
		s.Status = "Failure"
	}
	if s.Metadata == nil {
		s.Metadata = &metav1.ListMeta{}
	}
	return s
}

// FromStatus wraps a Status received from a server.
func FromStatus(s *metav1.Status) *StatusError { return &StatusError{ErrStatus: s} }

// GroupResource names a resource in messages: "deployments.apps", "pods".
type GroupResource struct {
	Group    string
	Resource string
}

func (gr GroupResource) String() string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Resource + "." + gr.Group
}

func newStatus(code int32, reason, msg string, gr GroupResource, name string) *StatusError {
	var details *metav1.StatusDetails
	if gr.Resource != "" || name != "" {
		details = &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource}
	}
	return &StatusError{ErrStatus: &metav1.Status{
		Status: "Failure", Code: code, Reason: reason, Message: msg, Details: details,
	}}
}

func NewNotFound(gr GroupResource, name string) *StatusError {
	return newStatus(http.StatusNotFound, ReasonNotFound, fmt.Sprintf("%s %q not found", gr, name), gr, name)
}

func NewAlreadyExists(gr GroupResource, name string) *StatusError {
	return newStatus(http.StatusConflict, ReasonAlreadyExists, fmt.Sprintf("%s %q already exists", gr, name), gr, name)
}

// NewConflict is a failed optimistic-concurrency write.
func NewConflict(gr GroupResource, name string, err error) *StatusError {
	return newStatus(http.StatusConflict, ReasonConflict,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: %v", gr, name, err), gr, name)
}

// NewGone is a watch or list from a resourceVersion that etcd has compacted away.
func NewGone(msg string) *StatusError {
	return newStatus(http.StatusGone, ReasonExpired, msg, GroupResource{}, "")
}

func NewBadRequest(msg string) *StatusError {
	return newStatus(http.StatusBadRequest, ReasonBadRequest, msg, GroupResource{}, "")
}

func NewUnauthorized(msg string) *StatusError {
	if msg == "" {
		msg = "Unauthorized"
	}
	return newStatus(http.StatusUnauthorized, ReasonUnauthorized, msg, GroupResource{}, "")
}

// NewForbidden: `pods "x" is forbidden: User "u" cannot get resource "pods" …`.
func NewForbidden(gr GroupResource, name string, err error) *StatusError {
	var msg string
	if name == "" {
		msg = fmt.Sprintf("%s is forbidden: %v", gr, err)
	} else {
		msg = fmt.Sprintf("%s %q is forbidden: %v", gr, name, err)
	}
	return newStatus(http.StatusForbidden, ReasonForbidden, msg, gr, name)
}

func NewMethodNotSupported(gr GroupResource, verb string) *StatusError {
	return newStatus(http.StatusMethodNotAllowed, ReasonMethodNotAllowed,
		fmt.Sprintf("%s is not supported on resources of kind %q", verb, gr), gr, "")
}

func NewUnsupportedMediaType(contentType string) *StatusError {
	return newStatus(http.StatusUnsupportedMediaType, ReasonUnsupportedMediaType,
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", contentType),
		GroupResource{}, "")
}

func NewNotAcceptable(accept string) *StatusError {
	return newStatus(http.StatusNotAcceptable, ReasonNotAcceptable,
		fmt.Sprintf("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", accept),
		GroupResource{}, "")
}

func NewRequestEntityTooLarge(msg string) *StatusError {
	return newStatus(http.StatusRequestEntityTooLarge, ReasonRequestEntityTooLarge, msg, GroupResource{}, "")
}

func NewTooManyRequests(msg string, retryAfterSeconds int32) *StatusError {
	e := newStatus(http.StatusTooManyRequests, ReasonTooManyRequests, msg, GroupResource{}, "")
	e.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: retryAfterSeconds}
	return e
}

func NewInternalError(err error) *StatusError {
	return newStatus(http.StatusInternalServerError, ReasonInternalError,
		fmt.Sprintf("Internal error occurred: %v", err), GroupResource{}, "")
}

func NewTimeout(msg string) *StatusError {
	return newStatus(http.StatusGatewayTimeout, ReasonTimeout, msg, GroupResource{}, "")
}

func NewServiceUnavailable(msg string) *StatusError {
	return newStatus(http.StatusServiceUnavailable, ReasonServiceUnavailable, msg, GroupResource{}, "")
}

// FieldError is one invalid field, as Kubernetes' field.Error.
type FieldError struct {
	Type   string // a Cause* constant
	Field  string // "spec.replicas"
	Value  any    // the bad value, when there is one to show
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.ErrorBody() }

// ErrorBody is the error without its field path: what a Status cause's message holds (the
// field is beside it), as in Kubernetes, so clients that print "field: message" print the
// path once.
func (e *FieldError) ErrorBody() string {
	var b strings.Builder
	switch e.Type {
	case CauseFieldValueRequired:
		b.WriteString("Required value")
	case CauseFieldValueNotSupported:
		fmt.Fprintf(&b, "Unsupported value: %s", quoteValue(e.Value))
	case CauseFieldValueDuplicate:
		fmt.Fprintf(&b, "Duplicate value: %s", quoteValue(e.Value))
	case CauseFieldValueForbidden:
		b.WriteString("Forbidden")
	case CauseFieldValueTooLong:
		b.WriteString("Too long")
	case CauseFieldValueTooMany:
		fmt.Fprintf(&b, "Too many: %s", quoteValue(e.Value))
	default:
		if e.Value == OmitValue {
			b.WriteString("Invalid value")
			break
		}
		fmt.Fprintf(&b, "Invalid value: %s", quoteValue(e.Value))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// OmitValue, as a field error's value, leaves the value out of its message ("Invalid value:
// detail"), as Kubernetes' field.OmitValueType does where the value is a whole struct.
var OmitValue = omitValue{}

type omitValue struct{}

func quoteValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", v)
	}
}

// Field error constructors, named after Kubernetes' field package.
func Invalid(field string, value any, detail string) *FieldError {
	return &FieldError{Type: CauseFieldValueInvalid, Field: field, Value: value, Detail: detail}
}
func Required(field, detail string) *FieldError {
	return &FieldError{Type: CauseFieldValueRequired, Field: field, Detail: detail}
}
func NotSupported(field string, value any, valid []string) *FieldError {
	d := ""
	if len(valid) > 0 {
		d = "supported values: \"" + strings.Join(valid, "\", \"") + "\""
	}
	return &FieldError{Type: CauseFieldValueNotSupported, Field: field, Value: value, Detail: d}
}
func Duplicate(field string, value any) *FieldError {
	return &FieldError{Type: CauseFieldValueDuplicate, Field: field, Value: value}
}

// TooMany is a list longer than max (actual items).
func TooMany(field string, actual, max int) *FieldError {
	return &FieldError{Type: CauseFieldValueTooMany, Field: field, Value: actual, Detail: fmt.Sprintf("must have at most %d items", max)}
}
func Forbidden(field, detail string) *FieldError {
	return &FieldError{Type: CauseFieldValueForbidden, Field: field, Detail: detail}
}

// FieldErrors is what validation returns; empty means valid.
type FieldErrors []*FieldError

// NewInvalid is the 422 for an object that failed validation:
// `Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: must be …`.
func NewInvalid(kind, group, name string, errs FieldErrors) *StatusError {
	qualified := kind
	if group != "" {
		qualified = kind + "." + group
	}
	causes := make([]*metav1.StatusCause, 0, len(errs))
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, &metav1.StatusCause{Reason: e.Type, Message: e.ErrorBody(), Field: e.Field})
		// The message names each distinct error once, the causes list every one, as
		// Kubernetes' ErrorList.ToAggregate does (a quota scope that fits none of four
		// resources is one line, not four).
		if !slices.Contains(msgs, e.Error()) {
			msgs = append(msgs, e.Error())
		}
	}
	msg := fmt.Sprintf("%s %q is invalid: ", qualified, name)
	if len(msgs) == 1 {
		msg += msgs[0]
	} else {
		msg += "[" + strings.Join(msgs, ", ") + "]"
	}
	return &StatusError{ErrStatus: &metav1.Status{
		Status: "Failure", Code: http.StatusUnprocessableEntity, Reason: ReasonInvalid, Message: msg,
		Details: &metav1.StatusDetails{Name: name, Group: group, Kind: kind, Causes: causes},
	}}
}

// ReasonOf returns the Status reason of err, or "" when err carries no Status.
func ReasonOf(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.ErrStatus.GetReason()
	}
	return ""
}

// CodeOf returns the HTTP code of err: its Status code, or 500 for any other error.
func CodeOf(err error) int32 {
	var se *StatusError
	if errors.As(err, &se) {
		return se.ErrStatus.GetCode()
	}
	return http.StatusInternalServerError
}

// ToStatus turns any error into the Status a front door sends: a StatusError as it is, and
// anything else as a 500 InternalError.
func ToStatus(err error) *metav1.Status {
	var se *StatusError
	if !errors.As(err, &se) {
		se = NewInternalError(err)
	}
	return se.Status()
}

func IsNotFound(err error) bool      { return ReasonOf(err) == ReasonNotFound }
func IsAlreadyExists(err error) bool { return ReasonOf(err) == ReasonAlreadyExists }
func IsConflict(err error) bool      { return ReasonOf(err) == ReasonConflict }
func IsInvalid(err error) bool       { return ReasonOf(err) == ReasonInvalid }
func IsBadRequest(err error) bool    { return ReasonOf(err) == ReasonBadRequest }
func IsForbidden(err error) bool     { return ReasonOf(err) == ReasonForbidden }
func IsUnauthorized(err error) bool  { return ReasonOf(err) == ReasonUnauthorized }
func IsTooManyRequests(err error) bool {
	return ReasonOf(err) == ReasonTooManyRequests
}

// IsGone is true for a compacted resourceVersion (reason Expired or Gone, code 410).
func IsGone(err error) bool { return CodeOf(err) == http.StatusGone }
