// Command kubectl is kubelab's kubectl: the command-line client of the Kubernetes API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"kubelab.io/kubectl/internal/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.Run(ctx, os.Args[1:], cmd.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	if err != nil {
		os.Exit(cmd.ExitCode(err))
	}
}
