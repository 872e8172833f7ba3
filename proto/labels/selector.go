// Package labels implements Kubernetes label selectors: parsing of the
// selector string syntax, matching against label sets, conversion from the
// structured metav1.LabelSelector, and the label key/value validation rules.
//
// Behaviour (syntax, canonical String form, error texts) follows
// k8s.io/apimachinery/pkg/labels.
package labels

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Operator is a label selector operator.
type Operator string

// The operators, with the same string values as k8s.io/apimachinery's
// selection package.
const (
	DoesNotExist Operator = "!"
	Equals       Operator = "="
	DoubleEquals Operator = "=="
	In           Operator = "in"
	NotEquals    Operator = "!="
	NotIn        Operator = "notin"
	Exists       Operator = "exists"
	GreaterThan  Operator = "gt"
	LessThan     Operator = "lt"
)

var (
	binaryOperators = []Operator{In, NotIn, Equals, DoubleEquals, NotEquals, GreaterThan, LessThan}
	validOperators  = []Operator{In, NotIn, Equals, DoubleEquals, NotEquals, GreaterThan, LessThan, Exists, DoesNotExist}
)

// Selector is a label selector. Implementations are immutable.
type Selector interface {
	// Matches reports whether the selector matches the given labels.
	Matches(labels map[string]string) bool
	// Empty reports whether the selector does not restrict the selection
	// space (it matches everything).
	Empty() bool
	// String returns the canonical string form, which Parse accepts.
	String() string
	// Requirements returns the requirements (ANDed). selectable is false for
	// a selector that selects nothing (see Nothing).
	Requirements() (requirements Requirements, selectable bool)
	// RequiresExactMatch reports whether the selector requires the label to
	// have one specific value (via =, == or a single-valued in), and which.
	RequiresExactMatch(label string) (value string, found bool)
	// Add returns a new selector with the given requirements ANDed in.
	Add(r ...Requirement) Selector
}

// Requirements is a conjunction of requirements.
type Requirements []Requirement

// Requirement is a single key/operator/values condition. The zero value is
// invalid; build requirements with NewRequirement or Parse.
type Requirement struct {
	key      string
	operator Operator
	values   []string
}

// NewRequirement builds a validated Requirement. The rules are Kubernetes':
// the key must be a qualified name; In/NotIn need at least one value;
// =, ==, != need exactly one; Exists/DoesNotExist need none; Gt/Lt need
// exactly one base-10 int64; every value must be a valid label value. The
// returned error lists every violation, rendered like Kubernetes' field
// errors (e.g. `values: Invalid value: null: for 'in', 'notin' operators,
// values set can't be empty`).
func NewRequirement(key string, op Operator, vals []string) (*Requirement, error) {
	var errs []error
	if msgs := IsQualifiedName(key); len(msgs) != 0 {
		errs = append(errs, invalid("key", key, strings.Join(msgs, "; ")))
	}
	switch op {
	case In, NotIn:
		if len(vals) == 0 {
			errs = append(errs, invalid("values", vals, "for 'in', 'notin' operators, values set can't be empty"))
		}
	case Equals, DoubleEquals, NotEquals:
		if len(vals) != 1 {
			errs = append(errs, invalid("values", vals, "exact-match compatibility requires one single value"))
		}
	case Exists, DoesNotExist:
		if len(vals) != 0 {
			errs = append(errs, invalid("values", vals, "values set must be empty for exists and does not exist"))
		}
	case GreaterThan, LessThan:
		if len(vals) != 1 {
			errs = append(errs, invalid("values", vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
		}
		for i, v := range vals {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				errs = append(errs, invalid(indexPath(i), v, "for 'Gt', 'Lt' operators, the value must be an integer"))
			}
		}
	default:
		errs = append(errs, notSupported("operator", op, validOperators))
	}
	for i, v := range vals {
		if msgs := IsValidLabelValue(v); len(msgs) != 0 {
			errs = append(errs, invalid(indexPath(i)+"["+key+"]", v, strings.Join(msgs, "; ")))
		}
	}
	if err := toAggregate(errs); err != nil {
		return nil, err
	}
	var cp []string
	if len(vals) > 0 {
		cp = slices.Clone(vals)
	}
	return &Requirement{key: key, operator: op, values: cp}, nil
}

func indexPath(i int) string { return "values[" + strconv.Itoa(i) + "]" }

// Key returns the requirement's label key.
func (r Requirement) Key() string { return r.key }

// Operator returns the requirement's operator.
func (r Requirement) Operator() Operator { return r.operator }

// Values returns the requirement's values as a sorted, de-duplicated copy.
func (r Requirement) Values() []string {
	out := slices.Clone(r.values)
	slices.Sort(out)
	return slices.Compact(out)
}

// Equal reports whether two requirements have the same key, operator and
// values (in the same order).
func (r Requirement) Equal(x Requirement) bool {
	return r.key == x.key && r.operator == x.operator && slices.Equal(r.values, x.values)
}

func (r Requirement) hasValue(v string) bool { return slices.Contains(r.values, v) }

// Matches reports whether the labels satisfy the requirement:
//   - =, ==, in: the label is present and its value is listed;
//   - !=, notin: the label is absent or its value is not listed;
//   - exists / !: the label is present / absent;
//   - gt, lt: the label is present, both it and the requirement's value
//     parse as int64, and the inequality holds.
func (r Requirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.key]
	switch r.operator {
	case In, Equals, DoubleEquals:
		return ok && r.hasValue(v)
	case NotIn, NotEquals:
		return !ok || !r.hasValue(v)
	case Exists:
		return ok
	case DoesNotExist:
		return !ok
	case GreaterThan, LessThan:
		if !ok || len(r.values) != 1 {
			return false
		}
		lv, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		rv, err := strconv.ParseInt(r.values[0], 10, 64)
		if err != nil {
			return false
		}
		if r.operator == GreaterThan {
			return lv > rv
		}
		return lv < rv
	default:
		return false
	}
}

// String renders the requirement in selector syntax, e.g. "a=b",
// "!a", "a in (x,y)". Multiple values are printed sorted.
func (r Requirement) String() string {
	var b strings.Builder
	if r.operator == DoesNotExist {
		b.WriteByte('!')
	}
	b.WriteString(r.key)
	switch r.operator {
	case Exists, DoesNotExist:
		return b.String()
	case Equals:
		b.WriteString("=")
	case DoubleEquals:
		b.WriteString("==")
	case NotEquals:
		b.WriteString("!=")
	case In:
		b.WriteString(" in ")
	case NotIn:
		b.WriteString(" notin ")
	case GreaterThan:
		b.WriteString(">")
	case LessThan:
		b.WriteString("<")
	}
	set := r.operator == In || r.operator == NotIn
	if set {
		b.WriteByte('(')
	}
	vals := r.values
	if !slices.IsSorted(vals) {
		vals = slices.Sorted(slices.Values(vals))
	}
	b.WriteString(strings.Join(vals, ","))
	if set {
		b.WriteByte(')')
	}
	return b.String()
}

// internalSelector is a conjunction of requirements kept sorted by key.
type internalSelector []Requirement

// Everything returns a selector that matches all label sets.
func Everything() Selector { return internalSelector{} }

// Nothing returns a selector that matches no label set. Its String is "".
func Nothing() Selector { return nothingSelector{} }

func (s internalSelector) Matches(labels map[string]string) bool {
	for i := range s {
		if !s[i].Matches(labels) {
			return false
		}
	}
	return true
}

func (s internalSelector) Empty() bool { return len(s) == 0 }

func (s internalSelector) String() string {
	parts := make([]string, len(s))
	for i := range s {
		parts[i] = s[i].String()
	}
	return strings.Join(parts, ",")
}

func (s internalSelector) Requirements() (Requirements, bool) {
	return Requirements(slices.Clone(s)), true
}

func (s internalSelector) RequiresExactMatch(label string) (string, bool) {
	for i := range s {
		if s[i].key != label {
			continue
		}
		switch s[i].operator {
		case Equals, DoubleEquals, In:
			if len(s[i].values) == 1 {
				return s[i].values[0], true
			}
		}
		return "", false
	}
	return "", false
}

func (s internalSelector) Add(reqs ...Requirement) Selector {
	out := make(internalSelector, 0, len(s)+len(reqs))
	out = append(out, s...)
	out = append(out, reqs...)
	sortByKey(out)
	return out
}

// sortByKey orders requirements by key. The sort is stable so that several
// requirements on one key keep their relative order, which keeps String()
// deterministic and makes Parse(s.String()) reproduce s exactly.
func sortByKey(reqs []Requirement) {
	slices.SortStableFunc(reqs, func(a, b Requirement) int { return strings.Compare(a.key, b.key) })
}

type nothingSelector struct{}

func (nothingSelector) Matches(map[string]string) bool           { return false }
func (nothingSelector) Empty() bool                              { return false }
func (nothingSelector) String() string                           { return "" }
func (nothingSelector) Requirements() (Requirements, bool)       { return nil, false }
func (nothingSelector) RequiresExactMatch(string) (string, bool) { return "", false }
func (n nothingSelector) Add(...Requirement) Selector            { return n }

// SelectorFromSet returns a selector requiring every label in set to have
// exactly the given value (key=value,...). A nil or empty set yields a
// selector matching everything. Keys and values are not validated; see
// ValidatedSelectorFromSet.
func SelectorFromSet(set map[string]string) Selector {
	if len(set) == 0 {
		return Everything()
	}
	reqs := make(internalSelector, 0, len(set))
	for k, v := range set {
		reqs = append(reqs, Requirement{key: k, operator: Equals, values: []string{v}})
	}
	sortByKey(reqs)
	return reqs
}

// ValidatedSelectorFromSet is SelectorFromSet with every key and value
// validated; it returns the first invalid entry's error (in key order).
func ValidatedSelectorFromSet(set map[string]string) (Selector, error) {
	if len(set) == 0 {
		return Everything(), nil
	}
	reqs := make(internalSelector, 0, len(set))
	for _, k := range slices.Sorted(maps.Keys(set)) {
		r, err := NewRequirement(k, Equals, []string{set[k]})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	return reqs, nil
}
