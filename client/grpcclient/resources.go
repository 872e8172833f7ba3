package grpcclient

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/anypb"

	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var _ transport.Interface = (*Client)(nil)

// resourceRef is ref on the wire. Cluster-scoped kinds carry no namespace.
func resourceRef(ref transport.Ref) *servicev1.ResourceRef {
	r := &servicev1.ResourceRef{
		Group:    ref.Mapping.Kind.Group,
		Version:  ref.Mapping.Kind.Version,
		Resource: ref.Mapping.Plural,
		Name:     ref.Name,
	}
	if ref.Mapping.Namespaced {
		r.Namespace = ref.Namespace
	}
	return r
}

func describe(verb string, ref transport.Ref) string {
	if ref.Name == "" {
		return verb + " " + ref.Mapping.Plural
	}
	return fmt.Sprintf("%s %s %q", verb, ref.Mapping.Plural, ref.Name)
}

// Get reads one object.
func (c *Client) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	if err := needName(ref, "get"); err != nil {
		return nil, err
	}
	var resp *servicev1.GetResponse
	err := c.unary(ctx, describe("get", ref), true, func(ctx context.Context) (err error) {
		resp, err = c.rc.Get(ctx, &servicev1.GetRequest{Ref: resourceRef(ref)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return unpackObject(ref.Mapping, resp.GetObject())
}

// List reads the objects of ref's namespace (all namespaces when empty).
func (c *Client) List(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	ref.Name = ""
	req := &servicev1.ListRequest{
		Ref: resourceRef(ref), LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector,
		ResourceVersion: opts.ResourceVersion, Limit: opts.Limit, Continue: opts.Continue,
	}
	var resp *servicev1.ListResponse
	err := c.unary(ctx, describe("list", ref), true, func(ctx context.Context) (err error) {
		resp, err = c.rc.List(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	list, err := scheme.Scheme.NewList(ref.Mapping.Kind)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", ref.Mapping.Plural, err)
	}
	if resp.GetList() == nil {
		return nil, fmt.Errorf("list %s: the server answered no list", ref.Mapping.Plural)
	}
	if err := resp.GetList().UnmarshalTo(list); err != nil {
		return nil, fmt.Errorf("list %s: decode response: %w", ref.Mapping.Plural, err)
	}
	return list, nil
}

// Create stores obj. A namespaced ref without a namespace takes the object's.
func (c *Client) Create(ctx context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	ref.Name = ""
	if ref.Namespace == "" && ref.Mapping.Namespaced {
		ref.Namespace = obj.GetMetadata().GetNamespace()
	}
	a, err := packObject(ref.Mapping, obj)
	if err != nil {
		return nil, err
	}
	var resp *servicev1.CreateResponse
	err = c.unary(ctx, describe("create", ref), false, func(ctx context.Context) (err error) {
		resp, err = c.rc.Create(ctx, &servicev1.CreateRequest{Ref: resourceRef(ref), Object: a})
		return err
	})
	if err != nil {
		return nil, err
	}
	return unpackObject(ref.Mapping, resp.GetObject())
}

// Update replaces obj (subresource ""), its status ("status") or another writable
// subresource (a namespace's "finalize"). The name and a missing
// namespace of ref come from the object.
func (c *Client) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, subresource string) (runtime.Object, error) {
	if obj == nil {
		return nil, fmt.Errorf("update %s: no object", ref.Mapping.Plural)
	}
	if ref.Name == "" {
		ref.Name = obj.GetMetadata().GetName()
	}
	if ref.Namespace == "" && ref.Mapping.Namespaced {
		ref.Namespace = obj.GetMetadata().GetNamespace()
	}
	if err := needName(ref, "update"); err != nil {
		return nil, err
	}
	rpc := c.rc.Update
	if subresource == "status" {
		rpc = c.rc.UpdateStatus
	}
	a, err := packObject(ref.Mapping, obj)
	if err != nil {
		return nil, err
	}
	var resp *servicev1.UpdateResponse
	err = c.unary(ctx, describe("update", ref), false, func(ctx context.Context) (err error) {
		req := &servicev1.UpdateRequest{Ref: resourceRef(ref), Object: a}
		if subresource != "status" {
			req.Subresource = subresource
		}
		resp, err = rpc(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return unpackObject(ref.Mapping, resp.GetObject())
}

// Patch applies data, a patch of type pt, to the object (or its subresource).
func (c *Client) Patch(ctx context.Context, ref transport.Ref, pt transport.PatchType, data []byte, subresource string) (runtime.Object, error) {
	if err := needName(ref, "patch"); err != nil {
		return nil, err
	}
	req := &servicev1.PatchRequest{Ref: resourceRef(ref), PatchType: string(pt), Data: data, Subresource: subresource}
	var resp *servicev1.PatchResponse
	err := c.unary(ctx, describe("patch", ref), false, func(ctx context.Context) (err error) {
		resp, err = c.rc.Patch(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return unpackObject(ref.Mapping, resp.GetObject())
}

// Delete removes the object. It returns the object while its deletion is pending (grace
// period, finalizers), nil once it is gone.
func (c *Client) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	if err := needName(ref, "delete"); err != nil {
		return nil, err
	}
	var resp *servicev1.DeleteResponse
	err := c.unary(ctx, describe("delete", ref), false, func(ctx context.Context) (err error) {
		resp, err = c.rc.Delete(ctx, &servicev1.DeleteRequest{Ref: resourceRef(ref), Options: opts})
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp.GetDeleted() {
		return nil, nil
	}
	return unpackObject(ref.Mapping, resp.GetObject())
}

// Bind assigns the pod ref names (or, without a name, the binding's) to binding's target.
func (c *Client) Bind(ctx context.Context, ref transport.Ref, binding *corev1.Binding) error {
	if binding == nil {
		return fmt.Errorf("bind pod %q: no binding", ref.Name)
	}
	if ref.Name == "" {
		ref.Name = binding.GetMetadata().GetName()
	}
	if err := needName(ref, "bind"); err != nil {
		return err
	}
	return c.unary(ctx, describe("bind", ref), false, func(ctx context.Context) error {
		_, err := c.rc.Bind(ctx, &servicev1.BindRequest{Ref: resourceRef(ref), Binding: binding})
		return err
	})
}

// CreateSubresource creates the subresource of the object ref names with Resources.Create,
// ref.subresource set and obj (of the subresource's own kind, a TokenRequest for "token")
// packed as the body; the answer is decoded as obj's kind.
func (c *Client) CreateSubresource(ctx context.Context, ref transport.Ref, subresource string, obj runtime.Object) (runtime.Object, error) {
	sub, err := transport.SubresourceMapping(ref, subresource, obj)
	if err != nil {
		return nil, err
	}
	a, err := packObject(sub, obj)
	if err != nil {
		return nil, err
	}
	r := resourceRef(ref)
	r.Subresource = subresource
	var resp *servicev1.CreateResponse
	err = c.unary(ctx, describe("create "+subresource+" of", ref), false, func(ctx context.Context) (err error) {
		resp, err = c.rc.Create(ctx, &servicev1.CreateRequest{Ref: r, Object: a})
		return err
	})
	if err != nil {
		return nil, err
	}
	return unpackObject(sub, resp.GetObject())
}

func needName(ref transport.Ref, verb string) error {
	if ref.Name == "" {
		return fmt.Errorf("%s %s: resource name may not be empty", verb, ref.Mapping.Plural)
	}
	return nil
}

// packObject packs obj for the wire, refusing another kind than the mapping's.
func packObject(m scheme.Mapping, obj runtime.Object) (*anypb.Any, error) {
	if obj == nil {
		return nil, fmt.Errorf("encode %s: no object", m.Plural)
	}
	if gvk, ok := scheme.Scheme.KindFor(obj); !ok || gvk != m.Kind {
		return nil, fmt.Errorf("encode %s: the object is a %s, not a %s", m.Plural, obj.ProtoReflect().Descriptor().FullName(), m.Kind.Kind)
	}
	a, err := anypb.New(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Plural, err)
	}
	return a, nil
}

// unpackObject unpacks an answer as the mapping's kind, with kind and apiVersion filled.
func unpackObject(m scheme.Mapping, a *anypb.Any) (runtime.Object, error) {
	if a == nil {
		return nil, fmt.Errorf("decode %s: the server answered no object", m.Plural)
	}
	obj, err := scheme.Scheme.New(m.Kind)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", m.Plural, err)
	}
	if err := a.UnmarshalTo(obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", m.Plural, err)
	}
	if obj.GetKind() == "" && obj.GetApiVersion() == "" {
		runtime.SetTypeMeta(obj, m.Kind.APIVersion(), m.Kind.Kind)
	}
	return obj, nil
}
