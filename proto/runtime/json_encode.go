package runtime

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// The meta types the codec writes as JSON scalars instead of objects.
const (
	timeName         protoreflect.FullName = "kubelab.api.meta.v1.Time"
	microTimeName    protoreflect.FullName = "kubelab.api.meta.v1.MicroTime"
	durationName     protoreflect.FullName = "kubelab.api.meta.v1.Duration"
	intOrStringName  protoreflect.FullName = "kubelab.api.meta.v1.IntOrString"
	quantityName     protoreflect.FullName = "kubelab.api.meta.v1.Quantity"
	rawExtensionName protoreflect.FullName = "kubelab.api.meta.v1.RawExtension"
	// extraValueName is a list on the wire: Kubernetes' UserInfo.extra maps to []string,
	// which a proto map can only hold wrapped.
	extraValueName protoreflect.FullName = "kubelab.api.authentication.v1.ExtraValue"
)

// RFC 3339 layouts Kubernetes uses: Time has second precision, MicroTime microseconds.
const (
	timeLayout      = time.RFC3339
	microTimeLayout = "2006-01-02T15:04:05.000000Z07:00"
)

// MarshalJSON writes m in Kubernetes' JSON wire format: fields in declaration order, numbers
// as numbers (int64 included), Time as RFC 3339, IntOrString as a number or a string, and
// empty fields left out unless the schema says Kubernetes writes them.
func MarshalJSON(m proto.Message) ([]byte, error) {
	var out []byte
	err := WithJSON(m, func(b []byte) {
		out = make([]byte, len(b))
		copy(out, b)
	})
	return out, err
}

// WithJSON encodes m as MarshalJSON does into a pooled buffer (instead of growing a new one
// step by step) and, when that succeeded, hands the bytes to use, which must not keep them:
// a server answering one object writes them out with no copy of its own.
func WithJSON(m proto.Message, use func([]byte)) error {
	bp := marshalBufs.Get().(*[]byte)
	buf, err := AppendJSON((*bp)[:0], m)
	if err == nil {
		use(buf)
	}
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		marshalBufs.Put(bp)
	}
	return err
}

// maxPooledBuf bounds the buffers MarshalJSON keeps, so one huge list does not stay pinned.
const maxPooledBuf = 1 << 20

var marshalBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// AppendJSON is MarshalJSON appending to buf.
func AppendJSON(buf []byte, m proto.Message) ([]byte, error) {
	return appendJSON(buf, m, true)
}

// appendJSON encodes m through the fast encoder (json_encode_fast.go) when fast is set and
// m is a generated message, else through protoreflect alone; the tests compare the two.
func appendJSON(buf []byte, m proto.Message, fast bool) ([]byte, error) {
	e := encoder{buf: buf}
	pm := m.ProtoReflect()
	var err error
	if p, mi := fastTarget(pm); fast && mi != nil {
		err = e.fastMessage(p, mi)
	} else {
		err = e.message(pm)
	}
	if err != nil {
		return nil, err
	}
	return e.buf, nil
}

type encoder struct {
	buf []byte
}

func (e *encoder) message(m protoreflect.Message) error {
	if done, err := e.scalarMessage(m); done || err != nil {
		return err
	}
	e.buf = append(e.buf, '{')
	md := m.Descriptor()
	fields := md.Fields()
	emit := emitEmptyFields(md)
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !emit[i] && !m.Has(fd) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = appendString(e.buf, string(fd.Name()))
		e.buf = append(e.buf, ':')
		if err := e.field(fd, m.Get(fd)); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// scalarMessage writes the meta types that are scalars on the wire; done is false for any
// other message.
func (e *encoder) scalarMessage(m protoreflect.Message) (done bool, err error) {
	e.buf, done = appendScalarMessage(e.buf, m.Interface())
	return done, nil
}

// appendScalarMessage writes m when it is one of the meta types that are scalars on the
// wire, and says whether it was. It takes the Go message, which both encoders have at hand
// (the fast one without protoreflect), and reads it through getters, not fields: an unset
// field marked emit_empty arrives as a nil message.
func appendScalarMessage(buf []byte, m any) ([]byte, bool) {
	switch v := m.(type) {
	case *metav1.Time:
		if v.GetSeconds() == 0 && v.GetNanos() == 0 {
			return append(buf, "null"...), true
		}
		return appendTime(buf, time.Unix(v.GetSeconds(), 0), timeLayout), true
	case *metav1.MicroTime:
		if v.GetSeconds() == 0 && v.GetNanos() == 0 {
			return append(buf, "null"...), true
		}
		return appendTime(buf, time.Unix(v.GetSeconds(), int64(v.GetNanos())), microTimeLayout), true
	case *metav1.Duration:
		return appendString(buf, time.Duration(v.GetDuration()).String()), true
	case *metav1.IntOrString:
		if v.GetType() == 1 {
			return appendString(buf, v.GetStrVal()), true
		}
		return strconv.AppendInt(buf, int64(v.GetIntVal()), 10), true
	case *metav1.Quantity:
		return appendString(buf, v.GetString_()), true
	case *metav1.RawExtension:
		// Written as it was read, as Kubernetes' RawExtension.MarshalJSON does: validation
		// keeps what is stored valid JSON.
		if len(v.GetRaw()) == 0 {
			return append(buf, "null"...), true
		}
		return append(buf, v.GetRaw()...), true
	case *authenticationv1.ExtraValue:
		buf = append(buf, '[')
		for i, s := range v.GetItems() {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, s)
		}
		return append(buf, ']'), true
	}
	return buf, false
}

func (e *encoder) field(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsList():
		l := v.List()
		e.buf = append(e.buf, '[')
		for i := 0; i < l.Len(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.single(fd, l.Get(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	case fd.IsMap():
		return e.mapValue(fd, v.Map())
	default:
		return e.single(fd, v)
	}
}

// mapValue writes a map with its keys sorted, as encoding/json (and so Kubernetes) does.
func (e *encoder) mapValue(fd protoreflect.FieldDescriptor, m protoreflect.Map) error {
	type entry struct {
		key string
		val protoreflect.Value
	}
	entries := make([]entry, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, entry{k.String(), v})
		return true
	})
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	vfd := fd.MapValue()
	e.buf = append(e.buf, '{')
	for i, en := range entries {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, en.key)
		e.buf = append(e.buf, ':')
		if err := e.single(vfd, en.val); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) single(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("json: unsupported value %v in field %s", f, fd.FullName())
		}
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, bits)
	case protoreflect.StringKind:
		e.buf = appendString(e.buf, v.String())
	case protoreflect.BytesKind:
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Bytes())
		e.buf = append(e.buf, '"')
	case protoreflect.EnumKind:
		e.buf = strconv.AppendInt(e.buf, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.message(v.Message())
	default:
		return fmt.Errorf("json: unsupported field kind %v in %s", fd.Kind(), fd.FullName())
	}
	return nil
}

// appendTime writes t in UTC as a JSON string laid out as layout says. It formats in place,
// with no string to allocate and escape: a layout of digits, signs, colons, 'T', '.' and 'Z'
// writes nothing JSON or HTML escapes.
func appendTime(buf []byte, t time.Time, layout string) []byte {
	buf = append(buf, '"')
	buf = t.UTC().AppendFormat(buf, layout)
	return append(buf, '"')
}

var emitEmptyCache sync.Map // protoreflect.MessageDescriptor → []bool, by field index

// emitEmptyFields says, for each field of md by index, whether it carries the (emit_empty)
// option: Kubernetes writes such a field even when it is empty.
func emitEmptyFields(md protoreflect.MessageDescriptor) []bool {
	if v, ok := emitEmptyCache.Load(md); ok {
		return v.([]bool)
	}
	fields := md.Fields()
	emit := make([]bool, fields.Len())
	for i := range emit {
		emit[i] = emitEmpty(fields.Get(i))
	}
	emitEmptyCache.Store(md, emit)
	return emit
}

// emitEmpty reports whether fd carries the (emit_empty) option.
func emitEmpty(fd protoreflect.FieldDescriptor) bool {
	opts := fd.Options()
	return opts != nil && proto.HasExtension(opts, metav1.E_EmitEmpty) &&
		proto.GetExtension(opts, metav1.E_EmitEmpty).(bool)
}

const hexDigits = "0123456789abcdef"

// plainASCII says which ASCII bytes appendString copies as they are: one load per byte, not
// six comparisons, in the loop every string of every answer goes through.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendString writes s as a JSON string the way encoding/json does, HTML-safe escapes
// included, so our bytes match what a Go Kubernetes server would send.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
