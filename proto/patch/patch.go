// Package patch applies the three PATCH flavours kube-apiserver accepts to
// JSON documents: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
// Kubernetes' strategic merge patch, the flavour kubectl uses for label,
// annotate, set image, rollout and client-side apply.
//
// The apiserver marshals the stored object to JSON, calls Apply with the
// request's patch and decodes the result back before running the normal
// update path. Numbers are kept as their JSON text (json.Decoder.UseNumber)
// so int64 values never round-trip through float64.
//
// Errors wrap one of the sentinels below; HTTPStatus maps them to the status
// code kube-apiserver answers with.
package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"sort"
	"strconv"
	"strings"
)

// Type is a PATCH request's media type.
type Type string

// The patch media types kube-apiserver knows.
const (
	JSONPatch      Type = "application/json-patch+json"
	MergePatch     Type = "application/merge-patch+json"
	StrategicMerge Type = "application/strategic-merge-patch+json"
	// ApplyPatch is server-side apply. It is not supported: Apply returns an
	// error wrapping ErrUnsupported.
	ApplyPatch Type = "application/apply-patch+yaml"
)

// Sentinel errors. Every error this package returns wraps exactly one of
// ErrInvalidPatch, ErrInvalidDocument, ErrCannotApply, ErrTooManyOperations
// or ErrUnsupported (ErrTestFailed errors also wrap ErrCannotApply).
var (
	// ErrInvalidPatch: the patch body is malformed (not JSON, wrong shape,
	// unknown op or directive, bad JSON pointer, ...). kube-apiserver
	// answers 400 BadRequest.
	ErrInvalidPatch = errors.New("invalid patch")
	// ErrCannotApply: a well-formed JSON patch cannot be applied to this
	// document (missing path, index out of range, copy limit exceeded, ...).
	// kube-apiserver answers 422 Unprocessable Entity.
	ErrCannotApply = errors.New("patch cannot be applied")
	// ErrTestFailed: a JSON patch "test" operation did not match. Errors
	// wrapping it also wrap ErrCannotApply (kube-apiserver answers 422).
	ErrTestFailed = errors.New("json patch test operation failed")
	// ErrTooManyOperations: a JSON patch has more than
	// MaxJSONPatchOperations operations (kube-apiserver answers 413).
	ErrTooManyOperations = errors.New("too many json patch operations")
	// ErrInvalidDocument: the original document is not valid JSON (or, for
	// a strategic merge patch, not a JSON object). This is a server-side
	// problem (500).
	ErrInvalidDocument = errors.New("invalid original document")
	// ErrUnsupported: the patch type is not supported (415), in particular
	// server-side apply.
	ErrUnsupported = errors.New("unsupported patch type")
)

// Limits kube-apiserver applies to JSON patches.
const (
	// MaxJSONPatchOperations is the most operations one JSON patch may hold
	// (maxJSONPatchOperations in k8s.io/apiserver).
	MaxJSONPatchOperations = 10000
	// MaxJSONPatchCopyBytes bounds the accumulated size of the values
	// duplicated by "copy" operations (JSONPatchMaxCopyBytes in
	// k8s.io/apiserver's server config).
	MaxJSONPatchCopyBytes = 3 * 1024 * 1024
)

// Apply returns the patched document. original and the result are JSON
// bytes. kind is the object's kind ("Deployment", "Pod", ...), used by
// strategic merge patch to find list merge keys; the other flavours ignore
// it.
func Apply(t Type, original, patch []byte, kind string) ([]byte, error) {
	switch t {
	case JSONPatch:
		return ApplyJSONPatch(original, patch)
	case MergePatch:
		return MergeJSON(original, patch)
	case StrategicMerge:
		return StrategicMergePatch(original, patch, kind)
	case ApplyPatch:
		return nil, fmt.Errorf("%w: server-side apply is not supported; use client-side apply", ErrUnsupported)
	default:
		return nil, unsupportedType(string(t))
	}
}

// ParseType maps a request's Content-Type header to a Type. Media type
// parameters (e.g. "; charset=utf-8") are ignored and the comparison is
// case-insensitive. Unknown media types give an error wrapping
// ErrUnsupported; ApplyPatch is returned as is (Apply rejects it).
func ParseType(contentType string) (Type, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", unsupportedType(contentType)
	}
	switch t := Type(mt); t {
	case JSONPatch, MergePatch, StrategicMerge, ApplyPatch:
		return t, nil
	}
	return "", unsupportedType(contentType)
}

func unsupportedType(t string) error {
	return fmt.Errorf("%w %q: expected one of %s, %s, %s", ErrUnsupported, t, JSONPatch, MergePatch, StrategicMerge)
}

// HTTPStatus returns the HTTP status code kube-apiserver answers with for an
// error returned by this package: 400 for ErrInvalidPatch, 413 for
// ErrTooManyOperations, 415 for ErrUnsupported, 422 for ErrCannotApply and
// ErrTestFailed, 500 otherwise; 200 for nil.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrInvalidPatch):
		return 400 // BadRequest
	case errors.Is(err, ErrTooManyOperations):
		return 413 // RequestEntityTooLarge
	case errors.Is(err, ErrUnsupported):
		return 415 // UnsupportedMediaType
	case errors.Is(err, ErrCannotApply), errors.Is(err, ErrTestFailed):
		return 422 // Unprocessable Entity (Invalid)
	default:
		return 500
	}
}

// ---- JSON helpers shared by the three flavours ----

// decode parses exactly one JSON value, numbers as json.Number.
func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the top-level JSON value")
	}
	return v, nil
}

func decodeOriginal(b []byte) (any, error) {
	v, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDocument, err)
	}
	return v, nil
}

func decodePatch(b []byte) (any, error) {
	v, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPatch, err)
	}
	return v, nil
}

// encode renders v as compact JSON (object keys sorted, no HTML escaping).
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// deepCopy copies a decoded JSON value.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	default:
		return v
	}
}

// canonNumber renders a JSON number so that numerically equal numbers
// ("80", "80.0", "8e1") get the same text.
func canonNumber(n json.Number) string {
	s := string(n)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i, 10)
	}
	// Exact rational form, unless the exponent is large enough to make
	// big.Rat expensive.
	if e := strings.IndexAny(s, "eE"); e < 0 || len(strings.TrimLeft(s[e+1:], "+-0")) <= 3 {
		if r, ok := new(big.Rat).SetString(s); ok {
			return r.RatString()
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return s
}

// canonKey returns a string identifying v up to JSON equality (object
// member order and number spelling do not matter).
func canonKey(v any) string {
	var b strings.Builder
	writeCanon(&b, v)
	return b.String()
}

func writeCanon(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(canonNumber(v))
	case string:
		b.WriteString(strconv.Quote(v))
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanon(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeCanon(b, v[k])
		}
		b.WriteByte('}')
	default:
		fmt.Fprintf(b, "?%T:%v", v, v)
	}
}

// jsonEqual reports whether a and b are equal JSON values (RFC 6902 section
// 4.6: numbers compare numerically, object member order is irrelevant).
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && (a == bn || canonNumber(a) == canonNumber(bn))
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], bl[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

// jsonSize estimates the encoded size of v in bytes.
func jsonSize(v any) int {
	switch v := v.(type) {
	case nil:
		return 4
	case bool:
		return 5
	case json.Number:
		return len(v)
	case string:
		return len(v) + 2
	case []any:
		n := 2
		for _, e := range v {
			n += jsonSize(e) + 1
		}
		return n
	case map[string]any:
		n := 2
		for k, e := range v {
			n += len(k) + 4 + jsonSize(e)
		}
		return n
	}
	return 0
}
