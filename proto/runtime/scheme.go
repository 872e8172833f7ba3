package runtime

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// GroupVersionKind names a kind on the wire. The core group is "".
type GroupVersionKind struct {
	Group   string
	Version string
	Kind    string
}

// APIVersion is the kind's apiVersion field: "v1" for the core group, "apps/v1" otherwise.
func (gvk GroupVersionKind) APIVersion() string {
	if gvk.Group == "" {
		return gvk.Version
	}
	return gvk.Group + "/" + gvk.Version
}

func (gvk GroupVersionKind) String() string { return gvk.APIVersion() + ", Kind=" + gvk.Kind }

// ParseAPIVersion splits "apps/v1" into ("apps", "v1") and "v1" into ("", "v1").
func ParseAPIVersion(apiVersion string) (group, version string, err error) {
	switch parts := strings.Split(apiVersion, "/"); len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		if parts[0] == "" || parts[1] == "" {
			break
		}
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("unexpected GroupVersion string: %s", apiVersion)
}

type kindInfo struct {
	gvk  GroupVersionKind
	obj  Object
	list ListObject
}

// Scheme maps kinds to their Go types. Build it once at init and only read it afterwards:
// it is not safe to register kinds while others read.
type Scheme struct {
	byGVK  map[GroupVersionKind]*kindInfo
	byName map[protoreflect.FullName]GroupVersionKind
}

func NewScheme() *Scheme {
	return &Scheme{byGVK: map[GroupVersionKind]*kindInfo{}, byName: map[protoreflect.FullName]GroupVersionKind{}}
}

// AddKind registers a kind with a zero value of it and of its list.
func (s *Scheme) AddKind(gvk GroupVersionKind, obj Object, list ListObject) {
	s.byGVK[gvk] = &kindInfo{gvk: gvk, obj: obj, list: list}
	s.byName[obj.ProtoReflect().Descriptor().FullName()] = gvk
	listGVK := gvk
	listGVK.Kind += "List"
	s.byName[list.ProtoReflect().Descriptor().FullName()] = listGVK
}

// New returns a new, empty object of the kind, with kind and apiVersion set.
func (s *Scheme) New(gvk GroupVersionKind) (Object, error) {
	info, ok := s.byGVK[gvk]
	if !ok {
		return nil, s.notRegistered(gvk)
	}
	obj := info.obj.ProtoReflect().New().Interface().(Object)
	SetTypeMeta(obj, gvk.APIVersion(), gvk.Kind)
	return obj, nil
}

// NewList returns a new, empty list of the kind, with kind and apiVersion set.
func (s *Scheme) NewList(gvk GroupVersionKind) (ListObject, error) {
	info, ok := s.byGVK[gvk]
	if !ok {
		return nil, s.notRegistered(gvk)
	}
	list := info.list.ProtoReflect().New().Interface().(ListObject)
	SetTypeMeta(list, gvk.APIVersion(), gvk.Kind+"List")
	return list, nil
}

// Recognizes reports whether gvk is registered.
func (s *Scheme) Recognizes(gvk GroupVersionKind) bool {
	_, ok := s.byGVK[gvk]
	return ok
}

// KindFor returns the registered kind of m's Go type (list types give "…List").
func (s *Scheme) KindFor(m proto.Message) (GroupVersionKind, bool) {
	gvk, ok := s.byName[m.ProtoReflect().Descriptor().FullName()]
	return gvk, ok
}

// Kinds lists the registered kinds, sorted.
func (s *Scheme) Kinds() []GroupVersionKind {
	out := make([]GroupVersionKind, 0, len(s.byGVK))
	for gvk := range s.byGVK {
		out = append(out, gvk)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func (s *Scheme) notRegistered(gvk GroupVersionKind) error {
	return fmt.Errorf("no kind %q is registered for version %q in scheme", gvk.Kind, gvk.APIVersion())
}

// Decoded is the result of decoding a manifest whose kind is read from the document.
type Decoded struct {
	Object  Object
	GVK     GroupVersionKind
	Unknown []string // unknown field paths, for strict field validation
}

// DecodeJSON decodes a JSON document into a new object of the kind its apiVersion and kind
// fields name.
func (s *Scheme) DecodeJSON(data []byte) (*Decoded, error) {
	d, err := newDirectDecoder(data)
	if err != nil {
		return nil, err
	}
	defer d.release()
	if d.peek() != '{' {
		return nil, notAnObject(d.tree())
	}
	out, gvk, err := s.newDecoded(d.typeFields())
	if err != nil {
		return nil, err
	}
	if err := d.decode(out.ProtoReflect()); err != nil {
		return nil, err
	}
	return &Decoded{Object: out, GVK: gvk, Unknown: d.unknown}, nil
}

// decodeJSONTree is DecodeJSON through the whole document's tree, what the direct decoder
// must match.
func (s *Scheme) decodeJSONTree(data []byte) (*Decoded, error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*jsonObject)
	if !ok {
		return nil, notAnObject(v)
	}
	out, gvk, err := s.newDecoded(typeFields(obj))
	if err != nil {
		return nil, err
	}
	d := decoder{}
	if err := d.message(out.ProtoReflect(), obj, ""); err != nil {
		return nil, err
	}
	return &Decoded{Object: out, GVK: gvk, Unknown: d.unknown}, nil
}

func notAnObject(v any) error {
	return &DecodeError{Msg: fmt.Sprintf("expected a JSON object, got %s", jsonType(v))}
}

// newDecoded returns a new object of the kind a document's apiVersion and kind name.
func (s *Scheme) newDecoded(apiVersion, kind string) (Object, GroupVersionKind, error) {
	if kind == "" {
		return nil, GroupVersionKind{}, &DecodeError{Path: "kind", Msg: "Object 'Kind' is missing"}
	}
	if apiVersion == "" {
		return nil, GroupVersionKind{}, &DecodeError{Path: "apiVersion", Msg: "Object 'apiVersion' is missing"}
	}
	group, version, err := ParseAPIVersion(apiVersion)
	if err != nil {
		return nil, GroupVersionKind{}, &DecodeError{Path: "apiVersion", Msg: err.Error()}
	}
	gvk := GroupVersionKind{Group: group, Version: version, Kind: kind}
	out, err := s.New(gvk)
	if err != nil {
		return nil, GroupVersionKind{}, &DecodeError{Msg: err.Error()}
	}
	return out, gvk, nil
}

func typeFields(obj *jsonObject) (apiVersion, kind string) {
	for i, k := range obj.keys {
		s, _ := obj.vals[i].(string)
		switch k {
		case "apiVersion":
			apiVersion = s
		case "kind":
			kind = s
		}
	}
	return apiVersion, kind
}
