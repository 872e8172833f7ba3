package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

var _ transport.Interface = (*Client)(nil)

// ResourcePath is the REST path of ref and an optional subresource:
// /api/v1/namespaces/{ns}/pods/{name}/status, /apis/apps/v1/deployments (all namespaces),
// /api/v1/nodes/{name}. The namespace is left out for cluster-scoped kinds.
func ResourcePath(ref transport.Ref, subresource string) string {
	gvk := ref.Mapping.Kind
	var b strings.Builder
	if gvk.Group == "" {
		b.WriteString("/api/" + gvk.Version)
	} else {
		b.WriteString("/apis/" + gvk.Group + "/" + gvk.Version)
	}
	if ref.Mapping.Namespaced && ref.Namespace != "" {
		b.WriteString("/namespaces/" + url.PathEscape(ref.Namespace))
	}
	b.WriteString("/" + ref.Mapping.Plural)
	if ref.Name != "" {
		b.WriteString("/" + url.PathEscape(ref.Name))
		if subresource != "" {
			b.WriteString("/" + subresource)
		}
	}
	return b.String()
}

// Get reads one object.
func (c *Client) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	if err := needName(ref, "get"); err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, http.MethodGet, ResourcePath(ref, ""), nil, nil, "")
	if err != nil {
		return nil, err
	}
	return decodeObject(ref.Mapping, resp.Body)
}

// List reads the objects of ref's namespace (all namespaces when empty).
func (c *Client) List(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	ref.Name = ""
	resp, err := c.call(ctx, http.MethodGet, ResourcePath(ref, ""), listQuery(opts), nil, "")
	if err != nil {
		return nil, err
	}
	list, err := scheme.Scheme.NewList(ref.Mapping.Kind)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", ref.Mapping.Plural, err)
	}
	if _, err := runtime.UnmarshalJSON(resp.Body, list); err != nil {
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
	body, err := encodeObject(ref.Mapping, obj)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, http.MethodPost, ResourcePath(ref, ""), nil, body, "application/json")
	if err != nil {
		return nil, err
	}
	return decodeObject(ref.Mapping, resp.Body)
}

// Update replaces obj (subresource "") or its status ("status"). The name and a missing
// namespace of ref come from the object.
func (c *Client) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, subresource string) (runtime.Object, error) {
	ref = refForObject(ref, obj)
	if err := needName(ref, "update"); err != nil {
		return nil, err
	}
	body, err := encodeObject(ref.Mapping, obj)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, http.MethodPut, ResourcePath(ref, subresource), nil, body, "application/json")
	if err != nil {
		return nil, err
	}
	return decodeObject(ref.Mapping, resp.Body)
}

// Patch applies data, a patch of type pt, to the object (or its subresource).
func (c *Client) Patch(ctx context.Context, ref transport.Ref, pt transport.PatchType, data []byte, subresource string) (runtime.Object, error) {
	if err := needName(ref, "patch"); err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, http.MethodPatch, ResourcePath(ref, subresource), nil, data, string(pt))
	if err != nil {
		return nil, err
	}
	return decodeObject(ref.Mapping, resp.Body)
}

// Delete removes the object. It returns the object while its deletion is pending, nil once
// it is gone. The server answers a Status or the deleted object when it is gone, and 200
// with the object both while its deletion waits (a grace period, finalizers) and when a
// graceful deletion just finished (202 only for orphanDependents=false); for an object
// marked for deletion Delete reads it again to tell which (one more request).
func (c *Client) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	if err := needName(ref, "delete"); err != nil {
		return nil, err
	}
	var body []byte
	if opts != nil {
		o := proto.Clone(opts).(*metav1.DeleteOptions)
		if o.Kind == "" && o.ApiVersion == "" {
			o.Kind, o.ApiVersion = "DeleteOptions", "v1"
		}
		var err error
		if body, err = runtime.MarshalJSON(o); err != nil {
			return nil, fmt.Errorf("delete %s %q: encode options: %w", ref.Mapping.Plural, ref.Name, err)
		}
	}
	resp, err := c.call(ctx, http.MethodDelete, ResourcePath(ref, ""), nil, body, "application/json")
	if err != nil {
		return nil, err
	}
	var probe struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(resp.Body, &probe); err != nil {
		return nil, fmt.Errorf("delete %s %q: decode response: %w", ref.Mapping.Plural, ref.Name, err)
	}
	if probe.Kind == "Status" {
		return nil, nil
	}
	obj, err := decodeObject(ref.Mapping, resp.Body)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return obj, nil
	case obj.GetMetadata().GetDeletionTimestamp() == nil:
		return nil, nil
	}
	// A 200 with an object being deleted is either a graceful deletion in progress or the
	// last state of one that just finished: the answer does not say, a read does.
	cur, err := c.Get(ctx, ref)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("delete %s %q: check whether the deletion is pending: %w", ref.Mapping.Plural, ref.Name, err)
	case cur.GetMetadata().GetUid() != obj.GetMetadata().GetUid():
		return nil, nil // deleted, and already re-created
	}
	return cur, nil
}

// Bind assigns the pod ref names to binding's target node.
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
	b := binding
	if b.Kind == "" && b.ApiVersion == "" {
		b = proto.Clone(binding).(*corev1.Binding)
		runtime.SetTypeMeta(b, "v1", "Binding")
	}
	body, err := runtime.MarshalJSON(b)
	if err != nil {
		return fmt.Errorf("bind pod %q: encode binding: %w", ref.Name, err)
	}
	_, err = c.call(ctx, http.MethodPost, ResourcePath(ref, "binding"), nil, body, "application/json")
	return err
}

// CreateSubresource POSTs obj to the subresource of the object ref names
// (/api/v1/namespaces/{ns}/serviceaccounts/{name}/token) and decodes the answer as obj's
// kind: such subresources take and return a kind of their own (a TokenRequest), not the
// parent's.
func (c *Client) CreateSubresource(ctx context.Context, ref transport.Ref, subresource string, obj runtime.Object) (runtime.Object, error) {
	sub, err := transport.SubresourceMapping(ref, subresource, obj)
	if err != nil {
		return nil, err
	}
	body, err := encodeObject(sub, obj)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, http.MethodPost, ResourcePath(ref, subresource), nil, body, "application/json")
	if err != nil {
		return nil, err
	}
	return decodeObject(sub, resp.Body)
}

// listQuery is the query of a list or watch.
func listQuery(opts transport.ListOptions) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("labelSelector", opts.LabelSelector)
	set("fieldSelector", opts.FieldSelector)
	set("resourceVersion", opts.ResourceVersion)
	set("continue", opts.Continue)
	if opts.Limit > 0 {
		q.Set("limit", strconv.FormatInt(opts.Limit, 10))
	}
	if opts.TimeoutSeconds > 0 {
		q.Set("timeoutSeconds", strconv.FormatInt(opts.TimeoutSeconds, 10))
	}
	return q
}

// refForObject fills ref's name, and a namespaced ref's missing namespace, from obj.
func refForObject(ref transport.Ref, obj runtime.Object) transport.Ref {
	if ref.Name == "" {
		ref.Name = obj.GetMetadata().GetName()
	}
	if ref.Namespace == "" && ref.Mapping.Namespaced {
		ref.Namespace = obj.GetMetadata().GetNamespace()
	}
	return ref
}

func needName(ref transport.Ref, verb string) error {
	if ref.Name == "" {
		return fmt.Errorf("%s %s: resource name may not be empty", verb, ref.Mapping.Plural)
	}
	return nil
}

// encodeObject is obj as JSON, with kind and apiVersion filled from the mapping when empty
// (the server reads the kind from the body).
func encodeObject(m scheme.Mapping, obj runtime.Object) ([]byte, error) {
	if obj == nil {
		return nil, fmt.Errorf("encode %s: no object", m.Plural)
	}
	if obj.GetKind() == "" && obj.GetApiVersion() == "" {
		obj = proto.Clone(obj).(runtime.Object)
		runtime.SetTypeMeta(obj, m.Kind.APIVersion(), m.Kind.Kind)
	}
	data, err := runtime.MarshalJSON(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Plural, err)
	}
	return data, nil
}

// decodeObject decodes an answer into a new object of the mapping's kind; fields this
// client does not know are ignored.
func decodeObject(m scheme.Mapping, data []byte) (runtime.Object, error) {
	obj, err := scheme.Scheme.New(m.Kind)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", m.Plural, err)
	}
	if _, err := runtime.UnmarshalJSON(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s response: %w", m.Plural, err)
	}
	return obj, nil
}

// decodeEvent decodes one watch event line; see Watch.
func decodeEvent(m scheme.Mapping, line []byte) (watch.Event, error) {
	var raw struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return watch.Event{}, fmt.Errorf("decode watch event: %w", err)
	}
	ev := watch.Event{Type: watch.EventType(raw.Type)}
	switch ev.Type {
	case watch.Error:
		s := &metav1.Status{}
		if _, err := runtime.UnmarshalJSON(raw.Object, s); err != nil {
			return watch.Event{}, fmt.Errorf("decode watch ERROR event: %w", err)
		}
		ev.Status = s
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		obj, err := decodeObject(m, raw.Object)
		if err != nil {
			return watch.Event{}, fmt.Errorf("decode watch %s event: %w", raw.Type, err)
		}
		ev.Object = obj
	default:
		return watch.Event{}, fmt.Errorf("decode watch event: unknown type %q", raw.Type)
	}
	return ev, nil
}
