package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--cluster-domain", "kubelab.test", "--upstream", "10.0.0.2,10.0.0.3:5353"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterDomain != "kubelab.test" || o.TTL != 5 || o.DNSAddress != ":53" || o.HealthAddress != ":8080" ||
		o.ReadyAddress != ":8181" || o.MetricsAddress != ":9153" || o.Lameduck != 5*time.Second {
		t.Errorf("options %+v", o)
	}
	for _, args := range [][]string{
		{"--cluster-domain", "bad..domain"},
		{"--ttl", "3601"},
		{"--upstream", "dns.example.com"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", strings.Join(args, " "))
		}
	}
}

// TestServeFromAPIServer runs the server against a real apiserver (in-process, on embedded
// etcd) and asks it over UDP and TCP with miekg/dns's client: services created before and
// after it started, headless endpoints, an ExternalName chased upstream, names forwarded to
// a fake upstream, NXDOMAIN and NODATA, truncation over UDP, /ready and /metrics.
func TestServeFromAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api := apiservertest.Start(t)
	cs := api.Clientset(false)
	upstream := fakeUpstream(t, map[string]string{"example.com.": "192.0.2.1", "search.example.com.": "192.0.2.2"})

	mustCreate(t, ctx, cs.Namespaces(), &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "shop"}})
	web := mustCreate(t, ctx, cs.Services("shop"), svc("web", "", port("http", 80)))
	mustCreate(t, ctx, cs.Services("shop"), svc("db", "None", port("pg", 5432)))
	mustCreate(t, ctx, cs.EndpointSlices("shop"), endpointSlice("db", "pg", 5432, map[string]string{"10.244.0.5": "db-0", "10.244.1.6": ""}))
	ext := svc("ext", "", nil)
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "search.example.com"
	mustCreate(t, ctx, cs.Services("shop"), ext)
	// 60 endpoints: 60 A records do not fit a 512-byte UDP answer.
	mustCreate(t, ctx, cs.Services("shop"), svc("big", "None", port("http", 80)))
	many := map[string]string{}
	for i := range 60 {
		many[fmt.Sprintf("10.244.3.%d", i+1)] = ""
	}
	mustCreate(t, ctx, cs.EndpointSlices("shop"), endpointSlice("big", "http", 80, many))

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("KUBELAB_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := Start(ctx, &Options{
		Kubeconfig: api.Kubeconfig(), ClusterDomain: "cluster.local", TTL: 5,
		DNSAddress: "127.0.0.1:0", HealthAddress: "127.0.0.1:0", ReadyAddress: "127.0.0.1:0", MetricsAddress: "127.0.0.1:0",
		Upstream: upstream,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if code, _ := httpGet(t, s.HTTPAddr("/health"), "/health"); code != 200 {
		t.Errorf("/health: %d", code)
	}
	waitFor(t, 30*time.Second, "/ready to answer 200", func() bool {
		code, _ := httpGet(t, s.HTTPAddr("/ready"), "/ready")
		return code == 200
	})

	for _, network := range []string{"udp", "tcp"} {
		q := func(name string, qtype uint16) *dns.Msg { return query(t, network, s.DNSAddr(), name, qtype) }
		expect(t, q("kubernetes.default.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, "A 10.96.0.1")
		expect(t, q("web.shop.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, "A "+web.GetSpec().GetClusterIP())
		expect(t, q("web.shop.svc.cluster.local.", dns.TypeAAAA), dns.RcodeSuccess)
		expect(t, q("_http._tcp.web.shop.svc.cluster.local.", dns.TypeSRV), dns.RcodeSuccess, "SRV 0 100 80 web.shop.svc.cluster.local.")
		expect(t, q("db.shop.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, "A 10.244.0.5", "A 10.244.1.6")
		expect(t, q("db-0.db.shop.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, "A 10.244.0.5")
		expect(t, q("_pg._tcp.db.shop.svc.cluster.local.", dns.TypeSRV), dns.RcodeSuccess,
			"SRV 0 50 5432 10-244-1-6.db.shop.svc.cluster.local.", "SRV 0 50 5432 db-0.db.shop.svc.cluster.local.")
		expect(t, q("ext.shop.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, "CNAME search.example.com.", "A 192.0.2.2")
		expect(t, q("10-244-0-5.shop.pod.cluster.local.", dns.TypeA), dns.RcodeSuccess, "A 10.244.0.5")
		expect(t, q("1.0.96.10.in-addr.arpa.", dns.TypePTR), dns.RcodeSuccess, "PTR kubernetes.default.svc.cluster.local.")
		expect(t, q("nope.shop.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
		expect(t, q("web.shop.svc.cluster.local.shop.svc.cluster.local.", dns.TypeA), dns.RcodeNameError)
		expect(t, q("example.com.", dns.TypeA), dns.RcodeSuccess, "A 192.0.2.1")
		expect(t, q("nope.example.com.", dns.TypeA), dns.RcodeNameError)
	}

	// 60 addresses: truncated over UDP (the client retries over TCP), whole over TCP.
	if m := query(t, "udp", s.DNSAddr(), "big.shop.svc.cluster.local.", dns.TypeA); !m.Truncated || len(m.Answer) >= 60 {
		t.Errorf("UDP: TC=%v with %d answers, want truncated", m.Truncated, len(m.Answer))
	}
	if m := query(t, "tcp", s.DNSAddr(), "big.shop.svc.cluster.local.", dns.TypeA); m.Truncated || len(m.Answer) != 60 {
		t.Errorf("TCP: TC=%v with %d answers, want all 60", m.Truncated, len(m.Answer))
	}

	// The watch: a service created now appears, and goes when deleted.
	late := mustCreate(t, ctx, cs.Services("shop"), svc("late", "", port("http", 80)))
	waitFor(t, 10*time.Second, "late.shop to resolve", func() bool {
		m := query(t, "udp", s.DNSAddr(), "late.shop.svc.cluster.local.", dns.TypeA)
		return m.Rcode == dns.RcodeSuccess && len(m.Answer) == 1 && m.Answer[0].(*dns.A).A.String() == late.GetSpec().GetClusterIP()
	})
	if _, err := cs.Services("shop").Delete(ctx, "late", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "late.shop to be NXDOMAIN", func() bool {
		return query(t, "udp", s.DNSAddr(), "late.shop.svc.cluster.local.", dns.TypeA).Rcode == dns.RcodeNameError
	})

	_, body := httpGet(t, s.HTTPAddr("/metrics"), "/metrics")
	for _, want := range []string{
		`coredns_dns_requests_total{family="1",proto="udp",server="dns://127.0.0.1:0",type="A",view="",zone="."}`,
		`coredns_dns_requests_total{family="1",proto="tcp",server="dns://127.0.0.1:0",type="SRV",view="",zone="."}`,
		`coredns_dns_responses_total{plugin="kubernetes",rcode="NXDOMAIN",server="dns://127.0.0.1:0",view="",zone="."}`,
		`coredns_dns_responses_total{plugin="forward",rcode="NOERROR",server="dns://127.0.0.1:0",view="",zone="."}`,
		`coredns_forward_requests_total{to="` + upstream + `"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestAddonManifest: deploy/addons/dns.yaml is accepted as it stands (strict fields) by the
// apiserver, puts kube-dns at 10.96.0.10 with kubeadm's ports, and its ClusterRole lets the
// coredns service account run the server: one started as that account gets ready.
func TestAddonManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	api := apiservertest.Start(t)
	cs := api.Clientset(false)
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "addons", "dns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, doc := range runtime.SplitYAMLDocuments(data) {
		js, err := runtime.YAMLToJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		d, err := scheme.Scheme.DecodeJSON(js)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, doc)
		}
		if len(d.Unknown) > 0 {
			t.Errorf("%s: unknown fields %v", d.GVK.Kind, d.Unknown)
		}
		m, _ := scheme.MappingFor(d.GVK)
		ref := transport.Ref{Mapping: m, Namespace: d.Object.GetMetadata().GetNamespace()}
		if _, err := cs.Transport().Create(ctx, ref, d.Object); err != nil {
			t.Fatalf("create %s %s: %v", d.GVK.Kind, d.Object.GetMetadata().GetName(), err)
		}
		kinds = append(kinds, d.GVK.Kind)
	}
	if want := []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	kubeDNS, err := cs.Services("kube-system").Get(ctx, "kube-dns")
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range kubeDNS.GetSpec().GetPorts() {
		ports = append(ports, fmt.Sprintf("%s/%d/%s", p.GetName(), p.GetPort(), p.GetProtocol()))
	}
	if ip := kubeDNS.GetSpec().GetClusterIP(); ip != "10.96.0.10" || !slices.Equal(ports, []string{"dns/53/UDP", "dns-tcp/53/TCP", "metrics/9153/TCP"}) {
		t.Errorf("kube-dns: %s %v", ip, ports)
	}

	s, err := Start(ctx, &Options{
		Kubeconfig:    api.UserKubeconfig("system:serviceaccount:kube-system:coredns", "system:serviceaccounts", "system:serviceaccounts:kube-system"),
		ClusterDomain: "cluster.local", TTL: 5, DNSAddress: "127.0.0.1:0", Upstream: "127.0.0.1:1",
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitFor(t, 30*time.Second, "the server, as the coredns account, to sync", s.Ready)
	expect(t, query(t, "udp", s.DNSAddr(), "kube-dns.kube-system.svc.cluster.local.", dns.TypeA), dns.RcodeSuccess, "A 10.96.0.10")
}

func svc(name, clusterIP string, p *corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: name}, Spec: &corev1.ServiceSpec{ClusterIP: clusterIP, Selector: map[string]string{"app": name}}}
	if p != nil {
		s.Spec.Ports = []*corev1.ServicePort{p}
	}
	return s
}

func port(name string, p int32) *corev1.ServicePort {
	return &corev1.ServicePort{Name: name, Protocol: "TCP", Port: p, TargetPort: &metav1.IntOrString{IntVal: p}}
}

// endpointSlice is what the endpointslice controller would write for service: every
// address ready, with its hostname when one is given.
func endpointSlice(service, portName string, p int32, addrs map[string]string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		Metadata:    &metav1.ObjectMeta{Name: service + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []*discoveryv1.EndpointPort{{Name: proto.String(portName), Protocol: proto.String("TCP"), Port: proto.Int32(p)}},
	}
	for _, a := range slices.Sorted(maps.Keys(addrs)) {
		ep := &discoveryv1.Endpoint{Addresses: []string{a}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)}}
		if h := addrs[a]; h != "" {
			ep.Hostname = proto.String(h)
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

func mustCreate[T interface{ GetMetadata() *metav1.ObjectMeta }](t *testing.T, ctx context.Context, c interface {
	Create(context.Context, T) (T, error)
}, obj T) T {
	t.Helper()
	out, err := c.Create(ctx, obj)
	if err != nil {
		t.Fatalf("create %s: %v", obj.GetMetadata().GetName(), err)
	}
	return out
}

func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, dns.TypeToString[qtype], name, err)
	}
	return resp
}

// expect checks rcode and the answer's records (type and data, any order).
func expect(t *testing.T, m *dns.Msg, rcode int, answer ...string) {
	t.Helper()
	var got []string
	for _, rr := range m.Answer {
		got = append(got, dns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	slices.Sort(got)
	slices.Sort(answer)
	if m.Rcode != rcode || !slices.Equal(got, answer) {
		t.Errorf("%s %s: %s %q, want %s %q", dns.TypeToString[m.Question[0].Qtype], m.Question[0].Name,
			dns.RcodeToString[m.Rcode], got, dns.RcodeToString[rcode], answer)
	}
	if rcode == dns.RcodeSuccess && len(answer) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
		t.Errorf("%s: NODATA without the SOA: %v", m.Question[0].Name, m.Ns)
	}
}

// fakeUpstream answers A questions for names, NXDOMAIN for anything else, on UDP and TCP.
func fakeUpstream(t *testing.T, names map[string]string) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if ip, ok := names[strings.ToLower(q.Name)]; ok {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &Server{errc: make(chan error, 2)}
	if err := srv.serveDNS("127.0.0.1:0", h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv.DNSAddr()
}

func httpGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
