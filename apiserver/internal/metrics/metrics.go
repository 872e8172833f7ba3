// Package metrics holds the apiserver's Prometheus metrics, named as kube-apiserver names
// them so existing dashboards and queries apply.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one apiserver's set; each server gets its own registry so tests can run
// several servers in one process.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watches  *prometheus.GaugeVec
	watchEvs *prometheus.CounterVec
}

func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Requests, by verb, group, resource, subresource and HTTP code.",
		}, []string{"verb", "group", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Request latency, by verb, group, resource and subresource (watches excluded).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"verb", "group", "resource", "subresource"}),
		watches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_registered_watchers",
			Help: "Watches open now, by group and resource.",
		}, []string{"group", "resource"}),
		watchEvs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_watch_events_total",
			Help: "Events sent to watchers, by group and resource.",
		}, []string{"group", "resource"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.watches, m.watchEvs,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// ObserveRequest records one finished request.
func (m *Metrics) ObserveRequest(verb, group, resource, subresource string, code int, d time.Duration) {
	m.requests.WithLabelValues(verb, group, resource, subresource, strconv.Itoa(code)).Inc()
	if verb != "watch" {
		m.latency.WithLabelValues(verb, group, resource, subresource).Observe(d.Seconds())
	}
}

// WatchStarted counts an open watch; call the returned func when it ends.
func (m *Metrics) WatchStarted(group, resource string) (done func()) {
	g := m.watches.WithLabelValues(group, resource)
	g.Inc()
	return g.Dec
}

// WatchEvent counts one event sent.
func (m *Metrics) WatchEvent(group, resource string) {
	m.watchEvs.WithLabelValues(group, resource).Inc()
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
