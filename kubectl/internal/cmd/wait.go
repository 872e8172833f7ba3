package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kubelab.io/proto/apierrors"
)

type waitFlags struct {
	selection
	forCond string
	timeout time.Duration
}

// NewCmdWait is `kubectl wait --for=condition=X|delete`.
func NewCmdWait(f *Factory, streams Streams) *cobra.Command {
	o := &waitFlags{}
	c := &cobra.Command{
		Use:   "wait ([-f FILENAME] | resource.group/resource.name | resource.group [(-l label | --all)]) [--for=delete|--for condition=available]",
		Short: "Wait for a specific condition on one or many resources",
		Long: `Experimental: Wait for a specific condition on one or many resources.

 The command takes multiple resources and waits until the specified condition is seen in the Status field of every given resource.

 A successful message will be printed to stdout indicating when the specified condition has been met. You can use -o option to change to output destination.`,
		Example: `  # Wait for the pod "busybox1" to contain the status condition of type "Ready"
  kubectl wait --for=condition=Ready pod/busybox1

  # Wait for the deployment "web" to be available, for at most 60 seconds
  kubectl wait --for=condition=Available=true deployment/web --timeout=60s

  # Wait for the pod "busybox1" to be deleted, with a timeout of 60s, after having issued the "delete" command
  kubectl delete pod/busybox1
  kubectl wait --for=delete pod/busybox1 --timeout=60s`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	c.Flags().StringVar(&o.forCond, "for", "", "The condition to wait on: [delete|condition=condition-name[=condition-value]].")
	c.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "The length of time to wait before giving up.  Zero means check once and don't wait, negative means wait for a week.")
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "identifying the resource.")
	c.Flags().StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on.")
	c.Flags().BoolVar(&o.all, "all", false, "Select all resources in the namespace of the specified resource types")
	c.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	return c
}

// conditionMet reports whether obj has status.conditions[type=typ] with status want.
func conditionMet(obj Object, typ, want string) bool {
	for _, c := range nestedSlice(obj, "status", "conditions") {
		if strings.EqualFold(nestedString(c, "type"), typ) {
			return strings.EqualFold(nestedString(c, "status"), want)
		}
	}
	return false
}

func (o *waitFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	var condType, condValue string
	isDelete := false
	switch {
	case o.forCond == "delete":
		isDelete = true
	case strings.HasPrefix(o.forCond, "condition="):
		cond := strings.TrimPrefix(o.forCond, "condition=")
		condType, condValue, _ = strings.Cut(cond, "=")
		if condValue == "" {
			condValue = "true"
		}
	case o.forCond == "":
		return fmt.Errorf("--for must be specified")
	default:
		return fmt.Errorf("unrecognized condition: %q", o.forCond)
	}
	refs, err := o.resolve(ctx, f, streams.In, args)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("no matching resources found")
	}
	c, _ := f.Client()
	timeout := o.timeout
	if timeout < 0 {
		timeout = 7 * 24 * time.Hour
	}
	deadline := time.Now().Add(timeout)
	for _, ref := range refs {
		for {
			obj, err := c.GetObject(ctx, ref.path(), nil)
			switch {
			case isDelete && apierrors.IsNotFound(err):
				fmt.Fprintf(streams.Out, "%s condition met\n", ref)
			case err != nil && !isDelete:
				return err
			case err == nil && !isDelete && conditionMet(obj, condType, condValue):
				fmt.Fprintf(streams.Out, "%s condition met\n", ref)
			default:
				if time.Now().After(deadline) {
					return fmt.Errorf("timed out waiting for the condition on %s/%s", ref.res.Name, ref.name)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(min(250*time.Millisecond, max(time.Until(deadline), time.Millisecond))):
				}
				continue
			}
			break
		}
	}
	return nil
}
