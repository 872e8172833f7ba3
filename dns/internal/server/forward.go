package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Forwarder sends the questions that are not the cluster's to upstream nameservers, as
// CoreDNS's `forward . /etc/resolv.conf`: the first upstream that answers wins, each tried in
// turn with its own timeout, over the transport the client used (a truncated UDP answer goes
// back truncated, and the client's TCP retry is forwarded over TCP).
type Forwarder struct {
	// Upstreams are host:port addresses.
	Upstreams []string
	// Timeout bounds each upstream's attempt (default 2 s).
	Timeout time.Duration
}

// ErrNoUpstream means no upstream answered.
var ErrNoUpstream = errors.New("no upstream answered")

// Exchange asks the upstreams req over network ("udp" or "tcp") and returns the first answer.
func (f *Forwarder) Exchange(ctx context.Context, req *dns.Msg, network string) (*dns.Msg, string, error) {
	if len(f.Upstreams) == 0 {
		return nil, "", fmt.Errorf("%w: none configured", ErrNoUpstream)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if network != "tcp" {
		network = "udp"
	}
	c := &dns.Client{Net: network, Timeout: timeout}
	if network == "udp" {
		c.UDPSize = dns.MaxMsgSize // read whatever comes; the reply is truncated for the client later
	}
	var errs []error
	for _, up := range f.Upstreams {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		resp, _, err := c.ExchangeContext(ctx, req, up)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			continue
		}
		return resp, up, nil
	}
	return nil, "", fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

// ParseUpstreams reads a comma-separated list of addresses ("10.0.0.2", "10.0.0.2:5353",
// "[::1]:53"), adding port 53 where none is given.
func ParseUpstreams(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		addr, err := hostPort(a)
		if err != nil {
			return nil, err
		}
		out = append(out, addr)
	}
	return out, nil
}

// ResolvConfUpstreams returns the nameservers of a resolv.conf, with port 53.
func ResolvConfUpstreams(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if addr, err := hostPort(f[1]); err == nil {
			out = append(out, addr)
		}
	}
	return out
}

func hostPort(a string) (string, error) {
	if ip := net.ParseIP(strings.Trim(a, "[]")); ip != nil {
		// A bare address; an IPv6 zone (fe80::1%eth0) is not supported.
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || net.ParseIP(host) == nil || port == "" {
		return "", fmt.Errorf("upstream %q: want an IP address, optionally with :port", a)
	}
	return net.JoinHostPort(host, port), nil
}
