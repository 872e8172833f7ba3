package patch

import "fmt"

// MergeJSON applies a JSON merge patch (RFC 7386) to original: a patch
// object merges recursively into the target (a non-object target is
// replaced by an empty object first), a null member deletes the key, and
// any other patch value replaces the target.
func MergeJSON(original, patch []byte) ([]byte, error) {
	doc, err := decodeOriginal(original)
	if err != nil {
		return nil, err
	}
	p, err := decodePatch(patch)
	if err != nil {
		return nil, err
	}
	out, err := encode(mergePatch(doc, p))
	if err != nil {
		return nil, fmt.Errorf("encoding merge patch result: %w", err)
	}
	return out, nil
}

// mergePatch is the MergePatch function of RFC 7386 section 2. It may
// modify target.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}
