package pipeline

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// The streaming subresources (pods/exec, pods/attach, pods/portforward) are served alike:
// the pipeline checks the caller, the pod and its container and returns the kubelet URL
// (a StreamTarget); the REST layer proxies the client's upgrade request there with
// p.Kubelet's transport.

// StreamOptions are the standard streams of pods/exec and pods/attach.
type StreamOptions struct {
	Stdin, Stdout, Stderr, TTY bool
}

// query is the kubelet's query for the streams, in the wire form upstream's apiserver sends
// kubelets: input/output/error/tty set to "1".
func (o StreamOptions) query() url.Values {
	q := url.Values{}
	for name, on := range map[string]bool{"input": o.Stdin, "output": o.Stdout, "error": o.Stderr, "tty": o.TTY} {
		if on {
			q.Set(name, "1")
		}
	}
	return q
}

func (o StreamOptions) check() error {
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return nil
}

// ExecOptions are the parameters of pods/exec, as Kubernetes' PodExecOptions.
type ExecOptions struct {
	Container string
	Command   []string
	StreamOptions
}

// AttachOptions are the parameters of pods/attach, as Kubernetes' PodAttachOptions.
type AttachOptions struct {
	Container string
	StreamOptions
}

// PortForwardOptions are the parameters of pods/portforward, as Kubernetes'
// PodPortForwardOptions. Ports matter to websocket clients only; a SPDY client names each
// stream's port in that stream's headers.
type PortForwardOptions struct {
	Ports []int32
}

// StreamTarget is where a streaming request goes: the kubelet URL, and for logs and error
// messages the node's name and the container ("" for pods/portforward). Streams are the
// streams asked for (exec and attach), which a websocket session translated to SPDY
// opens itself.
type StreamTarget struct {
	URL             *url.URL
	Node, Container string
	Streams         StreamOptions
}

// Exec serves pods/exec up to the stream: the kubelet's /exec URL for the command in the
// pod's container.
func (c *Call) Exec(ctx context.Context, opts ExecOptions) (*StreamTarget, error) {
	if err := c.authorizeStream(ctx, "exec"); err != nil {
		return nil, err
	}
	if len(opts.Command) == 0 {
		return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	q := opts.query()
	q["command"] = opts.Command
	return c.containerStream(ctx, "exec", opts.Container, opts.StreamOptions, q, "cannot exec into a container in a completed pod; current phase is %s")
}

// Attach serves pods/attach up to the stream: the kubelet's /attach URL for the pod's
// container. The container's own stdin and tty settings are the kubelet's and runtime's
// business, as upstream's apiserver leaves them: without stdin: true the runtime has no
// input to join, and the kubelet takes the terminal from the spec.
func (c *Call) Attach(ctx context.Context, opts AttachOptions) (*StreamTarget, error) {
	if err := c.authorizeStream(ctx, "attach"); err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	return c.containerStream(ctx, "attach", opts.Container, opts.StreamOptions, opts.query(), "cannot attach a container in a completed pod; current phase is %s")
}

// PortForward serves pods/portforward up to the stream: the kubelet's /portForward URL
// for the pod, which must be on a node and not completed (its sandbox is gone then).
func (c *Call) PortForward(ctx context.Context, opts PortForwardOptions) (*StreamTarget, error) {
	if err := c.authorizeStream(ctx, "portforward"); err != nil {
		return nil, err
	}
	pod, err := c.getPod(ctx)
	if err != nil {
		return nil, err
	}
	if err := notCompleted(pod, "unable to forward port because pod is not running. Current status=%s"); err != nil {
		return nil, err
	}
	q := url.Values{}
	if len(opts.Ports) > 0 {
		ports := make([]string, len(opts.Ports))
		for i, p := range opts.Ports {
			ports[i] = strconv.Itoa(int(p))
		}
		// Upstream's apiserver hands the kubelet one comma-separated "port".
		q.Set("port", strings.Join(ports, ","))
	}
	u, node, err := c.kubeletURL(ctx, pod, "portForward", "", q)
	if err != nil {
		return nil, err
	}
	return &StreamTarget{URL: u, Node: node}, nil
}

// authorizeStream checks that the call is for subresource, and that the caller may create
// it: also for a websocket's GET, as Kubernetes 1.35's
// AuthorizePodWebsocketUpgradeCreatePermission requires, so "get" alone never opens a
// shell, a process's streams or a pod's ports.
func (c *Call) authorizeStream(ctx context.Context, subresource string) error {
	info := c.info
	if info.Subresource != subresource {
		return apierrors.NewBadRequest(fmt.Sprintf("%s/%s is not %s", info.Resource, info.Subresource, subresource))
	}
	if info.Verb == "create" {
		return nil
	}
	create := *info
	create.Verb = "create"
	return c.p.Authorize(ctx, &create)
}

// containerStream is the kubelet's /{endpoint} URL for the pod's container (the pod's
// only one when container is empty) once the pod is found not completed; completed is
// the refusal's message, with the pod's phase.
func (c *Call) containerStream(ctx context.Context, endpoint, container string, streams StreamOptions, q url.Values, completed string) (*StreamTarget, error) {
	pod, container, err := c.podContainer(ctx, container)
	if err != nil {
		return nil, err
	}
	if err := notCompleted(pod, completed); err != nil {
		return nil, err
	}
	u, node, err := c.kubeletURL(ctx, pod, endpoint, container, q)
	if err != nil {
		return nil, err
	}
	return &StreamTarget{URL: u, Node: node, Container: container, Streams: streams}, nil
}

// notCompleted refuses a pod whose containers have all terminated for good: there is
// nothing left to stream to. msg has the phase for its verb.
func notCompleted(pod *corev1.Pod, msg string) error {
	if phase := pod.GetStatus().GetPhase(); phase == "Succeeded" || phase == "Failed" {
		return apierrors.NewBadRequest(fmt.Sprintf(msg, phase))
	}
	return nil
}
