package rest

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/kubeproto"
	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/request"
	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/patch"
	"kubelab.io/proto/runtime"
)

var (
	bindingKind = runtime.GroupVersionKind{Version: "v1", Kind: "Binding"}
	// evictionKind is policy/v1 Eviction, the body of pods/eviction.
	// serviceaccounts/token takes registry.TokenRequestKind.
	evictionKind = runtime.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}
	scaleKind    = runtime.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	deleteKind   = runtime.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "DeleteOptions"}
)

// serveResource answers a resource request: it opens an authorized call through the
// pipeline, then reads the body and parameters the verb needs.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info *request.Info) {
	ctx := r.Context()
	call, err := s.pipeline.Begin(ctx, info)
	if err != nil {
		writeError(w, err)
		return
	}
	if info.Subresource == "log" {
		s.serveLog(w, r, call)
		return
	}
	if streamSubresources[info.Subresource] {
		s.serveStream(w, r, call, info)
		return
	}
	switch info.Verb {
	case "get":
		obj, err := call.Get(ctx)
		respondRead(w, r, call.Resource(), obj, err)
	case "list":
		opts, err := listOptions(r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := call.List(ctx, opts)
		respondRead(w, r, call.Resource(), list, err)
	case "watch":
		s.serveWatch(w, r, call, info)
	case "create":
		s.create(w, r, call, info)
	case "update":
		s.update(w, r, call, info)
	case "patch":
		s.patch(w, r, call)
	case "delete":
		opts, err := deleteOptions(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		res, err := call.Delete(ctx, opts)
		if err != nil {
			writeError(w, err)
			return
		}
		if res.Deleted && !call.Resource().ReturnDeletedObject {
			writeObject(w, r, http.StatusOK, successStatus(call.Resource(), res.Object))
			return
		}
		// As Kubernetes: 200 with the object, whether it is gone or its deletion waits
		// (grace period, finalizers, a namespace's content); 202 only when the client asked
		// for cascading deletion with orphanDependents=false and it is still pending, the one
		// case Kubernetes could mark without breaking old clients.
		code := http.StatusOK
		if !res.Deleted && opts.OrphanDependents != nil && !opts.GetOrphanDependents() {
			code = http.StatusAccepted
		}
		writeObject(w, r, code, res.Object)
	case "deletecollection":
		listOpts, err := listOptions(r)
		if err != nil {
			writeError(w, err)
			return
		}
		opts, err := deleteOptions(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := call.DeleteCollection(ctx, listOpts, opts)
		respond(w, r, http.StatusOK, list, err)
	default:
		writeError(w, apierrors.NewMethodNotSupported(call.Resource().GroupResource(), info.Verb))
	}
}

func respond(w http.ResponseWriter, r *http.Request, code int, obj proto.Message, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeObject(w, r, code, obj)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, call *pipeline.Call, info *request.Info) {
	ctx := r.Context()
	dry, err := dryRunOf(r.URL.Query()["dryRun"], "CreateOptions")
	if err != nil {
		writeError(w, err)
		return
	}
	opts := registry.CreateOptions{DryRun: dry}
	if info.Subresource == "token" {
		body, err := readBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		in := &authenticationv1.TokenRequest{}
		if err := decodeInto(w, r, body, in, registry.TokenRequestKind); err != nil {
			writeError(w, err)
			return
		}
		out, err := call.Create(ctx, in, opts)
		respond(w, r, http.StatusCreated, out, err)
		return
	}
	if info.Subresource == "binding" || info.Subresource == "eviction" {
		body, err := readBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		var in runtime.Object
		if info.Subresource == "binding" {
			in = &corev1.Binding{}
			err = decodeInto(w, r, body, in, bindingKind)
		} else {
			in = &policyv1.Eviction{}
			err = decodeInto(w, r, body, in, evictionKind)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		if _, err := call.Create(ctx, in, opts); err != nil {
			writeError(w, err)
			return
		}
		writeObject(w, r, http.StatusCreated, &metav1.Status{Kind: "Status", ApiVersion: "v1", Metadata: &metav1.ListMeta{}, Status: "Success", Code: http.StatusCreated})
		return
	}
	obj, err := decodeObject(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := call.Create(ctx, obj, opts)
	respond(w, r, http.StatusCreated, out, err)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, call *pipeline.Call, info *request.Info) {
	ctx := r.Context()
	dry, err := dryRunOf(r.URL.Query()["dryRun"], "UpdateOptions")
	if err != nil {
		writeError(w, err)
		return
	}
	opts := registry.UpdateOptions{DryRun: dry}
	var obj runtime.Object
	if info.Subresource == "scale" {
		body, err := readBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		scale := &appsv1.Scale{}
		if err := decodeInto(w, r, body, scale, scaleKind); err != nil {
			writeError(w, err)
			return
		}
		obj = scale
	} else {
		if media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); media == kubeproto.MediaType && info.Subresource == "status" {
			// kubeproto reads no status; a status write must come as JSON.
			writeError(w, apierrors.NewUnsupportedMediaType(kubeproto.MediaType+": status is not read from protobuf bodies by kubelab; send JSON"))
			return
		}
		var err error
		if obj, err = decodeObject(w, r); err != nil {
			writeError(w, err)
			return
		}
	}
	out, err := call.Update(ctx, obj, opts)
	respond(w, r, http.StatusOK, out, err)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, call *pipeline.Call) {
	ct := r.Header.Get("Content-Type")
	media, _, err := mime.ParseMediaType(ct)
	if err != nil {
		writeError(w, apierrors.NewUnsupportedMediaType(ct))
		return
	}
	pt := patch.Type(media)
	switch pt {
	case patch.JSONPatch, patch.MergePatch, patch.StrategicMerge, patch.ApplyPatch:
	default:
		writeError(w, apierrors.NewUnsupportedMediaType(ct))
		return
	}
	mode, err := fieldValidationOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	dry, err := dryRunOf(r.URL.Query()["dryRun"], "PatchOptions")
	if err != nil {
		writeError(w, err)
		return
	}
	opts := registry.UpdateOptions{DryRun: dry}
	checkUnknown := func(unknown []string) error {
		return handleUnknown(w, call.Resource().Kind, unknown, mode)
	}
	out, err := call.Patch(r.Context(), pt, body, checkUnknown, opts)
	respond(w, r, http.StatusOK, out, err)
}

// listOptions reads the list and watch query parameters.
func listOptions(r *http.Request) (registry.ListOptions, error) {
	q := r.URL.Query()
	opts := registry.ListOptions{
		LabelSelector:   q.Get("labelSelector"),
		FieldSelector:   q.Get("fieldSelector"),
		ResourceVersion: q.Get("resourceVersion"),
		Continue:        q.Get("continue"),
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("limit must be a non-negative integer, got %q", l))
		}
		opts.Limit = n
	}
	if opts.ResourceVersion != "" {
		if _, err := strconv.ParseUint(opts.ResourceVersion, 10, 64); err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", opts.ResourceVersion))
		}
	}
	return opts, nil
}

// deleteOptions reads DeleteOptions from the body (if any) and the query, the query winning
// as in Kubernetes.
func deleteOptions(w http.ResponseWriter, r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		if err := decodeInto(w, r, body, opts, deleteKind); err != nil {
			return nil, err
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("gracePeriodSeconds must be an integer, got %q", g))
		}
		opts.GracePeriodSeconds = proto.Int64(n)
	}
	if p := q.Get("propagationPolicy"); p != "" {
		opts.PropagationPolicy = proto.String(p)
	}
	if o := q.Get("orphanDependents"); o != "" {
		b, err := strconv.ParseBool(o)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("orphanDependents must be a boolean, got %q", o))
		}
		opts.OrphanDependents = proto.Bool(b)
	}
	if vals := q["dryRun"]; len(vals) > 0 {
		opts.DryRun = vals
	}
	if _, err := dryRunOf(opts.DryRun, "DeleteOptions"); err != nil {
		return nil, err
	}
	return opts, nil
}

// dryRunOf reads dryRun values (query parameters or DeleteOptions.dryRun): none, or "All",
// the only value Kubernetes defines. Any other is refused as Kubernetes refuses it: a client
// that meant a rehearsal must never get a real write.
func dryRunOf(vals []string, optionsKind string) (bool, error) {
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewInvalid(optionsKind, "meta.k8s.io", "", apierrors.FieldErrors{
				apierrors.NotSupported("dryRun", vals, []string{"All"}),
			})
		}
	}
	return len(vals) > 0, nil
}

// successStatus is the body of a delete that removed the object at once.
func successStatus(res *registry.Resource, obj runtime.Object) *metav1.Status {
	m := obj.GetMetadata()
	return &metav1.Status{
		Kind: "Status", ApiVersion: "v1", Metadata: &metav1.ListMeta{}, Status: "Success",
		Details: &metav1.StatusDetails{Name: m.GetName(), Group: res.Kind.Group, Kind: res.Plural, Uid: m.GetUid()},
	}
}
