// Package runtime is kubelab's API machinery shared by every component: the Object contract
// that all kinds satisfy, the Scheme that maps kinds to Go types, and the codecs that turn
// objects into Kubernetes' JSON wire format, YAML and protobuf and back.
package runtime

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// Object is any top-level API kind: a generated message with kind, apiVersion and metadata
// fields (Pod, Deployment, …). The generated getters are the whole contract, so no kind needs
// hand-written methods.
type Object interface {
	proto.Message
	GetKind() string
	GetApiVersion() string
	GetMetadata() *metav1.ObjectMeta
}

// ListObject is the list form of a kind (PodList, …).
type ListObject interface {
	proto.Message
	GetKind() string
	GetApiVersion() string
	GetMetadata() *metav1.ListMeta
}

// Meta returns obj's metadata, creating an empty one first when it is unset, so callers can
// write to it. It mutates obj: never call it on an object shared through a cache.
func Meta(obj Object) *metav1.ObjectMeta {
	if m := obj.GetMetadata(); m != nil {
		return m
	}
	setMessageField(obj, "metadata")
	return obj.GetMetadata()
}

// ListMeta is Meta for lists.
func ListMeta(list ListObject) *metav1.ListMeta {
	if m := list.GetMetadata(); m != nil {
		return m
	}
	setMessageField(list, "metadata")
	return list.GetMetadata()
}

// SetTypeMeta fills obj's kind and apiVersion.
func SetTypeMeta(obj proto.Message, apiVersion, kind string) {
	m := obj.ProtoReflect()
	fields := m.Descriptor().Fields()
	if fd := fields.ByName("kind"); fd != nil {
		m.Set(fd, protoreflect.ValueOfString(kind))
	}
	if fd := fields.ByName("apiVersion"); fd != nil {
		m.Set(fd, protoreflect.ValueOfString(apiVersion))
	}
}

func setMessageField(msg proto.Message, name protoreflect.Name) {
	m := msg.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(name)
	m.Set(fd, protoreflect.ValueOfMessage(m.Mutable(fd).Message()))
}

// Items returns the items of a list as Objects.
func Items(list ListObject) []Object {
	m := list.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("items")
	l := m.Get(fd).List()
	out := make([]Object, l.Len())
	for i := range out {
		out[i] = l.Get(i).Message().Interface().(Object)
	}
	return out
}

// SetItems replaces the items of list with objs, which must be of the list's item type.
func SetItems(list ListObject, objs []Object) {
	m := list.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("items")
	l := m.Mutable(fd).List()
	l.Truncate(0)
	for _, o := range objs {
		l.Append(protoreflect.ValueOfMessage(o.ProtoReflect()))
	}
}
