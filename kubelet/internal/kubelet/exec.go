package kubelet

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// execOptions are /exec's query parameters: the streams (stream.go) and the command,
// repeated, as upstream's apiserver sends them.
type execOptions struct {
	Command []string
	streamOptions
}

// parseExecOptions reads and checks them as upstream's kubelet does.
func parseExecOptions(q url.Values) (execOptions, error) {
	o := execOptions{Command: q["command"]}
	if len(o.Command) == 0 {
		return o, errors.New("you must specify at least one command for the container")
	}
	var err error
	o.streamOptions, err = parseStreamOptions(q)
	return o, err
}

// serveExec answers /exec/{namespace}/{pod}/{container}: the runtime prepares the command
// in the running container (CRI Exec) and the caller's upgrade goes to its streaming URL.
func (k *Kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	var opts execOptions
	pod, rt, ok := k.streamPod(w, r, func() (err error) { opts, err = parseExecOptions(r.URL.Query()); return err })
	if !ok {
		return
	}
	cname := r.PathValue("container")
	c := rt.latest(cname)
	if c == nil || !c.running() {
		// Upstream's words; kubectl shows them after "unable to upgrade connection: ".
		http.Error(w, fmt.Sprintf("container not found (%q)", cname), http.StatusInternalServerError)
		return
	}
	attrs := []any{"namespace", pod.GetMetadata().GetNamespace(), "pod", pod.GetMetadata().GetName(), "container", cname, "containerID", c.ID}
	k.log.Info("exec", append(attrs, "command", opts.Command, "tty", opts.TTY, "stdin", opts.Stdin, "protocol", r.Header.Get("Upgrade"))...)
	k.proxyToRuntime(w, r, func() (string, error) {
		return k.rt.ExecURL(r.Context(), &runtimeapi.ExecRequest{
			ContainerId: c.ID, Cmd: opts.Command, Tty: opts.TTY, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
		})
	}, attrs)
}
