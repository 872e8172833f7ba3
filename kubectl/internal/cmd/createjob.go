package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"kubelab.io/proto/apierrors"
)

// newCmdCreateJob is kubectl create job, with its flags, checks and messages: a Job of one
// container (--image), or the job template of a CronJob (--from=cronjob/NAME) run by hand.
func newCmdCreateJob(f *Factory, streams Streams) *cobra.Command {
	var image, from, dryRunFlag, output string
	c := &cobra.Command{
		Use:   "job NAME --image=image [--from=cronjob/name] -- [COMMAND] [args...]",
		Short: "Create a job with the specified name",
		Long:  "Create a job with the specified name.",
		Example: `  # Create a job
  kubectl create job my-job --image=busybox

  # Create a job with a command
  kubectl create job my-job --image=busybox -- date

  # Create a job from a cron job named "a-cronjob"
  kubectl create job test-job --from=cronjob/a-cronjob`,
		RunE: func(c *cobra.Command, args []string) error {
			name, command, err := nameAndCommand(c, args, "kubectl create job")
			if err != nil {
				return err
			}
			if (image == "") == (from == "") {
				return fmt.Errorf("either --image or --from must be specified")
			}
			if from != "" && len(command) > 0 {
				return fmt.Errorf("cannot specify --from and command")
			}
			dryRun, ns, err := generatorTarget(f, streams, dryRunFlag)
			if err != nil {
				return err
			}
			var obj Object
			if from == "" {
				obj = newJob(name, image, command)
			} else if obj, err = jobFromCronJobRef(c.Context(), f, streams, name, from); err != nil {
				return err
			}
			return createUnchecked(c.Context(), f, streams, "job", obj, ns, output, dryRun)
		},
	}
	c.Flags().StringVar(&image, "image", "", "Image name to run.")
	c.Flags().StringVar(&from, "from", "", "The name of the resource to create a Job from (only cronjob is supported).")
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

// nameAndCommand is kubectl's NameFromCommandArgs for the generators that take a command
// after "--": exactly one NAME before it, the rest is the command.
func nameAndCommand(c *cobra.Command, args []string, cmdPath string) (string, []string, error) {
	names := c.ArgsLenAtDash()
	if names == -1 {
		names = len(args)
	}
	if names != 1 {
		return "", nil, usageError(cmdPath, "exactly one NAME is required, got %d", names)
	}
	return args[0], args[1:], nil
}

// createUnchecked creates obj as kubectl's job and cronjob generators do: with no
// client-side validation (the stock kubectl leaves every check to the apiserver), and the
// server's refusal worded "failed to create KIND: …", no longer as the server's own.
func createUnchecked(ctx context.Context, f *Factory, streams Streams, kind string, obj Object, ns, output string, dryRun dryRunStrategy) error {
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	c, _ := f.Client()
	err = createObject(ctx, c, d, streams, obj, ns, "", output, dryRun)
	if se := (*apierrors.StatusError)(nil); errors.As(err, &se) {
		return fmt.Errorf("failed to create %s: %s", kind, se.Error())
	}
	return err
}

// jobContainer is the one container kubectl's job and cronjob generators give a pod: named
// after the object, running command if there is one.
func jobContainer(name, image string, command []string) map[string]any {
	ctr := map[string]any{"name": name, "image": image, "resources": map[string]any{}}
	if len(command) > 0 {
		list := make([]any, len(command))
		for i, a := range command {
			list[i] = a
		}
		ctr["command"] = list
	}
	return ctr
}

// newJob is the Job kubectl create job --image builds: one container, pods that are not
// restarted, everything else left to the apiserver's defaults. Its metadata hold the null
// creationTimestamp a Go struct of kubectl's writes, as its --dry-run=client output shows.
func newJob(name, image string, command []string) Object {
	return Object{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "creationTimestamp": nil},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"creationTimestamp": nil},
			"spec":     map[string]any{"containers": []any{jobContainer(name, image, command)}, "restartPolicy": "Never"},
		}},
		"status": map[string]any{}}
}

// jobFromCronJobRef reads the object --from names, which must be a CronJob, and builds the
// Job of its template.
func jobFromCronJobRef(ctx context.Context, f *Factory, streams Streams, name, from string) (Object, error) {
	refs, err := (&selection{}).resolve(ctx, f, streams.In, []string{from})
	if err != nil {
		return nil, err
	}
	if len(refs) != 1 {
		return nil, fmt.Errorf("from must be an existing cronjob: %s", from)
	}
	c, _ := f.Client()
	src, err := c.GetObject(ctx, refs[0].path(), nil)
	if err != nil {
		return nil, err
	}
	if refs[0].res.Kind != "CronJob" {
		// kubectl names the Go type it decoded.
		return nil, fmt.Errorf("unknown object type *%s.%s", refs[0].res.Version, refs[0].res.Kind)
	}
	return jobFromCronJob(name, src), nil
}

// jobFromCronJob is kubectl's createJobFromCronJob: the CronJob's job template, its labels
// and annotations, annotated as started by hand and controlled by the CronJob (without
// blockOwnerDeletion, which would need the right to update the CronJob's finalizers).
func jobFromCronJob(name string, cj Object) Object {
	tmpl := nestedMap(cj, "spec", "jobTemplate")
	anns := map[string]any{"cronjob.kubernetes.io/instantiate": "manual"}
	for k, v := range nestedMap(tmpl, "metadata", "annotations") {
		anns[k] = v
	}
	meta := map[string]any{"name": name, "creationTimestamp": nil, "annotations": anns,
		"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "CronJob",
			"name": nestedString(cj, "metadata", "name"), "uid": nestedString(cj, "metadata", "uid"), "controller": true}}}
	if labels := nestedMap(tmpl, "metadata", "labels"); len(labels) > 0 {
		meta["labels"] = deepCopy(labels)
	}
	spec, _ := deepCopy(nestedMap(tmpl, "spec")).(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	// What kubectl's typed round trip of the template adds, so that -o yaml matches.
	if podTmpl := nestedMap(spec, "template"); podTmpl != nil {
		if nestedMap(podTmpl, "metadata") == nil {
			podTmpl["metadata"] = map[string]any{}
		}
		if meta := nestedMap(podTmpl, "metadata"); meta["creationTimestamp"] == nil {
			meta["creationTimestamp"] = nil
		}
		for _, list := range []string{"initContainers", "containers"} {
			for _, ct := range nestedSlice(podTmpl, "spec", list) {
				if m, ok := ct.(map[string]any); ok && m["resources"] == nil {
					m["resources"] = map[string]any{}
				}
			}
		}
	}
	return Object{"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec, "status": map[string]any{}}
}
