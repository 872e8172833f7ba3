package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"kubelab.io/proto/apierrors"
)

type deleteFlags struct {
	selection
	cascade        string
	gracePeriod    int
	now            bool
	force          bool
	wait           bool
	timeout        time.Duration
	ignoreNotFound bool
	output         string
	dryRun         string
}

// NewCmdDelete is `kubectl delete`.
func NewCmdDelete(f *Factory, streams Streams) *cobra.Command {
	o := &deleteFlags{}
	c := &cobra.Command{
		Use:   "delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)])",
		Short: "Delete resources by file names, stdin, resources and names, or by resources and label selector",
		Long: `Delete resources by file names, stdin, resources and names, or by resources and label selector.

 JSON and YAML formats are accepted. Only one type of argument may be specified: file names, resources and names, or resources and label selector.

 Some resources, such as pods, support graceful deletion. These resources define a default period before they are forcibly terminated (the grace period) but you may override that value with the --grace-period flag, or pass --now to set a grace-period of 1.`,
		Example: `  # Delete a pod using the type and name specified in pod.json
  kubectl delete -f ./pod.json

  # Delete pods and services with label name=myLabel
  kubectl delete pods,services -l name=myLabel

  # Delete a pod with minimal delay
  kubectl delete pod foo --now

  # Delete a deployment, leaving its replica sets behind
  kubectl delete deployment foo --cascade=orphan

  # Delete all pods
  kubectl delete pods --all`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	fl := c.Flags()
	fl.StringSliceVarP(&o.filenames, "filename", "f", nil, "containing the resource to delete.")
	fl.BoolVarP(&o.recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively.")
	fl.StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on, not including uninitialized ones.")
	fl.StringVar(&o.fieldSelector, "field-selector", "", "Selector (field query) to filter on, supports '=', '==', and '!='.")
	fl.BoolVar(&o.all, "all", false, "Delete all resources, in the namespace of the specified resource types.")
	fl.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	fl.StringVar(&o.cascade, "cascade", "background", `Must be "background", "orphan", or "foreground". Selects the deletion cascading strategy for the dependents (e.g. Pods created by a ReplicationController). Defaults to background.`)
	fl.Lookup("cascade").NoOptDefVal = "background"
	fl.IntVar(&o.gracePeriod, "grace-period", -1, "Period of time in seconds given to the resource to terminate gracefully. Ignored if negative. Set to 1 for immediate shutdown. Can only be set to 0 when --force is true (force deletion).")
	fl.BoolVar(&o.now, "now", false, "If true, resources are signaled for immediate shutdown (same as --grace-period=1).")
	fl.BoolVar(&o.force, "force", false, "If true, immediately remove resources from API and bypass graceful deletion.")
	fl.BoolVar(&o.wait, "wait", true, "If true, wait for resources to be gone before returning. This waits for finalizers.")
	fl.DurationVar(&o.timeout, "timeout", 0, "The length of time to wait before giving up on a delete, zero means determine a timeout from the size of the object")
	fl.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "Treat \"resource not found\" as a successful delete. Defaults to \"true\" when --all is specified.")
	fl.StringVarP(&o.output, "output", "o", "", "Output mode. Use \"-o name\" for shorter output (resource/name).")
	addDryRunFlag(c, &o.dryRun)
	return c
}

// propagationPolicy maps --cascade to DeleteOptions.propagationPolicy.
func propagationPolicy(cascade string) (string, error) {
	switch cascade {
	case "background", "true":
		return "Background", nil
	case "foreground":
		return "Foreground", nil
	case "orphan", "false":
		return "Orphan", nil
	}
	return "", fmt.Errorf(`invalid cascade value (%v). Must be "background", "foreground", or "orphan"`, cascade)
}

func (o *deleteFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	policy, err := propagationPolicy(o.cascade)
	if err != nil {
		return err
	}
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	grace := o.gracePeriod
	if o.now {
		if grace >= 0 {
			return errors.New("--now and --grace-period cannot be specified together")
		}
		grace = 1
	}
	if o.force && grace < 0 {
		grace = 0
	}
	if grace == 0 && !o.force {
		grace = 1 // as kubectl: 0 without --force means "immediately but gracefully"
	}
	if o.force {
		fmt.Fprintln(streams.ErrOut, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	}
	if o.all {
		o.ignoreNotFound = true
	}
	refs, err := o.resolve(ctx, f, streams.In, args)
	if err != nil {
		return err
	}
	ns, _, _ := f.Namespace()
	if len(refs) == 0 {
		if o.allNamespaces {
			ns = ""
		}
		noResourcesFound(streams.Out, ns)
		return nil
	}
	c, _ := f.Client()
	var failed error
	var deleted []objectRef
	for _, ref := range refs {
		opts := map[string]any{"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}
		if grace >= 0 {
			opts["gracePeriodSeconds"] = grace
		}
		if dryRun == dryRunServer {
			opts["dryRun"] = []string{"All"}
		}
		var err error
		if dryRun != dryRunClient { // as kubectl, a client dry run does not look the objects up
			_, err = c.Do(ctx, Request{Method: "DELETE", Path: ref.path(), Body: mustJSON(opts)})
		}
		if err != nil {
			if apierrors.IsNotFound(err) && o.ignoreNotFound {
				continue
			}
			fmt.Fprintln(streams.ErrOut, errorMessage(err))
			failed = &exitError{err: err}
			continue
		}
		if o.output == "name" {
			fmt.Fprintln(streams.Out, ref)
		} else {
			fmt.Fprintf(streams.Out, "%s %q deleted%s\n", ref.res.KindRef(), ref.name, dryRun.suffix())
		}
		deleted = append(deleted, ref)
	}
	if o.wait && dryRun == dryRunNone {
		timeout := o.timeout
		if timeout == 0 {
			timeout = 24 * time.Hour
		}
		for _, ref := range deleted {
			if err := waitGone(ctx, c, ref, timeout); err != nil {
				return err
			}
		}
	}
	return failed
}

// waitGone polls until ref is gone (NotFound) or timeout passes.
func waitGone(ctx context.Context, c *Client, ref objectRef, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	uid := ""
	for {
		obj, err := c.GetObject(ctx, ref.path(), nil)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			if uid == "" {
				uid = nestedString(obj, "metadata", "uid")
			} else if nestedString(obj, "metadata", "uid") != uid {
				return nil // recreated: the one we deleted is gone
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for the condition on %s/%s", ref.res.Name, ref.name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
