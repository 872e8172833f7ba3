package cmd

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type logsFlags struct {
	container  string
	follow     bool
	previous   bool
	tail       int64
	since      time.Duration
	timestamps bool
}

// NewCmdLogs is `kubectl logs POD`: GET pods/{name}/log, streamed with -f.
func NewCmdLogs(f *Factory, streams Streams) *cobra.Command {
	o := &logsFlags{}
	c := &cobra.Command{
		Use:   "logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]",
		Short: "Print the logs for a container in a pod",
		Long:  "Print the logs for a container in a pod or specified resource. If the pod has only one container, the container name is optional.",
		Example: `  # Return snapshot logs from pod nginx with only one container
  kubectl logs nginx

  # Return snapshot of previous terminated ruby container logs from pod web-1
  kubectl logs -p -c ruby web-1

  # Begin streaming the logs of the ruby container in pod web-1
  kubectl logs -f -c ruby web-1

  # Display only the most recent 20 lines of output in pod nginx
  kubectl logs --tail=20 nginx

  # Show all logs from pod nginx written in the last hour
  kubectl logs --since=1h nginx`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 || len(args) > 2 {
				return usageError("kubectl logs", "expected POD or TYPE/NAME is a required argument for the logs command")
			}
			return o.run(c.Context(), f, streams, args)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&o.container, "container", "c", "", "Print the logs of this container")
	fl.BoolVarP(&o.follow, "follow", "f", false, "Specify if the logs should be streamed.")
	fl.BoolVarP(&o.previous, "previous", "p", false, "If true, print the logs for the previous instance of the container in a pod if it exists.")
	fl.Int64Var(&o.tail, "tail", -1, "Lines of recent log file to display. Defaults to -1 with no selector, showing all log lines otherwise 10, if a selector is provided.")
	fl.DurationVar(&o.since, "since", 0, "Only return logs newer than a relative duration like 5s, 2m, or 3h. Defaults to all logs.")
	fl.BoolVar(&o.timestamps, "timestamps", false, "Include timestamps on each line in the log output")
	return c
}

// logQuery is the query of the log subresource.
func (o *logsFlags) logQuery() url.Values {
	q := url.Values{}
	if o.container != "" {
		q.Set("container", o.container)
	}
	if o.follow {
		q.Set("follow", "true")
	}
	if o.previous {
		q.Set("previous", "true")
	}
	if o.tail >= 0 {
		q.Set("tailLines", strconv.FormatInt(o.tail, 10))
	}
	if o.since > 0 {
		q.Set("sinceSeconds", strconv.FormatInt(int64((o.since+time.Second-1)/time.Second), 10))
	}
	if o.timestamps {
		q.Set("timestamps", "true")
	}
	return q
}

func (o *logsFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	if len(args) == 2 {
		o.container = args[1]
	}
	target, err := getPod(ctx, f, args[0], "cannot get the logs from %s: only pods are supported")
	if err != nil {
		return err
	}
	pod, c, pods, ns, name := target.pod, target.client, target.pods, target.ns, nestedString(target.pod, "metadata", "name")
	if o.container == "" {
		cs := nestedSlice(pod, "spec", "containers")
		if len(cs) > 1 {
			fmt.Fprintf(streams.ErrOut, "Defaulted container %q out of: %s\n", nestedString(cs[0], "name"), containerNames(cs))
		}
	}
	body, err := c.Stream(ctx, Request{Path: pods.Path(ns, name, "log"), Query: o.logQuery(), Accept: "text/plain, */*"})
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.Copy(streams.Out, body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func containerNames(cs []any) string {
	var names []string
	for _, c := range cs {
		names = append(names, nestedString(c, "name"))
	}
	return strings.Join(names, ", ")
}
