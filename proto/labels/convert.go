package labels

import (
	"fmt"
	"maps"
	"slices"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// The metav1.LabelSelectorRequirement operator spellings.
const (
	LabelSelectorOpIn           = "In"
	LabelSelectorOpNotIn        = "NotIn"
	LabelSelectorOpExists       = "Exists"
	LabelSelectorOpDoesNotExist = "DoesNotExist"
)

// FromLabelSelector converts a structured label selector into a Selector,
// with the semantics of Kubernetes' metav1.LabelSelectorAsSelector:
//
//   - a nil selector selects nothing (Nothing());
//   - a selector with no matchLabels and no matchExpressions selects
//     everything (Everything());
//   - otherwise every matchLabels entry becomes key=value and every
//     matchExpressions entry (In, NotIn, Exists, DoesNotExist) a requirement,
//     all ANDed. In/NotIn need at least one value and Exists/DoesNotExist
//     none; keys and values are validated as by NewRequirement.
//
// matchLabels are processed in key order, so the error reported for several
// invalid entries is deterministic.
func FromLabelSelector(ps *metav1.LabelSelector) (Selector, error) {
	if ps == nil {
		return Nothing(), nil
	}
	if len(ps.MatchLabels)+len(ps.MatchExpressions) == 0 {
		return Everything(), nil
	}
	reqs := make(internalSelector, 0, len(ps.MatchLabels)+len(ps.MatchExpressions))
	for _, k := range slices.Sorted(maps.Keys(ps.MatchLabels)) {
		r, err := NewRequirement(k, Equals, []string{ps.MatchLabels[k]})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	for _, expr := range ps.MatchExpressions {
		var op Operator
		switch expr.GetOperator() {
		case LabelSelectorOpIn:
			op = In
		case LabelSelectorOpNotIn:
			op = NotIn
		case LabelSelectorOpExists:
			op = Exists
		case LabelSelectorOpDoesNotExist:
			op = DoesNotExist
		default:
			return nil, fmt.Errorf("%q is not a valid label selector operator", expr.GetOperator())
		}
		r, err := NewRequirement(expr.GetKey(), op, append([]string(nil), expr.GetValues()...))
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	sortByKey(reqs)
	return reqs, nil
}

// ParseToLabelSelector parses a selector string into a structured one, as Kubernetes'
// metav1.ParseToLabelSelector does for kubectl's generators: = and == become matchLabels,
// in, notin, exists and !exists matchExpressions; != and gt/lt have no structured form.
func ParseToLabelSelector(selector string) (*metav1.LabelSelector, error) {
	sel, err := Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse the selector string %q: %v", selector, err)
	}
	reqs, _ := sel.Requirements()
	out := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for _, r := range reqs {
		var op string
		switch r.Operator() {
		case Equals, DoubleEquals:
			out.MatchLabels[r.Key()] = r.Values()[0]
			continue
		case In:
			op = LabelSelectorOpIn
		case NotIn:
			op = LabelSelectorOpNotIn
		case Exists:
			op = LabelSelectorOpExists
		case DoesNotExist:
			op = LabelSelectorOpDoesNotExist
		case GreaterThan, LessThan:
			return nil, fmt.Errorf("%q isn't supported in label selectors", r.Operator())
		default:
			return nil, fmt.Errorf("%q is not a valid label selector operator", r.Operator())
		}
		out.MatchExpressions = append(out.MatchExpressions, &metav1.LabelSelectorRequirement{Key: r.Key(), Operator: op, Values: r.Values()})
	}
	return out, nil
}
