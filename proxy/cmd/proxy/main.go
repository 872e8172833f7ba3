// Command proxy is kubelab's node proxy, what kube-proxy is in iptables mode: it makes
// every Service reachable on its cluster IP, node ports and external IPs from this node,
// by iptables rules written from the Services and EndpointSlices it watches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubelab.io/proxy/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "proxy:", err)
		}
		os.Exit(1)
	}
}
