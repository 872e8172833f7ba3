// Package metrics holds the scheduler's Prometheus metrics, named as kube-scheduler names
// them (scheduler_schedule_attempts_total, scheduler_e2e_scheduling_duration_seconds,
// scheduler_scheduling_attempt_duration_seconds, scheduler_pod_scheduling_duration_seconds,
// scheduler_pending_pods, scheduler_preemption_attempts_total, scheduler_preemption_victims).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Results of a scheduling attempt.
const (
	Scheduled     = "scheduled"
	Unschedulable = "unschedulable"
	Error         = "error"
)

// Metrics is one scheduler's set, in its own registry.
type Metrics struct {
	registry           *prometheus.Registry
	attempts           *prometheus.CounterVec
	e2e                *prometheus.HistogramVec
	attempt            *prometheus.HistogramVec
	podDur             *prometheus.HistogramVec
	preemptionAttempts prometheus.Counter
	preemptionVictims  prometheus.Histogram
}

// New registers the metrics; pending reports the queue depths by queue name.
func New(pending func() map[string]int) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 15) // 1 ms … 16 s, as kube-scheduler
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
		}, []string{"result", "profile"}),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scheduler_e2e_scheduling_duration_seconds", Buckets: buckets,
			Help: "E2e scheduling latency in seconds (scheduling algorithm + binding).",
		}, []string{"result", "profile"}),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scheduler_scheduling_attempt_duration_seconds", Buckets: buckets,
			Help: "Scheduling attempt latency in seconds (scheduling algorithm + binding).",
		}, []string{"result", "profile"}),
		podDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scheduler_pod_scheduling_duration_seconds", Buckets: prometheus.ExponentialBuckets(0.01, 2, 20),
			Help: "E2e latency for a pod being scheduled, from entering the queue to bound; may include multiple attempts.",
		}, []string{"attempts"}),
		preemptionAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scheduler_preemption_attempts_total",
			Help: "Total preemption attempts in the cluster till now",
		}),
		preemptionVictims: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_preemption_victims", Buckets: prometheus.ExponentialBuckets(1, 2, 7),
			Help: "Number of selected preemption victims",
		}),
	}
	m.registry.MustRegister(m.attempts, m.e2e, m.attempt, m.podDur, m.preemptionAttempts, m.preemptionVictims, &pendingCollector{pending: pending},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

var pendingDesc = prometheus.NewDesc("scheduler_pending_pods",
	"Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods.",
	[]string{"queue"}, nil)

type pendingCollector struct{ pending func() map[string]int }

func (c *pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pendingDesc }
func (c *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	if c.pending == nil {
		return
	}
	for q, n := range c.pending() {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n), q)
	}
}

// Attempt records one attempt's result and duration.
func (m *Metrics) Attempt(result, profile string, d time.Duration) {
	m.attempts.WithLabelValues(result, profile).Inc()
	m.e2e.WithLabelValues(result, profile).Observe(d.Seconds())
	m.attempt.WithLabelValues(result, profile).Observe(d.Seconds())
}

// PodScheduled records the time from a pod's first queueing to its binding.
func (m *Metrics) PodScheduled(attempts int, d time.Duration) {
	a := strconv.Itoa(attempts)
	if attempts >= 15 {
		a = "15+"
	}
	m.podDur.WithLabelValues(a).Observe(d.Seconds())
}

// PreemptionAttempt counts one run of preemption (PostFilter) for a pod no node fit.
func (m *Metrics) PreemptionAttempt() { m.preemptionAttempts.Inc() }

// PreemptionVictims records how many pods one preemption evicted.
func (m *Metrics) PreemptionVictims(n int) { m.preemptionVictims.Observe(float64(n)) }

// Registry is the metrics' registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
