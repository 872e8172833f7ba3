package controller

import (
	"context"
	"log/slog"
	"sync"

	"kubelab.io/client/cache"
	"kubelab.io/client/workqueue"
)

// RunWorkers drains queue with workers goroutines calling sync for each key until ctx ends,
// then shuts the queue down and waits for the workers. It follows the queue contract: Get,
// Done when finished, Forget on success, AddRateLimited on error (logged with the key), so
// a key never runs on two workers at once and failures retry with backoff.
func RunWorkers(ctx context.Context, queue workqueue.Interface[string], workers int, log *slog.Logger, syncFn func(ctx context.Context, key string) error) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for processNextWorkItem(ctx, queue, log, syncFn) {
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

func processNextWorkItem(ctx context.Context, queue workqueue.Interface[string], log *slog.Logger, syncFn func(context.Context, string) error) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	if err := syncFn(ctx, key); err != nil {
		if ctx.Err() == nil {
			log.Warn("sync failed; will retry", "key", key, "retries", queue.NumRequeues(key), "err", err)
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

// RunWhenSynced is a controller's Run: it waits for synced (the informers and the
// controller's handler registrations), then drains queue with RunWorkers until ctx ends.
// If ctx ends first the queue is shut down unused.
func RunWhenSynced(ctx context.Context, synced []func() bool, queue workqueue.Interface[string], workers int, log *slog.Logger, syncFn func(ctx context.Context, key string) error) {
	log.Info("starting", "workers", workers)
	defer log.Info("stopped")
	if !cache.WaitForCacheSync(ctx, synced...) {
		queue.ShutDown()
		return
	}
	RunWorkers(ctx, queue, workers, log, syncFn)
}
