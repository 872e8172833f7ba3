package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// maxErrorBody bounds how much of a failed answer is read.
const maxErrorBody = 1 << 20

// responseError turns a non-2xx answer into an *apierrors.StatusError: the Status in the
// body when there is one, otherwise one synthesized from the code, as client-go's
// NewGenericServerResponse words it. A Retry-After header lands in
// details.retryAfterSeconds when the Status does not say.
func responseError(method, path string, code int, header http.Header, body []byte) *apierrors.StatusError {
	retryAfter := retryAfterSeconds(header)
	if s := decodeStatus(body); s != nil {
		if s.Code == 0 {
			s.Code = int32(code)
		}
		if s.Status == "" {
			s.Status = "Failure"
		}
		if retryAfter > 0 && s.GetDetails().GetRetryAfterSeconds() == 0 {
			if s.Details == nil {
				s.Details = &metav1.StatusDetails{}
			}
			s.Details.RetryAfterSeconds = retryAfter
		}
		return apierrors.FromStatus(s)
	}
	return genericError(method, path, code, retryAfter, body)
}

// decodeStatus returns body as a Status when it is a JSON Status object (kind "Status", or
// no kind but a status or reason), else nil.
func decodeStatus(body []byte) *metav1.Status {
	var probe struct {
		Kind   string `json:"kind"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if len(body) == 0 || json.Unmarshal(body, &probe) != nil {
		return nil
	}
	if probe.Kind != "Status" && (probe.Kind != "" || probe.Status == "" && probe.Reason == "") {
		return nil
	}
	s := &metav1.Status{}
	if _, err := runtime.UnmarshalJSON(body, s); err != nil {
		return nil
	}
	return s
}

// genericError synthesizes the Status of an answer that carried none.
func genericError(method, path string, code int, retryAfter int32, body []byte) *apierrors.StatusError {
	reason, message := apierrors.ReasonInternalError, "an error on the server has prevented the request from succeeding"
	switch code {
	case http.StatusBadRequest:
		reason, message = apierrors.ReasonBadRequest, "the server rejected our request for an unknown reason"
	case http.StatusUnauthorized:
		reason, message = apierrors.ReasonUnauthorized, "the server has asked for the client to provide credentials"
	case http.StatusForbidden:
		reason, message = apierrors.ReasonForbidden, "the server does not allow access to the requested resource"
	case http.StatusNotFound:
		reason, message = apierrors.ReasonNotFound, "the server could not find the requested resource"
	case http.StatusMethodNotAllowed:
		reason, message = apierrors.ReasonMethodNotAllowed, "the server does not allow this method on the requested resource"
	case http.StatusNotAcceptable:
		reason, message = apierrors.ReasonNotAcceptable, "the server was unable to respond with a content type that the client supports"
	case http.StatusConflict:
		reason, message = apierrors.ReasonConflict, "the server reported a conflict"
	case http.StatusGone:
		reason, message = apierrors.ReasonGone, "the server has no record of the requested resource version"
	case http.StatusRequestEntityTooLarge:
		reason, message = apierrors.ReasonRequestEntityTooLarge, "the server has rejected the request because it is too large"
	case http.StatusUnsupportedMediaType:
		reason, message = apierrors.ReasonUnsupportedMediaType, "the server has rejected the request because of its content type"
	case http.StatusUnprocessableEntity:
		reason, message = apierrors.ReasonInvalid, "the server rejected our request due to an error in our request"
	case http.StatusTooManyRequests:
		reason, message = apierrors.ReasonTooManyRequests, "the server has received too many requests and has asked us to try again later"
	case http.StatusServiceUnavailable:
		reason, message = apierrors.ReasonServiceUnavailable, "the server is currently unable to handle the request"
	case http.StatusGatewayTimeout:
		reason, message = apierrors.ReasonTimeout, "the server was unable to return a response in the time allotted, but may still be processing the request"
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 512 {
		text = text[:512] + "…"
	}
	if text != "" {
		message = fmt.Sprintf("%s (%s %s: %d %q)", message, method, path, code, text)
	} else {
		message = fmt.Sprintf("%s (%s %s: %d)", message, method, path, code)
	}
	s := &metav1.Status{Status: "Failure", Code: int32(code), Reason: reason, Message: message,
		Details: &metav1.StatusDetails{RetryAfterSeconds: retryAfter}}
	if text != "" {
		s.Details.Causes = []*metav1.StatusCause{{Reason: apierrors.CauseUnexpectedServerResp, Message: text}}
	}
	return apierrors.FromStatus(s)
}

// retryAfterSeconds reads a Retry-After header: delta-seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfterSeconds(h http.Header) int32 {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return int32(min(n, 1<<30))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return int32(d.Seconds() + 0.999)
		}
	}
	return 0
}

// statusOf returns the HTTP code and requested wait of an API error.
func statusOf(err error) (code int, retryAfter time.Duration, ok bool) {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return 0, 0, false
	}
	s := se.ErrStatus
	return int(s.GetCode()), time.Duration(s.GetDetails().GetRetryAfterSeconds()) * time.Second, true
}
