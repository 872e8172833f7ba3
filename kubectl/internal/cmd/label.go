package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kubelab.io/proto/validation"
)

type labelFlags struct {
	selection
	overwrite bool
	list      bool
	field     string // "labels" or "annotations"
	verb      string // "labeled" or "annotated"
	dryRun    string
	output    string
}

// NewCmdLabel is `kubectl label`.
func NewCmdLabel(f *Factory, streams Streams) *cobra.Command {
	return newCmdMetaMap(f, streams, "labels", "label", "labeled", `  # Update pod 'foo' with the label 'unhealthy' and the value 'true'
  kubectl label pods foo unhealthy=true

  # Update pod 'foo' with the label 'status' and the value 'unhealthy', overwriting any existing value
  kubectl label --overwrite pods foo status=unhealthy

  # Update all pods in the namespace
  kubectl label pods --all status=unhealthy

  # Remove a label named 'bar' if it exists
  kubectl label pods foo bar-`)
}

// NewCmdAnnotate is `kubectl annotate`.
func NewCmdAnnotate(f *Factory, streams Streams) *cobra.Command {
	return newCmdMetaMap(f, streams, "annotations", "annotate", "annotated", `  # Update pod 'foo' with the annotation 'description' and the value 'my frontend'
  kubectl annotate pods foo description='my frontend'

  # Update pod 'foo' with the annotation 'description', overwriting any existing value
  kubectl annotate --overwrite pods foo description='my frontend running nginx'

  # Remove an annotation named 'description' if it exists
  kubectl annotate pods foo description-`)
}

func newCmdMetaMap(f *Factory, streams Streams, field, verb, past, example string) *cobra.Command {
	o := &labelFlags{field: field, verb: past}
	c := &cobra.Command{
		Use:   verb + " [--overwrite] (-f FILENAME | TYPE NAME) KEY_1=VAL_1 ... KEY_N=VAL_N [--resource-version=version]",
		Short: "Update the " + field + " on a resource",
		Long: "Update the " + field + " on a resource.\n\n" +
			"  *  If --overwrite is true, then existing " + field + " can be overwritten, otherwise attempting to overwrite a " + strings.TrimSuffix(field, "s") + " will result in an error.\n" +
			"  *  A " + strings.TrimSuffix(field, "s") + " key ending in '-' removes it.",
		Example: example,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	c.Flags().BoolVar(&o.overwrite, "overwrite", false, "If true, allow "+field+" to be overwritten, otherwise reject "+field+" updates that overwrite existing "+field+".")
	c.Flags().BoolVar(&o.list, "list", false, "If true, display the "+field+" for a given resource.")
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to update")
	c.Flags().StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on.")
	c.Flags().BoolVar(&o.all, "all", false, "Select all resources, in the namespace of the specified resource types")
	c.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If true, check the specified action in all namespaces.")
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	addDryRunFlag(c, &o.dryRun)
	return c
}

// parseMetaArgs splits args into resource args, k=v pairs and k- removals. The first
// argument is always a resource unless -f names the objects.
func parseMetaArgs(args []string, hasFiles bool) (res []string, set map[string]string, remove []string, err error) {
	set = map[string]string{}
	for i, a := range args {
		if i == 0 && !hasFiles {
			res = append(res, a)
			continue
		}
		switch {
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			if k == "" {
				return nil, nil, nil, fmt.Errorf("invalid label spec: %v", a)
			}
			set[k] = v
		case strings.HasSuffix(a, "-"):
			remove = append(remove, strings.TrimSuffix(a, "-"))
		default:
			res = append(res, a)
		}
	}
	return res, set, remove, nil
}

func (o *labelFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	resArgs, set, remove, err := parseMetaArgs(args, len(o.filenames) > 0)
	if err != nil {
		return err
	}
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	if len(set) == 0 && len(remove) == 0 && !o.list {
		return usageError("kubectl "+strings.TrimSuffix(o.verb, "ed"), "at least one %s update is required", strings.TrimSuffix(o.field, "s"))
	}
	if o.field == "labels" {
		for k, v := range set {
			if errs := validation.ValidateLabels(map[string]string{k: v}, "metadata.labels"); len(errs) > 0 {
				return fmt.Errorf("invalid label value: %q: %v", k+"="+v, errs[0].Detail)
			}
		}
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
		cur := nestedStringMap(obj, "metadata", o.field)
		if o.list {
			for _, k := range sortedKeys(nestedMap(obj, "metadata", o.field)) {
				fmt.Fprintf(streams.Out, "%s=%s\n", k, cur[k])
			}
			continue
		}
		if !o.overwrite {
			for k, v := range set {
				if old, ok := cur[k]; ok && old != v {
					return fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, old)
				}
			}
		}
		changes := map[string]any{}
		changed := false
		for k, v := range set {
			if old, ok := cur[k]; !ok || old != v {
				changed = true
			}
			changes[k] = v
		}
		for _, k := range remove {
			if _, ok := cur[k]; !ok {
				fmt.Fprintf(streams.ErrOut, "%s %q not found.\n", strings.TrimSuffix(o.field, "s"), k)
				continue
			}
			changes[k] = nil
			changed = true
		}
		verb := o.verb
		if !changed {
			verb = "not " + verb
		} else {
			patch := map[string]any{"metadata": map[string]any{o.field: changes}}
			if obj, err = sendPatch(ctx, c, ref, obj, mustJSON(patch), mergePatch, dryRun); err != nil {
				return err
			}
			if len(set) == 0 {
				verb = "un" + verb
			}
		}
		if err := printResult(streams, ref, verb, obj, o.output, dryRun); err != nil {
			return err
		}
	}
	return nil
}
