package nodeipam

import (
	"errors"
	"net/netip"
	"testing"
)

func mustSet(t *testing.T, cluster string, mask int) *cidrSet {
	t.Helper()
	s, err := newCIDRSet(netip.MustParsePrefix(cluster), mask)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewCIDRSetValidates(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		mask    int
		ok      bool
	}{
		{"10.244.0.0/16", 24, true},
		{"10.244.0.0/16", 16, true},
		{"10.244.0.0/16", 15, false},
		{"10.244.0.0/16", 33, false},
		{"10.0.0.0/8", 24, true},
		{"10.0.0.0/8", 25, false}, // 2^17 subnets
		{"fd00::/48", 64, true},
	} {
		_, err := newCIDRSet(netip.MustParsePrefix(tc.cluster), tc.mask)
		if (err == nil) != tc.ok {
			t.Errorf("newCIDRSet(%s, %d) error = %v, want ok=%v", tc.cluster, tc.mask, err, tc.ok)
		}
	}
}

func TestAllocateInOrderUntilFull(t *testing.T) {
	s := mustSet(t, "10.244.0.0/22", 24)
	want := []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"}
	for _, w := range want {
		p, err := s.allocateNext()
		if err != nil || p.String() != w {
			t.Fatalf("allocateNext = %v, %v; want %s", p, err, w)
		}
	}
	if _, err := s.allocateNext(); !errors.Is(err, errCIDRSetFull) {
		t.Fatalf("allocateNext on a full set: err = %v, want errCIDRSetFull", err)
	}
	if err := s.release(netip.MustParsePrefix("10.244.2.0/24")); err != nil {
		t.Fatal(err)
	}
	if p, err := s.allocateNext(); err != nil || p.String() != "10.244.2.0/24" {
		t.Fatalf("after release: allocateNext = %v, %v", p, err)
	}
}

func TestReleasedSubnetIsReusedLast(t *testing.T) {
	s := mustSet(t, "10.244.0.0/16", 24)
	first, _ := s.allocateNext()
	if err := s.release(first); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.allocateNext(); p == first {
		t.Fatalf("a just-released subnet %s was handed out again at once", p)
	}
}

func TestOccupySkipsUsedSubnets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		occupied []string
		want     string
		free     int
	}{
		{"one", []string{"10.244.0.0/24"}, "10.244.1.0/24", 2},
		{"larger prefix covers two", []string{"10.244.0.0/23"}, "10.244.2.0/24", 1},
		{"smaller prefix takes its subnet", []string{"10.244.0.128/25"}, "10.244.1.0/24", 2},
		{"twice is idempotent", []string{"10.244.0.0/24", "10.244.0.0/24"}, "10.244.1.0/24", 2},
		{"whole range", []string{"10.0.0.0/8"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSet(t, "10.244.0.0/22", 24)
			for _, o := range tc.occupied {
				if err := s.occupy(netip.MustParsePrefix(o)); err != nil {
					t.Fatal(err)
				}
			}
			p, err := s.allocateNext()
			if tc.want == "" {
				if !errors.Is(err, errCIDRSetFull) {
					t.Fatalf("allocateNext = %v, %v; want full", p, err)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Fatalf("allocateNext = %v, %v; want %s", p, err, tc.want)
			}
			if s.free() != tc.free {
				t.Errorf("free = %d, want %d", s.free(), tc.free)
			}
		})
	}
}

func TestOccupyOutsideRange(t *testing.T) {
	s := mustSet(t, "10.244.0.0/16", 24)
	for _, p := range []string{"10.245.0.0/24", "192.168.0.0/24", "fd00::/64"} {
		if err := s.occupy(netip.MustParsePrefix(p)); err == nil {
			t.Errorf("occupy(%s) succeeded outside the cluster CIDR", p)
		}
	}
}

func TestIPv6(t *testing.T) {
	s := mustSet(t, "fd00:10::/56", 64)
	for _, w := range []string{"fd00:10::/64", "fd00:10:0:1::/64"} {
		if p, err := s.allocateNext(); err != nil || p.String() != w {
			t.Fatalf("allocateNext = %v, %v; want %s", p, err, w)
		}
	}
	if err := s.occupy(netip.MustParsePrefix("fd00:10:0:ff::/64")); err != nil {
		t.Fatal(err)
	}
	if s.free() != 253 {
		t.Fatalf("free = %d, want 253", s.free())
	}
}
