package runtime

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// MaxJSONDepth bounds nesting so a hostile body cannot exhaust the stack.
const MaxJSONDepth = 100

// DecodeError is a body that is not valid for the schema: malformed JSON, a value of the
// wrong type, a duplicate field. Path names the field at fault ("spec.replicas").
type DecodeError struct {
	Path string
	Msg  string
}

func (e *DecodeError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// UnmarshalJSON decodes Kubernetes JSON into m, which it resets first. Fields the schema does
// not know are skipped and returned as paths ("spec.template.spec.containers[0].imagee"), so
// the caller can refuse them (strict field validation), warn, or ignore them.
func UnmarshalJSON(data []byte, m proto.Message) (unknown []string, err error) {
	d, err := newDirectDecoder(data)
	if err != nil {
		return nil, err
	}
	defer d.release()
	proto.Reset(m)
	if err := d.decode(m.ProtoReflect()); err != nil {
		return nil, err
	}
	return d.unknown, nil
}

// unmarshalJSONTree is UnmarshalJSON through the whole document's tree, what the direct
// decoder must match.
func unmarshalJSONTree(data []byte, m proto.Message) (unknown []string, err error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	proto.Reset(m)
	d := decoder{}
	if err := d.message(m.ProtoReflect(), v, ""); err != nil {
		return nil, err
	}
	return d.unknown, nil
}

// UnknownFieldsError is the strict-decoding refusal of unknown fields, worded as Kubernetes
// words it.
func UnknownFieldsError(unknown []string) error {
	parts := make([]string, len(unknown))
	for i, p := range unknown {
		parts[i] = fmt.Sprintf("unknown field %q", p)
	}
	return fmt.Errorf("strict decoding error: %s", strings.Join(parts, ", "))
}

// jsonObject keeps keys in document order, which makes errors deterministic.
type jsonObject struct {
	keys []string
	vals []any
}

// parseJSON reads one JSON value into nil, bool, json.Number, string, []any or *jsonObject,
// refusing duplicate keys, excessive depth and trailing data (see jsonScanner).
func parseJSON(data []byte) (any, error) {
	return scanJSON(data)
}

type decoder struct {
	unknown []string
	path    []pathSeg // see fieldPath
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

func typeError(path fieldPath, v any, want string) error {
	return &DecodeError{Path: path.String(), Msg: fmt.Sprintf("cannot unmarshal %s into a field of type %s", jsonType(v), want)}
}

// fieldPath names the value being decoded ("spec.containers[0].name") without building the
// name: it is the first n segments of the decoder's path stack, turned into a string only
// for an error or an unknown field. It is valid until the decoder moves on to a sibling.
type fieldPath struct {
	d *decoder
	n int
}

type pathSeg struct {
	name  string // the field or map key
	index int    // the list index, for pathIndex
	kind  uint8
}

const (
	pathField  uint8 = iota // parent.name, or name at the top
	pathMapKey              // parent.name
	pathIndex               // parent[index]
)

func (p fieldPath) child(seg pathSeg) fieldPath {
	p.d.path = append(p.d.path[:p.n], seg)
	return fieldPath{d: p.d, n: p.n + 1}
}

func (p fieldPath) String() string {
	if p.n == 0 {
		return ""
	}
	var b []byte
	for _, seg := range p.d.path[:p.n] {
		switch seg.kind {
		case pathIndex:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(seg.index), 10)
			b = append(b, ']')
			continue
		case pathField:
			if len(b) > 0 {
				b = append(b, '.')
			}
		default:
			b = append(b, '.')
		}
		b = append(b, seg.name...)
	}
	return string(b)
}

// message decodes v into m; path names v ("" at the top of the document).
func (d *decoder) message(m protoreflect.Message, v any, path string) error {
	root := fieldPath{d: d}
	if path != "" {
		root = root.child(pathSeg{name: path, kind: pathField})
	}
	if p, mi := fastTarget(m); mi != nil {
		return d.fastMessage(p, mi, v, root)
	}
	return d.messageAt(m, v, root)
}

func (d *decoder) messageAt(m protoreflect.Message, v any, path fieldPath) error {
	if done, err := d.scalarMessage(m, v, path); done || err != nil {
		return err
	}
	obj, ok := v.(*jsonObject)
	if !ok {
		return typeError(path, v, "object")
	}
	fields := m.Descriptor().Fields()
	for i, key := range obj.keys {
		fpath := path.child(pathSeg{name: key, kind: pathField})
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil {
			d.unknown = append(d.unknown, fpath.String())
			continue
		}
		val := obj.vals[i]
		if val == nil {
			continue // null means unset, as for a Go pointer or omitempty field
		}
		if err := d.field(m, fd, val, fpath); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, v any, path fieldPath) error {
	switch {
	case fd.IsList():
		arr, ok := v.([]any)
		if !ok {
			return typeError(path, v, "array")
		}
		l := m.Mutable(fd).List()
		for i, item := range arr {
			ipath := path.child(pathSeg{index: i, kind: pathIndex})
			if fd.Kind() == protoreflect.MessageKind {
				elem := l.NewElement()
				if item != nil {
					if err := d.messageAt(elem.Message(), item, ipath); err != nil {
						return err
					}
				}
				l.Append(elem)
				continue
			}
			val, err := d.scalar(fd, item, ipath)
			if err != nil {
				return err
			}
			l.Append(val)
		}
		return nil
	case fd.IsMap():
		obj, ok := v.(*jsonObject)
		if !ok {
			return typeError(path, v, "object")
		}
		if fd.MapKey().Kind() != protoreflect.StringKind {
			return &DecodeError{Path: path.String(), Msg: "only string map keys are supported"}
		}
		mp := m.Mutable(fd).Map()
		vfd := fd.MapValue()
		for i, key := range obj.keys {
			kpath := path.child(pathSeg{name: key, kind: pathMapKey})
			mk := protoreflect.ValueOfString(key).MapKey()
			if vfd.Kind() == protoreflect.MessageKind {
				elem := mp.NewValue()
				if obj.vals[i] != nil {
					if err := d.messageAt(elem.Message(), obj.vals[i], kpath); err != nil {
						return err
					}
				}
				mp.Set(mk, elem)
				continue
			}
			if obj.vals[i] == nil {
				mp.Set(mk, vfd.Default())
				continue
			}
			val, err := d.scalar(vfd, obj.vals[i], kpath)
			if err != nil {
				return err
			}
			mp.Set(mk, val)
		}
		return nil
	case fd.Kind() == protoreflect.MessageKind:
		return d.messageAt(m.Mutable(fd).Message(), v, path)
	default:
		val, err := d.scalar(fd, v, path)
		if err != nil {
			return err
		}
		m.Set(fd, val)
		return nil
	}
}

func (d *decoder) scalar(fd protoreflect.FieldDescriptor, v any, path fieldPath) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b, ok := v.(bool)
		if !ok {
			return protoreflect.Value{}, typeError(path, v, "bool")
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return protoreflect.Value{}, typeError(path, v, "string")
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return protoreflect.Value{}, typeError(path, v, "[]byte")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return protoreflect.Value{}, &DecodeError{Path: path.String(), Msg: "invalid base64: " + err.Error()}
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := intValue(v, path, 32, "int32")
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := intValue(v, path, 64, "int64")
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := uintValue(v, path, 32, "uint32")
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := uintValue(v, path, 64, "uint64")
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		num, ok := v.(json.Number)
		if !ok {
			return protoreflect.Value{}, typeError(path, v, "float64")
		}
		f, err := num.Float64()
		if err != nil || math.IsInf(f, 0) {
			return protoreflect.Value{}, &DecodeError{Path: path.String(), Msg: fmt.Sprintf("number %s out of range", num)}
		}
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.EnumKind:
		n, err := intValue(v, path, 32, "enum")
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err
	}
	return protoreflect.Value{}, &DecodeError{Path: path.String(), Msg: fmt.Sprintf("unsupported field kind %v", fd.Kind())}
}

func intValue(v any, path fieldPath, bits int, name string) (int64, error) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, typeError(path, v, name)
	}
	n, err := strconv.ParseInt(string(num), 10, bits)
	if err != nil {
		return 0, &DecodeError{Path: path.String(), Msg: fmt.Sprintf("cannot unmarshal number %s into a field of type %s", num, name)}
	}
	return n, nil
}

func uintValue(v any, path fieldPath, bits int, name string) (uint64, error) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, typeError(path, v, name)
	}
	n, err := strconv.ParseUint(string(num), 10, bits)
	if err != nil {
		return 0, &DecodeError{Path: path.String(), Msg: fmt.Sprintf("cannot unmarshal number %s into a field of type %s", num, name)}
	}
	return n, nil
}

// scalarMessage reads the meta types that are scalars on the wire.
func (d *decoder) scalarMessage(m protoreflect.Message, v any, path fieldPath) (done bool, err error) {
	switch m.Descriptor().FullName() {
	case timeName, microTimeName:
		s, ok := v.(string)
		if !ok {
			return true, typeError(path, v, "time")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return true, &DecodeError{Path: path.String(), Msg: fmt.Sprintf("invalid time %q: want RFC 3339, like 2006-01-02T15:04:05Z", s)}
		}
		// Keep only the precision the wire carries, so a decoded value re-encodes and
		// compares equal to what was stored.
		if m.Descriptor().FullName() == timeName {
			proto.Merge(m.Interface(), &metav1.Time{Seconds: t.Unix()})
		} else {
			micros := int32(t.Nanosecond()) / 1000 * 1000
			proto.Merge(m.Interface(), &metav1.MicroTime{Seconds: t.Unix(), Nanos: micros})
		}
	case durationName:
		s, ok := v.(string)
		if !ok {
			return true, typeError(path, v, "duration")
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return true, &DecodeError{Path: path.String(), Msg: fmt.Sprintf("invalid duration %q", s)}
		}
		m.Interface().(*metav1.Duration).Duration = int64(dur)
	case intOrStringName:
		ios := m.Interface().(*metav1.IntOrString)
		switch x := v.(type) {
		case string:
			ios.Type, ios.StrVal = 1, x
		case json.Number:
			n, err := intValue(x, path, 32, "int32")
			if err != nil {
				return true, err
			}
			ios.Type, ios.IntVal = 0, int32(n)
		default:
			return true, typeError(path, v, "int or string")
		}
	case quantityName:
		// Kubernetes accepts a bare number for a quantity ("cpu: 1" in YAML).
		switch x := v.(type) {
		case string:
			m.Interface().(*metav1.Quantity).String_ = x
		case json.Number:
			m.Interface().(*metav1.Quantity).String_ = string(x)
		default:
			return true, typeError(path, v, "quantity")
		}
	case rawExtensionName:
		// Any JSON value, kept compact with its keys in the order written (null never
		// reaches here: it leaves the field unset).
		m.Interface().(*metav1.RawExtension).Raw = appendJSONTree(nil, v)
	case extraValueName:
		arr, ok := v.([]any)
		if !ok {
			return true, typeError(path, v, "array")
		}
		ev := m.Interface().(*authenticationv1.ExtraValue)
		for i, x := range arr {
			s, ok := x.(string)
			if !ok {
				return true, typeError(path.child(pathSeg{index: i, kind: pathIndex}), x, "string")
			}
			ev.Items = append(ev.Items, s)
		}
	default:
		return false, nil
	}
	return true, nil
}

// appendJSONTree writes a parsed JSON value back as compact JSON: numbers as written, keys
// in document order, strings escaped as the encoder escapes them.
func appendJSONTree(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case bool:
		return strconv.AppendBool(buf, x)
	case json.Number:
		return append(buf, x...)
	case string:
		return appendString(buf, x)
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONTree(buf, e)
		}
		return append(buf, ']')
	case *jsonObject:
		buf = append(buf, '{')
		for i, k := range x.keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendJSONTree(buf, x.vals[i])
		}
		return append(buf, '}')
	}
	return buf
}
