package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

type scaleFlags struct {
	selection
	replicas        int
	currentReplicas int
	dryRun          string
	output          string
}

// NewCmdScale is `kubectl scale`: set spec.replicas of deployments and replica sets.
func NewCmdScale(f *Factory, streams Streams) *cobra.Command {
	o := &scaleFlags{}
	c := &cobra.Command{
		Use:   "scale [--current-replicas=count] --replicas=COUNT (-f FILENAME | TYPE NAME)",
		Short: "Set a new size for a deployment or replica set",
		Long:  "Set a new size for a deployment or replica set.\n\n If --current-replicas is specified, the current size must match it before the scale is attempted.",
		Example: `  # Scale a replica set named 'foo' to 3
  kubectl scale --replicas=3 rs/foo

  # If the deployment named mysql's current size is 2, scale mysql to 3
  kubectl scale --current-replicas=2 --replicas=3 deployment/mysql`,
		RunE: func(c *cobra.Command, args []string) error {
			if o.replicas < 0 {
				return errors.New("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			return o.run(c.Context(), f, streams, args)
		},
	}
	c.Flags().IntVar(&o.replicas, "replicas", -1, "The new desired number of replicas. Required.")
	c.Flags().IntVar(&o.currentReplicas, "current-replicas", -1, "Precondition for current size. Requires that the current size of the resource match this value in order to scale.")
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to set a new size")
	c.Flags().StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on.")
	c.Flags().BoolVar(&o.all, "all", false, "Select all resources in the namespace of the specified resource types")
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	addDryRunFlag(c, &o.dryRun)
	return c
}

func (o *scaleFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	refs, err := o.resolve(ctx, f, streams.In, args)
	if err != nil {
		return err
	}
	c, _ := f.Client()
	for _, ref := range refs {
		if ref.res.Kind != "Deployment" && ref.res.Kind != "ReplicaSet" {
			return fmt.Errorf("cannot scale %s", ref.res.GroupResource())
		}
		var obj Object
		if o.currentReplicas >= 0 || dryRun == dryRunClient {
			if obj, err = c.GetObject(ctx, ref.path(), nil); err != nil {
				return err
			}
		}
		if o.currentReplicas >= 0 {
			if n, _ := nestedInt(obj, "spec", "replicas"); int(n) != o.currentReplicas {
				return fmt.Errorf("Expected replicas to be %d, was %d", o.currentReplicas, n)
			}
		}
		// A client dry run prints the object as it is, as kubectl's does.
		if dryRun != dryRunClient {
			patch := map[string]any{"spec": map[string]any{"replicas": o.replicas}}
			if obj, err = c.SendObject(ctx, "PATCH", ref.path(), mustJSON(patch), mergePatch, dryRun.query()); err != nil {
				return err
			}
		}
		if err := printResult(streams, ref, "scaled", obj, o.output, dryRun); err != nil {
			return err
		}
	}
	return nil
}
