package rest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"kubelab.io/apiserver/internal/kubeproto"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// MaxBodyBytes bounds a request body, as kube-apiserver's default (3 MiB).
const MaxBodyBytes = 3 << 20

const (
	mediaJSON = "application/json"
	mediaYAML = "application/yaml"
)

// readBody reads a request body, refusing oversized ones with 413.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= MaxBodyBytes {
		// The usual case: read into a buffer of the announced size, not one grown by doubling.
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if len(body) > MaxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLarge(fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
	}
	return body, nil
}

// bodyJSON turns a request body into JSON according to its Content-Type: JSON as is, YAML
// converted; anything else is 415. A missing Content-Type is read as JSON or YAML by sniffing.
func bodyJSON(r *http.Request, body []byte) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	media := ""
	if ct != "" {
		var err error
		if media, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, apierrors.NewUnsupportedMediaType(ct)
		}
	}
	switch media {
	case mediaJSON:
		return body, nil
	case mediaYAML, "application/x-yaml", "text/yaml":
		return runtime.YAMLToJSON(body)
	case kubeproto.MediaType:
		// The stock kubectl's typed commands send only this; read it as JSON.
		j, err := kubeproto.ToJSON(body)
		var kerr *kubeproto.Error
		switch {
		case errors.As(err, &kerr) && kerr.Unsupported:
			return nil, apierrors.NewUnsupportedMediaType(kubeproto.MediaType + ": " + kerr.Msg)
		case err != nil:
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return j, nil
	case "":
		return runtime.YAMLToJSON(body) // JSON passes through unchanged
	default:
		return nil, apierrors.NewUnsupportedMediaType(ct)
	}
}

// FieldValidation is the request's fieldValidation mode.
type fieldValidation string

const (
	validationStrict fieldValidation = "Strict"
	validationWarn   fieldValidation = "Warn"
	validationIgnore fieldValidation = "Ignore"
)

func fieldValidationOf(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "", "Warn":
		return validationWarn, nil
	case "Strict":
		return validationStrict, nil
	case "Ignore":
		return validationIgnore, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn or Strict, got %q", v))
	}
}

// decodeObject decodes a body into an object of the kind it names. Unknown fields are refused
// (Strict), reported as warnings (Warn, the default) or dropped (Ignore), as in Kubernetes.
func decodeObject(w http.ResponseWriter, r *http.Request) (runtime.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	mode, err := fieldValidationOf(r)
	if err != nil {
		return nil, err
	}
	j, err := bodyJSON(r, body)
	if err != nil {
		return nil, err
	}
	d, err := scheme.Scheme.DecodeJSON(j)
	if err != nil {
		return nil, decodeError(err)
	}
	if err := handleUnknown(w, d.GVK, d.Unknown, mode); err != nil {
		return nil, err
	}
	return d.Object, nil
}

// decodeInto decodes a body into a given type (Binding, Scale, DeleteOptions), whose kind
// the body need not name.
func decodeInto(w http.ResponseWriter, r *http.Request, body []byte, into proto.Message, gvk runtime.GroupVersionKind) error {
	mode, err := fieldValidationOf(r)
	if err != nil {
		return err
	}
	j, err := bodyJSON(r, body)
	if err != nil {
		return err
	}
	unknown, err := runtime.UnmarshalJSON(j, into)
	if err != nil {
		return decodeError(err)
	}
	return handleUnknown(w, gvk, unknown, mode)
}

func handleUnknown(w http.ResponseWriter, gvk runtime.GroupVersionKind, unknown []string, mode fieldValidation) error {
	if len(unknown) == 0 {
		return nil
	}
	switch mode {
	case validationStrict:
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v",
			gvk.Kind, gvk.Version, gvk.Kind, runtime.UnknownFieldsError(unknown)))
	case validationWarn:
		for _, f := range unknown {
			addWarning(w, fmt.Sprintf("unknown field %q", f))
		}
	}
	return nil
}

// addWarning sends a Warning header (RFC 7234 style, code 299), which kubectl prints.
func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(strings.ReplaceAll(msg, `\`, `\\`), `"`, `\"`)+`"`)
}

func decodeError(err error) error {
	var de *runtime.DecodeError
	if errors.As(err, &de) {
		return apierrors.NewBadRequest(err.Error())
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the request body could not be decoded: %v", err))
}

// responseMedia picks the response format from Accept: JSON unless YAML is asked for first.
// A request that accepts neither gets 406. Alternate representations (as=Table, …) are
// skipped here: only get, list and watch serve them (negotiateTransform, table.go).
func responseMedia(r *http.Request) (string, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaJSON, nil
	}
	for _, part := range strings.Split(accept, ",") {
		media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if params["as"] != "" {
			continue // a Table, PartialObjectMetadata or discovery view, not served for this verb
		}
		switch media {
		case mediaJSON, "*/*", "application/*":
			return mediaJSON, nil
		case mediaYAML:
			return mediaYAML, nil
		}
	}
	return "", apierrors.NewNotAcceptable(accept)
}

// writeObject writes obj with code in the format the client asked for.
func writeObject(w http.ResponseWriter, r *http.Request, code int, obj proto.Message) {
	media, err := responseMedia(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if media == mediaJSON {
		// Encoded into a pooled buffer and written from it, with no copy in between; the
		// header goes out only once the object encoded, so a failure is still a Status.
		err := runtime.WithJSON(obj, func(b []byte) {
			w.Header().Set("Content-Type", media)
			w.WriteHeader(code)
			_, _ = w.Write(b)
		})
		if err != nil {
			writeError(w, apierrors.NewInternalError(err))
		}
		return
	}
	b, err := runtime.MarshalJSON(obj)
	if err == nil {
		b, err = yaml.JSONToYAML(b)
	}
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeError writes err as a Status with its code; errors that carry no Status are 500s.
func writeError(w http.ResponseWriter, err error) {
	st := apierrors.ToStatus(err)
	b, mErr := runtime.MarshalJSON(st)
	if mErr != nil {
		http.Error(w, st.GetMessage(), int(st.GetCode()))
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.GetCode()))
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// writeJSON writes a hand-built document (discovery, version).
func writeJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(code)
	_, _ = w.Write(bytes.TrimSpace(b))
}
