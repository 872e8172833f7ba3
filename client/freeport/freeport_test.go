package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickIsBindableAndOutsideEphemeralRange(t *testing.T) {
	ephLo, ephHi := ephemeralRange()
	lo, hi := window()
	if lo < 1024 || hi > 65536 || hi-lo < 1000 {
		t.Fatalf("window [%d, %d) is not a sane range of unprivileged ports", lo, hi)
	}
	for range 20 {
		port, err := Pick("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if port >= ephLo && port <= ephHi && !(lo == lowest && hi == 65536) {
			t.Fatalf("port %d lies in the ephemeral range [%d, %d]", port, ephLo, ephHi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("picked port %d does not bind: %v", port, err)
		}
		l.Close()
	}
}

func TestIsAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = net.Listen("tcp", l.Addr().String())
	if !IsAddrInUse(err) {
		t.Fatalf("IsAddrInUse(%v) = false", err)
	}
	if IsAddrInUse(nil) {
		t.Fatal("IsAddrInUse(nil) = true")
	}
}
