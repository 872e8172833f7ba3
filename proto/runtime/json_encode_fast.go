package runtime

import (
	"encoding/base64"
	"reflect"
	"slices"
	"strconv"
	"unsafe"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// The fast encoder writes generated messages by reading their Go struct fields directly,
// through the fast decoder's per-type tables (json_fast.go), instead of through protoreflect
// (whose Has, Get and Range box every value and read every field through its own tables).
// It writes exactly what encoder.message writes: fields in declaration order, a field left
// out when protoreflect's Has says it is unset (a zero scalar, an empty list or map, a nil
// pointer) unless it is marked emit_empty. What it does not read itself (floats, repeated
// numbers, maps of bytes or messages, an unset field marked emit_empty, whole types with
// oneofs or without a generated struct) goes through encoder.field or encoder.message.

// fastMessage writes the message of type mi at p.
func (e *encoder) fastMessage(p unsafe.Pointer, mi *fastMsg) error {
	if p == nil || mi.fallback {
		// A nil message (an unset field marked emit_empty, a nil list element) is written
		// with its emit_empty fields: protoreflect reads them as defaults.
		return e.message(mi.protoAt(p))
	}
	if mi.special != "" {
		e.buf, _ = appendScalarMessage(e.buf, reflect.NewAt(mi.typ, p).Interface())
		return nil
	}
	e.buf = append(e.buf, '{')
	first := true
	for _, f := range mi.order {
		fp := unsafe.Add(p, f.off)
		op := f.op
		if fastUnset(p, mi, f, fp) {
			if !f.emit {
				continue
			}
			// Rare, and an optional scalar's default is not behind its nil pointer.
			op = opGeneric
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, f.key...)
		if err := e.fastField(p, mi, f, op, fp); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// fastUnset reports whether field f (at fp in the message of type mi at p) is unset, as
// protoreflect's Has says for a proto3 field.
func fastUnset(p unsafe.Pointer, mi *fastMsg, f *fastField, fp unsafe.Pointer) bool {
	switch f.op {
	case opString:
		return len(*(*string)(fp)) == 0
	case opBool:
		return !*(*bool)(fp)
	case opInt32:
		return *(*int32)(fp) == 0
	case opInt64:
		return *(*int64)(fp) == 0
	case opUint32:
		return *(*uint32)(fp) == 0
	case opUint64:
		return *(*uint64)(fp) == 0
	case opBytes:
		return len(*(*[]byte)(fp)) == 0
	case opOptString, opOptBool, opOptInt32, opOptInt64, opMessage:
		return *(*unsafe.Pointer)(fp) == nil
	case opListString:
		return len(*(*[]string)(fp)) == 0
	case opListMessage:
		return len(*(*[]unsafe.Pointer)(fp)) == 0
	case opMapString:
		return len(*(*map[string]string)(fp)) == 0
	case opMapQuantity:
		return len(*(*map[string]*metav1.Quantity)(fp)) == 0
	}
	return !mi.protoAt(p).Has(f.fd)
}

// fastField writes the value of field f, at fp in the message of type mi at p, as op says;
// the optional scalars are set.
func (e *encoder) fastField(p unsafe.Pointer, mi *fastMsg, f *fastField, op fastOp, fp unsafe.Pointer) error {
	switch op {
	case opString:
		e.buf = appendString(e.buf, *(*string)(fp))
	case opOptString:
		e.buf = appendString(e.buf, **(**string)(fp))
	case opBool:
		e.buf = strconv.AppendBool(e.buf, *(*bool)(fp))
	case opOptBool:
		e.buf = strconv.AppendBool(e.buf, **(**bool)(fp))
	case opInt32:
		e.buf = strconv.AppendInt(e.buf, int64(*(*int32)(fp)), 10)
	case opOptInt32:
		e.buf = strconv.AppendInt(e.buf, int64(**(**int32)(fp)), 10)
	case opInt64:
		e.buf = strconv.AppendInt(e.buf, *(*int64)(fp), 10)
	case opOptInt64:
		e.buf = strconv.AppendInt(e.buf, **(**int64)(fp), 10)
	case opUint32:
		e.buf = strconv.AppendUint(e.buf, uint64(*(*uint32)(fp)), 10)
	case opUint64:
		e.buf = strconv.AppendUint(e.buf, *(*uint64)(fp), 10)
	case opBytes:
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, *(*[]byte)(fp))
		e.buf = append(e.buf, '"')
	case opMessage:
		return e.fastMessage(*(*unsafe.Pointer)(fp), f.elemInfo())
	case opListString:
		e.buf = append(e.buf, '[')
		for i, s := range *(*[]string)(fp) {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, s)
		}
		e.buf = append(e.buf, ']')
	case opListMessage:
		emi := f.elemInfo()
		e.buf = append(e.buf, '[')
		// []*T has the layout of []unsafe.Pointer.
		for i, elem := range *(*[]unsafe.Pointer)(fp) {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.fastMessage(elem, emi); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case opMapString:
		appendMap(e, *(*map[string]string)(fp), appendString)
	case opMapQuantity:
		appendMap(e, *(*map[string]*metav1.Quantity)(fp), func(buf []byte, q *metav1.Quantity) []byte {
			buf, _ = appendScalarMessage(buf, q)
			return buf
		})
	default:
		m := mi.protoAt(p)
		return e.field(f.fd, m.Get(f.fd))
	}
	return nil
}

// appendMap writes m with its keys sorted, as encoding/json (and so Kubernetes) does, and
// each value as appendValue writes it.
func appendMap[V any](e *encoder, m map[string]V, appendValue func([]byte, V) []byte) {
	// On the stack for the usual few labels or resources; a larger map's keys go to the heap.
	var space [16]string
	keys := space[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, k)
		e.buf = append(e.buf, ':')
		e.buf = appendValue(e.buf, m[k])
	}
	e.buf = append(e.buf, '}')
}
