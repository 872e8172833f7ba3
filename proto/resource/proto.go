package resource

import (
	"fmt"
	"maps"
	"slices"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// FromProto parses the wire form of a quantity. A nil message, like an empty
// string, is an error (ErrFormatWrong).
func FromProto(p *metav1.Quantity) (Quantity, error) {
	return ParseQuantity(p.GetString_())
}

// Proto returns the wire form of q, holding its canonical String.
func (q Quantity) Proto() *metav1.Quantity {
	return &metav1.Quantity{String_: q.String()}
}

// List maps resource names ("cpu", "memory", …) to quantities, like
// Kubernetes' ResourceList.
type List map[string]Quantity

// ParseList parses a resource map from the wire (requests, limits, capacity,
// hard quota, …). The error names the first bad resource in name order. A nil
// map gives a nil List.
func ParseList(m map[string]*metav1.Quantity) (List, error) {
	if m == nil {
		return nil, nil
	}
	l := make(List, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		q, err := FromProto(m[name])
		if err != nil {
			return nil, fmt.Errorf("resource %q: %w", name, err)
		}
		l[name] = q
	}
	return l, nil
}

// Proto returns the wire form of l; nil for a nil List.
func (l List) Proto() map[string]*metav1.Quantity {
	if l == nil {
		return nil
	}
	m := make(map[string]*metav1.Quantity, len(l))
	for name, q := range l {
		m[name] = q.Proto()
	}
	return m
}

// Add returns a new List holding l + o, resource by resource; a resource
// missing from one side counts as zero. Neither input is modified.
func (l List) Add(o List) List {
	r := make(List, max(len(l), len(o)))
	maps.Copy(r, l)
	for name, q := range o {
		sum := r[name]
		sum.Add(q)
		r[name] = sum
	}
	return r
}

// Max returns a new List holding, resource by resource, the larger of l and o; a resource
// missing from one side takes the other's. Neither input is modified.
func (l List) Max(o List) List {
	r := make(List, max(len(l), len(o)))
	maps.Copy(r, l)
	for name, q := range o {
		if cur, ok := r[name]; !ok || q.Cmp(cur) > 0 {
			r[name] = q
		}
	}
	return r
}

// Sub returns a new List holding l - o, resource by resource; a resource
// missing from one side counts as zero. Neither input is modified.
func (l List) Sub(o List) List {
	r := make(List, max(len(l), len(o)))
	maps.Copy(r, l)
	for name, q := range o {
		diff := r[name]
		diff.Sub(q)
		r[name] = diff
	}
	return r
}
