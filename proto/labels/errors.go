package labels

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// fieldError mirrors the rendering of k8s.io/apimachinery's field.Error
// ("<path>: <Type>: <value>: <detail>") for the two error types selectors
// produce.
type fieldError struct {
	path   string
	typ    string // "Invalid value" or "Unsupported value"
	value  any
	detail string
}

func invalid(path string, value any, detail string) *fieldError {
	return &fieldError{path: path, typ: "Invalid value", value: value, detail: detail}
}

func notSupported(path string, value any, supported []Operator) *fieldError {
	quoted := make([]string, len(supported))
	for i, s := range supported {
		quoted[i] = strconv.Quote(string(s))
	}
	return &fieldError{
		path:   path,
		typ:    "Unsupported value",
		value:  value,
		detail: "supported values: " + strings.Join(quoted, ", "),
	}
}

func (e *fieldError) Error() string {
	var s string
	switch v := e.value.(type) {
	case string:
		s = fmt.Sprintf("%s: %q", e.typ, v)
	case Operator:
		s = fmt.Sprintf("%s: %q", e.typ, string(v))
	default:
		// Kubernetes renders complex values as JSON.
		if b, err := json.Marshal(v); err == nil {
			s = e.typ + ": " + string(b)
		} else {
			s = fmt.Sprintf("%s: %#v", e.typ, v)
		}
	}
	if e.detail != "" {
		s += ": " + e.detail
	}
	return e.path + ": " + s
}

// aggregate mirrors k8s.io/apimachinery's utilerrors aggregate rendering:
// one error prints as itself, several as "[a, b]" with duplicates removed.
type aggregate []error

func (a aggregate) Error() string {
	if len(a) == 1 {
		return a[0].Error()
	}
	seen := make(map[string]bool, len(a))
	var msgs []string
	for _, err := range a {
		m := err.Error()
		if !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 1 {
		return msgs[0]
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

// Unwrap lets errors.Is / errors.As see the individual errors.
func (a aggregate) Unwrap() []error { return a }

func toAggregate(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return aggregate(errs)
}
