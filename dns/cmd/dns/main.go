// Command dns is kubelab's cluster DNS server, what CoreDNS is in a kubeadm cluster: it
// answers the names of Services and pods under --cluster-domain from the Services,
// EndpointSlices and Namespaces it watches, and forwards every other name to the nameservers
// of its own resolv.conf.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubelab.io/dns/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dns:", err)
		}
		os.Exit(1)
	}
}
