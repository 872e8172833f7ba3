package grpcapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/rest"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/patch"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// WatchStartedHeader is the header metadata key Watch sends, before any event, once the
// watch is established; a refused watch ends with its error status instead.
const WatchStartedHeader = "kubelab-watch-started"

// begin describes the call as REST would (see newInfo), puts that Info on ctx and opens
// the call through the pipeline, which resolves and authorizes it.
func (s *service) begin(ctx context.Context, ref *servicev1.ResourceRef, verb, subresource string) (context.Context, *pipeline.Call, error) {
	return s.beginSelected(ctx, ref, verb, subresource, "")
}

// beginSelected is begin for list and watch, whose field selector authorization may look at
// (a kubelet may only list the pods of its own node).
func (s *service) beginSelected(ctx context.Context, ref *servicev1.ResourceRef, verb, subresource, fieldSelector string) (context.Context, *pipeline.Call, error) {
	info := newInfo(ref, verb, subresource)
	info.FieldSelector = fieldSelector
	ctx = request.WithInfo(ctx, info)
	call, err := s.pipeline.Begin(ctx, info)
	return ctx, call, err
}

// newInfo is the request.Info of the REST request equivalent to a gRPC call on ref: the
// same coordinates and verb, and the REST path for logs and audit. As in REST, a request on
// namespaces has the namespace itself as its namespace, and a create names no object (the
// object names itself).
func newInfo(ref *servicev1.ResourceRef, verb, subresource string) *request.Info {
	info := &request.Info{
		IsResourceRequest: true,
		Verb:              verb,
		APIGroup:          ref.GetGroup(),
		APIVersion:        ref.GetVersion(),
		Namespace:         ref.GetNamespace(),
		Resource:          ref.GetResource(),
		Subresource:       subresource,
		Name:              ref.GetName(),
	}
	if verb == "create" && subresource == "" {
		info.Name = ""
	}
	if info.Resource == "namespaces" {
		info.Namespace = info.Name
	}
	info.Path = restPath(info)
	return info
}

// restPath is the REST path of info: /api/v1/namespaces/ns/pods/name/status.
func restPath(info *request.Info) string {
	var b strings.Builder
	if info.APIGroup == "" {
		b.WriteString("/api/" + info.APIVersion)
	} else {
		b.WriteString("/apis/" + info.APIGroup + "/" + info.APIVersion)
	}
	if info.Namespace != "" && info.Resource != "namespaces" {
		b.WriteString("/namespaces/" + info.Namespace)
	}
	for _, part := range []string{info.Resource, info.Name, info.Subresource} {
		if part == "" {
			break
		}
		b.WriteString("/" + part)
	}
	return b.String()
}

// Get reads one object.
func (s *service) Get(ctx context.Context, req *servicev1.GetRequest) (*servicev1.GetResponse, error) {
	ctx, call, err := s.begin(ctx, req.GetRef(), "get", "")
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	obj, err := call.Get(ctx)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	a, err := pack(obj)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.GetResponse{Object: a}, nil
}

// List reads the matching objects as the resource's list kind.
func (s *service) List(ctx context.Context, req *servicev1.ListRequest) (*servicev1.ListResponse, error) {
	if err := namesNoObject(req.GetRef()); err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	ctx, call, err := s.beginSelected(ctx, req.GetRef(), "list", "", req.GetFieldSelector())
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	opts, err := listOptions(req.GetLabelSelector(), req.GetFieldSelector(), req.GetResourceVersion(), req.GetLimit(), req.GetContinue())
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	list, err := call.List(ctx, opts)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	a, err := pack(list)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.ListResponse{List: a}, nil
}

// Watch streams changes until the client goes away, the timeout (timeoutSeconds, or
// rest.DefaultWatchTimeout) passes, the server shuts down or storage ends the watch; all
// but the first end the stream with OK, and the client re-watches from the last
// resourceVersion it saw. A resourceVersion too old to resume from is answered, as over
// REST, by one ERROR event with the 410 Status, then the end of the stream.
func (s *service) Watch(req *servicev1.WatchRequest, stream servicev1.Resources_WatchServer) error {
	if err := namesNoObject(req.GetRef()); err != nil {
		return apierrors.ToGRPC(err)
	}
	ctx, call, err := s.beginSelected(stream.Context(), req.GetRef(), "watch", "", req.GetFieldSelector())
	if err != nil {
		return apierrors.ToGRPC(err)
	}
	opts, err := listOptions(req.GetLabelSelector(), req.GetFieldSelector(), req.GetResourceVersion(), 0, "")
	if err != nil {
		return apierrors.ToGRPC(err)
	}
	timeout := rest.DefaultWatchTimeout
	switch t := req.GetTimeoutSeconds(); {
	case t < 0:
		return apierrors.ToGRPC(apierrors.NewBadRequest("timeoutSeconds must be a non-negative integer"))
	case t > 0:
		timeout = time.Duration(t) * time.Second
	}
	w, err := call.Watch(ctx, opts)
	if apierrors.IsGone(err) {
		return stream.Send(&servicev1.WatchEvent{Type: string(watch.Error), Status: apierrors.ToStatus(err)})
	}
	if err != nil {
		return apierrors.ToGRPC(err)
	}
	defer w.Stop()
	// Tell the client at once that the watch is established (REST flushes its 200 for the
	// same reason): otherwise headers would wait for the first event, and a client could not
	// tell a quiet watch from a refused one.
	if err := stream.SendHeader(metadata.Pairs(WatchStartedHeader, "true")); err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return nil
		case <-timer.C:
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			if err := stream.Send(watchEvent(ev)); err != nil {
				return err
			}
		}
	}
}

// watchEvent is ev on the wire; an object that cannot be packed becomes an ERROR event
// with a 500 Status, as REST writes it.
func watchEvent(ev watch.Event) *servicev1.WatchEvent {
	if ev.Type == watch.Error {
		return &servicev1.WatchEvent{Type: string(ev.Type), Status: ev.Status}
	}
	a, err := pack(ev.Object)
	if err != nil {
		return &servicev1.WatchEvent{Type: string(watch.Error), Status: apierrors.ToStatus(err)}
	}
	return &servicev1.WatchEvent{Type: string(ev.Type), Object: a}
}

// Create stores a new object, or creates the subresource ref names of the object ref names
// (a service account's "token": the object is a TokenRequest, and so is the answer).
func (s *service) Create(ctx context.Context, req *servicev1.CreateRequest) (*servicev1.CreateResponse, error) {
	ctx, call, err := s.begin(ctx, req.GetRef(), "create", req.GetRef().GetSubresource())
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	obj, err := unpack(req.GetObject(), call.BodyKind())
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	out, err := call.Create(ctx, obj, registry.CreateOptions{DryRun: req.GetDryRun()})
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	a, err := pack(out)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.CreateResponse{Object: a}, nil
}

// Update replaces an object but its status, or writes the subresource the request names
// (a namespace's "finalize").
func (s *service) Update(ctx context.Context, req *servicev1.UpdateRequest) (*servicev1.UpdateResponse, error) {
	return s.update(ctx, req, req.GetSubresource())
}

// UpdateStatus replaces an object's status (the status subresource).
func (s *service) UpdateStatus(ctx context.Context, req *servicev1.UpdateRequest) (*servicev1.UpdateResponse, error) {
	return s.update(ctx, req, "status")
}

func (s *service) update(ctx context.Context, req *servicev1.UpdateRequest, subresource string) (*servicev1.UpdateResponse, error) {
	ctx, call, err := s.begin(ctx, req.GetRef(), "update", subresource)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	obj, err := unpack(req.GetObject(), call.Resource().Kind)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	out, err := call.Update(ctx, obj, registry.UpdateOptions{DryRun: req.GetDryRun()})
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	a, err := pack(out)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.UpdateResponse{Object: a}, nil
}

// Delete removes an object, or starts its removal.
func (s *service) Delete(ctx context.Context, req *servicev1.DeleteRequest) (*servicev1.DeleteResponse, error) {
	ctx, call, err := s.begin(ctx, req.GetRef(), "delete", "")
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	res, err := call.Delete(ctx, req.GetOptions())
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	a, err := pack(res.Object)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.DeleteResponse{Object: a, Deleted: res.Deleted}, nil
}

// Bind assigns a pod to a node.
func (s *service) Bind(ctx context.Context, req *servicev1.BindRequest) (*servicev1.BindResponse, error) {
	ctx, call, err := s.begin(ctx, req.GetRef(), "create", "binding")
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	b := req.GetBinding()
	if b == nil {
		return nil, apierrors.ToGRPC(apierrors.NewBadRequest("binding is required"))
	}
	if b.GetKind() == "" && b.GetApiVersion() == "" {
		runtime.SetTypeMeta(b, "v1", "Binding")
	}
	if _, err := call.Create(ctx, b, registry.CreateOptions{}); err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.BindResponse{}, nil
}

// Patch applies a patch to an object or its status, through the same pipeline step as a
// REST PATCH. Fields the schema lacks in the patched document are refused, as REST's Strict
// field validation does: gRPC has no channel for the warnings REST sends by default.
func (s *service) Patch(ctx context.Context, req *servicev1.PatchRequest) (*servicev1.PatchResponse, error) {
	ctx, call, err := s.begin(ctx, req.GetRef(), "patch", req.GetSubresource())
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	pt := patch.Type(req.GetPatchType())
	switch pt {
	case patch.JSONPatch, patch.MergePatch, patch.StrategicMerge:
	default:
		return nil, apierrors.ToGRPC(apierrors.NewUnsupportedMediaType(req.GetPatchType()))
	}
	kind := call.Resource().Kind
	checkUnknown := func(unknown []string) error {
		if len(unknown) == 0 {
			return nil
		}
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v",
			kind.Kind, kind.Version, kind.Kind, runtime.UnknownFieldsError(unknown)))
	}
	out, err := call.Patch(ctx, pt, req.GetData(), checkUnknown, registry.UpdateOptions{DryRun: req.GetDryRun()})
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	a, err := pack(out)
	if err != nil {
		return nil, apierrors.ToGRPC(err)
	}
	return &servicev1.PatchResponse{Object: a}, nil
}

// namesNoObject refuses a list or watch whose ref names an object: over REST that path
// would be a get. It is checked before the call is authorized, as the verb depends on it.
func namesNoObject(ref *servicev1.ResourceRef) error {
	if ref.GetName() != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("a list or watch names no object (got name %q); select one with fieldSelector metadata.name", ref.GetName()))
	}
	return nil
}

// listOptions checks and gathers the list and watch parameters, as REST reads them from
// the query: limit is non-negative and a resourceVersion is a number.
func listOptions(labelSelector, fieldSelector, resourceVersion string, limit int64, cont string) (registry.ListOptions, error) {
	opts := registry.ListOptions{
		LabelSelector: labelSelector, FieldSelector: fieldSelector,
		ResourceVersion: resourceVersion, Limit: limit, Continue: cont,
	}
	if limit < 0 {
		return opts, apierrors.NewBadRequest(fmt.Sprintf("limit must be a non-negative integer, got %d", limit))
	}
	if resourceVersion != "" {
		if _, err := strconv.ParseUint(resourceVersion, 10, 64); err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", resourceVersion))
		}
	}
	return opts, nil
}

// pack wraps an object or list for the wire.
func pack(m proto.Message) (*anypb.Any, error) {
	if m == nil {
		return nil, nil
	}
	a, err := anypb.New(m)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return a, nil
}

// unpack reads a packed object as the kind want, the kind of the resource called. An
// absent object, an unknown type or another kind is a BadRequest (INVALID_ARGUMENT), as is
// a kind or apiVersion field that contradicts the packed type; empty ones are filled in.
func unpack(a *anypb.Any, want runtime.GroupVersionKind) (runtime.Object, error) {
	if a == nil {
		return nil, apierrors.NewBadRequest("object is required")
	}
	msg, err := a.UnmarshalNew()
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot decode object of type %q: %v", a.GetTypeUrl(), err))
	}
	obj, isObject := msg.(runtime.Object)
	got, known := scheme.Scheme.KindFor(msg)
	if !isObject || !known || got != want {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object is a %s, but the resource serves %s (%s)",
			msg.ProtoReflect().Descriptor().FullName(), want.Kind, want.APIVersion()))
	}
	switch {
	case obj.GetKind() == "" && obj.GetApiVersion() == "":
		runtime.SetTypeMeta(obj, want.APIVersion(), want.Kind)
	case obj.GetKind() != want.Kind || obj.GetApiVersion() != want.APIVersion():
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object says it is %s, Kind=%s, but is packed as %s",
			obj.GetApiVersion(), obj.GetKind(), want))
	}
	return obj, nil
}
