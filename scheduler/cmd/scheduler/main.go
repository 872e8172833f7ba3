// Command scheduler assigns pending pods to nodes, as kube-scheduler does: a queue, a cache
// with assumed pods, a framework of filter and score plugins, optional HTTP extenders, and
// binding through pods/binding. Flags are named as kube-scheduler's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubelab.io/scheduler/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "scheduler:", err)
		}
		os.Exit(1)
	}
}
