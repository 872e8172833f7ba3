package pipeline

import (
	"context"
	"fmt"
	"net/url"

	"kubelab.io/proto/apierrors"
)

// ExecOptions are the parameters of pods/exec, as Kubernetes' PodExecOptions.
type ExecOptions struct {
	Container                  string
	Command                    []string
	Stdin, Stdout, Stderr, TTY bool
}

// query is the kubelet's /exec query for the options, in the wire form upstream's
// apiserver sends kubelets: command repeated, and input/output/error/tty set to "1".
func (o ExecOptions) query() url.Values {
	q := url.Values{"command": o.Command}
	for name, on := range map[string]bool{"input": o.Stdin, "output": o.Stdout, "error": o.Stderr, "tty": o.TTY} {
		if on {
			q.Set(name, "1")
		}
	}
	return q
}

// ExecTarget is where a pods/exec stream goes: the kubelet URL, and for logs and error
// messages the node's name and the container (the pod's only one when none was named).
type ExecTarget struct {
	URL             *url.URL
	Node, Container string
}

// Exec serves pods/exec up to the stream: it checks that the caller may create pods/exec
// (also for a websocket's GET, as Kubernetes 1.35's AuthorizePodWebsocketUpgradeCreatePermission
// requires, so "get" alone never opens a shell), that the pod is bound to a node and not
// completed, and that the container is one of its own, and returns the kubelet's /exec
// URL. The caller proxies the client's upgrade request there with p.Kubelet's transport.
func (c *Call) Exec(ctx context.Context, opts ExecOptions) (*ExecTarget, error) {
	info := c.info
	if info.Subresource != "exec" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s/%s is not exec", info.Resource, info.Subresource))
	}
	if info.Verb != "create" {
		create := *info
		create.Verb = "create"
		if err := c.p.Authorize(ctx, &create); err != nil {
			return nil, err
		}
	}
	if len(opts.Command) == 0 {
		return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
	}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	pod, container, err := c.podContainer(ctx, opts.Container)
	if err != nil {
		return nil, err
	}
	if phase := pod.GetStatus().GetPhase(); phase == "Succeeded" || phase == "Failed" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot exec into a container in a completed pod; current phase is %s", phase))
	}
	u, node, err := c.kubeletURL(ctx, pod, "exec", container, opts.query())
	if err != nil {
		return nil, err
	}
	return &ExecTarget{URL: u, Node: node, Container: container}, nil
}
