package kubelet

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/upgradeproxy"
)

// The streaming endpoints (/exec, /attach, /portForward) share one shape: check the
// caller's upgrade request and its options, find the pod bound here, ask the runtime for a
// single-use streaming URL (CRI Exec, Attach or PortForward) and proxy the caller's upgrade
// to it, so the caller (kubectl, through the apiserver) and the runtime negotiate SPDY or
// websocket between themselves. Upstream's kubelet proxies the same way by default rather
// than redirecting, which keeps the runtime's streaming server on loopback.

// streamTransport reaches the runtime's streaming server (containerd's listens on
// 127.0.0.1, plain HTTP). It ignores HTTP_PROXY: the server is on this machine, and a
// proxy would not carry a protocol switch anyway.
var streamTransport = &http.Transport{
	DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost: -1, // each streaming URL is used once; nothing is worth keeping idle
}

// streamOptions are the standard streams of /exec and /attach in the wire form upstream's
// apiserver sends kubelets: input/output/error/tty set to "1".
type streamOptions struct {
	Stdin, Stdout, Stderr, TTY bool
}

// parseStreamOptions reads and checks them as upstream's kubelet does: at least one stream,
// and no stderr with a TTY (a terminal has one output, so stderr is dropped).
func parseStreamOptions(q url.Values) (streamOptions, error) {
	o := streamOptions{Stdin: q.Get("input") == "1", Stdout: q.Get("output") == "1", Stderr: q.Get("error") == "1", TTY: q.Get("tty") == "1"}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	if o.TTY {
		o.Stderr = false
	}
	return o, nil
}

// streamPod checks a streaming request in upstream's order: that it asks for a protocol
// switch, that parse accepts its options (400 with parse's error otherwise), and that it
// names a pod bound here (upstream's 404 "pod does not exist" otherwise). It returns that
// pod and its state in the runtime, or answers the request itself and returns ok false.
func (k *Kubelet) streamPod(w http.ResponseWriter, r *http.Request, parse func() error) (pod *corev1.Pod, rt *podRuntime, ok bool) {
	if !upgradeproxy.IsUpgradeRequest(r) {
		http.Error(w, "Upgrade request required", http.StatusBadRequest)
		return nil, nil, false
	}
	if err := parse(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	pod = k.podByName(r.PathValue("namespace"), r.PathValue("pod"))
	if pod == nil {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return nil, nil, false
	}
	rt, err := k.podRuntimeOf(r.Context(), pod.GetMetadata().GetUid())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, nil, false
	}
	return pod, rt, true
}

// proxyToRuntime asks the runtime for a streaming URL with prepare and proxies the
// caller's upgrade request to it. attrs name the pod (and container) in the log lines.
func (k *Kubelet) proxyToRuntime(w http.ResponseWriter, r *http.Request, prepare func() (string, error), attrs []any) {
	loc, err := prepare()
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
	upgradeproxy.Serve(w, r, upgradeproxy.Config{
		Location: u, Transport: streamTransport, Log: k.log, Attrs: attrs,
		Error: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, fmt.Sprintf("cannot reach the runtime's streaming server: %v", err), http.StatusBadGateway)
		},
	})
}

// podByName is the pod bound here with that namespace and name (nil when none).
func (k *Kubelet) podByName(ns, name string) *corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pods {
		if p.GetMetadata().GetNamespace() == ns && p.GetMetadata().GetName() == name {
			return p
		}
	}
	return nil
}

// podUIDByName is the uid of the pod bound here with that namespace and name ("" when none).
func (k *Kubelet) podUIDByName(ns, name string) string {
	return k.podByName(ns, name).GetMetadata().GetUid()
}
