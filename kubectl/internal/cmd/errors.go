package cmd

import (
	"errors"
	"fmt"
	"strings"

	"kubelab.io/proto/apierrors"
)

// aggregate is several errors reported together, as apimachinery's utilerrors.Aggregate:
// one reads as itself, several as "[a, b]".
type aggregate []error

// newAggregate is nil for no errors.
func newAggregate(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return aggregate(errs)
}

func (a aggregate) Error() string {
	if len(a) == 1 {
		return a[0].Error()
	}
	parts := make([]string, len(a))
	for i, e := range a {
		parts[i] = e.Error()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// errorMessage words err as kubectl's cmdutil.CheckErr does. An aggregate of one is its
// error; a larger one (also inside an aggregate of one) is told one error a line, each as
// it is, without the "error: " prefix.
func errorMessage(err error) string {
	if a, ok := err.(aggregate); ok && len(a) == 1 {
		err = a[0]
	}
	if a, ok := err.(aggregate); ok {
		lines := make([]string, len(a))
		for i, e := range a {
			lines[i] = e.Error()
			if _, status := e.(*apierrors.StatusError); status {
				lines[i] = errorMessage(e)
			}
		}
		return strings.Join(lines, "\n")
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		msg := err.Error()
		if strings.HasPrefix(msg, "error: ") || strings.HasPrefix(msg, "Error ") || strings.HasPrefix(msg, "The ") {
			return strings.TrimSuffix(msg, "\n")
		}
		return "error: " + msg
	}
	s := se.ErrStatus
	if s.GetReason() == apierrors.ReasonInvalid {
		d := s.GetDetails()
		if d == nil {
			return "The request is invalid"
		}
		prefix := "The request is invalid"
		if d.Kind != "" || d.Name != "" {
			prefix = fmt.Sprintf("The %s %q is invalid", d.Kind, d.Name)
		}
		var causes []string
		for _, c := range d.Causes {
			causes = append(causes, fmt.Sprintf("%s: %s", c.Field, c.Message))
		}
		switch len(causes) {
		case 0:
			return prefix
		case 1:
			return prefix + ": " + causes[0]
		}
		return prefix + ": \n* " + strings.Join(causes, "\n* ")
	}
	if s.GetReason() == "" {
		return "Error from server: " + s.GetMessage()
	}
	return fmt.Sprintf("Error from server (%s): %s", s.GetReason(), s.GetMessage())
}

// usageError is a command-line mistake; kubectl adds a hint to see --help.
func usageError(cmdPath, format string, args ...any) error {
	return fmt.Errorf("%s\nSee '%s -h' for help and examples", fmt.Sprintf(format, args...), cmdPath)
}
