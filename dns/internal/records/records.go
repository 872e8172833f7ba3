// Package records is the DNS server's pure core: given one question and a read-only view of
// the cluster's Services, EndpointSlices and Namespaces, it says what the answer is, as the
// Kubernetes DNS specification (github.com/kubernetes/dns docs/specification.md) and CoreDNS's
// kubernetes plugin (in kubeadm's Corefile: `pods insecure`, `fallthrough in-addr.arpa
// ip6.arpa`) answer it. It does no I/O: the server shell forwards what the core says is not
// its own and chases CNAMEs that leave the zone.
//
// Names answered, under the cluster zone Z (cluster.local.):
//
//	svc.ns.svc.Z                 A/AAAA: the cluster IPs; headless: every ready endpoint's address;
//	                             ExternalName: a CNAME to the external name; SRV: one per port
//	hostname.svc.ns.svc.Z        A/AAAA of the ready endpoints with that hostname (or whose
//	                             address, dashed, is it: 10-244-0-5)
//	_port._proto.svc.ns.svc.Z    SRV per matching port (ClusterIP: target svc.ns.svc.Z;
//	                             headless: one per endpoint, target hostname.svc.ns.svc.Z),
//	                             with the targets' addresses as additional records
//	a-b-c-d.ns.pod.Z             A a.b.c.d, for any name that parses as an address in an existing
//	                             namespace (kubeadm's `pods insecure`)
//	Z                            SOA, NS ns.dns.Z
//	dns-version.Z                TXT "1.1.0"
//	d.c.b.a.in-addr.arpa         PTR of a service's cluster IP or a ready endpoint's address
//
// A name that exists with no record of the asked type is NODATA (NOERROR, no answer, the SOA
// in authority); a name that does not exist is NXDOMAIN, so a resolver walking its search
// path goes on to the next suffix.
package records

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
)

// View is what the core reads of the cluster. Implementations return objects shared with
// their caches: the core never modifies them.
type View interface {
	// Synced reports whether the first full list of every kind is in.
	Synced() bool
	// NamespaceExists reports whether a namespace of that name exists.
	NamespaceExists(name string) bool
	// Service returns the Service namespace/name, or nil.
	Service(namespace, name string) *corev1.Service
	// EndpointSlices returns the slices of Service namespace/name (label
	// kubernetes.io/service-name).
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
	// ServicesByIP returns the Services with ip among their cluster IPs.
	ServicesByIP(ip string) []*corev1.Service
	// EndpointSlicesByIP returns the slices with an endpoint of address ip.
	EndpointSlicesByIP(ip string) []*discoveryv1.EndpointSlice
	// Serial is the SOA serial: when the view last changed, in Unix seconds.
	Serial() uint32
}

// Version is the DNS specification version the server implements (dns-version TXT).
const Version = "1.1.0"

// Config is the zone the core answers for.
type Config struct {
	// Zone is the cluster domain, e.g. "cluster.local" (any case, dot or not).
	Zone string
	// TTL of every record, in seconds (CoreDNS's kubernetes plugin: 5).
	TTL uint32
}

// Result is the core's answer to one question.
type Result struct {
	// Forward: the name is not the core's (outside the zone, or a reverse name of no
	// cluster address); the upstream nameservers answer it. Nothing else is set.
	Forward bool
	// Rcode is dns.RcodeSuccess (answer or NODATA), dns.RcodeNameError (NXDOMAIN) or
	// dns.RcodeServerFailure (the view has not synced).
	Rcode  int
	Answer []dns.RR
	Ns     []dns.RR
	Extra  []dns.RR
	// Chase is a CNAME target outside the zone: the shell asks upstream for it, with the
	// question's type, and appends what comes back to Answer.
	Chase string
}

// Resolver answers questions from a View.
type Resolver struct {
	zone string // canonical: lower case, fully qualified
	ttl  uint32
	view View
}

// New returns a Resolver for cfg over view.
func New(cfg Config, view View) *Resolver {
	zone := dns.CanonicalName(cfg.Zone)
	return &Resolver{zone: zone, ttl: cfg.TTL, view: view}
}

// Zone is the resolver's zone, canonical ("cluster.local.").
func (r *Resolver) Zone() string { return r.zone }

// maxCNAMEDepth bounds in-zone CNAME chains (an ExternalName naming another in-zone name).
const maxCNAMEDepth = 8

// Resolve answers q.
func (r *Resolver) Resolve(q dns.Question) Result {
	return r.resolve(q, 0)
}

func (r *Resolver) resolve(q dns.Question, depth int) Result {
	name := dns.CanonicalName(q.Name)
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return Result{Forward: true}
	}
	if isReverse(name) {
		return r.reverse(q, name)
	}
	if !dns.IsSubDomain(r.zone, name) {
		return Result{Forward: true}
	}
	if !r.view.Synced() {
		return Result{Rcode: dns.RcodeServerFailure}
	}
	owner := q.Name // answers carry the name as asked (0x20 case randomisation survives)
	if !strings.HasSuffix(owner, ".") {
		owner += "."
	}
	var labels []string
	if name != r.zone {
		labels = dns.SplitDomainName(strings.TrimSuffix(name, "."+r.zone))
	}
	switch {
	case len(labels) == 0:
		return r.apex(q, owner)
	case len(labels) == 1 && labels[0] == "dns-version":
		if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
			return r.answer(&dns.TXT{Hdr: r.hdr(owner, dns.TypeTXT), Txt: []string{Version}})
		}
		return r.nodata()
	case len(labels) == 2 && labels[0] == "ns" && labels[1] == "dns":
		return r.nodata() // the name the NS record points at: it exists, without addresses here
	}
	last := len(labels) - 1
	switch labels[last] {
	case "svc":
		return r.service(q, owner, labels[:last], depth)
	case "pod":
		return r.pod(q, owner, labels[:last])
	}
	return r.nxdomain()
}

func (r *Resolver) apex(q dns.Question, owner string) Result {
	switch q.Qtype {
	case dns.TypeSOA:
		return r.answer(r.soa(owner))
	case dns.TypeNS:
		return r.answer(r.ns(owner))
	case dns.TypeANY:
		return r.answer(r.soa(owner), r.ns(owner))
	}
	return r.nodata()
}

// service answers names under svc.Z; rest holds the labels before "svc".
func (r *Resolver) service(q dns.Question, owner string, rest []string, depth int) Result {
	n := len(rest)
	if n == 0 {
		return r.nodata() // svc.Z
	}
	ns := rest[n-1]
	if !r.view.NamespaceExists(ns) {
		return r.nxdomain()
	}
	if n == 1 {
		return r.nodata() // ns.svc.Z: the namespace exists
	}
	var endpoint, port, proto string
	switch n {
	case 2:
	case 3:
		endpoint = rest[0]
	case 4:
		if !strings.HasPrefix(rest[0], "_") || !strings.HasPrefix(rest[1], "_") {
			return r.nxdomain()
		}
		port, proto = rest[0][1:], rest[1][1:]
	default:
		return r.nxdomain()
	}
	svc := r.view.Service(ns, rest[n-2])
	if svc == nil {
		return r.nxdomain()
	}
	svcName := svc.GetMetadata().GetName() + "." + ns + ".svc." + r.zone

	if svc.GetSpec().GetType() == corev1.ServiceTypeExternalName {
		target := dns.Fqdn(strings.ToLower(svc.GetSpec().GetExternalName()))
		if endpoint != "" || port != "" || svc.GetSpec().GetExternalName() == "" || net.ParseIP(strings.TrimSuffix(target, ".")) != nil {
			return r.nxdomain()
		}
		return r.cname(q, owner, target, depth)
	}

	var targets []target
	if corev1.IsHeadless(svc) || endpoint != "" {
		for _, s := range r.view.EndpointSlices(ns, svc.GetMetadata().GetName()) {
			if t := s.GetAddressType(); t != discoveryv1.AddressTypeIPv4 && t != discoveryv1.AddressTypeIPv6 {
				continue
			}
			ports := s.GetPorts()
			for _, ep := range s.GetEndpoints() {
				if !ready(ep) {
					continue
				}
				for _, addr := range ep.GetAddresses() {
					host := endpointHostname(ep, addr)
					if endpoint != "" && !strings.EqualFold(endpoint, host) {
						continue
					}
					ip := net.ParseIP(addr)
					if ip == nil {
						continue
					}
					if len(ports) == 0 {
						// No ports: the address still answers A/AAAA, never SRV.
						if port == "" && proto == "" {
							targets = append(targets, target{ip: ip, port: -1, name: host + "." + svcName})
						}
						continue
					}
					for _, p := range ports {
						if matchPort(port, proto, p.GetName(), p.GetProtocol()) {
							targets = append(targets, target{ip: ip, port: p.GetPort(), name: host + "." + svcName})
						}
					}
				}
			}
		}
	} else {
		for _, p := range svc.GetSpec().GetPorts() {
			if !matchPort(port, proto, p.GetName(), p.GetProtocol()) {
				continue
			}
			for _, a := range clusterIPs(svc) {
				if ip := net.ParseIP(a); ip != nil {
					targets = append(targets, target{ip: ip, port: p.GetPort(), name: svcName})
				}
			}
		}
	}
	if len(targets) == 0 {
		return r.nxdomain()
	}
	return r.records(q, owner, targets)
}

// target is one address a name stands for, with the port it serves (-1: none) and the name
// SRV records point at.
type target struct {
	ip   net.IP
	port int32
	name string
}

// records turns the targets of an existing name into the answer for q's type.
func (r *Resolver) records(q dns.Question, owner string, targets []target) Result {
	var res Result
	seen := map[string]bool{}
	add := func(rr dns.RR, to *[]dns.RR) {
		if k := rr.String(); !seen[k] {
			seen[k] = true
			*to = append(*to, rr)
		}
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		for _, t := range targets {
			if rr := r.address(owner, t.ip, q.Qtype); rr != nil {
				add(rr, &res.Answer)
			}
		}
	case dns.TypeSRV:
		var srv []target
		for _, t := range targets {
			if t.port >= 0 {
				srv = append(srv, t)
			}
		}
		// One SRV per (target, port), weights splitting 100 as CoreDNS splits them.
		type key struct {
			name string
			port int32
		}
		uniq := map[key]bool{}
		var keys []key
		for _, t := range srv {
			k := key{t.name, t.port}
			if !uniq[k] {
				uniq[k] = true
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			add(&dns.SRV{Hdr: r.hdr(owner, dns.TypeSRV), Priority: 0, Weight: uint16(100 / len(keys)), Port: uint16(k.port), Target: k.name}, &res.Answer)
		}
		for _, t := range srv {
			if rr := r.address(t.name, t.ip, dns.TypeANY); rr != nil {
				add(rr, &res.Extra)
			}
		}
	}
	if len(res.Answer) == 0 {
		return r.nodata()
	}
	return res
}

// address is the A or AAAA record of ip under name, or nil when ip is not of type qtype
// (TypeANY: either).
func (r *Resolver) address(name string, ip net.IP, qtype uint16) dns.RR {
	if ip4 := ip.To4(); ip4 != nil {
		if qtype == dns.TypeA || qtype == dns.TypeANY {
			return &dns.A{Hdr: r.hdr(name, dns.TypeA), A: ip4}
		}
		return nil
	}
	if qtype == dns.TypeAAAA || qtype == dns.TypeANY {
		return &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: ip}
	}
	return nil
}

// cname answers an ExternalName service: the CNAME, then the target's records of q's type
// (resolved here when the target is in the zone, by the shell upstream otherwise).
func (r *Resolver) cname(q dns.Question, owner, target string, depth int) Result {
	rr := &dns.CNAME{Hdr: r.hdr(owner, dns.TypeCNAME), Target: target}
	if q.Qtype == dns.TypeCNAME {
		return r.answer(rr)
	}
	if !dns.IsSubDomain(r.zone, target) {
		return Result{Answer: []dns.RR{rr}, Chase: target}
	}
	if depth >= maxCNAMEDepth {
		return Result{Rcode: dns.RcodeServerFailure}
	}
	next := r.resolve(dns.Question{Name: target, Qtype: q.Qtype, Qclass: q.Qclass}, depth+1)
	next.Answer = append([]dns.RR{rr}, next.Answer...)
	return next
}

// pod answers a-b-c-d.ns.pod.Z (kubeadm's `pods insecure`: the name is the address).
func (r *Resolver) pod(q dns.Question, owner string, rest []string) Result {
	n := len(rest)
	if n == 0 {
		return r.nodata() // pod.Z
	}
	if !r.view.NamespaceExists(rest[n-1]) {
		return r.nxdomain()
	}
	if n == 1 {
		return r.nodata()
	}
	if n > 2 {
		return r.nxdomain()
	}
	label := rest[0]
	var ip net.IP
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		ip = net.ParseIP(strings.ReplaceAll(label, "-", ".")).To4()
	} else {
		ip = net.ParseIP(strings.ReplaceAll(label, "-", ":"))
	}
	if ip == nil {
		return r.nxdomain()
	}
	return r.records(q, owner, []target{{ip: ip, port: -1}})
}

// reverse answers PTR questions for the cluster's addresses and forwards the rest, as
// kubeadm's `fallthrough in-addr.arpa ip6.arpa` does.
func (r *Resolver) reverse(q dns.Question, name string) Result {
	if q.Qtype != dns.TypePTR || !r.view.Synced() {
		return Result{Forward: true}
	}
	ip := reverseIP(name)
	if ip == nil {
		return Result{Forward: true}
	}
	owner := dns.Fqdn(q.Name)
	var res Result
	for _, svc := range r.view.ServicesByIP(ip.String()) {
		target := svc.GetMetadata().GetName() + "." + svc.GetMetadata().GetNamespace() + ".svc." + r.zone
		res.Answer = append(res.Answer, &dns.PTR{Hdr: r.hdr(owner, dns.TypePTR), Ptr: target})
	}
	for _, s := range r.view.EndpointSlicesByIP(ip.String()) {
		svcName := s.GetMetadata().GetLabels()[discoveryv1.LabelServiceName]
		if svcName == "" {
			continue
		}
		for _, ep := range s.GetEndpoints() {
			if !ready(ep) {
				continue
			}
			for _, addr := range ep.GetAddresses() {
				if a := net.ParseIP(addr); a == nil || !a.Equal(ip) {
					continue
				}
				target := endpointHostname(ep, addr) + "." + svcName + "." + s.GetMetadata().GetNamespace() + ".svc." + r.zone
				rr := &dns.PTR{Hdr: r.hdr(owner, dns.TypePTR), Ptr: target}
				if !slices.ContainsFunc(res.Answer, func(x dns.RR) bool { return x.String() == rr.String() }) {
					res.Answer = append(res.Answer, rr)
				}
			}
		}
	}
	if len(res.Answer) == 0 {
		return Result{Forward: true}
	}
	return res
}

func (r *Resolver) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.ttl}
}

func (r *Resolver) soa(owner string) dns.RR {
	h := r.hdr(owner, dns.TypeSOA)
	return &dns.SOA{Hdr: h, Ns: "ns.dns." + r.zone, Mbox: "hostmaster." + r.zone,
		Serial: r.view.Serial(), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: r.ttl}
}

func (r *Resolver) ns(owner string) dns.RR {
	return &dns.NS{Hdr: r.hdr(owner, dns.TypeNS), Ns: "ns.dns." + r.zone}
}

func (r *Resolver) answer(rrs ...dns.RR) Result { return Result{Answer: rrs} }

// nodata: the name exists, without records of the asked type; the zone's SOA says for how
// long a resolver may remember that.
func (r *Resolver) nodata() Result {
	return Result{Rcode: dns.RcodeSuccess, Ns: []dns.RR{r.soa(r.zone)}}
}

func (r *Resolver) nxdomain() Result {
	return Result{Rcode: dns.RcodeNameError, Ns: []dns.RR{r.soa(r.zone)}}
}

// ready: an endpoint is served unless its ready condition says false (unset means ready, as
// the EndpointSlice API defines it). The endpointslice controller marks every endpoint of a
// publishNotReadyAddresses Service ready.
func ready(ep *discoveryv1.Endpoint) bool {
	c := ep.GetConditions()
	return c == nil || c.Ready == nil || *c.Ready
}

// endpointHostname is the label an endpoint answers under: its hostname, else its address
// with dashes for the dots (or colons).
func endpointHostname(ep *discoveryv1.Endpoint, addr string) string {
	if h := ep.GetHostname(); h != "" {
		return strings.ToLower(h)
	}
	if strings.Contains(addr, ".") {
		return strings.ReplaceAll(addr, ".", "-")
	}
	return strings.ReplaceAll(addr, ":", "-")
}

// matchPort: an empty wanted name or protocol matches any.
func matchPort(wantName, wantProto, name, proto string) bool {
	if proto == "" {
		proto = "TCP"
	}
	return (wantName == "" || strings.EqualFold(wantName, name)) && (wantProto == "" || strings.EqualFold(wantProto, proto))
}

func clusterIPs(svc *corev1.Service) []string {
	if ips := svc.GetSpec().GetClusterIPs(); len(ips) > 0 {
		return ips
	}
	if ip := svc.GetSpec().GetClusterIP(); ip != "" && ip != corev1.ClusterIPNone {
		return []string{ip}
	}
	return nil
}

func isReverse(name string) bool {
	return strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")
}

// reverseIP parses a full reverse name (4 labels under in-addr.arpa, 32 nibbles under
// ip6.arpa); nil for anything shorter or malformed.
func reverseIP(name string) net.IP {
	if s, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(s, ".")
		if len(l) != 4 {
			return nil
		}
		slices.Reverse(l)
		for _, o := range l {
			if v, err := strconv.Atoi(o); err != nil || v < 0 || v > 255 || (len(o) > 1 && o[0] == '0') {
				return nil
			}
		}
		return net.ParseIP(strings.Join(l, ".")).To4()
	}
	if s, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(s, ".")
		if len(l) != 32 {
			return nil
		}
		slices.Reverse(l)
		var b strings.Builder
		for i, n := range l {
			if len(n) != 1 || !strings.Contains("0123456789abcdef", n) {
				return nil
			}
			if i > 0 && i%4 == 0 {
				b.WriteByte(':')
			}
			b.WriteString(n)
		}
		return net.ParseIP(b.String())
	}
	return nil
}
