// Package metrics holds the node proxy's Prometheus metrics, named as kube-proxy names them
// (kubeproxy_sync_proxy_rules_duration_seconds, kubeproxy_sync_proxy_rules_last_timestamp_seconds,
// kubeproxy_sync_proxy_rules_iptables_total, kubeproxy_sync_proxy_rules_iptables_restore_failures_total,
// kubeproxy_sync_proxy_rules_no_local_endpoints_total).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one proxy's set, in its own registry.
type Metrics struct {
	registry        *prometheus.Registry
	syncDuration    prometheus.Histogram
	fullSync        prometheus.Histogram
	lastSync        prometheus.Gauge
	rules           *prometheus.GaugeVec
	restoreFailures prometheus.Counter
	noLocal         *prometheus.GaugeVec
}

// New registers the metrics.
func New() *Metrics {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 15) // 1 ms … 16 s, as kube-proxy
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kubeproxy_sync_proxy_rules_duration_seconds", Buckets: buckets,
			Help: "SyncProxyRules latency in seconds",
		}),
		fullSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kubeproxy_sync_full_proxy_rules_duration_seconds", Buckets: buckets,
			Help: "SyncProxyRules latency in seconds for full resyncs",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
			Help: "The last time proxy rules were successfully synced",
		}),
		rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_iptables_total",
			Help: "Total number of iptables rules owned by kube-proxy",
		}, []string{"table"}),
		restoreFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
			Help: "Cumulative proxy iptables restore failures",
		}),
		noLocal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
			Help: "Number of services with a Local traffic policy and no endpoints",
		}, []string{"traffic_policy"}),
	}
	m.registry.MustRegister(m.syncDuration, m.fullSync, m.lastSync, m.rules, m.restoreFailures, m.noLocal,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Synced records a successful sync: how long it took, when it ended, the rules it wrote
// per table and the service ports with Local policy and no local endpoint.
func (m *Metrics) Synced(d time.Duration, at time.Time, filterRules, natRules, noLocalInternal, noLocalExternal int) {
	m.syncDuration.Observe(d.Seconds())
	m.fullSync.Observe(d.Seconds()) // every sync rewrites every rule
	m.lastSync.Set(float64(at.UnixNano()) / 1e9)
	m.rules.WithLabelValues("filter").Set(float64(filterRules))
	m.rules.WithLabelValues("nat").Set(float64(natRules))
	m.noLocal.WithLabelValues("internal").Set(float64(noLocalInternal))
	m.noLocal.WithLabelValues("external").Set(float64(noLocalExternal))
}

// RestoreFailed counts a failed iptables-restore.
func (m *Metrics) RestoreFailed() { m.restoreFailures.Inc() }

// Registry is the metrics' registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
