package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// defaultContainerAnnotation names the container kubectl picks when none is given.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

type execFlags struct {
	container  string
	stdin, tty bool
	quiet      bool
}

// NewCmdExec is `kubectl exec POD [-c C] [-i] [-t] -- COMMAND [args...]`: a
// v5.channel.k8s.io websocket to pods/{name}/exec, which the apiserver carries to the
// kubelet. kubectl exits with the remote command's exit code.
func NewCmdExec(f *Factory, streams Streams) *cobra.Command {
	o := &execFlags{}
	c := &cobra.Command{
		Use:                   "exec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND [args...]",
		DisableFlagsInUseLine: true,
		Short:                 "Execute a command in a container",
		Long:                  "Execute a command in a container.",
		Example: `  # Get output from running the 'date' command from pod mypod, using the first container by default
  kubectl exec mypod -- date

  # Get output from running 'date' command from ruby-container from pod mypod
  kubectl exec mypod -c ruby-container -- date

  # Switch to raw terminal mode; sends stdin to 'bash' in ruby-container from pod mypod
  # and sends stdout/stderr from 'bash' back to the client
  kubectl exec mypod -c ruby-container -i -t -- bash -il`,
		RunE: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			if len(args) == 0 || dash == 0 {
				return errors.New("pod, type/name or --filename must be specified")
			}
			var command []string
			switch {
			case dash > 0:
				command = args[dash:]
			case len(args) > 1:
				return usageError("kubectl exec", "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead")
			}
			if len(command) == 0 {
				return errors.New("you must specify at least one command for the container")
			}
			return o.run(c.Context(), f, streams, args[0], command)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&o.container, "container", "c", "", "Container name. If omitted, use the kubectl.kubernetes.io/default-container annotation for selecting the container to be attached or the first container in the pod will be chosen")
	fl.BoolVarP(&o.stdin, "stdin", "i", false, "Pass stdin to the container")
	fl.BoolVarP(&o.tty, "tty", "t", false, "Stdin is a TTY")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "Only print output from the remote session")
	return c
}

func (o *execFlags) run(ctx context.Context, f *Factory, streams Streams, arg string, command []string) error {
	target, err := getPod(ctx, f, arg, "cannot exec into %s: only pods are supported")
	if err != nil {
		return err
	}
	pod := target.pod
	if err := refuseCompleted(pod, "cannot exec into a container in a completed pod; current phase is %s"); err != nil {
		return err
	}
	container, err := pickContainer(pod, o.container, o.quiet, streams.ErrOut)
	if err != nil {
		return err
	}

	t := setupTTY(streams, o.stdin, o.tty, o.quiet)
	defer t.restore()
	return streamRemote(ctx, streams, target, "exec", url.Values{"container": {container}, "command": command}, o.stdin, t)
}

// refuseCompleted is msg (with the phase) for a pod whose containers have all ended:
// there is no process left to stream with.
func refuseCompleted(pod Object, msg string) error {
	if phase := nestedString(pod, "status", "phase"); phase == "Succeeded" || phase == "Failed" {
		return fmt.Errorf(msg, phase)
	}
	return nil
}

// streamRemote runs an exec or attach session (subresource) of target's pod over a
// v5.channel.k8s.io websocket, with q (container, command) and the streams that the local
// ones call for: stdout always; stdin when asked; stderr apart unless there is a terminal,
// which has one output. A remote non-zero exit is reported and becomes kubectl's exit code.
func streamRemote(ctx context.Context, streams Streams, target *podTarget, subresource string, q url.Values, stdin bool, t execTTY) error {
	q.Set("stdout", "true")
	rs := remoteStreams{stdout: streams.Out, sizes: t.sizes}
	if stdin {
		q.Set("stdin", "true")
		rs.stdin = streams.In
	}
	if t.on {
		q.Set("tty", "true")
	} else {
		q.Set("stderr", "true")
		rs.stderr = streams.ErrOut
	}
	path := target.pods.Path(target.ns, nestedString(target.pod, "metadata", "name"), subresource)
	ws, err := target.client.dialWebsocket(ctx, Request{Path: path, Query: q}, execProtocol)
	if err != nil {
		return err
	}
	err = runSession(ctx, ws, rs)
	var ce codeExitError
	if errors.As(err, &ce) {
		t.restore() // before the message, so that it starts on a clean line
		fmt.Fprintln(streams.ErrOut, ce.Error())
		return &exitError{err: ce, code: ce.code}
	}
	return err
}

// pickContainer is the container to exec in, as upstream's podcmd.FindOrDefaultContainerByName:
// the named one (which the apiserver checks), else the default-container annotation's,
// else the first (saying so when there was a choice).
func pickContainer(pod Object, name string, quiet bool, warn io.Writer) (string, error) {
	if name != "" {
		return name, nil
	}
	cs := nestedSlice(pod, "spec", "containers")
	if def := nestedString(pod, "metadata", "annotations", defaultContainerAnnotation); def != "" {
		for _, c := range cs {
			if nestedString(c, "name") == def {
				return def, nil
			}
		}
		fmt.Fprintf(warn, "Default container name %q in annotation not found in a pod\n", def)
	}
	if len(cs) == 0 {
		return "", fmt.Errorf("pod %s does not have a container", nestedString(pod, "metadata", "name"))
	}
	first := nestedString(cs[0], "name")
	if len(cs) > 1 && !quiet {
		fmt.Fprintf(warn, "Defaulted container %q out of: %s\n", first, allContainerNames(pod))
	}
	return first, nil
}

// allContainerNames lists a pod's containers as upstream's podutils.AllContainerNames:
// regular ones, then ephemeral and init ones marked as such.
func allContainerNames(pod Object) string {
	names := []string{containerNames(nestedSlice(pod, "spec", "containers"))}
	for _, c := range nestedSlice(pod, "spec", "ephemeralContainers") {
		names = append(names, nestedString(c, "name")+" (ephem)")
	}
	for _, c := range nestedSlice(pod, "spec", "initContainers") {
		names = append(names, nestedString(c, "name")+" (init)")
	}
	return strings.Join(names, ", ")
}

// podTarget is a pod named on the command line (POD, or pod/NAME) and how to reach it.
type podTarget struct {
	pod    Object
	client *Client
	pods   Resource
	ns     string
}

// getPod reads the pod arg names in the current namespace; refused is the error's format
// for a TYPE/NAME of another type (the type fills its %s).
func getPod(ctx context.Context, f *Factory, arg, refused string) (*podTarget, error) {
	name := arg
	if typ, n, ok := strings.Cut(arg, "/"); ok {
		if typ != "pod" && typ != "pods" && typ != "po" {
			return nil, fmt.Errorf(refused, typ)
		}
		name = n
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	d, err := f.Discovery()
	if err != nil {
		return nil, err
	}
	pods, err := d.Resolve(ctx, "pods")
	if err != nil {
		return nil, err
	}
	c, err := f.Client()
	if err != nil {
		return nil, err
	}
	pod, err := c.GetObject(ctx, pods.Path(ns, name), nil)
	if err != nil {
		return nil, err
	}
	return &podTarget{pod: pod, client: c, pods: pods, ns: ns}, nil
}
