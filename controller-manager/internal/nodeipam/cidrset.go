package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// errCIDRSetFull is returned when every subnet of the cluster CIDR is in use.
var errCIDRSetFull = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// maxSubnetBits bounds the bitmap: at most 2^16 subnets per cluster CIDR, as upstream's
// cidrset (--node-cidr-mask-size may be at most 16 bits longer than the cluster mask).
const maxSubnetBits = 16

// cidrSet is the pure core of the allocator: a bitmap of the maskSize subnets of one cluster
// CIDR. It does no I/O and is not safe for concurrent use; the controller serialises it.
//
// Allocation rotates (nextCandidate) rather than always taking the lowest free subnet, as
// upstream's cidrset does, so a subnet just released is reused as late as possible.
type cidrSet struct {
	cluster       netip.Prefix
	maskSize      int
	subnets       int
	used          []uint64
	allocated     int
	nextCandidate int
}

func newCIDRSet(cluster netip.Prefix, maskSize int) (*cidrSet, error) {
	if !cluster.IsValid() {
		return nil, errors.New("invalid cluster CIDR")
	}
	cluster = cluster.Masked()
	if maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node CIDR mask size %d must be between the cluster CIDR's %d and %d", maskSize, cluster.Bits(), cluster.Addr().BitLen())
	}
	if maskSize-cluster.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("node CIDR mask size %d is more than %d bits longer than the cluster CIDR %s", maskSize, maxSubnetBits, cluster)
	}
	n := 1 << (maskSize - cluster.Bits())
	return &cidrSet{cluster: cluster, maskSize: maskSize, subnets: n, used: make([]uint64, (n+63)/64)}, nil
}

func (s *cidrSet) isUsed(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *cidrSet) set(i int, on bool) {
	if s.isUsed(i) == on {
		return
	}
	if on {
		s.used[i/64] |= 1 << (i % 64)
		s.allocated++
	} else {
		s.used[i/64] &^= 1 << (i % 64)
		s.allocated--
	}
}

// subnet returns the i-th subnet.
func (s *cidrSet) subnet(i int) netip.Prefix {
	shift := uint(s.cluster.Addr().BitLen() - s.maskSize)
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	base.Add(base, new(big.Int).Lsh(big.NewInt(int64(i)), shift))
	buf := make([]byte, s.cluster.Addr().BitLen()/8)
	base.FillBytes(buf)
	addr, _ := netip.AddrFromSlice(buf) // buf has the family's length
	return netip.PrefixFrom(addr, s.maskSize)
}

// indexRange returns the subnets [begin, end) that p overlaps. A p larger than a subnet
// covers several; a smaller one covers the subnet containing it.
func (s *cidrSet) indexRange(p netip.Prefix) (begin, end int, err error) {
	p = p.Masked()
	if p.Addr().BitLen() != s.cluster.Addr().BitLen() || !s.cluster.Overlaps(p) {
		return 0, 0, fmt.Errorf("CIDR %s is outside the cluster CIDR %s", p, s.cluster)
	}
	if p.Bits() < s.cluster.Bits() {
		return 0, s.subnets, nil // p contains the whole cluster CIDR
	}
	shift := uint(s.cluster.Addr().BitLen() - s.maskSize)
	off := new(big.Int).Sub(new(big.Int).SetBytes(p.Addr().AsSlice()), new(big.Int).SetBytes(s.cluster.Addr().AsSlice()))
	begin = int(off.Rsh(off, shift).Int64())
	end = begin + 1
	if p.Bits() < s.maskSize {
		end = begin + 1<<(s.maskSize-p.Bits())
	}
	return begin, min(end, s.subnets), nil
}

// allocateNext marks the next free subnet used and returns it.
func (s *cidrSet) allocateNext() (netip.Prefix, error) {
	if s.allocated == s.subnets {
		return netip.Prefix{}, errCIDRSetFull
	}
	for k := range s.subnets {
		i := (s.nextCandidate + k) % s.subnets
		if !s.isUsed(i) {
			s.set(i, true)
			s.nextCandidate = (i + 1) % s.subnets
			return s.subnet(i), nil
		}
	}
	return netip.Prefix{}, errCIDRSetFull // unreachable: allocated < subnets
}

// occupy marks the subnets p covers used (a CIDR some node already has).
func (s *cidrSet) occupy(p netip.Prefix) error {
	begin, end, err := s.indexRange(p)
	if err != nil {
		return err
	}
	for i := begin; i < end; i++ {
		s.set(i, true)
	}
	return nil
}

// release marks the subnets p covers free.
func (s *cidrSet) release(p netip.Prefix) error {
	begin, end, err := s.indexRange(p)
	if err != nil {
		return err
	}
	for i := begin; i < end; i++ {
		s.set(i, false)
	}
	return nil
}

// free is the number of unused subnets.
func (s *cidrSet) free() int { return s.subnets - s.allocated }
