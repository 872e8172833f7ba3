package cmd

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// nested returns the value at path in o, or nil.
func nested(o any, path ...string) any {
	cur := o
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func nestedString(o any, path ...string) string {
	s, _ := nested(o, path...).(string)
	return s
}

func nestedMap(o any, path ...string) map[string]any {
	m, _ := nested(o, path...).(map[string]any)
	return m
}

func nestedSlice(o any, path ...string) []any {
	s, _ := nested(o, path...).([]any)
	return s
}

// nestedInt reads a number at path; ok is false when absent.
func nestedInt(o any, path ...string) (int64, bool) {
	switch v := nested(o, path...).(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case float64:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}

func nestedStringMap(o any, path ...string) map[string]string {
	out := map[string]string{}
	for k, v := range nestedMap(o, path...) {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// setNested sets path in o to v, creating maps on the way.
func setNested(o map[string]any, v any, path ...string) {
	cur := o
	for _, p := range path[:len(path)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = v
}

// labelsString is k=v,k=v sorted, or <none>.
func labelsString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// deepCopy copies a JSON value.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

func sortStrings(s []string) { sort.Strings(s) }

func sortIndex(n int, less func(a, b int) bool) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return less(idx[a], idx[b]) })
	return idx
}

func permute[T any](s []T, idx []int) []T {
	out := make([]T, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}
