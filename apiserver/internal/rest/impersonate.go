package rest

import (
	"net/http"

	"kubelab.io/apiserver/internal/authn"
	"kubelab.io/apiserver/internal/request"
)

// impersonate serves a request that carries Impersonate-* headers as the identity they
// name, once the authenticated requester has been allowed `impersonate` on every part of it
// by the same authorizer chain as every other request. It runs right after authenticate, so
// nothing further down sees the requester or the headers (they are removed, as upstream
// does); the requester stays on the recorder for the audit event and the log line.
func (s *Server) impersonate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		im, err := authn.ParseImpersonation(r.Header)
		if err != nil {
			writeError(w, err)
			return
		}
		requester := request.UserFrom(r.Context())
		if im == nil || requester == nil { // health paths carry no user and serve no one
			next.ServeHTTP(w, r)
			return
		}
		u, err := authn.Impersonate(r.Context(), im, s.pipeline.Authorize)
		if err != nil {
			writeError(w, err)
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.impersonated = u
		}
		for k := range r.Header {
			if authn.IsImpersonationHeader(k) {
				r.Header.Del(k)
			}
		}
		next.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), u)))
	})
}
