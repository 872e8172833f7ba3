package storage

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"kubelab.io/proto/runtime"
)

var marshalOptions = proto.MarshalOptions{Deterministic: true}

// codec turns objects into etcd values and back. Values are deterministic protobuf without
// metadata.resourceVersion, so equal objects have equal bytes; decoded objects get the mod
// revision they were read at as resourceVersion.
type codec struct {
	newFunc func() runtime.Object
}

// encode returns the value to store for obj, and a private copy of obj (resourceVersion
// cleared) that the caller may hand out once it has set the resourceVersion. obj is not
// modified.
func (c codec) encode(obj runtime.Object) ([]byte, runtime.Object, error) {
	if obj == nil {
		return nil, nil, fmt.Errorf("encode: nil object")
	}
	cp := proto.Clone(obj).(runtime.Object)
	runtime.Meta(cp).ResourceVersion = ""
	data, err := marshalOptions.Marshal(cp)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	return data, cp, nil
}

// marshal returns the value to store for obj: obj as protobuf without its resourceVersion.
// obj is left as it was, but is changed while marshal runs: it must be the caller's own.
func (c codec) marshal(obj runtime.Object) ([]byte, error) {
	if obj == nil {
		return nil, fmt.Errorf("encode: nil object")
	}
	meta := runtime.Meta(obj)
	rv := meta.ResourceVersion
	meta.ResourceVersion = ""
	data, err := marshalOptions.Marshal(obj)
	meta.ResourceVersion = rv
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	return data, nil
}

// decode reads a stored value written at revision rev.
func (c codec) decode(data []byte, rev int64) (runtime.Object, error) {
	obj := c.newFunc()
	if err := proto.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode %T: %w", obj, err)
	}
	setRV(obj, rev)
	return obj, nil
}

// setRV writes rev as obj's resourceVersion; obj must be private to the caller.
func setRV(obj runtime.Object, rev int64) runtime.Object {
	runtime.Meta(obj).ResourceVersion = strconv.FormatInt(rev, 10)
	return obj
}

// withRV returns a copy of obj carrying resourceVersion rev.
func withRV(obj runtime.Object, rev int64) runtime.Object {
	return setRV(clone(obj), rev)
}

// clone returns a deep copy of obj.
func clone(obj runtime.Object) runtime.Object {
	return proto.Clone(obj).(runtime.Object)
}

// parseRV parses a resourceVersion: "" and "0" are 0.
func parseRV(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: invalid resourceVersion %q", ErrBadRequest, rv)
	}
	return n, nil
}

// objectRV returns the resourceVersion of obj as a revision (0 when unset or invalid).
func objectRV(obj runtime.Object) int64 {
	n, _ := strconv.ParseInt(obj.GetMetadata().GetResourceVersion(), 10, 64)
	return n
}
