package kubelet

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// portForwardPorts reads /portForward's "port" parameters as upstream's kubelet does. Only
// a websocket names its ports in the URL (one channel pair per port, fixed at connect
// time); a SPDY client names each stream's port in that stream's headers, so its URL
// carries none and any it carries are ignored.
func portForwardPorts(r *http.Request) ([]int32, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return nil, nil
	}
	return parsePorts(r.URL.Query())
}

// parsePorts is the "port" values of q, each one port or a comma-separated list.
func parsePorts(q url.Values) ([]int32, error) {
	values := q["port"]
	if len(values) == 0 {
		return nil, errors.New(`query parameter "port" is required`)
	}
	var ports []int32
	for _, v := range values {
		if v == "" {
			return nil, errors.New(`query parameter "port" cannot be empty`)
		}
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("unable to parse %q as a port: %w", v, err)
			}
			if n < 1 {
				return nil, fmt.Errorf("port %q must be > 0", v)
			}
			ports = append(ports, int32(n))
		}
	}
	return ports, nil
}

// servePortForward answers /portForward/{namespace}/{pod}: the runtime opens connections
// to ports inside the pod's network namespace (CRI PortForward on its ready sandbox), and
// the caller's upgrade goes to its streaming URL.
func (k *Kubelet) servePortForward(w http.ResponseWriter, r *http.Request) {
	var ports []int32
	pod, rt, ok := k.streamPod(w, r, func() (err error) { ports, err = portForwardPorts(r); return err })
	if !ok {
		return
	}
	ns, name := pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName()
	sb := rt.readySandbox()
	if sb == nil {
		// Upstream's words, with its pod full name (name_namespace).
		http.Error(w, fmt.Sprintf("pod not found (%q)", name+"_"+ns), http.StatusInternalServerError)
		return
	}
	attrs := []any{"namespace", ns, "pod", name, "sandboxID", sb.ID}
	k.log.Info("port-forward", append(attrs, "ports", ports, "protocol", r.Header.Get("Upgrade"))...)
	k.proxyToRuntime(w, r, func() (string, error) {
		return k.rt.PortForwardURL(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sb.ID, Port: ports})
	}, attrs)
}
