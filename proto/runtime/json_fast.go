package runtime

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoimpl"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// The fast decoder fills generated messages by writing their Go struct fields directly, at
// offsets worked out once per message type, instead of through protoreflect (whose Set,
// Mutable and NewElement box every value through reflect). It decodes exactly what the
// protoreflect path in json_decode.go decodes, in the same order and with the same errors:
// field shapes it does not know (floats, repeated numbers, real oneofs) go through that path,
// one field (or one message type) at a time. The fast encoder (json_encode_fast.go) reads
// the same fields through the same tables.

// fastMsg is what the fast decoder knows of one generated message type.
type fastMsg struct {
	typ      reflect.Type // the struct type
	slice    reflect.Type // []struct, for allocating list elements together
	size     uintptr
	special  protoreflect.FullName // a meta type that is a scalar on the wire, else ""
	fields   map[string]*fastField
	order    []*fastField // fields in declaration order, as the encoder writes them
	fallback bool         // decode (and encode) this type through protoreflect
}

type fastOp uint8

const (
	opGeneric fastOp = iota // through protoreflect
	opString
	opBool
	opInt32 // and enums
	opInt64
	opUint32
	opUint64
	opBytes
	opOptString
	opOptBool
	opOptInt32
	opOptInt64
	opMessage
	opListString
	opListMessage
	opMapString
	opMapQuantity
	opMapMessage
)

type fastField struct {
	fd     protoreflect.FieldDescriptor
	off    uintptr
	op     fastOp
	goType reflect.Type
	name   string       // the Go kind's name in type errors ("int32", "enum", …)
	elemT  reflect.Type // struct type of a message, list element or map value
	elem   atomic.Pointer[fastMsg]
	key    string // `"name":`, as the encoder writes it
	emit   bool   // the (emit_empty) option: encoded even when unset
}

var fastInfos sync.Map // reflect.Type (struct) → *fastMsg

var protoMessageType = reflect.TypeFor[proto.Message]()

// fastInfoFor returns the fast decoder's view of struct type t.
func fastInfoFor(t reflect.Type) *fastMsg {
	if mi, ok := fastInfos.Load(t); ok {
		return mi.(*fastMsg)
	}
	mi := buildFastMsg(t)
	actual, _ := fastInfos.LoadOrStore(t, mi)
	return actual.(*fastMsg)
}

func (f *fastField) elemInfo() *fastMsg {
	if mi := f.elem.Load(); mi != nil {
		return mi
	}
	mi := fastInfoFor(f.elemT)
	f.elem.Store(mi)
	return mi
}

// isGenerated reports whether struct type t is a message protoc-gen-go generated: only
// those lay out their fields as the fast decoder writes them, and only their zero value has
// a descriptor (a zero dynamicpb.Message has none).
func isGenerated(t reflect.Type) bool {
	f, ok := t.FieldByName("state")
	return ok && f.Type == reflect.TypeFor[protoimpl.MessageState]()
}

func buildFastMsg(t reflect.Type) *fastMsg {
	mi := &fastMsg{typ: t, slice: reflect.SliceOf(t), size: t.Size(), fields: map[string]*fastField{}}
	pm, ok := reflect.New(t).Interface().(proto.Message)
	if !ok || !isGenerated(t) {
		mi.fallback = true
		return mi
	}
	md := pm.ProtoReflect().Descriptor()
	switch md.FullName() {
	case timeName, microTimeName, durationName, intOrStringName, quantityName, extraValueName, rawExtensionName:
		mi.special = md.FullName()
		return mi
	}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if _, ok := sf.Tag.Lookup("protobuf_oneof"); ok {
			mi.fallback = true
			return mi
		}
		tag, ok := sf.Tag.Lookup("protobuf")
		if !ok {
			continue
		}
		name := ""
		for _, part := range strings.Split(tag, ",") {
			if n, ok := strings.CutPrefix(part, "name="); ok {
				name = n
			}
		}
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			mi.fallback = true
			return mi
		}
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			mi.fallback = true
			return mi
		}
		f := &fastField{fd: fd, off: sf.Offset, goType: sf.Type, op: fastOpFor(fd, sf.Type),
			key: string(appendString(nil, name)) + ":", emit: emitEmpty(fd)}
		switch f.op {
		case opInt32, opOptInt32:
			f.name = "int32"
			if fd.Kind() == protoreflect.EnumKind {
				f.name = "enum"
			}
		case opInt64, opOptInt64:
			f.name = "int64"
		case opUint32:
			f.name = "uint32"
		case opUint64:
			f.name = "uint64"
		case opMessage:
			f.elemT = sf.Type.Elem()
		case opListMessage, opMapMessage:
			f.elemT = sf.Type.Elem().Elem()
		}
		mi.fields[string(fd.Name())] = f
	}
	if len(mi.fields) != md.Fields().Len() {
		mi.fallback = true
		return mi
	}
	mi.order = make([]*fastField, len(mi.fields))
	for _, f := range mi.fields {
		mi.order[f.fd.Index()] = f
	}
	return mi
}

var quantityMapType = reflect.TypeFor[map[string]*metav1.Quantity]()

// fastOpFor picks how to write field fd of Go type t; opGeneric when it is not a shape the
// fast decoder knows.
func fastOpFor(fd protoreflect.FieldDescriptor, t reflect.Type) fastOp {
	isMsgPtr := func(t reflect.Type) bool {
		return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Implements(protoMessageType)
	}
	kind := fd.Kind()
	switch {
	case fd.IsMap():
		if fd.MapKey().Kind() != protoreflect.StringKind || t.Key().Kind() != reflect.String {
			return opGeneric
		}
		switch {
		case t == quantityMapType:
			return opMapQuantity
		case fd.MapValue().Kind() == protoreflect.StringKind && t.Elem().Kind() == reflect.String && t.Elem().PkgPath() == "":
			return opMapString
		case fd.MapValue().Kind() == protoreflect.MessageKind && isMsgPtr(t.Elem()):
			return opMapMessage
		}
		return opGeneric
	case fd.IsList():
		switch {
		case kind == protoreflect.StringKind && t.Elem() == reflect.TypeFor[string]():
			return opListString
		case kind == protoreflect.MessageKind && isMsgPtr(t.Elem()):
			return opListMessage
		}
		return opGeneric
	case kind == protoreflect.MessageKind:
		if isMsgPtr(t) {
			return opMessage
		}
		return opGeneric
	}
	if t.Kind() == reflect.Pointer {
		switch {
		case kind == protoreflect.StringKind && t.Elem().Kind() == reflect.String:
			return opOptString
		case kind == protoreflect.BoolKind && t.Elem().Kind() == reflect.Bool:
			return opOptBool
		case (kind == protoreflect.Int32Kind || kind == protoreflect.Sint32Kind || kind == protoreflect.Sfixed32Kind) && t.Elem().Kind() == reflect.Int32:
			return opOptInt32
		case (kind == protoreflect.Int64Kind || kind == protoreflect.Sint64Kind || kind == protoreflect.Sfixed64Kind) && t.Elem().Kind() == reflect.Int64:
			return opOptInt64
		}
		return opGeneric
	}
	switch {
	case kind == protoreflect.StringKind && t.Kind() == reflect.String:
		return opString
	case kind == protoreflect.BoolKind && t.Kind() == reflect.Bool:
		return opBool
	case (kind == protoreflect.Int32Kind || kind == protoreflect.Sint32Kind || kind == protoreflect.Sfixed32Kind || kind == protoreflect.EnumKind) && t.Kind() == reflect.Int32:
		return opInt32
	case (kind == protoreflect.Int64Kind || kind == protoreflect.Sint64Kind || kind == protoreflect.Sfixed64Kind) && t.Kind() == reflect.Int64:
		return opInt64
	case (kind == protoreflect.Uint32Kind || kind == protoreflect.Fixed32Kind) && t.Kind() == reflect.Uint32:
		return opUint32
	case (kind == protoreflect.Uint64Kind || kind == protoreflect.Fixed64Kind) && t.Kind() == reflect.Uint64:
		return opUint64
	case kind == protoreflect.BytesKind && !fd.HasPresence() && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		// Not an optional bytes field: that one is set when non-nil, not when non-empty.
		return opBytes
	}
	return opGeneric
}

// fastTarget returns the struct m points to and its fast info, or nil when m is not a
// generated message the fast decoder handles.
func fastTarget(m protoreflect.Message) (unsafe.Pointer, *fastMsg) {
	iface := m.Interface()
	rv := reflect.ValueOf(iface)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct || rv.IsNil() {
		return nil, nil
	}
	mi := fastInfoFor(rv.Type().Elem())
	if mi.fallback {
		return nil, nil
	}
	return rv.UnsafePointer(), mi
}

// protoAt is the message at p, for the protoreflect path.
func (mi *fastMsg) protoAt(p unsafe.Pointer) protoreflect.Message {
	return reflect.NewAt(mi.typ, p).Interface().(proto.Message).ProtoReflect()
}

// fastMessage decodes v into the message of type mi at p.
func (d *decoder) fastMessage(p unsafe.Pointer, mi *fastMsg, v any, path fieldPath) error {
	if mi.fallback {
		return d.messageAt(mi.protoAt(p), v, path)
	}
	if mi.special != "" {
		if mi.special == quantityName {
			switch x := v.(type) {
			case string:
				(*metav1.Quantity)(p).String_ = x
				return nil
			case json.Number:
				(*metav1.Quantity)(p).String_ = string(x)
				return nil
			}
		}
		_, err := d.scalarMessage(mi.protoAt(p), v, path)
		return err
	}
	obj, ok := v.(*jsonObject)
	if !ok {
		return typeError(path, v, "object")
	}
	for i, key := range obj.keys {
		fpath := path.child(pathSeg{name: key, kind: pathField})
		f := mi.fields[key]
		if f == nil {
			d.unknown = append(d.unknown, fpath.String())
			continue
		}
		val := obj.vals[i]
		if val == nil {
			continue // null means unset, as for a Go pointer or omitempty field
		}
		if err := d.fastField(p, mi, f, val, fpath); err != nil {
			return err
		}
	}
	return nil
}

// newMessages allocates n zero messages of type mi together and returns the first.
func (mi *fastMsg) newMessages(n int) unsafe.Pointer {
	if n == 1 {
		return reflect.New(mi.typ).UnsafePointer()
	}
	return reflect.MakeSlice(mi.slice, n, n).UnsafePointer()
}

func (d *decoder) fastField(p unsafe.Pointer, mi *fastMsg, f *fastField, v any, path fieldPath) error {
	fp := unsafe.Add(p, f.off)
	switch f.op {
	case opString:
		s, ok := v.(string)
		if !ok {
			return typeError(path, v, "string")
		}
		*(*string)(fp) = s
	case opOptString:
		s, ok := v.(string)
		if !ok {
			return typeError(path, v, "string")
		}
		*(**string)(fp) = &s
	case opBool:
		b, ok := v.(bool)
		if !ok {
			return typeError(path, v, "bool")
		}
		*(*bool)(fp) = b
	case opOptBool:
		b, ok := v.(bool)
		if !ok {
			return typeError(path, v, "bool")
		}
		*(**bool)(fp) = &b
	case opInt32, opOptInt32:
		n, err := intValue(v, path, 32, f.name)
		if err != nil {
			return err
		}
		if f.op == opInt32 {
			*(*int32)(fp) = int32(n)
		} else {
			n32 := int32(n)
			*(**int32)(fp) = &n32
		}
	case opInt64, opOptInt64:
		n, err := intValue(v, path, 64, f.name)
		if err != nil {
			return err
		}
		if f.op == opInt64 {
			*(*int64)(fp) = n
		} else {
			*(**int64)(fp) = &n
		}
	case opUint32:
		n, err := uintValue(v, path, 32, f.name)
		if err != nil {
			return err
		}
		*(*uint32)(fp) = uint32(n)
	case opUint64:
		n, err := uintValue(v, path, 64, f.name)
		if err != nil {
			return err
		}
		*(*uint64)(fp) = n
	case opBytes:
		s, ok := v.(string)
		if !ok {
			return typeError(path, v, "[]byte")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return &DecodeError{Path: path.String(), Msg: "invalid base64: " + err.Error()}
		}
		*(*[]byte)(fp) = b
	case opMessage:
		emi := f.elemInfo()
		child := *(*unsafe.Pointer)(fp)
		if child == nil {
			child = emi.newMessages(1)
			*(*unsafe.Pointer)(fp) = child
		}
		return d.fastMessage(child, emi, v, path)
	case opListString:
		arr, ok := v.([]any)
		if !ok {
			return typeError(path, v, "array")
		}
		if len(arr) == 0 {
			return nil
		}
		out := make([]string, len(arr))
		for i, item := range arr {
			s, ok := item.(string)
			if !ok {
				return typeError(path.child(pathSeg{index: i, kind: pathIndex}), item, "string")
			}
			out[i] = s
		}
		*(*[]string)(fp) = append(*(*[]string)(fp), out...)
	case opListMessage:
		arr, ok := v.([]any)
		if !ok {
			return typeError(path, v, "array")
		}
		if len(arr) == 0 {
			return nil
		}
		emi := f.elemInfo()
		base := emi.newMessages(len(arr))
		// []*T has the layout of []unsafe.Pointer.
		out := make([]unsafe.Pointer, len(arr))
		for i, item := range arr {
			elem := unsafe.Add(base, uintptr(i)*emi.size)
			out[i] = elem
			if item != nil {
				if err := d.fastMessage(elem, emi, item, path.child(pathSeg{index: i, kind: pathIndex})); err != nil {
					return err
				}
			}
		}
		list := (*[]unsafe.Pointer)(fp)
		*list = append(*list, out...)
	case opMapString:
		obj, ok := v.(*jsonObject)
		if !ok {
			return typeError(path, v, "object")
		}
		mp := *(*map[string]string)(fp)
		if mp == nil {
			mp = make(map[string]string, len(obj.keys))
			*(*map[string]string)(fp) = mp
		}
		for i, key := range obj.keys {
			switch s := obj.vals[i].(type) {
			case string:
				mp[key] = s
			case nil:
				mp[key] = ""
			default:
				return typeError(path.child(pathSeg{name: key, kind: pathMapKey}), s, "string")
			}
		}
	case opMapQuantity:
		obj, ok := v.(*jsonObject)
		if !ok {
			return typeError(path, v, "object")
		}
		mp := *(*map[string]*metav1.Quantity)(fp)
		if mp == nil {
			mp = make(map[string]*metav1.Quantity, len(obj.keys))
			*(*map[string]*metav1.Quantity)(fp) = mp
		}
		qs := make([]metav1.Quantity, len(obj.keys))
		for i, key := range obj.keys {
			q := &qs[i]
			switch x := obj.vals[i].(type) {
			case string:
				q.String_ = x
			case json.Number:
				q.String_ = string(x)
			case nil:
			default:
				return typeError(path.child(pathSeg{name: key, kind: pathMapKey}), x, "quantity")
			}
			mp[key] = q
		}
	case opMapMessage:
		obj, ok := v.(*jsonObject)
		if !ok {
			return typeError(path, v, "object")
		}
		mv := reflect.NewAt(f.goType, fp).Elem()
		if mv.IsNil() {
			mv.Set(reflect.MakeMapWithSize(f.goType, len(obj.keys)))
		}
		emi := f.elemInfo()
		for i, key := range obj.keys {
			elem := emi.newMessages(1)
			if obj.vals[i] != nil {
				if err := d.fastMessage(elem, emi, obj.vals[i], path.child(pathSeg{name: key, kind: pathMapKey})); err != nil {
					return err
				}
			}
			mv.SetMapIndex(reflect.ValueOf(key), reflect.NewAt(emi.typ, elem))
		}
	default:
		return d.field(mi.protoAt(p), f.fd, v, path)
	}
	return nil
}
