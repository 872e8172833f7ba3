package workqueue

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"
)

func TestPrometheusMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := NewPrometheusProvider(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPrometheusProvider(reg); err != nil {
		t.Fatalf("second provider on one registry: %v", err)
	}
	clk := testingclock.NewFakeClock(epoch)
	q := New(Config[string]{Name: "pods", Clock: clk, Metrics: p.For("pods")})
	defer q.ShutDown()

	q.Add("a")
	q.Add("a") // deduplicated: not an add
	q.Add("b")
	if got := testutil.ToFloat64(p.adds.WithLabelValues("pods")); got != 2 {
		t.Fatalf("adds = %v, want 2", got)
	}
	if got := testutil.ToFloat64(p.depth.WithLabelValues("pods")); got != 2 {
		t.Fatalf("depth = %v, want 2", got)
	}
	clk.Step(2 * time.Second)
	item := get(t, q)
	clk.Step(3 * time.Second)
	q.Done(item)
	q.AddRateLimited("c")
	if got := testutil.ToFloat64(p.depth.WithLabelValues("pods")); got != 1 {
		t.Fatalf("depth = %v, want 1", got)
	}
	if got := testutil.ToFloat64(p.retries.WithLabelValues("pods")); got != 1 {
		t.Fatalf("retries = %v, want 1", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hist := map[string][2]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				hist[mf.GetName()] = [2]float64{h.GetSampleSum(), float64(h.GetSampleCount())}
			}
		}
	}
	if got, want := hist["workqueue_queue_duration_seconds"], [2]float64{2, 1}; got != want {
		t.Fatalf("queue duration (sum, count) = %v, want %v", got, want)
	}
	if got, want := hist["workqueue_work_duration_seconds"], [2]float64{3, 1}; got != want {
		t.Fatalf("work duration (sum, count) = %v, want %v", got, want)
	}
	// The series carry client-go's names.
	if n, err := testutil.GatherAndCount(reg, "workqueue_depth", "workqueue_adds_total", "workqueue_retries_total"); err != nil || n != 3 {
		t.Fatalf("GatherAndCount = %d, %v; want 3 series", n, err)
	}
}
