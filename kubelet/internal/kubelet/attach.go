package kubelet

import (
	"fmt"
	"net/http"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// serveAttach answers /attach/{namespace}/{pod}/{container}: the caller's streams join the
// running container's main process (CRI Attach) through the runtime's streaming URL.
//
// Whether there is a terminal is the container's own setting (spec tty), not the
// caller's: a process's terminal cannot change after it started, so upstream's kubelet
// takes it from the pod, and with a terminal there is no separate stderr to attach.
func (k *Kubelet) serveAttach(w http.ResponseWriter, r *http.Request) {
	var opts streamOptions
	pod, rt, ok := k.streamPod(w, r, func() (err error) { opts, err = parseStreamOptions(r.URL.Query()); return err })
	if !ok {
		return
	}
	ns, name, cname := pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName(), r.PathValue("container")
	var tty, declared bool
	for _, c := range pod.GetSpec().GetContainers() {
		if c.GetName() == cname {
			tty, declared = c.GetTty(), true
		}
	}
	c := rt.latest(cname)
	if !declared || c == nil || !c.running() {
		// Upstream's words, with its pod full name (name_namespace).
		http.Error(w, fmt.Sprintf("container %s not found in pod %s_%s", cname, name, ns), http.StatusInternalServerError)
		return
	}
	stderr := opts.Stderr && !tty
	attrs := []any{"namespace", ns, "pod", name, "container", cname, "containerID", c.ID}
	k.log.Info("attach", append(attrs, "tty", tty, "stdin", opts.Stdin, "protocol", r.Header.Get("Upgrade"))...)
	k.proxyToRuntime(w, r, func() (string, error) {
		return k.rt.AttachURL(r.Context(), &runtimeapi.AttachRequest{
			ContainerId: c.ID, Tty: tty, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: stderr,
		})
	}, attrs)
}
