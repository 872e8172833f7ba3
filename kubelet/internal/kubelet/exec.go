package kubelet

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	krt "kubelab.io/kubelet/runtime"
	"kubelab.io/proto/upgradeproxy"
)

// streamTransport reaches the runtime's streaming server (containerd's listens on
// 127.0.0.1, plain HTTP). It ignores HTTP_PROXY: the server is on this machine, and a
// proxy would not carry a protocol switch anyway.
var streamTransport = &http.Transport{
	DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost: -1, // each exec URL is used once; nothing is worth keeping idle
}

// execOptions are /exec's query parameters as the apiserver sends them (Kubernetes'
// wire form: command repeated, input/output/error/tty set to "1").
type execOptions struct {
	Command                    []string
	Stdin, Stdout, Stderr, TTY bool
}

// parseExecOptions reads and checks them as upstream's kubelet does: at least one stream,
// and no stderr with a TTY (a terminal has one output, so stderr is dropped).
func parseExecOptions(q url.Values) (execOptions, error) {
	o := execOptions{
		Command: q["command"],
		Stdin:   q.Get("input") == "1", Stdout: q.Get("output") == "1", Stderr: q.Get("error") == "1", TTY: q.Get("tty") == "1",
	}
	if len(o.Command) == 0 {
		return o, errors.New("you must specify at least one command for the container")
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	if o.TTY && o.Stderr {
		o.Stderr = false
	}
	return o, nil
}

// serveExec answers /exec/{namespace}/{pod}/{container}: it asks the runtime to prepare the
// command (CRI Exec) and proxies the caller's upgrade request to the streaming URL the
// runtime returns, so the caller (kubectl, through the apiserver) and the runtime
// negotiate SPDY or websocket between themselves. Upstream's kubelet proxies the same
// way by default rather than redirecting, which keeps the runtime's streaming server on
// loopback.
func (k *Kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	ns, name, cname := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	if !upgradeproxy.IsUpgradeRequest(r) {
		http.Error(w, "Upgrade request required", http.StatusBadRequest)
		return
	}
	opts, err := parseExecOptions(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	uid := k.podUIDByName(ns, name)
	if uid == "" {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	}
	rt, err := k.podRuntimeOf(r.Context(), uid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	c := rt.latest(cname)
	if c == nil || !c.running() {
		// Upstream's words; kubectl shows them after "unable to upgrade connection: ".
		http.Error(w, fmt.Sprintf("container not found (%q)", cname), http.StatusInternalServerError)
		return
	}
	loc, err := k.rt.ExecURL(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: c.ID, Cmd: opts.Command, Tty: opts.TTY, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
	})
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, krt.ErrNotFound) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme == "" || u.Host == "" {
		http.Error(w, fmt.Sprintf("the runtime returned an unusable streaming URL %q", loc), http.StatusInternalServerError)
		return
	}
	attrs := []any{"namespace", ns, "pod", name, "container", cname, "containerID", c.ID}
	k.log.Info("exec", append(attrs, "command", opts.Command, "tty", opts.TTY, "stdin", opts.Stdin, "protocol", r.Header.Get("Upgrade"))...)
	upgradeproxy.Serve(w, r, upgradeproxy.Config{
		Location: u, Transport: streamTransport, Log: k.log, Attrs: attrs,
		Error: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, fmt.Sprintf("cannot reach the runtime's streaming server: %v", err), http.StatusBadGateway)
		},
	})
}

// podUIDByName is the uid of the pod bound here with that namespace and name ("" when none).
func (k *Kubelet) podUIDByName(ns, name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for u, p := range k.pods {
		if p.GetMetadata().GetNamespace() == ns && p.GetMetadata().GetName() == name {
			return u
		}
	}
	return ""
}
