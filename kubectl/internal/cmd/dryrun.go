package cmd

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"kubelab.io/proto/patch"
)

// dryRunStrategy is what --dry-run asked for: nothing, a client-side dry run (nothing is
// sent) or a server-side one (the request is sent with dryRun=All: the server runs
// admission, defaulting and validation and writes nothing).
type dryRunStrategy int

const (
	dryRunNone dryRunStrategy = iota
	dryRunClient
	dryRunServer
)

// dryRunNoOpt is --dry-run's value when it is given without one, as in kubectl.
const dryRunNoOpt = "unchanged"

// addDryRunFlag adds --dry-run to c, storing its raw value in p for parseDryRun.
func addDryRunFlag(c *cobra.Command, p *string) {
	c.Flags().StringVar(p, "dry-run", "none", `Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.`)
	c.Flags().Lookup("dry-run").NoOptDefVal = dryRunNoOpt
}

// parseDryRun reads --dry-run as kubectl's GetDryRunStrategy does: a bare --dry-run and the
// old boolean values still work, with kubectl's deprecation warning on errOut.
func parseDryRun(v string, errOut io.Writer) (dryRunStrategy, error) {
	switch v {
	case "none":
		return dryRunNone, nil
	case "client":
		return dryRunClient, nil
	case "server":
		return dryRunServer, nil
	case dryRunNoOpt:
		klogWarning(errOut, "--dry-run is deprecated and can be replaced with --dry-run=client.")
		return dryRunClient, nil
	}
	if b, err := strconv.ParseBool(v); err == nil {
		if b {
			klogWarning(errOut, fmt.Sprintf("--dry-run=%v is deprecated (boolean value) and can be replaced with --dry-run=client.", v))
			return dryRunClient, nil
		}
		klogWarning(errOut, fmt.Sprintf("--dry-run=%v is deprecated (boolean value) and can be replaced with --dry-run=none.", v))
		return dryRunNone, nil
	}
	return dryRunNone, fmt.Errorf(`Invalid dry-run value (%v). Must be "none", "server", or "client".`, v)
}

// suffix is what kubectl appends to a verb's message.
func (d dryRunStrategy) suffix() string {
	switch d {
	case dryRunClient:
		return " (dry run)"
	case dryRunServer:
		return " (server dry run)"
	}
	return ""
}

// query is the query of a write request: dryRun=All for a server dry run, else nil.
func (d dryRunStrategy) query() url.Values {
	if d == dryRunServer {
		return url.Values{"dryRun": {"All"}}
	}
	return nil
}

// klogWarning writes msg with klog's header ("W1205 23:24:24.140149   15288 file.go:42]"),
// as kubectl prints its own warnings.
func klogWarning(w io.Writer, msg string) {
	now := time.Now()
	_, file, line, _ := runtime.Caller(1)
	fmt.Fprintf(w, "W%02d%02d %s %7d %s:%d] %s\n", int(now.Month()), now.Day(), now.Format("15:04:05.000000"),
		os.Getpid(), filepath.Base(file), line, msg)
}

// sendPatch PATCHes ref with body (of contentType) and returns the object as the write
// leaves it; a server dry run answers with what would have been stored. A client dry run
// sends nothing and applies body to current here instead.
func sendPatch(ctx context.Context, c *Client, ref objectRef, current Object, body []byte, contentType string, dryRun dryRunStrategy) (Object, error) {
	if dryRun != dryRunClient {
		return c.SendObject(ctx, "PATCH", ref.path(), body, contentType, dryRun.query())
	}
	out, err := patch.Apply(patch.Type(contentType), mustJSON(current), body, nestedString(current, "kind"))
	if err != nil {
		return nil, err
	}
	return decodeObject(out)
}
