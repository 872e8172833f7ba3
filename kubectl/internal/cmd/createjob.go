package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCmdCreateJob is kubectl create job, with its flags, checks and messages. kubectl's
// --from=cronjob/NAME is left out: kubelab serves no CronJobs to copy a template from.
func newCmdCreateJob(f *Factory, streams Streams) *cobra.Command {
	var image, dryRunFlag, output string
	c := &cobra.Command{
		Use:   "job NAME --image=image -- [COMMAND] [args...]",
		Short: "Create a job with the specified name",
		Long:  "Create a job with the specified name.",
		Example: `  # Create a job
  kubectl create job my-job --image=busybox

  # Create a job with a command
  kubectl create job my-job --image=busybox -- date`,
		RunE: func(c *cobra.Command, args []string) error {
			// Arguments after "--" are the command, not names.
			names := c.ArgsLenAtDash()
			if names == -1 {
				names = len(args)
			}
			if names != 1 {
				return usageError("kubectl create job", "exactly one NAME is required, got %d", names)
			}
			if image == "" {
				return fmt.Errorf("either --image or --from must be specified")
			}
			dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
			if err != nil {
				return err
			}
			ns, _, err := f.Namespace()
			if err != nil {
				return err
			}
			// As kubectl builds it: one container named after the job, pods that are not
			// restarted, everything else left to the apiserver's defaults.
			ctr := map[string]any{"name": args[0], "image": image, "resources": map[string]any{}}
			if cmd := args[1:]; len(cmd) > 0 {
				list := make([]any, len(cmd))
				for i, a := range cmd {
					list[i] = a
				}
				ctr["command"] = list
			}
			obj := Object{"apiVersion": "batch/v1", "kind": "Job",
				"metadata": map[string]any{"name": args[0]},
				"spec": map[string]any{"template": map[string]any{
					"metadata": map[string]any{},
					"spec":     map[string]any{"containers": []any{ctr}, "restartPolicy": "Never"},
				}},
				"status": map[string]any{}}
			return createGenerated(c.Context(), f, streams, obj, ns, output, dryRun)
		},
	}
	c.Flags().StringVar(&image, "image", "", "Image name to run.")
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}
