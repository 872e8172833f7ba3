package cmd

import (
	"github.com/spf13/cobra"
)

// newCmdCreateCronJob is kubectl create cronjob (cj), with its flags, checks and messages.
// The schedule is the apiserver's to judge.
func newCmdCreateCronJob(f *Factory, streams Streams) *cobra.Command {
	var image, schedule, restart, dryRunFlag, output string
	c := &cobra.Command{
		Use:     "cronjob NAME --image=image --schedule='0/5 * * * ?' -- [COMMAND] [args...]",
		Aliases: []string{"cj"},
		Short:   "Create a cron job with the specified name",
		Long:    "Create a cron job with the specified name.",
		Example: `  # Create a cron job
  kubectl create cronjob my-job --image=busybox --schedule="*/1 * * * *"

  # Create a cron job with a command
  kubectl create cronjob my-job --image=busybox --schedule="*/1 * * * *" -- date`,
		RunE: func(c *cobra.Command, args []string) error {
			name, command, err := nameAndCommand(c, args, "kubectl create cronjob")
			if err != nil {
				return err
			}
			dryRun, ns, err := generatorTarget(f, streams, dryRunFlag)
			if err != nil {
				return err
			}
			obj := newCronJob(name, image, schedule, restart, command)
			return createUnchecked(c.Context(), f, streams, "cronjob", obj, ns, output, dryRun)
		},
	}
	c.Flags().StringVar(&image, "image", "", "Image name to run.")
	c.Flags().StringVar(&schedule, "schedule", "", "A schedule in the Cron format the job should be run with.")
	c.Flags().StringVar(&restart, "restart", "", "job's restart policy. supported values: OnFailure, Never")
	_ = c.MarkFlagRequired("image")
	_ = c.MarkFlagRequired("schedule")
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

// newCronJob is the CronJob kubectl create cronjob builds: the job template named after it,
// with the one container create job would give (restartPolicy OnFailure unless --restart
// says otherwise). Its metadata hold null creationTimestamps, as newJob's.
func newCronJob(name, image, schedule, restart string, command []string) Object {
	if restart == "" {
		restart = "OnFailure"
	}
	return Object{"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": name, "creationTimestamp": nil},
		"spec": map[string]any{
			"schedule": schedule,
			"jobTemplate": map[string]any{
				"metadata": map[string]any{"name": name, "creationTimestamp": nil},
				"spec": map[string]any{"template": map[string]any{
					"metadata": map[string]any{"creationTimestamp": nil},
					"spec":     map[string]any{"containers": []any{jobContainer(name, image, command)}, "restartPolicy": restart},
				}},
			},
		},
		"status": map[string]any{}}
}
