// Package kubeproto reads Kubernetes' protobuf wire format (application/vnd.kubernetes.protobuf)
// into the JSON the rest of the apiserver decodes.
//
// kubelab's API is JSON on REST, and its own protobuf messages number their fields
// differently from Kubernetes' generated.proto. But the stock kubectl's typed commands
// (`create namespace`, `create deployment`, `create role`, `create quota`, `create configmap`,
// `create secret`, `auth can-i` (and `--list`), `auth whoami`, …)
// send their bodies only in Kubernetes' protobuf, and client-go never falls back to JSON on
// 415. So the kinds those commands create are described here by Kubernetes' field numbers
// (schema.go) and translated field by field. A field outside the table is refused with a
// message naming it rather than dropped: nothing a client sent is silently lost.
package kubeproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// MediaType is Kubernetes' protobuf media type.
const MediaType = "application/vnd.kubernetes.protobuf"

// magic starts every Kubernetes protobuf body; a runtime.Unknown follows.
var magic = []byte("k8s\x00")

// Error is a body this package cannot translate; the caller answers it with 415 (a kind or
// field kubelab cannot read in protobuf, so JSON is the way) or 400 (a malformed body).
type Error struct {
	Unsupported bool
	Msg         string
}

func (e *Error) Error() string { return e.Msg }

func malformed(format string, args ...any) error {
	return &Error{Msg: "malformed protobuf body: " + fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return &Error{Unsupported: true, Msg: fmt.Sprintf(format, args...)}
}

// ToJSON translates a Kubernetes protobuf body (magic, then runtime.Unknown{typeMeta = 1
// {apiVersion = 1, kind = 2}, raw = 2}) into a JSON object with apiVersion and kind set.
func ToJSON(body []byte) ([]byte, error) {
	if !bytes.HasPrefix(body, magic) {
		return nil, malformed("it lacks the k8s magic prefix")
	}
	var apiVersion, kind string
	var raw []byte
	err := eachField(body[len(magic):], func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType: // typeMeta
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ == protowire.BytesType && num == 1 {
					apiVersion = string(v)
				} else if typ == protowire.BytesType && num == 2 {
					kind = string(v)
				}
				return nil
			})
		case num == 2 && typ == protowire.BytesType:
			raw = v
		case num == 3 && typ == protowire.BytesType && len(v) > 0: // contentEncoding
			return unsupported("protobuf bodies with content encoding %q are not supported", v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m, ok := kinds[apiVersion+" "+kind]
	if !ok {
		return nil, unsupported("%s bodies of %s %s are not supported by kubelab; send JSON", MediaType, apiVersion, kind)
	}
	obj := map[string]any{"apiVersion": apiVersion, "kind": kind}
	if err := decode(m, raw, obj, kind); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}

// decode reads the fields of message m from b into out; path names m for messages.
func decode(m *message, b []byte, out map[string]any, path string) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		f, ok := m.fields[num]
		if !ok && isZero(typ, v, n, 0) {
			return nil // a non-pointer field left unset: Kubernetes writes those too
		}
		if !ok {
			return unsupported("%s: field %d of Kubernetes' %s is not supported by kubelab in protobuf; send JSON", path, num, m.name)
		}
		fpath := path + "." + f.json
		val, err := f.value(typ, v, n, fpath)
		if err != nil || val == nil {
			return err
		}
		if f.inline { // a oneof-like wrapper (Volume.volumeSource) whose fields sit in the parent
			for k, x := range val.(map[string]any) {
				out[k] = x
			}
			return nil
		}
		if f.repeated {
			list, _ := out[f.json].([]any)
			out[f.json] = append(list, val)
			return nil
		}
		if f.kind == kStringMap || f.kind == kQuantityMap || f.kind == kBytesMap {
			entry := val.([2]any)
			mp, _ := out[f.json].(map[string]any)
			if mp == nil {
				mp = map[string]any{}
				out[f.json] = mp
			}
			mp[entry[0].(string)] = entry[1]
			return nil
		}
		out[f.json] = val
		return nil
	})
}

// value converts one occurrence of field f; nil means "nothing to record" (an empty status).
func (f field) value(typ protowire.Type, v []byte, n uint64, path string) (any, error) {
	want := protowire.BytesType
	if f.kind == kInt || f.kind == kBool {
		want = protowire.VarintType
	}
	if typ != want {
		return nil, malformed("%s: wire type %d, want %d", path, typ, want)
	}
	// Kubernetes' generated code writes every non-pointer scalar, set or not; only a
	// pointer field (keepZero) on the wire means its zero value was chosen.
	switch f.kind {
	case kString:
		if len(v) == 0 && !f.keepZero && !f.repeated { // [""] is core's apiGroups
			return nil, nil
		}
		return string(v), nil
	case kInt:
		x := int64(n)
		if f.bits == 32 {
			x = int64(int32(n))
		}
		if x == 0 && !f.keepZero {
			return nil, nil
		}
		return x, nil
	case kBool:
		if n == 0 && !f.keepZero {
			return nil, nil
		}
		return n != 0, nil
	case kMessage:
		obj := map[string]any{}
		if err := decode(f.msg, v, obj, path); err != nil {
			return nil, err
		}
		return obj, nil
	case kIgnored:
		return nil, nil
	case kQuantity:
		return quantity(v, path)
	case kIntOrString:
		return intOrString(v, path)
	case kTime:
		return timeOf(v, path)
	case kStringMap, kQuantityMap, kBytesMap:
		return mapEntry(v, f.kind, path)
	}
	return nil, fmt.Errorf("kubeproto: field %s has no kind", path)
}

// isZero reports whether a field's value is its type's zero: a zero varint or fixed value,
// empty bytes, or a message whose every field is zero (how Kubernetes writes an unset
// non-pointer struct). A non-empty string that happens to parse as such a message is the
// one false positive, and needs bytes no client puts in a string field.
func isZero(typ protowire.Type, v []byte, n uint64, depth int) bool {
	switch typ {
	case protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type:
		return n == 0
	case protowire.BytesType:
		if len(v) == 0 {
			return true
		}
		if depth >= maxDepth {
			return false
		}
		zero := true
		err := eachField(v, func(_ protowire.Number, typ protowire.Type, v []byte, n uint64) error {
			zero = zero && isZero(typ, v, n, depth+1)
			return nil
		})
		return err == nil && zero
	}
	return false
}

// maxDepth bounds the nesting isZero follows, so a hostile body cannot make it recurse deep.
const maxDepth = 32

// quantity reads resource.Quantity{string = 1}.
func quantity(b []byte, path string) (any, error) {
	s := ""
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			s = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// intOrString reads intstr.IntOrString{type = 1, intVal = 2, strVal = 3}.
func intOrString(b []byte, path string) (any, error) {
	var isString bool
	var i int64
	var s string
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			isString = n == 1
		case num == 2 && typ == protowire.VarintType:
			i = int64(int32(n))
		case num == 3 && typ == protowire.BytesType:
			s = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if isString {
		return s, nil
	}
	return i, nil
}

// timeOf reads metav1.Time{seconds = 1, nanos = 2} as RFC 3339, as its JSON form is.
func timeOf(b []byte, path string) (any, error) {
	var sec int64
	err := eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
		if num == 1 && typ == protowire.VarintType {
			sec = int64(n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if sec == zeroTime {
		return nil, nil // an unset metav1.Time is written as the zero time.Time
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339), nil
}

// zeroTime is time.Time{}'s Unix seconds, what Kubernetes writes for an unset Time.
var zeroTime = time.Time{}.Unix()

// mapEntry reads a map entry {key = 1, value = 2} as [key, value], the value as JSON has it
// for the map's kind: a string, a quantity's string, or bytes in standard base64.
func mapEntry(b []byte, kind fieldKind, path string) (any, error) {
	var key string
	var val any = ""
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return malformed("%s: map entry field %d has wire type %d", path, num, typ)
		}
		switch num {
		case 1:
			key = string(v)
		case 2:
			switch kind {
			case kStringMap:
				val = string(v)
				return nil
			case kBytesMap:
				val = base64.StdEncoding.EncodeToString(v)
				return nil
			}
			q, err := quantity(v, path+"["+key+"]")
			val = q
			return err
		}
		return nil
	})
	return [2]any{key, val}, err
}

// eachField calls fn for every field of the message in b: its number, wire type, and its
// bytes (length-delimited) or value (varint). Fixed-width fields are passed with n set.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return malformed("%v", protowire.ParseError(tagLen))
		}
		b = b[tagLen:]
		var (
			v   []byte
			n   uint64
			err error
		)
		size := 0
		switch typ {
		case protowire.BytesType:
			v, size = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, size = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, size = protowire.ConsumeFixed32(b)
			n = uint64(x)
		case protowire.Fixed64Type:
			n, size = protowire.ConsumeFixed64(b)
		default:
			size = protowire.ConsumeFieldValue(num, typ, b)
		}
		if size < 0 {
			return malformed("field %d: %v", num, protowire.ParseError(size))
		}
		b = b[size:]
		if err = fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}
