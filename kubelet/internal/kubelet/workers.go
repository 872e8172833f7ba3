package kubelet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// syncFunc syncs one pod. It returns when to sync again at the latest (0: the resync
// interval) and whether the pod needs no worker any more.
type syncFunc func(ctx context.Context, uid string) (requeue time.Duration, done bool)

// podWorkers runs one goroutine per pod uid: syncs of a pod are serial, syncs of
// different pods parallel. A wake while a sync runs makes one more sync after it.
type podWorkers struct {
	ctx    context.Context
	clock  clock.WithTicker
	resync time.Duration
	sync   syncFunc
	log    *slog.Logger

	mu      sync.Mutex
	workers map[string]chan struct{}
	wg      sync.WaitGroup
}

func newPodWorkers(ctx context.Context, clk clock.WithTicker, resync time.Duration, sync syncFunc, log *slog.Logger) *podWorkers {
	return &podWorkers{ctx: ctx, clock: clk, resync: resync, sync: sync, log: log, workers: map[string]chan struct{}{}}
}

// wake asks uid's worker to sync, starting it when none runs.
func (w *podWorkers) wake(uid string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	ch, ok := w.workers[uid]
	if !ok {
		ch = make(chan struct{}, 1)
		w.workers[uid] = ch
		w.wg.Go(func() { w.loop(uid, ch) })
	}
	select {
	case ch <- struct{}{}:
	default: // a sync is already pending
	}
}

// active reports how many workers run.
func (w *podWorkers) active() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.workers)
}

func (w *podWorkers) wait() { w.wg.Wait() }

func (w *podWorkers) loop(uid string, ch chan struct{}) {
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var timerC <-chan time.Time
		if timer != nil {
			timerC = timer.C()
		}
		select {
		case <-w.ctx.Done():
			return
		case <-ch:
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		requeue, done := w.sync(w.ctx, uid)
		if done {
			w.mu.Lock()
			if len(ch) == 0 {
				delete(w.workers, uid)
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		if requeue <= 0 || requeue > w.resync {
			requeue = w.resync
		}
		timer = w.clock.NewTimer(requeue)
	}
}
