package patch

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Strategic merge patch directives.
const (
	directiveMarker          = "$patch"
	retainKeysDirective      = "$retainKeys"
	deleteFromPrimitiveList  = "$deleteFromPrimitiveList"
	setElementOrderDirective = "$setElementOrder"

	replaceDirective = "replace"
	deleteDirective  = "delete"
	mergeDirective   = "merge"
)

// StrategicMergePatch applies a Kubernetes strategic merge patch to original, a
// JSON object of the given kind, with the semantics of
// k8s.io/apimachinery/pkg/util/strategicpatch:
//
//   - objects merge recursively and a null member deletes the key;
//   - lists the kind's schema marks with a merge key (containers by name,
//     ports by containerPort, conditions by type, ...) merge item by item:
//     a patch item updates the original item with the same key recursively
//     and new items are added; other original items stay;
//   - lists of primitives with the merge strategy (metadata.finalizers) are
//     unions; every other list is replaced wholesale;
//   - directives: {"$patch": "delete"} as a list item deletes the item with
//     its merge key; "$patch": "replace" replaces a map (or, as a list item,
//     the whole list) instead of merging; "$patch": "merge" is the default;
//     "$deleteFromPrimitiveList/<field>": [values] removes values from a
//     primitive list; "$setElementOrder/<field>": [...] orders the merged
//     list (kubectl apply); "$retainKeys": [...] drops the map's keys not
//     listed. Directives never appear in the result.
//
// Without $setElementOrder, new items of a merging list are placed before
// the original ones, as upstream does (kubectl patch adding a container puts
// it first).
//
// Two deliberate differences from upstream: "$patch": "merge" is accepted
// (upstream rejects it), and a "$patch": "replace" map for a field the
// original lacks sets the field (upstream silently drops it).
//
// Kinds without a schema (see KnownKind) only merge metadata.finalizers and
// metadata.ownerReferences. Malformed patches give errors wrapping
// ErrInvalidPatch.
func StrategicMergePatch(original, patch []byte, kind string) ([]byte, error) {
	doc, err := decodeOriginal(original)
	if err != nil {
		return nil, err
	}
	om, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a strategic merge patch applies to a JSON object", ErrInvalidDocument)
	}
	p, err := decodePatch(patch)
	if err != nil {
		return nil, err
	}
	var res any = om
	switch p := p.(type) {
	case nil: // like upstream: a null patch changes nothing
	case map[string]any:
		m := &merger{schema: schemaFor(kind)}
		r, keep, err := m.mergeMap(om, p, "")
		if err != nil {
			return nil, err
		}
		if !keep {
			r = map[string]any{}
		}
		res = r
	default:
		return nil, fmt.Errorf("%w: a strategic merge patch must be a JSON object", ErrInvalidPatch)
	}
	out, err := encode(res)
	if err != nil {
		return nil, fmt.Errorf("encoding strategic merge patch result: %w", err)
	}
	return out, nil
}

type merger struct {
	schema map[string]fieldMeta
}

func invalidAt(path, format string, args ...any) error {
	where := path
	if where == "" {
		where = "<root>"
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidPatch, where, fmt.Sprintf(format, args...))
}

// isDirectiveKey reports whether a map key is a directive rather than a field.
func isDirectiveKey(k string) bool {
	return k == directiveMarker || k == retainKeysDirective ||
		strings.HasPrefix(k, deleteFromPrimitiveList) || strings.HasPrefix(k, setElementOrderDirective)
}

// directiveField extracts <field> from "<prefix>/<field>".
func directiveField(k, prefix, path string) (string, error) {
	field, ok := strings.CutPrefix(k, prefix+"/")
	if !ok || field == "" || isDirectiveKey(field) {
		return "", invalidAt(path, "malformed directive %q: expected %s/<field>", k, prefix)
	}
	return field, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mergeMap merges patch into orig (nil when the field is absent from the
// original) and returns the new value; keep is false when the field is to
// be dropped (a "$patch: delete" map with no original). orig is modified.
func (m *merger) mergeMap(orig, patch map[string]any, path string) (map[string]any, bool, error) {
	if d, ok := patch[directiveMarker]; ok {
		rest := make(map[string]any, len(patch))
		for k, v := range patch {
			if k != directiveMarker {
				rest[k] = v
			}
		}
		switch d {
		case replaceDirective:
			r, _, err := m.mergeMap(nil, rest, path)
			return r, true, err
		case deleteDirective:
			if orig == nil {
				return nil, false, nil
			}
			return map[string]any{}, true, nil
		case mergeDirective:
			patch = rest
		default:
			return nil, false, invalidAt(path, "unknown %s directive %v", directiveMarker, d)
		}
	}
	if orig == nil {
		orig = make(map[string]any, len(patch))
	}
	keys := sortedKeys(patch)

	// $retainKeys: every field the patch sets must be listed; original keys
	// not listed are dropped.
	if rk, ok := patch[retainKeysDirective]; ok {
		list, ok := rk.([]any)
		if !ok {
			return nil, false, invalidAt(path, "%s must be a list of field names", retainKeysDirective)
		}
		retain := make(map[string]bool, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, false, invalidAt(path, "%s must be a list of field names", retainKeysDirective)
			}
			retain[s] = true
		}
		for _, k := range keys {
			if patch[k] == nil || isDirectiveKey(k) {
				continue
			}
			if !retain[k] {
				return nil, false, invalidAt(path, "field %q is set by the patch but not listed in %s", k, retainKeysDirective)
			}
		}
		for k := range orig {
			if !retain[k] {
				delete(orig, k)
			}
		}
	}

	// $deleteFromPrimitiveList/<field>: remove values from a primitive list.
	for _, k := range keys {
		if !strings.HasPrefix(k, deleteFromPrimitiveList) {
			continue
		}
		field, err := directiveField(k, deleteFromPrimitiveList, path)
		if err != nil {
			return nil, false, err
		}
		del, ok := patch[k].([]any)
		if !ok {
			return nil, false, invalidAt(path, "%s must be a list", k)
		}
		if ol, ok := orig[field].([]any); ok {
			orig[field] = removeValues(ol, del)
		}
	}

	// $setElementOrder/<field>: merge <field> (if patched) and order it.
	handled := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, setElementOrderDirective) {
			continue
		}
		field, err := directiveField(k, setElementOrderDirective, path)
		if err != nil {
			return nil, false, err
		}
		if err := m.setElementOrder(orig, patch, k, field, joinPath(path, field)); err != nil {
			return nil, false, err
		}
		handled[field] = true
	}

	for _, k := range keys {
		if isDirectiveKey(k) || handled[k] {
			continue
		}
		pv := patch[k]
		if pv == nil {
			delete(orig, k)
			continue
		}
		fpath := joinPath(path, k)
		var (
			nv   any
			keep = true
			err  error
		)
		switch ov := orig[k].(type) {
		case map[string]any:
			if pm, ok := pv.(map[string]any); ok {
				nv, keep, err = m.mergeMap(ov, pm, fpath)
			} else {
				nv, keep, err = m.fresh(pv, fpath)
			}
		case []any:
			if pl, ok := pv.([]any); ok {
				nv, err = m.mergeList(ov, pl, fpath)
			} else {
				nv, keep, err = m.fresh(pv, fpath)
			}
		default: // absent, null, scalar
			nv, keep, err = m.fresh(pv, fpath)
		}
		if err != nil {
			return nil, false, err
		}
		if keep {
			orig[k] = nv
		} else {
			delete(orig, k)
		}
	}
	return orig, true, nil
}

// fresh turns a patch value with no original counterpart into a result
// value: directives are processed (against nothing) and removed, nulls in
// objects dropped. keep is false for a "$patch: delete" object.
func (m *merger) fresh(v any, path string) (any, bool, error) {
	switch v := v.(type) {
	case map[string]any:
		r, keep, err := m.mergeMap(nil, v, path)
		return r, keep, err
	case []any:
		l, err := m.mergeList(nil, v, path)
		return l, true, err
	default:
		return v, true, nil
	}
}

// mergeList merges the patch list into orig (nil when absent) following the
// field's strategy.
func (m *merger) mergeList(orig, patch []any, path string) ([]any, error) {
	meta := m.schema[path]
	switch {
	case !meta.merge:
		return m.freshList(patch, path)
	case meta.key == "":
		return mergePrimitiveList(orig, patch, path)
	default:
		return m.mergeObjectList(orig, patch, path, meta.key)
	}
}

func (m *merger) freshList(l []any, path string) ([]any, error) {
	out := make([]any, 0, len(l))
	for _, e := range l {
		nv, keep, err := m.fresh(e, path)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, nv)
		}
	}
	return out, nil
}

// mergePrimitiveList is the union of a merging list of primitives.
func mergePrimitiveList(orig, patch []any, path string) ([]any, error) {
	for _, e := range patch {
		switch e.(type) {
		case map[string]any, []any:
			return nil, invalidAt(path, "this list merges as a set of primitive values; got %s", canonKey(e))
		}
	}
	seen := make(map[string]bool, len(orig)+len(patch))
	merged := make([]any, 0, len(orig)+len(patch))
	for _, l := range [][]any{orig, patch} {
		for _, e := range l {
			k := canonKey(e)
			if !seen[k] {
				seen[k] = true
				merged = append(merged, e)
			}
		}
	}
	return normalizeOrder(merged, patch, orig, ""), nil
}

// mergeObjectList merges lists of objects identified by key.
func (m *merger) mergeObjectList(orig, patch []any, path, key string) ([]any, error) {
	orig = slices.Clone(orig)
	var items []map[string]any
	replace := false
	for _, e := range patch {
		pm, ok := e.(map[string]any)
		if !ok {
			return nil, invalidAt(path, "list items must be objects with the merge key %q; got %s", key, canonKey(e))
		}
		d, special := pm[directiveMarker]
		if !special {
			items = append(items, pm)
			continue
		}
		switch d {
		case deleteDirective:
			kv, ok := pm[key]
			if !ok {
				return nil, invalidAt(path, "a %s: %s item needs the merge key %q", directiveMarker, deleteDirective, key)
			}
			ck := canonKey(kv)
			orig = slices.DeleteFunc(orig, func(o any) bool {
				id, ok := mergeKeyOf(o, key)
				return ok && id == ck
			})
		case replaceDirective:
			replace = true
		case mergeDirective:
			rest := make(map[string]any, len(pm))
			for k, v := range pm {
				if k != directiveMarker {
					rest[k] = v
				}
			}
			items = append(items, rest)
		default:
			return nil, invalidAt(path, "unknown %s directive %v", directiveMarker, d)
		}
	}
	if replace {
		out := make([]any, 0, len(items))
		for _, it := range items {
			nv, keep, err := m.mergeMap(nil, it, path)
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, nv)
			}
		}
		return out, nil
	}

	serverOrder := slices.Clone(orig)
	index := make(map[string]int, len(orig))
	for i, o := range orig {
		if id, ok := mergeKeyOf(o, key); ok {
			if _, dup := index[id]; !dup {
				index[id] = i
			}
		}
	}
	patchOrder := make([]any, 0, len(items))
	for _, it := range items {
		kv, ok := it[key]
		if !ok {
			return nil, invalidAt(path, "list item %s lacks the merge key %q", canonKey(it), key)
		}
		patchOrder = append(patchOrder, it)
		ck := canonKey(kv)
		if i, ok := index[ck]; ok {
			nv, _, err := m.mergeMap(orig[i].(map[string]any), it, path)
			if err != nil {
				return nil, err
			}
			orig[i] = nv
			continue
		}
		nv, keep, err := m.mergeMap(nil, it, path)
		if err != nil {
			return nil, err
		}
		if keep {
			index[ck] = len(orig)
			orig = append(orig, nv)
		}
	}
	return normalizeOrder(orig, patchOrder, serverOrder, key), nil
}

// setElementOrder handles "$setElementOrder/<field>" (directive key k):
// the field's patch list, if any, is merged, then the result is ordered.
func (m *merger) setElementOrder(orig, patch map[string]any, k, field, fpath string) error {
	order, ok := patch[k].([]any)
	if !ok {
		return invalidAt(fpath, "%s must be a list", k)
	}
	meta := m.schema[fpath]
	for _, e := range order {
		if meta.key != "" {
			om, ok := e.(map[string]any)
			if _, has := om[meta.key]; !ok || !has {
				return invalidAt(fpath, "%s items must be objects with the merge key %q", k, meta.key)
			}
		} else if _, isMap := e.(map[string]any); isMap && meta.merge {
			return invalidAt(fpath, "%s items must be primitive values", k)
		}
	}

	pv, inPatch := patch[field]
	if inPatch && pv == nil {
		delete(orig, field)
		return nil
	}
	var pl []any
	if inPatch {
		if pl, ok = pv.([]any); !ok {
			return invalidAt(fpath, "%s requires %q to be a list", k, field)
		}
		if meta.merge {
			if err := validateOrder(pl, order, meta.key); err != nil {
				return invalidAt(fpath, "the order of the patch list does not match %s: %v", k, err)
			}
		}
	}
	ol, inOrig := orig[field].([]any)
	var merged []any
	var err error
	switch {
	case inPatch:
		if !inOrig {
			ol = nil
		}
		merged, err = m.mergeList(ol, pl, fpath)
		if err != nil {
			return err
		}
	case inOrig:
		merged = ol
	default:
		return nil
	}
	if meta.merge {
		serverOrder := ol
		if meta.key != "" && inPatch {
			serverOrder = upstreamServerOrder(ol, pl, meta.key)
		}
		merged = normalizeOrder(merged, order, serverOrder, meta.key)
	}
	orig[field] = merged
	return nil
}

// upstreamServerOrder is the server order upstream's $setElementOrder handling places
// server-only items by. It passes the original list, but its merge has already deleted
// the "$patch: delete" items from that list's array in place (shifting later items left)
// and appended the new items into the freed tail, so the array, read at its original
// length, is what it compares against. A client sees the effect: with b deleted, n added
// and c left to the server, [a b c] patched to the order [n a] ends up "c n a", where the
// untouched original order would give "n a c". The same steps on a Go slice reproduce it.
func upstreamServerOrder(ol, pl []any, key string) []any {
	buf := slices.Clone(ol)
	cur := buf[:len(buf):len(buf)]
	find := func(id string) int {
		return slices.IndexFunc(cur, func(o any) bool {
			oid, ok := mergeKeyOf(o, key)
			return ok && oid == id
		})
	}
	var added []any
	for _, e := range pl {
		pm, ok := e.(map[string]any)
		if !ok {
			continue
		}
		id, ok := mergeKeyOf(pm, key)
		if !ok {
			continue
		}
		switch pm[directiveMarker] {
		case nil:
			added = append(added, pm)
		case deleteDirective:
			for i := find(id); i >= 0; i = find(id) {
				cur = append(cur[:i], cur[i+1:]...)
			}
		}
	}
	// Deletions all come first upstream; then each patch item not found is appended.
	for _, pm := range added {
		id, _ := mergeKeyOf(pm, key)
		if find(id) < 0 {
			cur = append(cur, pm)
		}
	}
	return buf
}

// validateOrder checks that the patch list's items (other than directive
// items) appear in the same relative order in the $setElementOrder list.
func validateOrder(pl, order []any, key string) error {
	pi, oi := 0, 0
	var items []string
	for _, e := range pl {
		if pm, ok := e.(map[string]any); ok {
			if _, d := pm[directiveMarker]; d {
				continue
			}
		}
		id, ok := identity(e, key)
		if !ok {
			continue // reported by the merge itself
		}
		items = append(items, id)
	}
	for pi < len(items) && oi < len(order) {
		if id, ok := identity(order[oi], key); ok && id == items[pi] {
			pi++
		}
		oi++
	}
	if pi < len(items) {
		return fmt.Errorf("item %s is missing or out of order", items[pi])
	}
	return nil
}

// mergeKeyOf returns the canonical merge key value of a list item.
func mergeKeyOf(v any, key string) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	kv, ok := m[key]
	if !ok {
		return "", false
	}
	return canonKey(kv), true
}

// identity identifies a list item: by its merge key, or by its whole value
// for lists of primitives.
func identity(v any, key string) (string, bool) {
	if key == "" {
		return canonKey(v), true
	}
	return mergeKeyOf(v, key)
}

func removeValues(l, del []any) []any {
	drop := make(map[string]bool, len(del))
	for _, d := range del {
		drop[canonKey(d)] = true
	}
	out := make([]any, 0, len(l))
	for _, e := range l {
		if !drop[canonKey(e)] {
			out = append(out, e)
		}
	}
	return out
}

// normalizeOrder orders a merged list as upstream's normalizeElementOrder:
// the items named in patchOrder are sorted by it, the others ("server-only"
// items) by serverOrder, and the two sequences are interleaved: a
// server-only item goes before the next patch item when both are in
// serverOrder and it comes first there.
func normalizeOrder(merged, patchOrder, serverOrder []any, key string) []any {
	firstIndex := func(l []any) map[string]int {
		idx := make(map[string]int, len(l))
		for i, e := range l {
			if id, ok := identity(e, key); ok {
				if _, dup := idx[id]; !dup {
					idx[id] = i
				}
			}
		}
		return idx
	}
	patchIdx := firstIndex(patchOrder)
	serverIdx := firstIndex(serverOrder)

	var patchItems, serverOnly []any
	for _, e := range merged {
		if id, ok := identity(e, key); ok {
			if _, in := patchIdx[id]; in {
				patchItems = append(patchItems, e)
				continue
			}
		}
		serverOnly = append(serverOnly, e)
	}
	sortByIndex(patchItems, patchIdx, key)
	sortByIndex(serverOnly, serverIdx, key)

	pos := func(v any) (int, bool) {
		id, ok := identity(v, key)
		if !ok {
			return 0, false
		}
		i, ok := serverIdx[id]
		return i, ok
	}
	out := make([]any, 0, len(merged))
	i, j := 0, 0
	for i < len(serverOnly) && j < len(patchItems) {
		li, lok := pos(serverOnly[i])
		ri, rok := pos(patchItems[j])
		if lok && rok && li < ri {
			out = append(out, serverOnly[i])
			i++
		} else {
			out = append(out, patchItems[j])
			j++
		}
	}
	out = append(out, serverOnly[i:]...)
	out = append(out, patchItems[j:]...)
	return out
}

// sortByIndex stably sorts items by their position in idx; items not in idx
// go last, in their current order.
func sortByIndex(items []any, idx map[string]int, key string) {
	type ranked struct {
		v    any
		rank int
		ok   bool
	}
	rs := make([]ranked, len(items))
	for i, v := range items {
		rs[i].v = v
		if id, ok := identity(v, key); ok {
			rs[i].rank, rs[i].ok = idx[id]
		}
	}
	sort.SliceStable(rs, func(a, b int) bool {
		if rs[a].ok && rs[b].ok {
			return rs[a].rank < rs[b].rank
		}
		return rs[a].ok && !rs[b].ok
	})
	for i := range rs {
		items[i] = rs[i].v
	}
}
