// Package metrics holds the DNS server's Prometheus metrics, named and labelled as CoreDNS's
// (the `prometheus :9153` plugin of kubeadm's Corefile), so dashboards and alerts written for
// CoreDNS read them: coredns_dns_requests_total{server,zone,view,proto,family,type},
// coredns_dns_responses_total{server,zone,view,rcode,plugin},
// coredns_dns_request_duration_seconds{server,zone,view,type},
// coredns_forward_requests_total{to} and coredns_forward_responses_total{to,rcode}. The
// view label is always empty (no views here).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one server's set, in its own registry.
type Metrics struct {
	registry         *prometheus.Registry
	requests         *prometheus.CounterVec
	responses        *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	forwardRequests  *prometheus.CounterVec
	forwardResponses *prometheus.CounterVec
}

// New registers the metrics.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coredns_dns_requests_total", Help: "Counter of DNS requests made per zone, protocol and family.",
		}, []string{"server", "zone", "view", "proto", "family", "type"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coredns_dns_responses_total", Help: "Counter of response status codes.",
		}, []string{"server", "zone", "view", "rcode", "plugin"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "coredns_dns_request_duration_seconds", Help: "Histogram of the time (in seconds) each request took per zone.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16), // 0.25 ms … 8 s, as CoreDNS
		}, []string{"server", "zone", "view", "type"}),
		forwardRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coredns_forward_requests_total", Help: "Counter of requests made per upstream.",
		}, []string{"to"}),
		forwardResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coredns_forward_responses_total", Help: "Counter of responses received per upstream.",
		}, []string{"to", "rcode"}),
	}
	m.registry.MustRegister(m.requests, m.responses, m.duration, m.forwardRequests, m.forwardResponses,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Request records one answered query: server is "dns://:53", zone the server block's zone
// ("."), proto "udp" or "tcp", family 1 (IPv4) or 2 (IPv6), plugin "kubernetes" or "forward"
// (what wrote the answer; "" for errors before either).
func (m *Metrics) Request(server, zone, proto, family string, qtype uint16, rcode int, plugin string, took time.Duration) {
	t := TypeLabel(qtype)
	m.requests.WithLabelValues(server, zone, "", proto, family, t).Inc()
	m.responses.WithLabelValues(server, zone, "", RcodeLabel(rcode), plugin).Inc()
	m.duration.WithLabelValues(server, zone, "", t).Observe(took.Seconds())
}

// Forward records one upstream exchange; rcode < 0 means no answer came.
func (m *Metrics) Forward(to string, rcode int) {
	m.forwardRequests.WithLabelValues(to).Inc()
	if rcode >= 0 {
		m.forwardResponses.WithLabelValues(to, RcodeLabel(rcode)).Inc()
	}
}

// monitored are the types with a label of their own, as CoreDNS's; others count as "other",
// so a client cannot grow the label set without bound.
var monitored = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypeNS: true, dns.TypePTR: true,
	dns.TypeSOA: true, dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeMX: true, dns.TypeANY: true,
	dns.TypeHTTPS: true, dns.TypeSVCB: true, dns.TypeDS: true, dns.TypeDNSKEY: true, dns.TypeIXFR: true,
	dns.TypeAXFR: true, dns.TypeCAA: true, dns.TypeNAPTR: true,
}

// TypeLabel is the type label of qtype.
func TypeLabel(qtype uint16) string {
	if monitored[qtype] {
		return dns.TypeToString[qtype]
	}
	return "other"
}

// RcodeLabel is the rcode label ("NOERROR", "NXDOMAIN", …).
func RcodeLabel(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rcode)
}
