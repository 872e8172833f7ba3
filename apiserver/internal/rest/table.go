package rest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/printers"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// Kubernetes' alternate representations of an object, asked for with Accept parameters:
// application/json;as=Table;v=v1;g=meta.k8s.io (kubectl get), and the metadata-only
// PartialObjectMetadata(List) that metadata informers use.
const (
	asTable       = "Table"
	asPartial     = "PartialObjectMetadata"
	asPartialList = "PartialObjectMetadataList"
)

// transform is the representation negotiated for a get, list or watch: as is "" for the
// object itself, in media (JSON or YAML); otherwise a meta.k8s.io kind of group version gv,
// always in JSON.
type transform struct {
	media string
	as    string
	gv    string
}

// negotiateTransform picks, in Accept order, the first representation kubelab serves:
// a meta.k8s.io/v1 or v1beta1 Table or PartialObjectMetadata(List) in JSON, or the object
// as JSON or YAML. Anything else is skipped, and nothing acceptable is 406.
func negotiateTransform(r *http.Request) (transform, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return transform{media: mediaJSON}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if as := params["as"]; as != "" {
			if media != mediaJSON || params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case asTable, asPartial, asPartialList:
				return transform{media: mediaJSON, as: as, gv: "meta.k8s.io/" + params["v"]}, nil
			}
			continue
		}
		switch media {
		case mediaJSON, "*/*", "application/*":
			return transform{media: mediaJSON}, nil
		case mediaYAML:
			return transform{media: mediaYAML}, nil
		}
	}
	return transform{}, apierrors.NewNotAcceptable(accept)
}

// tableOptions reads the includeObject parameter of a Table request, as Kubernetes'
// ValidateTableOptions.
func tableOptions(r *http.Request, tr transform) (printers.Options, error) {
	inc := r.URL.Query().Get("includeObject")
	if !printers.ValidIncludeObject(inc) {
		return printers.Options{}, apierrors.NewBadRequest(fmt.Sprintf(
			"Unable to convert to Table as requested: includeObject: Invalid value: %s: must be 'Metadata', 'Object', 'None', or empty", strconv.Quote(inc)))
	}
	// kube-apiserver always prints wide and leaves dropping priority columns to the client.
	return printers.Options{Wide: true, IncludeObject: printers.IncludeObject(inc), GroupVersion: tr.gv}, nil
}

// respondRead answers a get or list in the negotiated representation.
func respondRead(w http.ResponseWriter, r *http.Request, res *registry.Resource, obj proto.Message, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	tr, err := negotiateTransform(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if tr.as == "" {
		writeObject(w, r, http.StatusOK, obj)
		return
	}
	b, err := transformObject(r, tr, res, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	// kube-apiserver labels a Table or PartialObjectMetadata response plain application/json.
	writeJSON(w, http.StatusOK, b)
}

// transformObject encodes a get or list result as the Table or PartialObjectMetadata(List)
// tr asks for, as kube-apiserver's transformResponseObject.
func transformObject(r *http.Request, tr transform, res *registry.Resource, obj proto.Message) ([]byte, error) {
	list, isList := obj.(runtime.ListObject)
	switch tr.as {
	case asPartial:
		o, ok := obj.(runtime.Object)
		if isList || !ok {
			return nil, apierrors.NewNotAcceptable(fmt.Sprintf("you requested PartialObjectMetadata, but the requested object is a list (%T)", obj))
		}
		return printers.PartialObjectMetadata(o, tr.gv)
	case asPartialList:
		if !isList {
			return nil, apierrors.NewNotAcceptable(fmt.Sprintf("you requested PartialObjectMetadataList, but the requested object is not a list (%T)", obj))
		}
		return printers.PartialObjectMetadataList(list, tr.gv)
	}
	opts, err := tableOptions(r, tr)
	if err != nil {
		return nil, err
	}
	var t *printers.Table
	if isList {
		kind := strings.TrimSuffix(list.GetKind(), "List")
		if kind == "" {
			kind = res.Kind.Kind
		}
		items := runtime.Items(list)
		if opts.IncludeObject == printers.IncludeObj {
			for i, it := range items {
				items[i] = withTypeMeta(it, res)
			}
		}
		t = printers.TableFor(items, kind, opts)
		if m := list.GetMetadata(); m != nil {
			t.Metadata = printers.ListMeta{ResourceVersion: m.GetResourceVersion(), Continue: m.GetContinue()}
			if m.RemainingItemCount != nil {
				n := m.GetRemainingItemCount()
				t.Metadata.RemainingItemCount = &n
			}
		}
	} else {
		o, ok := obj.(runtime.Object)
		if !ok {
			return nil, apierrors.NewNotAcceptable(fmt.Sprintf("no Table for %T", obj))
		}
		if opts.IncludeObject == printers.IncludeObj {
			o = withTypeMeta(o, res)
		}
		t = printers.TableFor(o, objectKind(o, res), opts)
	}
	return json.Marshal(t)
}

// objectKind is obj's kind, or the resource's when the object does not name it.
func objectKind(obj runtime.Object, res *registry.Resource) string {
	if k := obj.GetKind(); k != "" {
		return k
	}
	return res.Kind.Kind
}

// withTypeMeta returns obj with kind and apiVersion set, copying it rather than writing to
// an object that may be shared.
func withTypeMeta(obj runtime.Object, res *registry.Resource) runtime.Object {
	if obj.GetKind() != "" && obj.GetApiVersion() != "" {
		return obj
	}
	c := proto.Clone(obj).(runtime.Object)
	gv := res.Kind.Version
	if res.Kind.Group != "" {
		gv = res.Kind.Group + "/" + gv
	}
	runtime.SetTypeMeta(c, gv, res.Kind.Kind)
	return c
}

// watchTransformer turns watch events into the negotiated representation: each event's
// object becomes a one-row Table (column definitions on the first event only, as
// kube-apiserver sends them) or its PartialObjectMetadata.
type watchTransformer struct {
	tr    transform
	opts  printers.Options
	res   *registry.Resource
	first bool
}

func newWatchTransformer(r *http.Request, tr transform, res *registry.Resource) (*watchTransformer, error) {
	wt := &watchTransformer{tr: tr, res: res, first: true}
	if tr.as == asTable {
		opts, err := tableOptions(r, tr)
		if err != nil {
			return nil, err
		}
		wt.opts = opts
	}
	return wt, nil
}

// eventLine encodes ev as a watch line, its object transformed.
func (wt *watchTransformer) eventLine(ev watch.Event) []byte {
	if ev.Type == watch.Error || ev.Object == nil {
		return eventLine(ev)
	}
	var b []byte
	var err error
	switch wt.tr.as {
	case asPartial, asPartialList:
		b, err = printers.PartialObjectMetadata(ev.Object, wt.tr.gv)
	default:
		opts := wt.opts
		opts.NoHeaders = !wt.first
		wt.first = false
		var t *printers.Table
		kind := objectKind(ev.Object, wt.res)
		if ev.Type == watch.Bookmark {
			// a bookmark carries only a resourceVersion: no row to print
			t = printers.TableFor([]runtime.Object{}, kind, opts)
			t.Metadata.ResourceVersion = ev.Object.GetMetadata().GetResourceVersion()
		} else {
			obj := ev.Object
			if opts.IncludeObject == printers.IncludeObj {
				obj = withTypeMeta(obj, wt.res)
			}
			t = printers.TableFor(obj, kind, opts)
		}
		b, err = json.Marshal(t)
	}
	if err != nil {
		return eventLine(watch.Event{Type: watch.Error, Status: apierrors.ToStatus(apierrors.NewInternalError(err))})
	}
	buf := []byte(`{"type":`)
	buf = strconv.AppendQuote(buf, string(ev.Type))
	buf = append(buf, `,"object":`...)
	buf = append(buf, b...)
	return append(buf, '}', '\n')
}
