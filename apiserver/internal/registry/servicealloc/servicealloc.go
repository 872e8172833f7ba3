// Package servicealloc gives Services their cluster IPs (from --service-cluster-ip-range)
// and node ports (from --service-node-port-range), as Kubernetes' service registry does,
// and writes nothing itself.
//
// Why claims and not upstream's repair loop: Kubernetes records allocations apart from the
// Service (once a bitmap, now an IPAddress object per IP) and so needs a repair loop in the
// apiserver that reclaims what a crash between the two writes leaked and re-records what
// it lost. kubelab writes each allocated value as a key of its own
// (/registry/ranges/serviceips/10.96.0.10, /registry/ranges/servicenodeports/30080, whose
// value is the owning service's namespace/name) in the same etcd transaction as the
// Service (storage.Claims): the create's transaction requires each key absent, an update's
// takes what the new spec holds beyond the old and deletes what it no longer holds, and
// the final delete deletes them all. So two concurrent creates, through one apiserver or
// several, can never get one address (one of the transactions fails its compare and that
// create chooses again), and a kill -9 at any instant leaves either the Service with its
// claims or neither: there is nothing to leak and nothing to repair. The price is a
// keys-only read of the pool on each allocating write, which a small cluster does not feel.
//
// Choosing follows upstream: a random free value, first from the upper part of the range,
// since the lower part (1/16 of the IPs, between 16 and 256; 1/32 of the ports, between 16
// and 128) is kept for values clients ask for by number (10.96.0.10 for DNS, the first
// address for the kubernetes service); a requested value must be in range and free, else
// 422 "provided IP is already allocated" on spec.clusterIPs (or "provided port …" on the
// port's nodePort); an exhausted range is a 500 "range is full", as upstream answers it.
// kubelab is single-stack IPv4.
package servicealloc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/storage"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// Claim key prefixes.
const (
	IPPrefix       = "/registry/ranges/serviceips/"
	NodePortPrefix = "/registry/ranges/servicenodeports/"
)

// Defaults, as kube-apiserver's.
const (
	DefaultServiceClusterIPRange = "10.96.0.0/12"
	DefaultNodePortRange         = "30000-32767"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Base, Size int }

// ParsePortRange reads "30000-32767" (or a single port).
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return PortRange{}, fmt.Errorf("invalid port range %q: want LOW-HIGH within 1-65535", s)
	}
	return PortRange{Base: a, Size: b - a + 1}, nil
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1) }

// Config configures an Allocator.
type Config struct {
	// ClusterIPRange is the IPv4 range cluster IPs come from.
	ClusterIPRange netip.Prefix
	// NodePortRange is where node ports come from.
	NodePortRange PortRange
	// Claims reads which values are held (the Services' storage).
	Claims ClaimReader
}

// ClaimReader reads the claims under a prefix (storage.Claimer's Claimed).
type ClaimReader interface {
	Claimed(ctx context.Context, prefix string) (map[string]string, error)
}

// Allocator implements registry.Allocator for Services.
type Allocator struct {
	cidr      netip.Prefix
	first     netip.Addr // the first usable address (network address + 1)
	ipSize    int        // usable addresses: the range without its network and broadcast addresses
	ipOffset  int
	ports     PortRange
	portOff   int
	claims    ClaimReader
	randIntN  func(int) int
	ipFamily  string
	cidrLabel string
}

// New validates cfg and returns its Allocator.
func New(cfg Config) (*Allocator, error) {
	p := cfg.ClusterIPRange.Masked()
	if !p.IsValid() || !p.Addr().Is4() {
		return nil, fmt.Errorf("service cluster IP range %q: kubelab supports one IPv4 range", cfg.ClusterIPRange)
	}
	if p.Bits() > 30 {
		return nil, fmt.Errorf("service cluster IP range %s is too small (at most /30)", p)
	}
	if cfg.NodePortRange.Size == 0 {
		return nil, errors.New("node port range is empty")
	}
	if cfg.Claims == nil {
		return nil, errors.New("servicealloc: Claims is required")
	}
	total := 1 << (32 - p.Bits())
	return &Allocator{
		cidr: p, first: p.Addr().Next(), ipSize: total - 2,
		ipOffset: rangeOffset(total, 16, 16, 256),
		ports:    cfg.NodePortRange, portOff: rangeOffset(cfg.NodePortRange.Size, 32, 16, 128),
		claims: cfg.Claims, randIntN: rand.IntN, ipFamily: corev1.IPv4Protocol, cidrLabel: p.String(),
	}, nil
}

// rangeOffset is upstream's calculateRangeOffset: the size of the lower band kept for
// requested values, size/step clamped to [min, max], none for a range smaller than min.
func rangeOffset(size, step, min, max int) int {
	if size < min {
		return 0
	}
	return clamp(size/step, min, max)
}

func clamp(v, lo, hi int) int { return minInt(maxInt(v, lo), hi) }
func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// FirstIP is the first address of the range: the kubernetes service's.
func (a *Allocator) FirstIP() netip.Addr { return a.first }

// Range is the cluster IP range.
func (a *Allocator) Range() netip.Prefix { return a.cidr }

func owner(svc *corev1.Service) string {
	return svc.GetMetadata().GetNamespace() + "/" + svc.GetMetadata().GetName()
}

// Claims implements registry.Allocator: the service's cluster IP (not "None") and every
// node port its ports and health check hold, one key per distinct value.
func (a *Allocator) Claims(obj runtime.Object) storage.Claims {
	svc := obj.(*corev1.Service)
	c := storage.Claims{Owner: owner(svc)}
	for _, ip := range svc.GetSpec().GetClusterIPs() {
		if addr, err := netip.ParseAddr(ip); err == nil {
			c.Take = append(c.Take, IPPrefix+addr.String())
		}
	}
	seen := map[int32]bool{}
	add := func(p int32) {
		if p != 0 && !seen[p] {
			seen[p] = true
			c.Take = append(c.Take, NodePortPrefix+strconv.Itoa(int(p)))
		}
	}
	for _, p := range svc.GetSpec().GetPorts() {
		add(p.GetNodePort())
	}
	add(svc.GetSpec().GetHealthCheckNodePort())
	return c
}

// Allocate implements registry.Allocator.
func (a *Allocator) Allocate(ctx context.Context, obj, old runtime.Object) error {
	svc := obj.(*corev1.Service)
	if svc.Spec == nil {
		svc.Spec = &corev1.ServiceSpec{}
	}
	held := map[string]bool{}
	if old != nil {
		for _, k := range a.Claims(old).Take {
			held[k] = true
		}
	}
	var claimed map[string]string
	read := func(prefix string) (map[string]string, error) {
		if claimed == nil {
			claimed = map[string]string{}
		}
		m, err := a.claims.Claimed(ctx, prefix)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		for k, v := range m {
			claimed[k] = v
		}
		return claimed, nil
	}
	if corev1.NeedsClusterIP(svc) {
		if err := a.initIPFamilies(svc, old); err != nil {
			return err
		}
		if err := a.allocateClusterIP(svc, held, read); err != nil {
			return err
		}
	}
	if err := a.allocateNodePorts(svc, old, held, read); err != nil {
		return err
	}
	return a.checkClaimCount(svc, held)
}

// MaxClaimOps is how many claims one write of a Service may take and release together:
// etcd refuses a transaction of more than --max-txn-ops operations (128 by default, and
// kubelab may run on an etcd it did not configure); the Service's own put or delete is one
// of them, and each release is a nested transaction whose one compare must fit in what
// the outer one leaves (etcd's checkTxnRequest), so 128-1-1. Only distinct values are
// claims, so a ClusterIP service with any number of ports needs one; a node port service
// with more node ports than this cannot be stored (upstream keeps node ports in one bitmap
// key and has no such bound).
const MaxClaimOps = 126

// checkClaimCount refuses, with a 422 that says why, a service whose claims would not fit
// in one etcd transaction: all of them for its create and its final delete, and what an
// update takes plus what it releases.
func (a *Allocator) checkClaimCount(svc *corev1.Service, held map[string]bool) error {
	want := a.Claims(svc).Take
	ops := len(want)
	if len(held) > 0 {
		ops = 0
		kept := map[string]bool{}
		for _, k := range want {
			kept[k] = true
			if !held[k] {
				ops++
			}
		}
		for k := range held {
			if !kept[k] {
				ops++
			}
		}
	}
	switch {
	case len(want) > MaxClaimOps:
		return invalid(svc, apierrors.Forbidden("spec.ports", fmt.Sprintf(
			"%d node ports and cluster IPs: a service may hold at most %d, since each is an etcd key written in the service's own transaction, which etcd limits to 128 operations", len(want), MaxClaimOps)))
	case ops > MaxClaimOps:
		return invalid(svc, apierrors.Forbidden("spec.ports", fmt.Sprintf(
			"%d node ports and cluster IPs taken and released: an update may change at most %d at once, since each is an operation in the service's own etcd transaction, which etcd limits to 128", ops, MaxClaimOps)))
	}
	return nil
}

func invalid(svc *corev1.Service, errs ...*apierrors.FieldError) error {
	return apierrors.NewInvalid("Service", "", svc.GetMetadata().GetName(), errs)
}

// initIPFamilies is upstream's initIPFamilyFields on a single-stack IPv4 cluster: policy
// SingleStack and families [IPv4] unless set; a headless service without selector gets
// RequireDualStack (as upstream, where it means "every family the cluster has"). An
// update that leaves the policy out keeps the old one (a PUT of the original manifest, or
// an apply that never named it, must not turn PreferDualStack into SingleStack); the
// families follow from the cluster IPs the strategy kept.
//
// Every cluster IP beyond the families named gets its family inferred, and one of a family
// this cluster has no range for is refused, as upstream: only the first is checked against
// the range, so a second one kept would be claimed unchecked.
func (a *Allocator) initIPFamilies(svc *corev1.Service, old runtime.Object) error {
	spec := svc.Spec
	headlessNoSelector := spec.ClusterIP == corev1.ClusterIPNone && len(spec.Selector) == 0
	if spec.IpFamilyPolicy == nil {
		if o, ok := old.(*corev1.Service); ok && o.GetSpec().IpFamilyPolicy != nil {
			spec.IpFamilyPolicy = proto.String(o.GetSpec().GetIpFamilyPolicy())
		} else if headlessNoSelector {
			spec.IpFamilyPolicy = proto.String(corev1.IPFamilyPolicyRequireDualStack)
		} else {
			spec.IpFamilyPolicy = proto.String(corev1.IPFamilyPolicySingleStack)
		}
	}
	var errs apierrors.FieldErrors
	if spec.GetIpFamilyPolicy() == corev1.IPFamilyPolicySingleStack {
		if len(spec.ClusterIPs) == 2 {
			errs = append(errs, apierrors.Invalid("spec.ipFamilyPolicy", spec.GetIpFamilyPolicy(), "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
		}
		if len(spec.IpFamilies) == 2 {
			errs = append(errs, apierrors.Invalid("spec.ipFamilyPolicy", spec.GetIpFamilyPolicy(), "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}
	for i, s := range spec.ClusterIPs {
		if s == corev1.ClusterIPNone {
			break
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || i < len(spec.IpFamilies) {
			continue // validation says what is wrong with it
		}
		fam := corev1.IPv4Protocol
		if !ip.Unmap().Is4() {
			fam = corev1.IPv6Protocol
		}
		if fam != a.ipFamily {
			errs = append(errs, apierrors.Invalid(fmt.Sprintf("spec.clusterIPs[%d]", i), jsonList(spec.ClusterIPs), fam+" is not configured on this cluster"))
			continue
		}
		spec.IpFamilies = append(spec.IpFamilies, fam)
	}
	if len(errs) > 0 {
		return invalid(svc, errs...)
	}
	if headlessNoSelector {
		if len(spec.IpFamilies) == 0 {
			spec.IpFamilies = []string{a.ipFamily}
		}
		return a.checkFamilies(svc)
	}
	if spec.GetIpFamilyPolicy() == corev1.IPFamilyPolicyRequireDualStack {
		return invalid(svc, apierrors.Invalid("spec.ipFamilyPolicy", spec.GetIpFamilyPolicy(), "this cluster is not configured for dual-stack services"))
	}
	if len(spec.IpFamilies) == 0 {
		spec.IpFamilies = []string{a.ipFamily}
	}
	return a.checkFamilies(svc)
}

func (a *Allocator) checkFamilies(svc *corev1.Service) error {
	for i, f := range svc.Spec.IpFamilies {
		if f != a.ipFamily && (f == corev1.IPv4Protocol || f == corev1.IPv6Protocol) {
			return invalid(svc, apierrors.Invalid(fmt.Sprintf("spec.ipFamilies[%d]", i), f, "not configured on this cluster"))
		}
	}
	return nil
}

func (a *Allocator) ipIndex(ip netip.Addr) (int, bool) {
	if !ip.Is4() || !a.cidr.Contains(ip) {
		return 0, false
	}
	b, f := ip.As4(), a.first.As4()
	i := int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])) -
		int(uint32(f[0])<<24|uint32(f[1])<<16|uint32(f[2])<<8|uint32(f[3]))
	return i, i >= 0 && i < a.ipSize
}

func (a *Allocator) ipAt(i int) netip.Addr {
	f := a.first.As4()
	v := uint32(f[0])<<24 | uint32(f[1])<<16 | uint32(f[2])<<8 | uint32(f[3]) + uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (a *Allocator) allocateClusterIP(svc *corev1.Service, held map[string]bool, read func(string) (map[string]string, error)) error {
	spec := svc.Spec
	switch spec.ClusterIP {
	case corev1.ClusterIPNone:
		return nil
	case "":
		claimed, err := read(IPPrefix)
		if err != nil {
			return err
		}
		i, ok := pick(a.ipSize, a.ipOffset, a.randIntN, func(i int) bool { return claimed[IPPrefix+a.ipAt(i).String()] == "" })
		if !ok {
			return apierrors.NewInternalError(errors.New("failed to allocate a serviceIP: range is full"))
		}
		ip := a.ipAt(i).String()
		spec.ClusterIP, spec.ClusterIPs = ip, []string{ip}
		return nil
	}
	ip, err := netip.ParseAddr(spec.ClusterIP)
	if err != nil || len(spec.ClusterIPs) == 0 || spec.ClusterIPs[0] != spec.ClusterIP {
		return nil // validation says what is wrong with it
	}
	key := IPPrefix + ip.String()
	if held[key] {
		return nil
	}
	fail := func(msg string) error {
		return invalid(svc, apierrors.Invalid("spec.clusterIPs", jsonList(spec.ClusterIPs), fmt.Sprintf("failed to allocate IP %s: %s", spec.ClusterIP, msg)))
	}
	if _, ok := a.ipIndex(ip); !ok {
		return fail(fmt.Sprintf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", spec.ClusterIP, a.cidrLabel))
	}
	claimed, err := read(IPPrefix)
	if err != nil {
		return err
	}
	if claimed[key] != "" {
		return fail("provided IP is already allocated")
	}
	return nil
}

// allocateNodePorts is upstream's initNodePorts/updateNodePorts: each port of a service
// that needs node ports gets one (ports sharing a port number, say TCP and UDP 53, share
// it), a requested one is checked, and a LoadBalancer with externalTrafficPolicy Local gets
// a healthCheckNodePort (upstream's allocHealthCheckNodePort, and kept through updates). A service that needs none keeps those it was given explicitly.
func (a *Allocator) allocateNodePorts(svc *corev1.Service, old runtime.Object, held map[string]bool, read func(string) (map[string]string, error)) error {
	spec := svc.Spec
	need := corev1.NeedsNodePorts(svc)
	var claimed map[string]string
	taken := map[int]bool{} // chosen or requested within this service
	load := func() error {
		if claimed != nil {
			return nil
		}
		var err error
		claimed, err = read(NodePortPrefix)
		return err
	}
	check := func(port int, path string) error {
		if held[NodePortPrefix+strconv.Itoa(port)] || taken[port] {
			taken[port] = true
			return nil
		}
		if port < a.ports.Base || port >= a.ports.Base+a.ports.Size {
			return invalid(svc, apierrors.Invalid(path, int64(port), fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", a.ports)))
		}
		if err := load(); err != nil {
			return err
		}
		if claimed[NodePortPrefix+strconv.Itoa(port)] != "" {
			return invalid(svc, apierrors.Invalid(path, int64(port), "provided port is already allocated"))
		}
		taken[port] = true
		return nil
	}
	next := func() (int, error) {
		if err := load(); err != nil {
			return 0, err
		}
		i, ok := pick(a.ports.Size, a.portOff, a.randIntN, func(i int) bool {
			p := a.ports.Base + i
			return !taken[p] && claimed[NodePortPrefix+strconv.Itoa(p)] == ""
		})
		if !ok {
			return 0, apierrors.NewInternalError(errors.New("failed to allocate a nodePort: range is full"))
		}
		taken[a.ports.Base+i] = true
		return a.ports.Base + i, nil
	}
	// Requested ports first, so a chosen one never lands on a port asked for further on.
	// On create, as upstream's initNodePorts, only ports sharing a port number (TCP and UDP
	// 53) may share a node port: one asked for again by another port number is "already
	// allocated", whatever the protocols. An update, as updateNodePorts, lets TCP and UDP
	// share one; validation refuses the same node port twice for one protocol.
	byNumber := map[int32]int32{} // node port → the service port number that holds it
	for i, p := range spec.Ports {
		np := p.GetNodePort()
		if np == 0 {
			continue
		}
		path := fmt.Sprintf("spec.ports[%d].nodePort", i)
		if port, ok := byNumber[np]; ok && old == nil && port != p.GetPort() {
			return invalid(svc, apierrors.Invalid(path, int64(np), "provided port is already allocated"))
		}
		byNumber[np] = p.GetPort()
		if err := check(int(np), path); err != nil {
			return err
		}
	}
	if need {
		byPort := map[int32]int32{}
		for _, p := range spec.Ports {
			if p.GetNodePort() != 0 && byPort[p.GetPort()] == 0 {
				byPort[p.GetPort()] = p.GetNodePort()
			}
		}
		for _, p := range spec.Ports {
			if p.GetNodePort() != 0 {
				continue
			}
			if np := byPort[p.GetPort()]; np != 0 {
				p.NodePort = np
				continue
			}
			np, err := next()
			if err != nil {
				return err
			}
			p.NodePort = int32(np)
			byPort[p.GetPort()] = p.NodePort
		}
	}
	if corev1.NeedsHealthCheckNodePort(svc) {
		hc := spec.GetHealthCheckNodePort()
		if o, ok := old.(*corev1.Service); ok && corev1.NeedsHealthCheckNodePort(o) {
			// Upstream's updateHealthCheckNodePort: a load balancer probes it, so it stays.
			if hc != o.GetSpec().GetHealthCheckNodePort() {
				return invalid(svc, apierrors.Invalid("spec.healthCheckNodePort", int64(hc), "cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update"))
			}
			return nil
		}
		if hc != 0 {
			// Upstream's allocHealthCheckNodePort: apart from the service's own node ports,
			// and its failures are 500s.
			fail := func(msg string) error {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate requested HealthCheck NodePort %d: %s", hc, msg))
			}
			key := NodePortPrefix + strconv.Itoa(int(hc))
			switch {
			case taken[int(hc)]:
				return fail("provided port is already allocated")
			case held[key]:
				return nil
			case int(hc) < a.ports.Base || int(hc) >= a.ports.Base+a.ports.Size:
				return fail(fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", a.ports))
			}
			if err := load(); err != nil {
				return err
			}
			if claimed[key] != "" {
				return fail("provided port is already allocated")
			}
			return nil
		}
		np, err := next()
		if err != nil {
			return err
		}
		spec.HealthCheckNodePort = int32(np)
	}
	return nil
}

// pick chooses a random free index, from the upper band [offset, size) first and then the
// lower one [0, offset), scanning forward from a random start as upstream's allocator.
func pick(size, offset int, randIntN func(int) int, free func(int) bool) (int, bool) {
	for _, band := range [][2]int{{offset, size}, {0, offset}} {
		n := band[1] - band[0]
		if n <= 0 {
			continue
		}
		start := randIntN(n)
		for j := 0; j < n; j++ {
			if i := band[0] + (start+j)%n; free(i) {
				return i, true
			}
		}
	}
	return 0, false
}

// jsonList shows a list as field errors do now: as JSON.
type jsonList []string

func (l jsonList) String() string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}
