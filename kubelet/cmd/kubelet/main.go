// Command kubelet is kubelab's node agent: it registers the node, and runs the pods bound
// to it through containerd's CRI, with flags named as the kubelet's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubelab.io/kubelet/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kubelet:", err)
		}
		os.Exit(1)
	}
}
