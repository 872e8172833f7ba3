// Package cmd is kubelab's kubectl: one file per verb, each with a flags struct and a
// NewCmdX(f, streams) constructor, sharing the Factory (kubeconfig, REST client, discovery).
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Streams are the standard streams of one invocation.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// exitError is an error already reported to the user (or a silent non-zero exit). code
// is the exit status when it is not 1 (a remote command's, for exec).
type exitError struct {
	err  error
	code int
}

// ExitCode is the status kubectl exits with after Run returned err: 0 for nil, the
// remote command's for exec, 1 otherwise.
func ExitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.code > 0:
		return ee.code
	}
	return 1
}

func (e *exitError) Error() string {
	if e.err == nil {
		return "exit status 1"
	}
	return e.err.Error()
}

// Run runs kubectl with args (without the program name). It prints any error the way kubectl
// does, on streams.ErrOut, and returns it; the caller exits with ExitCode(err).
func Run(ctx context.Context, args []string, streams Streams) error {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return nil
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		fmt.Fprintln(streams.ErrOut, errorMessage(err))
	}
	return err
}

// NewRootCmd builds the kubectl command tree.
func NewRootCmd(streams Streams) *cobra.Command {
	f := &Factory{streams: streams}
	root := &cobra.Command{
		Use:   "kubectl",
		Short: "kubectl controls the Kubernetes cluster manager",
		Long: `kubectl controls the Kubernetes cluster manager.

 Find more information at: https://kubernetes.io/docs/reference/kubectl/`,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, _ []string) error {
			return c.Help()
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	f.AddFlags(root)
	root.AddGroup(
		&cobra.Group{ID: "basic", Title: "Basic Commands:"},
		&cobra.Group{ID: "deploy", Title: "Deploy Commands:"},
		&cobra.Group{ID: "cluster", Title: "Cluster Management Commands:"},
		&cobra.Group{ID: "debug", Title: "Troubleshooting and Debugging Commands:"},
		&cobra.Group{ID: "advanced", Title: "Advanced Commands:"},
		&cobra.Group{ID: "settings", Title: "Settings Commands:"},
		&cobra.Group{ID: "other", Title: "Other Commands:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("basic", NewCmdCreate(f, streams), NewCmdExpose(f, streams), NewCmdGet(f, streams), NewCmdEdit(f, streams), NewCmdDelete(f, streams),
		NewCmdSet(f, streams))
	add("deploy", NewCmdRollout(f, streams), NewCmdScale(f, streams))
	add("cluster", NewCmdCordon(f, streams), NewCmdUncordon(f, streams), NewCmdDrain(f, streams))
	add("debug", NewCmdDescribe(f, streams), NewCmdLogs(f, streams), NewCmdAttach(f, streams), NewCmdExec(f, streams),
		NewCmdPortForward(f, streams), NewCmdAuth(f, streams), NewCmdEvents(f, streams))
	add("advanced", NewCmdApply(f, streams), NewCmdWait(f, streams))
	add("settings", NewCmdLabel(f, streams), NewCmdAnnotate(f, streams))
	add("other", NewCmdAPIResources(f, streams), NewCmdAPIVersions(f, streams), NewCmdConfig(f, streams),
		NewCmdVersion(f, streams))
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
	return root
}
