package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

type attachFlags struct {
	container         string
	stdin, tty, quiet bool
	podTimeout        time.Duration
}

// NewCmdAttach is `kubectl attach (POD | TYPE/NAME) [-c C] [-i] [-t] [-q]`: exec's
// v5.channel.k8s.io session, on pods/{name}/attach, joining the container's running
// process instead of starting one.
func NewCmdAttach(f *Factory, streams Streams) *cobra.Command {
	o := &attachFlags{}
	c := &cobra.Command{
		Use:                   "attach (POD | TYPE/NAME) -c CONTAINER",
		DisableFlagsInUseLine: true,
		Short:                 "Attach to a running container",
		Long:                  "Attach to a process that is already running inside an existing container.",
		Example: `  # Get output from running pod mypod; use the 'kubectl.kubernetes.io/default-container' annotation
  # for selecting the container to be attached or the first container in the pod will be chosen
  kubectl attach mypod

  # Get output from ruby-container from pod mypod
  kubectl attach mypod -c ruby-container

  # Switch to raw terminal mode; sends stdin to 'bash' in ruby-container from pod mypod
  # and sends stdout/stderr from 'bash' back to the client
  kubectl attach mypod -c ruby-container -i -t

  # Get output from the first pod of a replica set named nginx
  kubectl attach rs/nginx`,
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return errors.New("at least 1 argument is required for attach")
			case len(args) > 2:
				return fmt.Errorf("expected POD, TYPE/NAME, or TYPE NAME, (at most 2 arguments) saw %d: %v", len(args), args)
			case o.podTimeout <= 0:
				return errors.New("--pod-running-timeout must be higher than zero")
			}
			arg := args[0]
			if len(args) == 2 {
				arg = args[0] + "/" + args[1]
			}
			return o.run(c.Context(), f, streams, arg)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&o.container, "container", "c", "", "Container name. If omitted, use the kubectl.kubernetes.io/default-container annotation for selecting the container to be attached or the first container in the pod will be chosen")
	fl.BoolVarP(&o.stdin, "stdin", "i", false, "Pass stdin to the container")
	fl.BoolVarP(&o.tty, "tty", "t", false, "Stdin is a TTY")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "Only print output from the remote session")
	fl.DurationVar(&o.podTimeout, "pod-running-timeout", time.Minute, "The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one pod is running")
	return c
}

func (o *attachFlags) run(ctx context.Context, f *Factory, streams Streams, arg string) error {
	target, _, err := attachablePod(ctx, f, arg, o.podTimeout)
	if err != nil {
		return err
	}
	pod := target.pod
	if err := refuseCompleted(pod, "cannot attach a container in a completed pod; current phase is %s"); err != nil {
		return err
	}
	name, err := pickContainer(pod, o.container, o.quiet, streams.ErrOut)
	if err != nil {
		return fmt.Errorf("cannot attach to the container: %v", err)
	}
	container := findContainer(pod, name)
	if container == nil {
		return fmt.Errorf("cannot attach to the container: container not found (%s)", name)
	}
	// The container's process has a terminal or not since it started: kubectl follows it.
	tty := o.tty
	if containerTTY := nestedBool(container, "tty"); tty && !containerTTY {
		tty = false
		if !o.quiet {
			fmt.Fprintf(streams.ErrOut, "error: Unable to use a TTY - container %s did not allocate one\n", name)
		}
	} else if containerTTY {
		tty = true
	}
	t := setupTTY(streams, o.stdin, tty, o.quiet)
	defer t.restore()
	if !o.quiet {
		fmt.Fprintln(streams.ErrOut, "If you don't see a command prompt, try pressing enter.")
	}
	if err := streamRemote(ctx, streams, target, "attach", url.Values{"container": {name}}, o.stdin, t); err != nil {
		return err
	}
	if !o.quiet && o.stdin && t.on {
		t.restore()
		fmt.Fprintf(streams.Out, "Session ended, resume using 'kubectl attach %s -c %s -i -t' command when the pod is running\n",
			nestedString(pod, "metadata", "name"), name)
	}
	return nil
}

// findContainer is the pod's container, init container or ephemeral container called name.
func findContainer(pod Object, name string) Object {
	for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
		for _, c := range nestedSlice(pod, "spec", list) {
			if nestedString(c, "name") == name {
				m, _ := c.(map[string]any)
				return m
			}
		}
	}
	return nil
}
