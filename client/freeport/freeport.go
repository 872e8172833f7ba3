// Package freeport picks TCP ports for listeners that must be named before they bind: an
// embedded etcd's client and peer URLs, or a child process told its port on the command line.
//
// Asking the kernel for port 0 and closing the listener is not enough for those. The port
// comes from the ephemeral range, the same range the kernel draws from for the source port of
// every outgoing connection, so on a busy machine a client's connect can take it between the
// pick and the bind ("address already in use"). Ports are picked here below that range,
// where only explicit binds land, and checked by binding once.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lowest is the bottom of the window ports are drawn from: above the well-known and the
// commonly configured service ports (etcd's 2379/2380, 6443, 10250 and friends).
const lowest = 20000

// attempts bounds the search; each draw is free unless another process bound it.
const attempts = 100

// Pick returns a TCP port on host (an IP literal such as "127.0.0.1") that was free when
// checked and lies outside the kernel's ephemeral range.
func Pick(host string) (int, error) {
	lo, hi := window()
	var last error
	for range attempts {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			last = err
			continue
		}
		if err := l.Close(); err != nil {
			return 0, err
		}
		return port, nil
	}
	return 0, fmt.Errorf("no free port on %s in [%d, %d) after %d tries: %w", host, lo, hi, attempts, last)
}

// IsAddrInUse reports whether err is a bind failing because the address is taken, the one
// failure a caller that picked the port itself should answer with a fresh pick.
// Some callers (etcd's embed among them) flatten the error to text, so the text counts too.
func IsAddrInUse(err error) bool {
	return err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"))
}

// window is the half-open range [lo, hi) ports are drawn from: from lowest up to the start of
// the ephemeral range, or above its end when it starts too low to leave room below.
func window() (lo, hi int) {
	ephLo, ephHi := ephemeralRange()
	if ephLo-lowest >= 1000 {
		return lowest, ephLo
	}
	if ephHi+1000 < 65536 {
		return ephHi + 1, 65536
	}
	return lowest, 65536 // no room either side: fall back to any unprivileged port
}

// ephemeralRange reads Linux's ip_local_port_range; elsewhere it assumes the IANA range.
func ephemeralRange() (lo, hi int) {
	lo, hi = 49152, 65535
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l <= 0 || h < l {
		return lo, hi
	}
	return l, h
}
