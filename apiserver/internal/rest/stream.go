package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"kubelab.io/apiserver/internal/pipeline"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/streamtranslator"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/upgradeproxy"
)

// streamSubresources are the pods' subresources served by serveStream.
var streamSubresources = map[string]bool{"exec": true, "attach": true, "portforward": true}

// serveStream answers POST (SPDY) and GET (websocket) …/pods/{name}/exec, attach and
// portforward once the pipeline has checked the caller, the pod and the container.
//
// A websocket exec or attach offering channel.k8s.io v5 (or v4) is accepted here and
// translated to SPDY towards the kubelet, as upstream's apiserver does since 1.30
// (KEP-4006): runtimes speak SPDY only, and a websocket-only client must still get its
// shell. Port-forward's websocket tunnel (SPDY inside a websocket, what kubectl ≥ 1.31
// offers) is accepted once the kubelet has switched to SPDY, and relayed to it (1.31's
// TunnelingHandler). Everything else (SPDY) is proxied to the node's kubelet, whose
// answer (101 and then the stream, or a refusal) the client gets as it came. kubectl
// offers a websocket first and falls back to SPDY when that upgrade is refused, so a
// refusal must reach it as a status, never as a hang.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, call *pipeline.Call, info *request.Info) {
	target, err := streamTarget(r, call, info.Subresource)
	if err != nil {
		writeError(w, err)
		return
	}
	if !upgradeproxy.IsUpgradeRequest(r) {
		writeError(w, apierrors.NewBadRequest("Upgrade request required"))
		return
	}
	attrs := []any{"subresource", info.Subresource, "namespace", info.Namespace, "pod", info.Name, "node", target.Node}
	if target.Container != "" {
		attrs = append(attrs, "container", target.Container)
	}
	kubeletError := func(w http.ResponseWriter, _ *http.Request, err error) {
		writeError(w, pipeline.KubeletError(target.Node, target.URL.Host, err))
	}
	switch {
	case info.Subresource == "portforward" && streamtranslator.WantsTunnel(r):
		streamtranslator.Tunnel(w, r, streamtranslator.Config{
			Location: target.URL, Transport: s.pipeline.Kubelet.Transport, Error: kubeletError, Log: s.log, Attrs: attrs,
		})
	case info.Subresource != "portforward" && streamtranslator.Wants(r):
		o := target.Streams
		streamtranslator.Serve(w, r, streamtranslator.Config{
			Location: target.URL, Transport: s.pipeline.Kubelet.Transport, Log: s.log, Attrs: attrs,
			Options: streamtranslator.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, TTY: o.TTY},
		})
	default:
		upgradeproxy.Serve(w, r, upgradeproxy.Config{
			Location: target.URL, Transport: s.pipeline.Kubelet.Transport, Error: kubeletError, Log: s.log, Attrs: attrs,
		})
	}
}

// streamTarget reads the subresource's query parameters and has the pipeline check them.
func streamTarget(r *http.Request, call *pipeline.Call, subresource string) (*pipeline.StreamTarget, error) {
	q := r.URL.Query()
	switch subresource {
	case "exec":
		streams, err := streamOptions(q)
		if err != nil {
			return nil, err
		}
		return call.Exec(r.Context(), pipeline.ExecOptions{Container: q.Get("container"), Command: q["command"], StreamOptions: streams})
	case "attach":
		streams, err := streamOptions(q)
		if err != nil {
			return nil, err
		}
		return call.Attach(r.Context(), pipeline.AttachOptions{Container: q.Get("container"), StreamOptions: streams})
	default:
		ports, err := portOptions(q)
		if err != nil {
			return nil, err
		}
		return call.PortForward(r.Context(), pipeline.PortForwardOptions{Ports: ports})
	}
}

// streamOptions reads the stdin, stdout, stderr and tty parameters of PodExecOptions and
// PodAttachOptions.
func streamOptions(q url.Values) (pipeline.StreamOptions, error) {
	var opts pipeline.StreamOptions
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

// portOptions reads PodPortForwardOptions' ports, repeated, each a TCP port number.
func portOptions(q url.Values) ([]int32, error) {
	var ports []int32
	for _, v := range q["ports"] {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("ports must be port numbers between 1 and 65535, got %q", v))
		}
		ports = append(ports, int32(n))
	}
	return ports, nil
}
