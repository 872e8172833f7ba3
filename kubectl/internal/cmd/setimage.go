package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kubelab.io/proto/validation"
)

// NewCmdSet is `kubectl set`; kubelab has `set image`.
func NewCmdSet(f *Factory, streams Streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "set SUBCOMMAND",
		Short: "Set specific features on objects",
		Long:  "Configure application resources.\n\n These commands help you make changes to existing application resources.",
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newCmdSetImage(f, streams))
	return c
}

type setImageFlags struct {
	selection
	dryRun string
	output string
}

func newCmdSetImage(f *Factory, streams Streams) *cobra.Command {
	o := &setImageFlags{}
	c := &cobra.Command{
		Use:   "image (-f FILENAME | TYPE NAME) CONTAINER_NAME_1=CONTAINER_IMAGE_1 ... CONTAINER_NAME_N=CONTAINER_IMAGE_N",
		Short: "Update the image of a pod template",
		Long:  "Update existing container image(s) of resources.\n\n Possible resources include (case insensitive):\n\n        pod (po), replicaset (rs), deployment (deploy)",
		Example: `  # Set a deployment's nginx container image to 'nginx:1.9.1'
  kubectl set image deployment/nginx nginx=nginx:1.9.1

  # Update all deployments' and rc's nginx container's image to 'nginx:1.9.1'
  kubectl set image deployments,rc nginx=nginx:1.9.1 --all

  # Update image of all containers of deployment frontend to 'nginx:1.9.1'
  kubectl set image deployment frontend *=nginx:1.9.1`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	c.Flags().StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on.")
	c.Flags().BoolVar(&o.all, "all", false, "Select all resources, in the namespace of the specified resource types")
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	addDryRunFlag(c, &o.dryRun)
	return c
}

func (o *setImageFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	var resArgs []string
	images := map[string]string{}
	var order []string
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && (i > 0 || len(o.filenames) > 0) {
			if err := validation.ValidateImageReference(v); err != nil {
				return fmt.Errorf("invalid image %q for container %q: %v", v, k, err)
			}
			images[k] = v
			order = append(order, k)
			continue
		}
		resArgs = append(resArgs, a)
	}
	if len(images) == 0 {
		return usageError("kubectl set image", "at least one image update is required")
	}
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	refs, err := o.resolve(ctx, f, streams.In, resArgs)
	if err != nil {
		return err
	}
	c, _ := f.Client()
	for _, ref := range refs {
		obj, err := c.GetObject(ctx, ref.path(), nil)
		if err != nil {
			return err
		}
		specPath := []string{"spec", "template", "spec"}
		if ref.res.Kind == "Pod" {
			specPath = []string{"spec"}
		}
		containers := nestedSlice(obj, append(specPath, "containers")...)
		var patchItems []any
		for _, name := range order {
			found := false
			for _, ct := range containers {
				cn := nestedString(ct, "name")
				if name == "*" || cn == name {
					patchItems = append(patchItems, map[string]any{"name": cn, "image": images[name]})
					found = true
				}
			}
			if !found {
				return fmt.Errorf("unable to find container named %q", name)
			}
		}
		patch := map[string]any{}
		setNested(patch, patchItems, append(specPath, "containers")...)
		if obj, err = sendPatch(ctx, c, ref, obj, mustJSON(patch), strategicPatch, dryRun); err != nil {
			return err
		}
		if err := printResult(streams, ref, "image updated", obj, o.output, dryRun); err != nil {
			return err
		}
	}
	return nil
}
