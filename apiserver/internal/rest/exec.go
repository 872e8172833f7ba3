package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/upgradeproxy"
)

// serveExec answers POST (SPDY) and GET (websocket) …/pods/{name}/exec: once the pipeline
// has checked the caller, the pod and the container, the client's upgrade request is
// proxied to the node's kubelet, whose answer (101 and then the stream, or a refusal) the
// client gets as it came. kubectl offers a websocket first and falls back to SPDY when
// that upgrade is refused, so a refusal must reach it as a status, never as a hang.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, call *pipeline.Call, info *request.Info) {
	opts, err := execOptions(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	target, err := call.Exec(r.Context(), opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if !upgradeproxy.IsUpgradeRequest(r) {
		writeError(w, apierrors.NewBadRequest("Upgrade request required"))
		return
	}
	upgradeproxy.Serve(w, r, upgradeproxy.Config{
		Location:  target.URL,
		Transport: s.pipeline.Kubelet.Transport,
		Log:       s.log,
		Attrs:     []any{"namespace", info.Namespace, "pod", info.Name, "container", target.Container, "node", target.Node},
		Error: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, pipeline.KubeletError(target.Node, target.URL.Host, err))
		},
	})
}

// execOptions reads pods/exec's query parameters (Kubernetes' PodExecOptions).
func execOptions(q url.Values) (pipeline.ExecOptions, error) {
	opts := pipeline.ExecOptions{Container: q.Get("container"), Command: q["command"]}
	for name, dst := range map[string]*bool{"stdin": &opts.Stdin, "stdout": &opts.Stdout, "stderr": &opts.Stderr, "tty": &opts.TTY} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return opts, apierrors.NewBadRequest(fmt.Sprintf("%s must be a boolean, got %q", name, v))
			}
			*dst = b
		}
	}
	return opts, nil
}
