package records

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// fakeView is a records.View over plain slices.
type fakeView struct {
	synced     bool
	namespaces []string
	services   []*corev1.Service
	slices     []*discoveryv1.EndpointSlice
}

func (f *fakeView) Synced() bool { return f.synced }
func (f *fakeView) NamespaceExists(name string) bool {
	return slices.Contains(f.namespaces, name)
}
func (f *fakeView) Service(ns, name string) *corev1.Service {
	for _, s := range f.services {
		if s.GetMetadata().GetNamespace() == ns && s.GetMetadata().GetName() == name {
			return s
		}
	}
	return nil
}
func (f *fakeView) EndpointSlices(ns, svc string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, s := range f.slices {
		if s.GetMetadata().GetNamespace() == ns && s.GetMetadata().GetLabels()[discoveryv1.LabelServiceName] == svc {
			out = append(out, s)
		}
	}
	return out
}
func (f *fakeView) ServicesByIP(ip string) []*corev1.Service {
	var out []*corev1.Service
	for _, s := range f.services {
		if slices.Contains(s.GetSpec().GetClusterIPs(), ip) {
			out = append(out, s)
		}
	}
	return out
}
func (f *fakeView) EndpointSlicesByIP(ip string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, s := range f.slices {
		for _, ep := range s.GetEndpoints() {
			if slices.Contains(ep.GetAddresses(), ip) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}
func (f *fakeView) Serial() uint32 { return 1700000000 }

func service(ns, name, typ string, ips []string, ports ...*corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:     &corev1.ServiceSpec{Type: typ, ClusterIPs: ips, Ports: ports},
	}
	if len(ips) > 0 {
		s.Spec.ClusterIP = ips[0]
	}
	return s
}

func port(name, proto string, p int32) *corev1.ServicePort {
	return &corev1.ServicePort{Name: name, Protocol: proto, Port: p}
}

func slice(ns, svc, addrType string, ports []*discoveryv1.EndpointPort, eps ...*discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		Metadata:    &metav1.ObjectMeta{Namespace: ns, Name: svc + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: addrType,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func endpoint(addr, hostname string, ready *bool) *discoveryv1.Endpoint {
	ep := &discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: &discoveryv1.EndpointConditions{Ready: ready}}
	if hostname != "" {
		ep.Hostname = proto.String(hostname)
	}
	return ep
}

func epPort(name, proto_ string, p int32) *discoveryv1.EndpointPort {
	return &discoveryv1.EndpointPort{Name: proto.String(name), Protocol: proto.String(proto_), Port: proto.Int32(p)}
}

func testView() *fakeView {
	web := []*discoveryv1.EndpointPort{epPort("http", "TCP", 8080)}
	return &fakeView{
		synced:     true,
		namespaces: []string{"default", "shop", "kube-system"},
		services: []*corev1.Service{
			service("default", "kubernetes", "ClusterIP", []string{"10.96.0.1"}, port("https", "TCP", 443)),
			service("shop", "cart", "ClusterIP", []string{"10.96.0.20"}, port("http", "TCP", 80), port("metrics", "TCP", 9090), port("dns", "UDP", 53)),
			service("shop", "dual", "ClusterIP", []string{"10.96.0.30", "fd00::30"}, port("", "TCP", 80)),
			service("shop", "db", "ClusterIP", []string{"None"}, port("pg", "TCP", 5432)),
			service("shop", "empty", "ClusterIP", []string{"None"}, port("pg", "TCP", 5432)),
			service("shop", "noports", "ClusterIP", []string{"None"}),
			service("shop", "search", "ExternalName", nil),
			service("shop", "alias", "ExternalName", nil),
			service("shop", "web", "ClusterIP", []string{"10.96.0.40"}, port("http", "TCP", 80)),
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("shop", "db", "IPv4", []*discoveryv1.EndpointPort{epPort("pg", "TCP", 5432)},
				endpoint("10.244.0.5", "db-0", nil),
				endpoint("10.244.1.6", "", proto.Bool(true)),
				endpoint("10.244.2.7", "db-2", proto.Bool(false))),
			slice("shop", "empty", "IPv4", []*discoveryv1.EndpointPort{epPort("pg", "TCP", 5432)},
				endpoint("10.244.0.9", "", proto.Bool(false))),
			slice("shop", "noports", "IPv4", nil, endpoint("10.244.0.11", "", nil)),
			slice("shop", "web", "IPv4", web, endpoint("10.244.0.12", "", nil), endpoint("10.244.0.13", "w1", nil)),
		},
	}
}

func TestResolve(t *testing.T) {
	v := testView()
	// ExternalName targets: one outside the zone, one in it.
	v.services[6].Spec.ExternalName = "search.example.com"
	v.services[7].Spec.ExternalName = "cart.shop.svc.cluster.local"
	r := New(Config{Zone: "Cluster.Local", TTL: 5}, v)

	const (
		ok = dns.RcodeSuccess
		nx = dns.RcodeNameError
	)
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string // RR strings without the header's name, TTL and class: "A 10.96.0.1"
		extra  []string
		chase  string
		fwd    bool
	}{
		// ClusterIP services.
		{name: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.1"}},
		{name: "KUBERNETES.Default.SVC.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.1"}},
		{name: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok},                       // NODATA
		{name: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeTXT, rcode: ok},                        // NODATA
		{name: "cart.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.20"}}, // one A for three ports
		{name: "dual.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.30"}},
		{name: "dual.shop.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok, answer: []string{"AAAA fd00::30"}},
		{name: "nope.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "cart.nons.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// SRV for named ports, and for the bare name (every port).
		{name: "_http._tcp.cart.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{"SRV 0 100 80 cart.shop.svc.cluster.local."}, extra: []string{"cart.shop.svc.cluster.local. A 10.96.0.20"}},
		{name: "_DNS._UDP.cart.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{"SRV 0 100 53 cart.shop.svc.cluster.local."}, extra: []string{"cart.shop.svc.cluster.local. A 10.96.0.20"}},
		{name: "_dns._tcp.cart.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		{name: "_nope._tcp.cart.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		{name: "_http._tcp.cart.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.20"}},
		{name: "http.tcp.cart.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		{name: "cart.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok, answer: []string{
			"SRV 0 33 80 cart.shop.svc.cluster.local.", "SRV 0 33 9090 cart.shop.svc.cluster.local.", "SRV 0 33 53 cart.shop.svc.cluster.local."},
			extra: []string{"A 10.96.0.20"}}, // the target is the name asked
		// Headless: the ready endpoints (unset ready counts as ready), by hostname or dashed address.
		{name: "db.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.244.0.5", "A 10.244.1.6"}},
		{name: "db.shop.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok},
		{name: "db-0.db.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.244.0.5"}},
		{name: "10-244-1-6.db.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.244.1.6"}},
		{name: "db-2.db.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx}, // not ready
		{name: "_pg._tcp.db.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{"SRV 0 50 5432 db-0.db.shop.svc.cluster.local.", "SRV 0 50 5432 10-244-1-6.db.shop.svc.cluster.local."},
			extra:  []string{"db-0.db.shop.svc.cluster.local. A 10.244.0.5", "10-244-1-6.db.shop.svc.cluster.local. A 10.244.1.6"}},
		{name: "empty.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx}, // headless, nothing ready
		{name: "noports.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.244.0.11"}},
		{name: "noports.shop.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok},
		// An endpoint name under a ClusterIP service.
		{name: "w1.web.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.244.0.13"}},
		{name: "w2.web.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// ExternalName: a CNAME, chased upstream when it leaves the zone, here when not.
		{name: "search.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"CNAME search.example.com."}, chase: "search.example.com."},
		{name: "search.shop.svc.cluster.local.", qtype: dns.TypeCNAME, rcode: ok, answer: []string{"CNAME search.example.com."}},
		{name: "alias.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"CNAME cart.shop.svc.cluster.local.", "cart.shop.svc.cluster.local. A 10.96.0.20"}},
		{name: "x.search.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// Pods (kubeadm's `pods insecure`).
		{name: "10-244-0-99.shop.pod.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.244.0.99"}},
		{name: "10-244-0-99.shop.pod.cluster.local.", qtype: dns.TypeAAAA, rcode: ok},
		{name: "fd00--1.shop.pod.cluster.local.", qtype: dns.TypeAAAA, rcode: ok, answer: []string{"AAAA fd00::1"}},
		{name: "10-244-0-99.nons.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "not-an-ip.shop.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "a.10-244-0-99.shop.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// Names that exist without records (NODATA) and names that do not (NXDOMAIN).
		{name: "cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "svc.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "pod.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "shop.pod.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "nons.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "foo.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "a.b.c.cart.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "cluster.local.", qtype: dns.TypeNS, rcode: ok, answer: []string{"NS ns.dns.cluster.local."}},
		{name: "cluster.local.", qtype: dns.TypeSOA, rcode: ok, answer: []string{"SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5"}},
		{name: "dns-version.cluster.local.", qtype: dns.TypeTXT, rcode: ok, answer: []string{`TXT "1.1.0"`}},
		// The search path of a pod in "default" (ndots:5) for kubernetes.default.svc.cluster.local:
		// every suffixed form is NXDOMAIN, so the resolver goes on to the name as given.
		{name: "kubernetes.default.svc.cluster.local.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "kubernetes.default.svc.cluster.local.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "kubernetes.default.svc.cluster.local.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// ... and the short forms a pod in "shop" resolves through its search path.
		{name: "cart.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.20"}},         // "cart"
		{name: "kubernetes.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},                                     // "kubernetes.default" 1st try
		{name: "kubernetes.default.shop.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},                             // "kubernetes.default" 1st try
		{name: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok, answer: []string{"A 10.96.0.1"}}, // 2nd try
		// Not the cluster's: forwarded.
		{name: "example.com.", qtype: dns.TypeA, fwd: true},
		{name: "cluster.local.example.com.", qtype: dns.TypeA, fwd: true},
		{name: "local.", qtype: dns.TypeSOA, fwd: true},
		// Reverse: service IPs and ready endpoints answer PTR, the rest is forwarded.
		{name: "1.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: ok, answer: []string{"PTR kubernetes.default.svc.cluster.local."}},
		{name: "5.0.244.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: ok, answer: []string{"PTR db-0.db.shop.svc.cluster.local."}},
		{name: "6.1.244.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: ok, answer: []string{"PTR 10-244-1-6.db.shop.svc.cluster.local."}},
		{name: "0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR, rcode: ok, answer: []string{"PTR dual.shop.svc.cluster.local."}},
		{name: "7.2.244.10.in-addr.arpa.", qtype: dns.TypePTR, fwd: true}, // not ready
		{name: "8.8.8.8.in-addr.arpa.", qtype: dns.TypePTR, fwd: true},
		{name: "1.0.96.10.in-addr.arpa.", qtype: dns.TypeA, fwd: true},
		{name: "96.10.in-addr.arpa.", qtype: dns.TypePTR, fwd: true},
	} {
		t.Run(dns.TypeToString[tc.qtype]+" "+tc.name, func(t *testing.T) {
			res := r.Resolve(dns.Question{Name: tc.name, Qtype: tc.qtype, Qclass: dns.ClassINET})
			if res.Forward != tc.fwd {
				t.Fatalf("Forward = %v, want %v (%+v)", res.Forward, tc.fwd, res)
			}
			if tc.fwd {
				return
			}
			if res.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[res.Rcode], dns.RcodeToString[tc.rcode])
			}
			if got := rrStrings(res.Answer, tc.name); !slices.Equal(got, tc.answer) {
				t.Errorf("answer\n got %q\nwant %q", got, tc.answer)
			}
			if got := rrStrings(res.Extra, tc.name); !slices.Equal(got, tc.extra) {
				t.Errorf("extra\n got %q\nwant %q", got, tc.extra)
			}
			if res.Chase != tc.chase {
				t.Errorf("chase %q, want %q", res.Chase, tc.chase)
			}
			// Every answer carries the TTL and the name as asked; every empty answer the SOA.
			for _, rr := range res.Answer {
				if rr.Header().Ttl != 5 {
					t.Errorf("%s: TTL %d, want 5", rr, rr.Header().Ttl)
				}
			}
			if len(res.Answer) == 0 && res.Chase == "" {
				if len(res.Ns) != 1 || res.Ns[0].Header().Rrtype != dns.TypeSOA || res.Ns[0].Header().Name != "cluster.local." {
					t.Errorf("authority %v, want the zone's SOA", res.Ns)
				}
			}
		})
	}
}

// rrStrings renders RRs without header name (when it is the question's), TTL and class.
func rrStrings(rrs []dns.RR, qname string) []string {
	var out []string
	for _, rr := range rrs {
		h := rr.Header()
		s := strings.TrimPrefix(rr.String(), h.String())
		typ := dns.TypeToString[h.Rrtype]
		if strings.EqualFold(h.Name, qname) {
			out = append(out, typ+" "+s)
		} else {
			out = append(out, h.Name+" "+typ+" "+s)
		}
	}
	return out
}

func TestNotSynced(t *testing.T) {
	v := testView()
	v.synced = false
	r := New(Config{Zone: "cluster.local", TTL: 5}, v)
	if res := r.Resolve(dns.Question{Name: "kubernetes.default.svc.cluster.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET}); res.Rcode != dns.RcodeServerFailure {
		t.Errorf("before the first list: rcode %s, want SERVFAIL", dns.RcodeToString[res.Rcode])
	}
	if res := r.Resolve(dns.Question{Name: "example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}); !res.Forward {
		t.Errorf("before the first list: other names still go upstream")
	}
}

func TestOwnerKeepsCase(t *testing.T) {
	r := New(Config{Zone: "cluster.local", TTL: 5}, testView())
	res := r.Resolve(dns.Question{Name: "KuBeRnEtEs.default.svc.cluster.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if len(res.Answer) != 1 || res.Answer[0].Header().Name != "KuBeRnEtEs.default.svc.cluster.local." {
		t.Errorf("answer %v: want the owner name as asked (0x20)", res.Answer)
	}
}
