package kubelet

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	corev1 "kubelab.io/proto/api/core/v1"
)

// terminationOrder makes a pod's sidecars stop last, as KEP-753 has it: every sidecar
// waits until the app containers have stopped, and then until the sidecars declared after
// it have, so a sidecar outlives whatever may still use it (a proxy outlives its app, a
// log shipper the proxy). PreStop hooks run at once for all; only the SIGTERM waits.
// Each wait is bounded by what is left of the grace period. Safe for concurrent use.
type terminationOrder struct {
	mu sync.Mutex
	// left counts the running instances of each name not stopped yet; stopped[name] is
	// closed when it reaches zero.
	left    map[string]int
	stopped map[string]chan struct{}
	// after lists, for each sidecar, the names that must stop before it.
	after map[string][]string
}

// newTerminationOrder is the order for stopping running (container names, one entry per
// running instance) of pod.
func newTerminationOrder(pod *corev1.Pod, running []string) *terminationOrder {
	o := &terminationOrder{left: map[string]int{}, stopped: map[string]chan struct{}{}, after: map[string][]string{}}
	for _, name := range running {
		o.left[name]++
		if o.stopped[name] == nil {
			o.stopped[name] = make(chan struct{})
		}
	}
	var apps []string
	for _, c := range pod.GetSpec().GetContainers() {
		apps = append(apps, c.GetName())
	}
	later := ""
	inits := pod.GetSpec().GetInitContainers()
	for i := len(inits) - 1; i >= 0; i-- {
		c := inits[i]
		if !isSidecar(c) {
			continue
		}
		o.after[c.GetName()] = append(o.after[c.GetName()], apps...)
		if later != "" {
			o.after[c.GetName()] = append(o.after[c.GetName()], later)
		}
		later = c.GetName()
	}
	return o
}

// waitForTurn blocks until every container that must stop before name has, or budget
// has passed, and returns how long it waited.
func (o *terminationOrder) waitForTurn(clk clock.Clock, name string, budget time.Duration) time.Duration {
	start := clk.Now()
	o.mu.Lock()
	var waits []chan struct{}
	for _, before := range o.after[name] {
		if ch := o.stopped[before]; ch != nil {
			waits = append(waits, ch) // nil: not running, nothing to wait for
		}
	}
	o.mu.Unlock()
	if len(waits) == 0 {
		return 0
	}
	timeout := clk.After(budget)
	for _, ch := range waits {
		select {
		case <-ch:
		case <-timeout:
			return clk.Since(start)
		}
	}
	return clk.Since(start)
}

// containerStopped records that one instance of name has stopped (or failed to: its turn
// is over either way, so nothing waits on it for ever).
func (o *terminationOrder) containerStopped(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.left[name] == 0 {
		return
	}
	o.left[name]--
	if o.left[name] == 0 {
		close(o.stopped[name])
	}
}
