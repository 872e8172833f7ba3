package storagetest

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the nearest-rank method,
// or 0 for no samples. It sorts ds in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	return ds[min(max(rank, 1), len(ds))-1]
}

// RunConcurrent runs op b.N times in total, spread over workers goroutines (op gets the
// worker's number and the operation's number, unique across workers), times every call, and
// reports ops/s, p50-ms and p99-ms with b.ReportMetric. The first error fails the benchmark.
func RunConcurrent(b *testing.B, workers int, op func(worker, i int) error) {
	b.Helper()
	workers = max(workers, 1)
	latencies := make([][]time.Duration, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		n := b.N / workers
		if w < b.N%workers {
			n++
		}
		first := w*(b.N/workers) + min(w, b.N%workers)
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n)
			for i := first; i < first+n; i++ {
				t := time.Now()
				if err := op(w, i); err != nil {
					errs <- fmt.Errorf("worker %d, op %d: %w", w, i, err)
					return
				}
				lat = append(lat, time.Since(t))
			}
			latencies[w] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(latencies...)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(ms(Percentile(all, 50)), "p50-ms")
	b.ReportMetric(ms(Percentile(all, 99)), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
