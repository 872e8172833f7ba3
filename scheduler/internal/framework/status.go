// Package framework is the scheduler's plugin framework, after kube-scheduler's
// pkg/scheduler/framework: the per-node and per-pod data plugins look at (NodeInfo, PodInfo,
// Snapshot), the Status they answer with, the extension-point interfaces, and the Framework
// that runs an ordered set of plugins at each point. Everything here is pure: no plugin does
// I/O except a Bind plugin, which is handed its client.
package framework

import (
	"errors"
	"strings"
)

// Code is the outcome of a plugin call.
type Code int

const (
	// Success: the pod may go on (a nil *Status means Success too).
	Success Code = iota
	// Error: something went wrong inside the scheduler; the pod is retried with backoff.
	Error
	// Unschedulable: the node (or the cluster) cannot take the pod now, but preemption or a
	// cluster change might help.
	Unschedulable
	// UnschedulableAndUnresolvable: the node can never take the pod as things stand;
	// preemption would not help.
	UnschedulableAndUnresolvable
	// Wait: a Permit plugin holds the pod back until it is allowed or rejected.
	Wait
	// Skip: a PreFilter/PreScore plugin has nothing to do for this pod, so its Filter/Score
	// is skipped for the cycle.
	Skip
)

var codeNames = []string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Wait", "Skip"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Unknown"
}

// Status is a plugin's answer. A nil Status is Success.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps err as an Error status.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code of s (Success for nil).
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reasons the pod does not fit, one per failed check.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons with ", ".
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin that returned s ("" when not set).
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records which plugin answered and returns s.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

func (s *Status) IsSuccess() bool { return s.Code() == Success }
func (s *Status) IsSkip() bool    { return s.Code() == Skip }

// IsRejected reports a pod that does not fit (as opposed to an internal error).
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// AsError returns nil for success, the wrapped error for Error, and an error carrying the
// message otherwise.
func (s *Status) AsError() error {
	if s.IsSuccess() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	if len(s.reasons) == 0 {
		return s.code.String()
	}
	return s.code.String() + ": " + s.Message()
}
