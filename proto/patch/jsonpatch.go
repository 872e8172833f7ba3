package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// OpError is the error for one JSON patch operation. It wraps
// ErrInvalidPatch (the operation is malformed), ErrCannotApply (it does not
// apply to the document) or ErrTestFailed (a "test" did not match; such
// errors also match ErrCannotApply).
type OpError struct {
	Index int    // position of the operation in the patch, from 0
	Op    string // "add", "remove", ...; may be empty for malformed ops
	Path  string // the operation's "path"
	Err   error
}

func (e *OpError) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("json patch operation %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("json patch operation %d (%s %q): %v", e.Index, e.Op, e.Path, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

type jsonOp struct {
	op       string
	path     []string
	rawPath  string
	from     []string
	rawFrom  string
	value    any
	hasValue bool
}

// ApplyJSONPatch applies a JSON patch (RFC 6902) to original. The patch is
// an array of operations add, remove, replace, move, copy and test, applied
// in order and atomically: if any operation fails, no result is returned.
// Paths are JSON pointers (RFC 6901, with ~0 and ~1 escapes); "-" as the
// last token of an add path appends to an array. Errors are *OpError values
// naming the operation's index and path.
func ApplyJSONPatch(original, patch []byte) ([]byte, error) {
	ops, err := decodeOps(patch)
	if err != nil {
		return nil, err
	}
	doc, err := decodeOriginal(original)
	if err != nil {
		return nil, err
	}
	copied := 0
	for i, op := range ops {
		doc, err = op.apply(doc, &copied)
		if err != nil {
			return nil, &OpError{Index: i, Op: op.op, Path: op.rawPath, Err: err}
		}
	}
	out, err := encode(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding json patch result: %w", err)
	}
	return out, nil
}

// decodeOps parses and validates the whole patch before anything is applied.
// Object members are read one by one so that duplicate names, which RFC 6902
// appendix A.13 declares an error, are detected.
func decodeOps(patch []byte) ([]jsonOp, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPatch, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, invalid("empty json patch")
		}
		return nil, invalid("%v", err)
	}
	if tok != json.Delim('[') {
		return nil, invalid("a json patch must be a JSON array of operations")
	}
	var ops []jsonOp
	for i := 0; dec.More(); i++ {
		if len(ops) >= MaxJSONPatchOperations {
			return nil, fmt.Errorf("%w: the allowed maximum operations in a JSON patch is %d", ErrTooManyOperations, MaxJSONPatchOperations)
		}
		opErr := func(err error) error {
			return &OpError{Index: i, Err: fmt.Errorf("%w: %v", ErrInvalidPatch, err)}
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, opErr(err)
		}
		if tok != json.Delim('{') {
			return nil, opErr(errors.New("an operation must be a JSON object"))
		}
		members := map[string]any{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, opErr(err)
			}
			name, _ := tok.(string)
			if _, dup := members[name]; dup {
				return nil, opErr(fmt.Errorf("duplicate member %q", name))
			}
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, opErr(err)
			}
			members[name] = v
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, opErr(err)
		}
		op, err := newOp(members)
		if err != nil {
			e := &OpError{Index: i, Op: op.op, Path: op.rawPath, Err: fmt.Errorf("%w: %v", ErrInvalidPatch, err)}
			return nil, e
		}
		ops = append(ops, op)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, invalid("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("unexpected data after the json patch array")
	}
	return ops, nil
}

func newOp(m map[string]any) (jsonOp, error) {
	var op jsonOp
	opv, ok := m["op"]
	if !ok {
		return op, errors.New(`missing "op"`)
	}
	if op.op, ok = opv.(string); !ok {
		return op, errors.New(`"op" must be a string`)
	}
	switch op.op {
	case "add", "remove", "replace", "move", "copy", "test":
	default:
		name := op.op
		op.op = ""
		return op, fmt.Errorf("unknown operation %q", name)
	}
	pv, ok := m["path"]
	if !ok {
		return op, errors.New(`missing "path"`)
	}
	if op.rawPath, ok = pv.(string); !ok {
		return op, errors.New(`"path" must be a string`)
	}
	var err error
	if op.path, err = parsePointer(op.rawPath); err != nil {
		return op, err
	}
	switch op.op {
	case "add", "replace", "test":
		op.value, op.hasValue = m["value"]
		if !op.hasValue {
			return op, fmt.Errorf(`missing "value" for %s`, op.op)
		}
	case "move", "copy":
		fv, ok := m["from"]
		if !ok {
			return op, fmt.Errorf(`missing "from" for %s`, op.op)
		}
		if op.rawFrom, ok = fv.(string); !ok {
			return op, errors.New(`"from" must be a string`)
		}
		if op.from, err = parsePointer(op.rawFrom); err != nil {
			return op, fmt.Errorf("from: %w", err)
		}
	}
	return op, nil
}

// parsePointer splits a JSON pointer (RFC 6901) into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q must be empty or start with '/'", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if !strings.Contains(t, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(t); j++ {
			if t[j] != '~' {
				b.WriteByte(t[j])
				continue
			}
			if j+1 < len(t) && t[j+1] == '0' {
				b.WriteByte('~')
			} else if j+1 < len(t) && t[j+1] == '1' {
				b.WriteByte('/')
			} else {
				return nil, fmt.Errorf("JSON pointer %q: '~' must be followed by '0' or '1'", p)
			}
			j++
		}
		toks[i] = b.String()
	}
	return toks, nil
}

func cannotApply(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCannotApply, fmt.Sprintf(format, args...))
}

func (op *jsonOp) apply(doc any, copied *int) (any, error) {
	switch op.op {
	case "add":
		return add(doc, op.path, op.value)
	case "remove":
		doc, _, err := remove(doc, op.path)
		return doc, err
	case "replace":
		if len(op.path) == 0 {
			return op.value, nil
		}
		return update(doc, op.path, func(parent any, tok string) (any, error) {
			switch p := parent.(type) {
			case map[string]any:
				if _, ok := p[tok]; !ok {
					return nil, cannotApply("member %q not found", tok)
				}
				p[tok] = op.value
				return p, nil
			case []any:
				i, err := arrayIndex(tok, len(p), false)
				if err != nil {
					return nil, err
				}
				p[i] = op.value
				return p, nil
			}
			return nil, cannotApply("parent of %q is not an object or array", tok)
		})
	case "move":
		if isPrefix(op.from, op.path) && len(op.from) < len(op.path) {
			return nil, cannotApply("cannot move %q into its own child %q", op.rawFrom, op.rawPath)
		}
		v, err := get(doc, op.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if len(op.from) == len(op.path) && isPrefix(op.from, op.path) {
			return doc, nil
		}
		doc, _, err = remove(doc, op.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		return add(doc, op.path, v)
	case "copy":
		v, err := get(doc, op.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		*copied += jsonSize(v)
		if *copied > MaxJSONPatchCopyBytes {
			return nil, cannotApply("copy operations exceed the %d bytes limit", MaxJSONPatchCopyBytes)
		}
		return add(doc, op.path, deepCopy(v))
	case "test":
		v, err := get(doc, op.path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTestFailed, err)
		}
		if !jsonEqual(v, op.value) {
			return nil, fmt.Errorf("%w: %w: value at %q does not match", ErrTestFailed, ErrCannotApply, op.rawPath)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("%w: unknown operation %q", ErrInvalidPatch, op.op)
}

func isPrefix(prefix, path []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i := range prefix {
		if prefix[i] != path[i] {
			return false
		}
	}
	return true
}

// arrayIndex parses an array index token for an array of length n. With
// insert, n itself and "-" (append) are allowed.
func arrayIndex(tok string, n int, insert bool) (int, error) {
	if tok == "-" {
		if insert {
			return n, nil
		}
		return 0, cannotApply(`array index "-" refers to a nonexistent element`)
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') || strings.TrimLeft(tok, "0123456789") != "" {
		return 0, cannotApply("invalid array index %q", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i > n || (i == n && !insert) {
		return 0, cannotApply("array index %s out of range (length %d)", tok, n)
	}
	return i, nil
}

// get returns the value a pointer refers to.
func get(doc any, path []string) (any, error) {
	cur := doc
	for _, tok := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, cannotApply("member %q not found", tok)
			}
			cur = v
		case []any:
			i, err := arrayIndex(tok, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, cannotApply("cannot look up %q in a scalar value", tok)
		}
	}
	return cur, nil
}

// update walks to the parent of the pointer's target and replaces it by
// what leaf returns (arrays change length, so the new parent is stored
// back into the grandparent).
func update(doc any, path []string, leaf func(parent any, tok string) (any, error)) (any, error) {
	if len(path) == 1 {
		return leaf(doc, path[0])
	}
	tok := path[0]
	switch c := doc.(type) {
	case map[string]any:
		child, ok := c[tok]
		if !ok {
			return nil, cannotApply("member %q not found", tok)
		}
		nc, err := update(child, path[1:], leaf)
		if err != nil {
			return nil, err
		}
		c[tok] = nc
		return c, nil
	case []any:
		i, err := arrayIndex(tok, len(c), false)
		if err != nil {
			return nil, err
		}
		nc, err := update(c[i], path[1:], leaf)
		if err != nil {
			return nil, err
		}
		c[i] = nc
		return c, nil
	}
	return nil, cannotApply("cannot look up %q in a scalar value", tok)
}

func add(doc any, path []string, value any) (any, error) {
	if len(path) == 0 {
		return value, nil
	}
	return update(doc, path, func(parent any, tok string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			p[tok] = value
			return p, nil
		case []any:
			i, err := arrayIndex(tok, len(p), true)
			if err != nil {
				return nil, err
			}
			p = append(p, nil)
			copy(p[i+1:], p[i:])
			p[i] = value
			return p, nil
		}
		return nil, cannotApply("parent of %q is not an object or array", tok)
	})
}

func remove(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, cannotApply("cannot remove the whole document")
	}
	var removed any
	doc, err := update(doc, path, func(parent any, tok string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			v, ok := p[tok]
			if !ok {
				return nil, cannotApply("member %q not found", tok)
			}
			removed = v
			delete(p, tok)
			return p, nil
		case []any:
			i, err := arrayIndex(tok, len(p), false)
			if err != nil {
				return nil, err
			}
			removed = p[i]
			return append(p[:i:i], p[i+1:]...), nil
		}
		return nil, cannotApply("parent of %q is not an object or array", tok)
	})
	return doc, removed, err
}
