package cmd

import (
	"encoding/json"
	"fmt"
	"reflect"

	"kubelab.io/proto/apierrors"
)

// Patch types.
const (
	strategicPatch = "application/strategic-merge-patch+json"
	mergePatch     = "application/merge-patch+json"
	jsonPatchType  = "application/json-patch+json"
)

// lastAppliedAnnotation holds what the last `kubectl apply` sent.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// prefixStatus returns err with its Status message prefixed, as kubectl words failures of
// one object of a manifest: `error when creating "x.yaml": ...`.
func prefixStatus(err error, prefix string) error {
	if se, ok := err.(*apierrors.StatusError); ok {
		s := se.ErrStatus
		s.Message = prefix + s.GetMessage()
		return se
	}
	return fmt.Errorf("%s%w", prefix, err)
}

// threeWayPatch computes the strategic merge patch kubectl apply sends: fields the last
// applied configuration (original) had and modified dropped are deleted; fields of modified
// that differ from the live object (current) are set. Lists of objects with a merge key
// ("name", "containerPort", "mountPath") are patched item by item, and items dropped since
// original are deleted with {"$patch": "delete"}; other lists are replaced when they differ.
// Fields only the server or other writers set are left alone.
func threeWayPatch(original, modified, current map[string]any) map[string]any {
	patch := map[string]any{}
	for k := range original {
		if _, ok := modified[k]; !ok {
			if _, live := current[k]; live {
				patch[k] = nil
			}
		}
	}
	for k, mv := range modified {
		cv, cok := current[k]
		ov := original[k]
		switch m := mv.(type) {
		case map[string]any:
			cm, isMap := cv.(map[string]any)
			if !cok || !isMap {
				patch[k] = mv
				continue
			}
			om, _ := ov.(map[string]any)
			if sub := threeWayPatch(om, m, cm); len(sub) > 0 {
				patch[k] = sub
			}
		case []any:
			cl, isList := cv.([]any)
			if !cok || !isList {
				patch[k] = mv
				continue
			}
			ol, _ := ov.([]any)
			if key := mergeKey(m); key != "" && mergeKey(cl) == key {
				if items, changed := listPatch(key, ol, m, cl); changed {
					patch[k] = items
				}
				continue
			}
			if !reflect.DeepEqual(mv, cv) {
				patch[k] = mv
			}
		default:
			if !cok || !reflect.DeepEqual(mv, cv) {
				patch[k] = mv
			}
		}
	}
	return patch
}

// mergeKey is the key every item of a list of objects has, or "".
func mergeKey(list []any) string {
	if len(list) == 0 {
		return ""
	}
	for _, key := range []string{"name", "containerPort", "mountPath", "type", "ip"} {
		all := true
		for _, it := range list {
			m, ok := it.(map[string]any)
			if !ok {
				return ""
			}
			if _, ok := m[key]; !ok {
				all = false
				break
			}
		}
		if all {
			return key
		}
	}
	return ""
}

func findItem(list []any, key string, v any) map[string]any {
	for _, it := range list {
		if m, ok := it.(map[string]any); ok && reflect.DeepEqual(m[key], v) {
			return m
		}
	}
	return nil
}

func listPatch(key string, original, modified, current []any) ([]any, bool) {
	var items []any
	changed := false
	for _, it := range modified {
		m := it.(map[string]any)
		cur := findItem(current, key, m[key])
		if cur == nil {
			items = append(items, m)
			changed = true
			continue
		}
		sub := threeWayPatch(findItem(original, key, m[key]), m, cur)
		if len(sub) > 0 {
			sub[key] = m[key]
			items = append(items, sub)
			changed = true
		}
	}
	for _, it := range original {
		o, ok := it.(map[string]any)
		if !ok {
			continue
		}
		if findItem(modified, key, o[key]) == nil && findItem(current, key, o[key]) != nil {
			items = append(items, map[string]any{key: o[key], "$patch": "delete"})
			changed = true
		}
	}
	return items, changed
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // JSON values decoded from JSON always encode
	}
	return b
}
