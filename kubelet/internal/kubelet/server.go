package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"kubelab.io/proto/runtime"
)

// Handler is the kubelet's API: /healthz, /pods (the pods bound here, as a PodList),
// /containerLogs/{namespace}/{pod}/{container} with follow, tailLines, previous and
// timestamps, reading the CRI log files, and the streaming endpoints (stream.go)
// /exec/{namespace}/{pod}/{container}, /attach/{namespace}/{pod}/{container} and
// /portForward/{namespace}/{pod}.
func (k *Kubelet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /pods", k.servePods)
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", k.serveLogs)
	// GET for websocket clients, POST for SPDY ones, as upstream's kubelet serves both.
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/{namespace}/{pod}/{container}", k.serveExec)
		mux.HandleFunc(m+" /attach/{namespace}/{pod}/{container}", k.serveAttach)
		mux.HandleFunc(m+" /portForward/{namespace}/{pod}", k.servePortForward)
	}
	return mux
}

func (k *Kubelet) servePods(w http.ResponseWriter, _ *http.Request) {
	k.mu.Lock()
	var items []json.RawMessage
	for _, p := range k.pods {
		b, err := runtime.MarshalJSON(p)
		if err == nil {
			items = append(items, b)
		}
	}
	k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "PodList", "apiVersion": "v1", "metadata": map[string]any{}, "items": items})
}

func (k *Kubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, cname := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"
	previous := q.Get("previous") == "true" || q.Get("previous") == "1"
	timestamps := q.Get("timestamps") == "true" || q.Get("timestamps") == "1"
	tail := -1
	if t := q.Get("tailLines"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			http.Error(w, "tailLines must be a non-negative integer", http.StatusBadRequest)
			return
		}
		tail = n
	}
	uid := k.podUIDByName(ns, name)
	if uid == "" {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on this node", ns, name), http.StatusNotFound)
		return
	}
	rt, err := k.podRuntimeOf(r.Context(), uid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	c := rt.latest(cname)
	if previous {
		c = rt.previous(cname)
	}
	if c == nil {
		what := "container"
		if previous {
			what = "previous terminated container"
		}
		http.Error(w, fmt.Sprintf("%s %q in pod %q not found", what, cname, name), http.StatusBadRequest)
		return
	}
	path := c.LogPath
	if !filepath.IsAbs(path) {
		path = filepath.Join(podLogDir(k.sandboxOpts.PodLogRoot, k.desiredPod(uid)), path)
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, fmt.Sprintf("open log: %v", err), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	if err := copyCRILog(r.Context(), w, f, tail, timestamps); err != nil {
		return
	}
	if !follow || previous {
		return
	}
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	// Follow: keep reading what the runtime appends while the container runs.
	rd := bufio.NewReader(f)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			if out, ok := parseCRILine(line, timestamps); ok {
				if _, werr := w.Write(out); werr != nil {
					return
				}
				if flusher != nil {
					flusher.Flush()
				}
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return
		}
		if len(line) > 0 {
			// A partial line: seek back and wait for the rest.
			_, _ = f.Seek(-int64(len(line)), io.SeekCurrent)
			rd.Reset(f)
		}
		st, serr := k.rt.ContainerStatus(r.Context(), c.ID)
		if serr != nil || st.GetFinishedAt() != 0 {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// parseCRILine turns one CRI log line ("<RFC3339Nano> <stream> <P|F> <text>") into the
// text kubectl logs shows.
func parseCRILine(line []byte, timestamps bool) ([]byte, bool) {
	parts := bytes.SplitN(bytes.TrimSuffix(line, []byte("\n")), []byte(" "), 4)
	if len(parts) < 3 {
		return nil, false
	}
	text := []byte{}
	if len(parts) == 4 {
		text = parts[3]
	}
	var out []byte
	if timestamps {
		out = append(out, parts[0]...)
		out = append(out, ' ')
	}
	out = append(out, text...)
	if string(parts[2]) != "P" { // a partial line's rest follows on the next line
		out = append(out, '\n')
	}
	return out, true
}

// copyCRILog writes the log's current content (its last tail lines when tail >= 0).
func copyCRILog(ctx context.Context, w io.Writer, f *os.File, tail int, timestamps bool) error {
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	// Leave a trailing partial line for the follower.
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		if _, err := f.Seek(int64(i+1-len(data)), io.SeekCurrent); err != nil {
			return err
		}
		data = data[:i+1]
	}
	var lines [][]byte
	for line := range bytes.Lines(data) {
		if out, ok := parseCRILine(line, timestamps); ok {
			lines = append(lines, out)
		}
	}
	if tail >= 0 && len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	for _, l := range lines {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := w.Write(l); err != nil {
			return err
		}
	}
	return nil
}
