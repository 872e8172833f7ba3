package rest

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kubelab.io/apiserver/internal/openapi"
	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/scheme"
)

// openAPIHandler serves /openapi/v3 (the index) and /openapi/v3/{api/v1 | apis/G/V} (one
// document per group version), built once from the registry, which does not change after
// start-up. Every authenticated user may read them (system:discovery), as in Kubernetes.
//
// /openapi/v2 is not served (404): kubectl reads v3 first and falls back to v2 only when v3
// fails, and v3 is what kubectl 1.32 uses for field validation, explain and apply.
func (s *Server) openAPIHandler() http.Handler {
	docs, buildErr := openapi.Publish(s.registry, scheme.Scheme, s.version.GitVersion)
	if buildErr != nil {
		s.log.Error("building the OpenAPI documents", "err", buildErr)
	}
	return s.authorized(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, apierrors.NewMethodNotSupported(apierrors.GroupResource{}, strings.ToLower(r.Method)))
			return
		}
		if buildErr != nil {
			writeError(w, apierrors.NewInternalError(buildErr))
			return
		}
		key := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
		if key == "" {
			w.Header().Set("Etag", strconv.Quote(docs.Index.Hash))
			w.Header().Set("Content-Type", mediaJSON)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(docs.Index.Body))
			return
		}
		doc, ok := docs.Lookup(key)
		if !ok {
			writeError(w, pipeline.NotFound())
			return
		}
		serveOpenAPIDocument(w, r, key, doc)
	})
}

// serveOpenAPIDocument writes one group version's document as kube-openapi's handler3 does:
// JSON only (a client asking for nothing else, such as protobuf alone, gets 406); a URL
// whose hash is current may be cached for good, and one whose hash is stale is redirected to
// the current URL.
func serveOpenAPIDocument(w http.ResponseWriter, r *http.Request, key string, doc openapi.Served) {
	w.Header().Add("Vary", "Accept")
	if !acceptsJSON(r.Header.Get("Accept")) {
		writeError(w, apierrors.NewNotAcceptable(r.Header.Get("Accept")))
		return
	}
	if h := r.URL.Query().Get("hash"); h != "" {
		if h != doc.Hash {
			http.Redirect(w, r, openapi.RelativeURL(key, doc.Hash), http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Etag", strconv.Quote(doc.Hash))
	w.Header().Set("Content-Type", mediaJSON)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(doc.Body))
}

// acceptsJSON reports whether an Accept header lets the server answer in JSON.
func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		media, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch media {
		case mediaJSON, "application/*", "*/*":
			return true
		}
	}
	return false
}
