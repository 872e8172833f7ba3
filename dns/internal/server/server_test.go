package server

import (
	"net"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"kubelab.io/dns/internal/records"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
)

// view is a synced cluster with only the default namespace.
type view struct{}

func (view) Synced() bool                                            { return true }
func (view) NamespaceExists(n string) bool                           { return n == "default" }
func (view) Service(_, _ string) *corev1.Service                     { return nil }
func (view) EndpointSlices(_, _ string) []*discoveryv1.EndpointSlice { return nil }
func (view) ServicesByIP(string) []*corev1.Service                   { return nil }
func (view) EndpointSlicesByIP(string) []*discoveryv1.EndpointSlice  { return nil }
func (view) Serial() uint32                                          { return 1 }

// recorder is a dns.ResponseWriter that keeps what was written.
type recorder struct {
	dns.ResponseWriter
	remote net.Addr
	msg    *dns.Msg
}

func (r *recorder) RemoteAddr() net.Addr      { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }

func TestHandler(t *testing.T) {
	h := NewHandler(Config{
		Resolver:  records.New(records.Config{Zone: "cluster.local", TTL: 5}, view{}),
		Forwarder: &Forwarder{Upstreams: []string{"127.0.0.1:1"}, Timeout: 1},
	})
	udp := &net.UDPAddr{IP: net.ParseIP("10.244.0.9"), Port: 40000}
	ask := func(m *dns.Msg) *dns.Msg {
		w := &recorder{remote: udp}
		h.ServeDNS(w, m)
		if w.msg.Id != m.Id {
			t.Errorf("answer id %d, want the request's %d", w.msg.Id, m.Id)
		}
		return w.msg
	}

	m := new(dns.Msg)
	m.SetQuestion("nope.default.svc.cluster.local.", dns.TypeA)
	if r := ask(m); r.Rcode != dns.RcodeNameError || !r.Authoritative || !r.RecursionAvailable {
		t.Errorf("in zone: %s AA=%v RA=%v, want authoritative NXDOMAIN", dns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable)
	}
	m.SetQuestion("example.com.", dns.TypeA)
	if r := ask(m); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstream answering: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	m.Question = append(m.Question, m.Question[0])
	if r := ask(m); r.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s, want FORMERR", dns.RcodeToString[r.Rcode])
	}
	m.SetQuestion("cluster.local.", dns.TypeSOA)
	m.Opcode = dns.OpcodeNotify
	if r := ask(m); r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %s, want NOTIMP", dns.RcodeToString[r.Rcode])
	}
	m = new(dns.Msg)
	m.SetQuestion("cluster.local.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	if r := ask(m); r.IsEdns0() == nil || r.IsEdns0().UDPSize() != 1232 {
		t.Errorf("EDNS0 request: answer OPT %v, want one with 1232", r.IsEdns0())
	}
}

func TestUpstreams(t *testing.T) {
	got := ResolvConfUpstreams([]byte("# c\nsearch example.com\nnameserver 10.0.0.2\nnameserver fd00::53\nnameserver bad\noptions ndots:2\n"))
	if want := []string{"10.0.0.2:53", "[fd00::53]:53"}; !slices.Equal(got, want) {
		t.Errorf("ResolvConfUpstreams = %q, want %q", got, want)
	}
	got, err := ParseUpstreams("10.0.0.2, 10.0.0.3:5353,[::1]:53")
	if want := []string{"10.0.0.2:53", "10.0.0.3:5353", "[::1]:53"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseUpstreams = %q, %v; want %q", got, err, want)
	}
	if _, err := ParseUpstreams("dns.example.com:53"); err == nil {
		t.Error("ParseUpstreams accepted a host name")
	}
}

// externalView is view with one ExternalName service, default/ext → big.example.com.
type externalView struct{ view }

func (externalView) Service(ns, name string) *corev1.Service {
	if ns != "default" || name != "ext" {
		return nil
	}
	return &corev1.Service{Spec: &corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "big.example.com"}}
}

// TestChaseKeepsTruncation: when the upstream's answer for an ExternalName's target came
// back truncated over UDP, the client's answer says so too, so that it retries over TCP
// rather than take a partial answer as the whole.
func TestChaseKeepsTruncation(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Truncated = true // what fitted in 512 bytes of a longer answer
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.1")}}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	up.NotifyStartedFunc = func() { close(started) }
	go func() { _ = up.ActivateAndServe() }()
	<-started
	defer func() { _ = up.Shutdown() }()

	h := NewHandler(Config{
		Resolver:  records.New(records.Config{Zone: "cluster.local", TTL: 5}, externalView{}),
		Forwarder: &Forwarder{Upstreams: []string{pc.LocalAddr().String()}},
	})
	m := new(dns.Msg)
	m.SetQuestion("ext.default.svc.cluster.local.", dns.TypeA)
	w := &recorder{remote: &net.UDPAddr{IP: net.ParseIP("10.244.0.9"), Port: 40000}}
	h.ServeDNS(w, m)
	if r := w.msg; len(r.Answer) != 2 || !r.Truncated {
		t.Errorf("answer %v truncated=%v; want the CNAME and the partial A, truncated", r.Answer, r.Truncated)
	}
}
