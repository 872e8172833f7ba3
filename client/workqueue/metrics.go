package workqueue

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kubelab.io/client/metrics"
)

// Metrics receives one queue's measurements. The queue calls it with its lock held, so
// implementations must be fast and must not call back into the queue.
type Metrics interface {
	// Added: a key entered the queue (not counting adds deduplicated away); depth grew by one.
	Added()
	// Started: a worker took a key that had waited queued for the given time; depth shrank.
	Started(queued time.Duration)
	// Finished: a worker called Done after working on a key for the given time.
	Finished(worked time.Duration)
	// Retried: a key was re-added through AddAfter or AddRateLimited.
	Retried()
}

type noMetrics struct{}

func (noMetrics) Added()                 {}
func (noMetrics) Started(time.Duration)  {}
func (noMetrics) Finished(time.Duration) {}
func (noMetrics) Retried()               {}

// PrometheusProvider owns client-go-named workqueue series in one registry, labelled by
// queue name: workqueue_depth, workqueue_adds_total, workqueue_queue_duration_seconds,
// workqueue_work_duration_seconds and workqueue_retries_total.
type PrometheusProvider struct {
	depth   *prometheus.GaugeVec
	adds    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	work    *prometheus.HistogramVec
	retries *prometheus.CounterVec
}

// NewPrometheusProvider registers the workqueue series with reg. If reg already holds them
// (another provider registered them first) the provider shares the registered ones.
func NewPrometheusProvider(reg prometheus.Registerer) (*PrometheusProvider, error) {
	buckets := prometheus.ExponentialBuckets(10e-9, 10, 12) // 10ns … 1000s, as client-go
	p := &PrometheusProvider{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth", Help: "Current depth of workqueue.",
		}, []string{"name"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total", Help: "Total number of adds handled by workqueue.",
		}, []string{"name"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "workqueue_queue_duration_seconds", Help: "How long in seconds an item stays in workqueue before being requested.",
			Buckets: buckets,
		}, []string{"name"}),
		work: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "workqueue_work_duration_seconds", Help: "How long in seconds processing an item from workqueue takes.",
			Buckets: buckets,
		}, []string{"name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total", Help: "Total number of retries handled by workqueue.",
		}, []string{"name"}),
	}
	var err error
	if p.depth, err = metrics.Register(reg, p.depth); err != nil {
		return nil, err
	}
	if p.adds, err = metrics.Register(reg, p.adds); err != nil {
		return nil, err
	}
	if p.latency, err = metrics.Register(reg, p.latency); err != nil {
		return nil, err
	}
	if p.work, err = metrics.Register(reg, p.work); err != nil {
		return nil, err
	}
	if p.retries, err = metrics.Register(reg, p.retries); err != nil {
		return nil, err
	}
	return p, nil
}

// For returns the Metrics of the queue called name.
func (p *PrometheusProvider) For(name string) Metrics {
	return promMetrics{
		depth:   p.depth.WithLabelValues(name),
		adds:    p.adds.WithLabelValues(name),
		latency: p.latency.WithLabelValues(name),
		work:    p.work.WithLabelValues(name),
		retries: p.retries.WithLabelValues(name),
	}
}

type promMetrics struct {
	depth         prometheus.Gauge
	adds, retries prometheus.Counter
	latency, work prometheus.Observer
}

func (m promMetrics) Added() {
	m.adds.Inc()
	m.depth.Inc()
}

func (m promMetrics) Started(queued time.Duration) {
	m.depth.Dec()
	m.latency.Observe(queued.Seconds())
}

func (m promMetrics) Finished(worked time.Duration) { m.work.Observe(worked.Seconds()) }
func (m promMetrics) Retried()                      { m.retries.Inc() }
