// Command controller-manager runs kubelab's controllers (deployment, replicaset, garbage
// collector, namespace, node lifecycle, node IPAM) against an apiserver, with flags named as
// kube-controller-manager's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubelab.io/controller-manager/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "controller-manager:", err)
		}
		os.Exit(1)
	}
}
