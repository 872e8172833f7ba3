package openapi

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apidocs"
	"kubelab.io/proto/runtime"
)

// The meta types the JSON codec (kubelab.io/proto/runtime) reads and writes as scalars, not
// objects, and UserInfo's extra values, which it writes as lists; their schemas say what the
// wire carries.
var (
	timeName         = fullName(&metav1.Time{})
	microTimeName    = fullName(&metav1.MicroTime{})
	durationName     = fullName(&metav1.Duration{})
	intOrStringName  = fullName(&metav1.IntOrString{})
	quantityName     = fullName(&metav1.Quantity{})
	extraValueName   = fullName(&authenticationv1.ExtraValue{})
	rawExtensionName = fullName(&metav1.RawExtension{})
)

func fullName(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }

// scalarSchemas are the schemas of those types, as Kubernetes' OpenAPI v3 publishes them
// (IntOrString and Quantity as a oneOf of the JSON types they take, which kubectl explain
// shows by name); an IntOrString also carries the structural-schema marker CRDs use for it.
var scalarSchemas = map[protoreflect.FullName]func() *Schema{
	timeName: func() *Schema {
		return &Schema{Type: "string", Format: "date-time", Description: "An RFC 3339 timestamp with second precision."}
	},
	microTimeName: func() *Schema {
		return &Schema{Type: "string", Format: "date-time", Description: "An RFC 3339 timestamp with microsecond precision."}
	},
	durationName: func() *Schema {
		return &Schema{Type: "string", Description: `A Go duration string, like "1m30s".`}
	},
	intOrStringName: func() *Schema {
		return &Schema{
			Format: "int-or-string", IntOrString: true,
			OneOf:       []*Schema{{Type: "integer"}, {Type: "string"}},
			Description: `An integer or a string, like 1 or "25%".`,
		}
	},
	extraValueName: func() *Schema {
		return &Schema{Type: "array", Items: &Schema{Type: "string"}}
	},
	rawExtensionName: func() *Schema {
		return &Schema{Type: "object", Description: "A JSON document, kept as it was written."}
	},
	quantityName: func() *Schema {
		// Written as a string; a bare number is read too, as Kubernetes does.
		return &Schema{
			OneOf:       []*Schema{{Type: "string"}, {Type: "number"}},
			Description: `A fixed-point amount, like "100m" or "128Mi".`,
		}
	},
}

// schemaGen builds components.schemas: one named schema per message reached, each field
// named as the JSON codec names it (the proto field name is the Kubernetes JSON name) and
// nested messages referenced by name. Messages and fields are described by their proto
// comments (kubelab.io/proto/apidocs); the scalar meta types keep the descriptions above,
// which say what the JSON carries.
type schemaGen struct {
	schemas map[string]*Schema
}

func newSchemaGen() *schemaGen { return &schemaGen{schemas: map[string]*Schema{}} }

// ref returns a reference to md's schema, generating it (and what it reaches) on first use.
func (g *schemaGen) ref(md protoreflect.MessageDescriptor) *Schema {
	name := schemaName(md)
	if _, ok := g.schemas[name]; !ok {
		g.schemas[name] = &Schema{} // claimed first, so a message that reaches itself ends
		*g.schemas[name] = *g.message(md)
	}
	return refTo(name)
}

// named adds a schema that has no message behind it, and returns a reference to it.
func (g *schemaGen) named(name string, s *Schema) *Schema {
	g.schemas[name] = s
	return refTo(name)
}

// kind references the schema of a kind (or a kind's list) and marks it with its GVK, which
// kubectl explain and kubectl apply look schemas up by.
func (g *schemaGen) kind(md protoreflect.MessageDescriptor, gvk runtime.GroupVersionKind) *Schema {
	ref := g.ref(md)
	s := g.schemas[schemaName(md)]
	s.GVKs = append(s.GVKs, GVK{Group: gvk.Group, Kind: gvk.Kind, Version: gvk.Version})
	return ref
}

func refTo(name string) *Schema { return &Schema{Ref: "#/components/schemas/" + name} }

func (g *schemaGen) message(md protoreflect.MessageDescriptor) *Schema {
	if s, ok := scalarSchemas[md.FullName()]; ok {
		return s()
	}
	s := &Schema{Type: "object", Properties: map[string]*Schema{}, Description: apidocs.Description(string(md.FullName()))}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		p := g.field(fd)
		// Set beside a $ref too, which is where kubectl explain reads a field's description
		// (a field without one shows its message's). field returns a fresh schema, so this
		// changes no shared one.
		p.Description = apidocs.Description(string(fd.FullName()))
		s.Properties[string(fd.Name())] = p
	}
	return s
}

func (g *schemaGen) field(fd protoreflect.FieldDescriptor) *Schema {
	switch {
	case fd.IsMap():
		// Map keys are strings on the wire whatever their proto type.
		return &Schema{Type: "object", AdditionalProperties: g.value(fd.MapValue())}
	case fd.IsList():
		return &Schema{Type: "array", Items: g.value(fd)}
	default:
		return g.value(fd)
	}
}

// value is the schema of one value of fd (an element, for lists and maps).
func (g *schemaGen) value(fd protoreflect.FieldDescriptor) *Schema {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return &Schema{Type: "boolean"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return &Schema{Type: "integer", Format: "int32"}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return &Schema{Type: "integer", Format: "int64"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return &Schema{Type: "integer"}
	case protoreflect.FloatKind:
		return &Schema{Type: "number", Format: "float"}
	case protoreflect.DoubleKind:
		return &Schema{Type: "number", Format: "double"}
	case protoreflect.StringKind:
		return &Schema{Type: "string"}
	case protoreflect.BytesKind:
		return &Schema{Type: "string", Format: "byte"} // base64, as the codec writes bytes
	case protoreflect.EnumKind:
		return &Schema{Type: "integer"} // the codec writes an enum's number
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return g.ref(fd.Message())
	default:
		return &Schema{}
	}
}
