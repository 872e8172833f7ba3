package rest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/proto/apierrors"
)

// serveLog answers GET …/pods/{name}/log: the container's log, streamed from its node's
// kubelet as plain text. With follow, every chunk is flushed as it arrives, so the client
// sees lines as the container writes them; the stream ends when the client goes away, the
// kubelet ends it, or the server shuts down.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, call *pipeline.Call) {
	opts, err := logOptions(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := call.Logs(r.Context(), opts)
	if err != nil {
		writeError(w, err)
		return
	}
	defer body.Close()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if opts.Follow && flusher != nil {
		flusher.Flush() // the client learns the stream is open before the first line
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if opts.Follow && flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			if err != io.EOF && r.Context().Err() == nil {
				s.log.Info("log stream from kubelet ended", "uri", r.URL.RequestURI(), "err", err)
			}
			return
		}
	}
}

// logOptions reads pods/log's query parameters (Kubernetes' PodLogOptions).
func logOptions(q url.Values) (pipeline.LogOptions, error) {
	opts := pipeline.LogOptions{Container: q.Get("container")}
	var err error
	for name, dst := range map[string]*bool{"follow": &opts.Follow, "previous": &opts.Previous, "timestamps": &opts.Timestamps} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.ParseBool(v); err != nil {
				return opts, apierrors.NewBadRequest(fmt.Sprintf("%s must be a boolean, got %q", name, v))
			}
		}
	}
	for name, dst := range map[string]**int64{"sinceSeconds": &opts.SinceSeconds, "tailLines": &opts.TailLines, "limitBytes": &opts.LimitBytes} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return opts, apierrors.NewBadRequest(fmt.Sprintf("%s must be an integer, got %q", name, v))
			}
			*dst = &n
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("sinceTime must be an RFC 3339 time, got %q", v))
		}
		opts.SinceTime = t.UTC().Format(time.RFC3339)
	}
	if v := q.Get("insecureSkipTLSVerifyBackend"); v != "" {
		if skip, _ := strconv.ParseBool(v); skip {
			return opts, apierrors.NewBadRequest("insecureSkipTLSVerifyBackend is not supported: this apiserver always verifies the kubelet's serving certificate")
		}
	}
	return opts, nil
}
