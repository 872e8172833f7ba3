package rest

import (
	"net/http"
	"strconv"
	"time"

	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// DefaultWatchTimeout ends watches that named no timeoutSeconds, so clients re-watch now and
// then and load spreads over apiserver replicas (Kubernetes picks 30-60 minutes).
const DefaultWatchTimeout = 30 * time.Minute

// serveWatch streams watch events as JSON lines, {"type":"ADDED","object":{…}}, flushing each.
// A resourceVersion too old to resume from is answered, as Kubernetes does, with a 200 and a
// single ERROR event carrying a 410 Status, so clients handle it like any stream failure.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, call *pipeline.Call, info *request.Info) {
	opts, err := listOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	tr, err := negotiateTransform(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var wt *watchTransformer // events as Tables or PartialObjectMetadata, if asked for
	if tr.as != "" {
		if wt, err = newWatchTransformer(r, tr, call.Resource()); err != nil {
			writeError(w, err)
			return
		}
	}
	timeout := DefaultWatchTimeout
	if t := r.URL.Query().Get("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			writeError(w, apierrors.NewBadRequest("timeoutSeconds must be a non-negative integer"))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, apierrors.NewInternalError(errNoFlush))
		return
	}
	ctx := r.Context()
	wi, err := call.Watch(ctx, opts)
	if err != nil && !apierrors.IsGone(err) {
		writeError(w, err)
		return
	}
	done := s.metrics.WatchStarted(info.APIGroup, info.Resource)
	defer done()

	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	if err != nil { // Gone
		_, _ = w.Write(eventLine(watch.Event{Type: watch.Error, Status: apierrors.ToStatus(err)}))
		flusher.Flush()
		return
	}
	defer wi.Stop()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return
			}
			line := eventLine
			if wt != nil {
				line = wt.eventLine
			}
			if _, err := w.Write(line(ev)); err != nil {
				return
			}
			flusher.Flush()
			s.metrics.WatchEvent(info.APIGroup, info.Resource)
		}
	}
}

type flushError struct{}

func (flushError) Error() string { return "streaming is not supported by this connection" }

var errNoFlush = flushError{}

// eventLine encodes one watch event as a line of JSON.
func eventLine(ev watch.Event) []byte {
	buf := []byte(`{"type":`)
	buf = strconv.AppendQuote(buf, string(ev.Type))
	buf = append(buf, `,"object":`...)
	var err error
	var out []byte
	if ev.Type == watch.Error {
		out, err = runtime.AppendJSON(buf, ev.Status)
	} else {
		out, err = runtime.AppendJSON(buf, ev.Object)
	}
	if err != nil {
		out, _ = runtime.AppendJSON(buf, apierrors.ToStatus(apierrors.NewInternalError(err)))
	}
	return append(out, '}', '\n')
}
