// Package fields implements Kubernetes field selectors ("metadata.name=foo,
// spec.nodeName!=bar"): parsing, matching against a flat map of field
// values, and the canonical string form.
//
// Behaviour (syntax, escaping, error texts) follows
// k8s.io/apimachinery/pkg/fields.
package fields

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Fields holds the selectable field values of one object, keyed by field
// path (e.g. "metadata.name", "metadata.namespace", "spec.nodeName"). A
// missing field reads as the empty string.
type Fields = map[string]string

// Operator is a field selector operator.
type Operator string

// The field selector operators. Parsing normalises "==" to Equals, so
// Requirements only ever report Equals or NotEquals.
const (
	Equals       Operator = "="
	DoubleEquals Operator = "=="
	NotEquals    Operator = "!="
)

// Requirement is one field/operator/value term of a selector.
type Requirement struct {
	Field    string
	Operator Operator
	Value    string
}

// String renders the term in selector syntax, escaping the value.
func (r Requirement) String() string {
	op := Equals
	if r.Operator == NotEquals {
		op = NotEquals
	}
	return r.Field + string(op) + EscapeValue(r.Value)
}

func (r Requirement) matches(f Fields) bool {
	if r.Operator == NotEquals {
		return f[r.Field] != r.Value
	}
	return f[r.Field] == r.Value
}

// Selector is a field selector. Implementations are immutable.
type Selector interface {
	// Matches reports whether the fields satisfy every term. A missing
	// field has the value "", so "spec.nodeName=" matches unscheduled pods.
	Matches(Fields) bool
	// Empty reports whether the selector has no terms (matches everything).
	Empty() bool
	// String returns the canonical string form, which Parse accepts.
	String() string
	// Requirements returns the terms, in canonical order.
	Requirements() []Requirement
	// RequiresExactMatch reports whether the selector requires field to
	// equal one specific value, and which (the first such term).
	RequiresExactMatch(field string) (value string, found bool)
}

// andTerm is a conjunction of terms, in canonical order (see canonicalize).
type andTerm []Requirement

func (t andTerm) Matches(f Fields) bool {
	for _, r := range t {
		if !r.matches(f) {
			return false
		}
	}
	return true
}

func (t andTerm) Empty() bool { return len(t) == 0 }

func (t andTerm) String() string {
	parts := make([]string, len(t))
	for i, r := range t {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

func (t andTerm) Requirements() []Requirement { return slices.Clone(t) }

func (t andTerm) RequiresExactMatch(field string) (string, bool) {
	for _, r := range t {
		if r.Field == field && r.Operator == Equals {
			return r.Value, true
		}
	}
	return "", false
}

// canonicalize normalises "==" to "=" and sorts the terms by their string
// form. For selectors written with "=" and "!=" and canonical escaping this
// is exactly Kubernetes' order (it sorts the raw terms); unlike Kubernetes'
// it also makes String() a fixed point: Parse(s.String()) yields the same
// terms in the same order.
func canonicalize(t andTerm) andTerm {
	for i := range t {
		if t[i].Operator != NotEquals {
			t[i].Operator = Equals
		}
	}
	slices.SortStableFunc(t, func(a, b Requirement) int { return strings.Compare(a.String(), b.String()) })
	return t
}

type nothingSelector struct{}

func (nothingSelector) Matches(Fields) bool                      { return false }
func (nothingSelector) Empty() bool                              { return false }
func (nothingSelector) String() string                           { return "" }
func (nothingSelector) Requirements() []Requirement              { return nil }
func (nothingSelector) RequiresExactMatch(string) (string, bool) { return "", false }

// Everything returns a selector that matches all objects.
func Everything() Selector { return andTerm{} }

// Nothing returns a selector that matches no object. Its String is "".
func Nothing() Selector { return nothingSelector{} }

// OneTermEqualSelector returns a selector requiring field == value.
func OneTermEqualSelector(field, value string) Selector {
	return andTerm{{Field: field, Operator: Equals, Value: value}}
}

// OneTermNotEqualSelector returns a selector requiring field != value.
func OneTermNotEqualSelector(field, value string) Selector {
	return andTerm{{Field: field, Operator: NotEquals, Value: value}}
}

// SelectorFromSet returns a selector requiring every field in set to equal
// the given value. A nil or empty set matches everything.
func SelectorFromSet(set map[string]string) Selector {
	t := make(andTerm, 0, len(set))
	for k, v := range set {
		t = append(t, Requirement{Field: k, Operator: Equals, Value: v})
	}
	return canonicalize(t)
}

// Parse parses a field selector: comma-separated terms "field=value",
// "field==value" or "field!=value". Empty terms are ignored, so "" selects
// everything. The field is everything before the first operator and is not
// unescaped; in the value, ',', '=' and '\' must be escaped with a
// backslash (and "\!" is accepted for '!'). Whitespace is significant.
// Errors read like Kubernetes', e.g. "invalid selector: 'x'; can't
// understand 'x'" or "invalid field selector: invalid escape sequence: \q".
func Parse(selector string) (Selector, error) {
	// Terms are checked in sorted order, as Kubernetes does, so that the
	// same error is reported for a bad term.
	terms := splitTerms(selector)
	slices.Sort(terms)
	var t andTerm
	for _, term := range terms {
		if term == "" {
			continue
		}
		field, op, raw, ok := splitTerm(term)
		if !ok {
			return nil, fmt.Errorf("invalid selector: '%s'; can't understand '%s'", selector, term)
		}
		value, err := UnescapeValue(raw)
		if err != nil {
			return nil, err
		}
		t = append(t, Requirement{Field: field, Operator: op, Value: value})
	}
	return canonicalize(t), nil
}

// splitTerms splits at commas not escaped by a backslash; escapes are kept.
func splitTerms(s string) []string {
	var terms []string
	start, escaped := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case escaped:
			escaped = false
		case s[i] == '\\':
			escaped = true
		case s[i] == ',':
			terms = append(terms, s[start:i])
			start = i + 1
		}
	}
	return append(terms, s[start:])
}

// splitTerm splits a term at the first operator, preferring "!=" and "=="
// over "=" at the same position. The field part is not unescaped.
func splitTerm(term string) (field string, op Operator, value string, ok bool) {
	for i := 0; i < len(term); i++ {
		rest := term[i:]
		for _, op := range [...]Operator{NotEquals, DoubleEquals, Equals} {
			if strings.HasPrefix(rest, string(op)) {
				return term[:i], op, rest[len(op):], true
			}
		}
	}
	return "", "", "", false
}

var valueEscaper = strings.NewReplacer(`\`, `\\`, `,`, `\,`, `=`, `\=`)

// EscapeValue escapes '\', ',' and '=' with a backslash so that any string
// can be used as a field selector value.
func EscapeValue(s string) string { return valueEscaper.Replace(s) }

// UnescapeValue reverses EscapeValue. It rejects unknown escape sequences, a
// trailing lone backslash, and unescaped ',' or '=' (all with Kubernetes'
// error messages). "\!" is accepted as '!', which Kubernetes does not do.
func UnescapeValue(s string) (string, error) {
	if !strings.ContainsAny(s, `\,=`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return "", fmt.Errorf("invalid field selector: invalid escape sequence: %s", `\`)
			}
			switch n := s[i+1]; n {
			case '\\', ',', '=', '!':
				b.WriteByte(n)
				i++
			default:
				r, _ := utf8.DecodeRuneInString(s[i+1:])
				return "", fmt.Errorf("invalid field selector: invalid escape sequence: %s", `\`+string(r))
			}
		case ',', '=':
			// Kubernetes prints the rune with %v, i.e. as a number
			// ("unescaped character in value: 61" for '='); kept for parity.
			return "", fmt.Errorf("invalid field selector: unescaped character in value: %v", rune(c))
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
