// Package conntrack clears stale UDP connection-tracking entries with the conntrack tool
// (conntrack-tools). UDP has no connection to close: once a client's flow to a service IP
// is tracked (NATed to an endpoint that has since gone, or to nothing while the service
// had no endpoints), its packets keep following that entry until it expires unless it is
// deleted. TCP needs none of this: a dead endpoint resets or times out the connection.
package conntrack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Filter selects UDP entries: by the original destination address or port, and by the
// address they were NATed to. Empty fields match anything.
type Filter struct {
	OrigDst     string
	OrigPortDst int32
	DstNAT      string
}

func (f Filter) String() string {
	var parts []string
	if f.OrigDst != "" {
		parts = append(parts, "dst="+f.OrigDst)
	}
	if f.OrigPortDst != 0 {
		parts = append(parts, "dport="+strconv.Itoa(int(f.OrigPortDst)))
	}
	if f.DstNAT != "" {
		parts = append(parts, "nat-to="+f.DstNAT)
	}
	return "udp " + strings.Join(parts, " ")
}

// Interface clears entries.
type Interface interface {
	ClearUDP(ctx context.Context, f Filter) error
}

// Tool runs conntrack -D.
type Tool struct{ Path string }

// Find returns the conntrack tool in $PATH, or an error saying it is missing.
func Find() (*Tool, error) {
	p, err := exec.LookPath("conntrack")
	if err != nil {
		return nil, fmt.Errorf("conntrack tool not found (Debian: apt-get install conntrack): %w", err)
	}
	return &Tool{Path: p}, nil
}

func (t *Tool) ClearUDP(ctx context.Context, f Filter) error {
	args := []string{"-D", "-p", "udp"}
	if f.OrigDst != "" {
		args = append(args, "--orig-dst", f.OrigDst)
	}
	if f.OrigPortDst != 0 {
		args = append(args, "--orig-port-dst", strconv.Itoa(int(f.OrigPortDst)))
	}
	if f.DstNAT != "" {
		args = append(args, "--dst-nat", f.DstNAT)
	}
	cmd := exec.CommandContext(ctx, t.Path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// conntrack exits 1 when nothing matched; only its message tells that apart
		// from a failure (kube-proxy reads it the same way).
		if strings.Contains(out.String(), "0 flow entries have been deleted") {
			return nil
		}
		return fmt.Errorf("conntrack %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
