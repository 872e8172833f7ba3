package controller

import "sync"

// SlowStartInitialBatchSize is the first batch of SlowStartBatch in the replica controllers,
// and BurstReplicas the most creations or deletions one sync makes, as in Kubernetes.
const (
	SlowStartInitialBatchSize = 1
	BurstReplicas             = 500
)

// SlowStartBatch calls fn count times in batches of growing size (initialBatchSize, then
// double, …); the calls of one batch run concurrently. It stops after the first batch with
// an error, so a request that always fails (a bad template, an exhausted quota) costs a few
// calls rather than count. It returns how many calls succeeded and one of the errors.
func SlowStartBatch(count, initialBatchSize int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, max(initialBatchSize, 1)); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}
