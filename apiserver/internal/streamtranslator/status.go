package streamtranslator

import (
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/exec"
)

// The error channel's Status, as remotecommand v4 and v5 define it: Success, a
// NonZeroExitCode failure whose ExitCode cause carries the code (kubectl exits with it),
// or any other failure, whose message the client prints.
const (
	reasonNonZeroExitCode metav1.StatusReason = "NonZeroExitCode"
	causeExitCode         metav1.CauseType    = "ExitCode"
)

// statusOf is the Status that reports the SPDY side's outcome to the websocket client,
// as upstream's translator words it: a kubelet's Status as it came, the command's exit
// code, and anything else (an unreachable kubelet, a refused upgrade) as an internal error.
func statusOf(err error) metav1.Status {
	var se *apierrors.StatusError
	var ce exec.CodeExitError
	switch {
	case err == nil:
		return metav1.Status{Status: metav1.StatusSuccess}
	case errors.As(err, &se):
		return se.ErrStatus
	case errors.As(err, &ce) && ce.Exited():
		return metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  reasonNonZeroExitCode,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", ce),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: causeExitCode, Message: fmt.Sprint(ce.ExitStatus())}}},
		}
	default:
		return apierrors.NewInternalError(err).ErrStatus
	}
}

// exitCodeOf is the exit code a NonZeroExitCode status carries ("" for any other).
func exitCodeOf(st metav1.Status) string {
	if st.Reason != reasonNonZeroExitCode || st.Details == nil {
		return ""
	}
	for _, c := range st.Details.Causes {
		if c.Type == causeExitCode {
			return c.Message
		}
	}
	return ""
}

// statusJSON is st in the wire form; a Status always marshals.
func statusJSON(st metav1.Status) []byte {
	b, _ := json.Marshal(st)
	return b
}
