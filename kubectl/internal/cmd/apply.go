package cmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"kubelab.io/proto/apierrors"
)

type applyFlags struct {
	filenameFlags
	validate string
	dryRun   string
	output   string
}

// NewCmdApply is `kubectl apply -f`: create or update objects with the three-way merge on
// the last-applied-configuration annotation, as client-side apply does.
func NewCmdApply(f *Factory, streams Streams) *cobra.Command {
	o := &applyFlags{}
	c := &cobra.Command{
		Use:   "apply (-f FILENAME | -k DIRECTORY)",
		Short: "Apply a configuration to a resource by file name or stdin",
		Long: `Apply a configuration to a resource by file name or stdin. The resource name must be specified. This resource will be created if it doesn't exist yet. To use 'apply', always create the resource initially with either 'apply' or 'create --save-config'.

 JSON and YAML formats are accepted.`,
		Example: `  # Apply the configuration in pod.json to a pod
  kubectl apply -f ./pod.json

  # Apply the JSON passed into stdin to a pod
  cat pod.json | kubectl apply -f -

  # Apply every manifest of a directory and its subdirectories
  kubectl apply -R -f ./manifests/`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c.Context(), f, streams)
		},
	}
	addManifestFlags(c, &o.filenameFlags, &o.validate, "that contains the configuration to apply")
	addDryRunFlag(c, &o.dryRun)
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

func addManifestFlags(c *cobra.Command, o *filenameFlags, validate *string, what string) {
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "The files "+what+".")
	c.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively. Useful when you want to manage related manifests organized within the same directory.")
	c.Flags().StringVar(validate, "validate", "strict", `Must be one of: strict (or true), warn, ignore (or false). "strict" refuses, before anything is sent, manifests with unknown fields, invalid names, image references or values.`)
	c.Flags().Lookup("validate").NoOptDefVal = "strict"
}

func validates(v string) bool { return v != "false" && v != "ignore" }

// printResult prints "kind.group/name verb", with the dry run's suffix, or obj with -o.
func printResult(streams Streams, ref objectRef, verb string, obj Object, output string, dryRun dryRunStrategy) error {
	switch output {
	case "":
		fmt.Fprintf(streams.Out, "%s %s%s\n", ref, verb, dryRun.suffix())
		return nil
	case "name":
		fmt.Fprintf(streams.Out, "%s\n", ref)
		return nil
	}
	return printObject(streams.Out, obj, output)
}

func (o *applyFlags) run(ctx context.Context, f *Factory, streams Streams) error {
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	ns, nsSet, err := f.Namespace()
	if err != nil {
		return err
	}
	ms, err := readManifests(&o.filenameFlags, streams.In, ns, validates(o.validate))
	if err != nil {
		return err
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	c, _ := f.Client()
	var failed error
	for _, m := range ms {
		if err := o.applyOne(ctx, c, d, streams, m, ns, nsSet, dryRun); err != nil {
			fmt.Fprintln(streams.ErrOut, errorMessage(err))
			failed = &exitError{err: err}
		}
	}
	return failed
}

func (o *applyFlags) applyOne(ctx context.Context, c *Client, d *Discovery, streams Streams, m *Manifest, ns string, nsSet bool, dryRun dryRunStrategy) error {
	res, err := d.ResourceForKind(ctx, m.APIVersion(), m.Kind())
	if err != nil {
		return err
	}
	objNs := m.Namespace()
	if res.Namespaced {
		if objNs == "" {
			objNs = ns
		} else if nsSet && objNs != ns {
			return fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.", objNs, ns, objNs)
		}
	}
	ref := objectRef{res: res, namespace: namespaceFor(res, objNs), name: m.Name()}

	modified := deepCopy(m.Object).(map[string]any)
	if anns := nestedMap(modified, "metadata", "annotations"); anns != nil {
		delete(anns, lastAppliedAnnotation)
		if len(anns) == 0 {
			delete(nestedMap(modified, "metadata"), "annotations")
		}
	}
	applied := string(mustJSON(modified)) + "\n"
	setNested(modified, applied, "metadata", "annotations", lastAppliedAnnotation)

	current, err := c.GetObject(ctx, ref.path(), nil)
	if apierrors.IsNotFound(err) {
		if dryRun == dryRunClient {
			return printResult(streams, ref, "created", modified, o.output, dryRun)
		}
		created, err := c.SendObject(ctx, "POST", res.Path(ref.namespace, ""), mustJSON(modified), "", dryRun.query())
		if err != nil {
			return prefixStatus(err, fmt.Sprintf("error when creating %q: ", m.Source))
		}
		return printResult(streams, ref, "created", created, o.output, dryRun)
	}
	if err != nil {
		return prefixStatus(err, fmt.Sprintf("error when retrieving current configuration of:\nResource: %q, GroupVersionKind: %q\nName: %q, Namespace: %q\nfrom server for: %q: ",
			res.GroupResource(), res.GroupVersion()+", Kind="+res.Kind, ref.name, ref.namespace, m.Source))
	}
	var original map[string]any
	if s := nestedString(current, "metadata", "annotations", lastAppliedAnnotation); s != "" {
		_ = json.Unmarshal([]byte(s), &original)
	}
	patch := threeWayPatch(original, modified, current)
	if len(patch) == 0 {
		return printResult(streams, ref, "unchanged", current, o.output, dryRun)
	}
	if dryRun == dryRunClient {
		return printResult(streams, ref, "configured", current, o.output, dryRun)
	}
	patched, err := c.SendObject(ctx, "PATCH", ref.path(), mustJSON(patch), strategicPatch, dryRun.query())
	if err != nil {
		return prefixStatus(err, fmt.Sprintf("error when applying patch:\n%s\n\nto:\nResource: %q, GroupVersionKind: %q\nName: %q, Namespace: %q\nfor: %q: ",
			mustJSON(patch), res.GroupResource(), res.GroupVersion()+", Kind="+res.Kind, ref.name, ref.namespace, m.Source))
	}
	return printResult(streams, ref, "configured", patched, o.output, dryRun)
}
