package kubelet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/utils/clock"

	"kubelab.io/client/kube"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// statusManager holds the status the kubelet computed for each pod and writes it through
// pods/status when it differs from the API's. Writes happen on its own goroutine, so a
// slow apiserver never blocks a pod worker; a failed write is retried on the next round.
type statusManager struct {
	client *kube.Clientset
	log    *slog.Logger
	clock  clock.WithTicker

	mu       sync.Mutex
	statuses map[string]*podStatusEntry
	wakeCh   chan struct{}
}

type podStatusEntry struct {
	namespace, name string
	status          *corev1.PodStatus
	synced          bool
}

func newStatusManager(client *kube.Clientset, log *slog.Logger, clk clock.WithTicker) *statusManager {
	return &statusManager{client: client, log: log, clock: clk, statuses: map[string]*podStatusEntry{}, wakeCh: make(chan struct{}, 1)}
}

// set records pod's status; it is written soon when it changed.
func (m *statusManager) set(pod *corev1.Pod, st *corev1.PodStatus) {
	uid := pod.GetMetadata().GetUid()
	m.mu.Lock()
	e := m.statuses[uid]
	if e != nil && proto.Equal(e.status, st) {
		m.mu.Unlock()
		return
	}
	m.statuses[uid] = &podStatusEntry{namespace: pod.GetMetadata().GetNamespace(), name: pod.GetMetadata().GetName(), status: st}
	m.mu.Unlock()
	m.wake()
}

// get returns the last status set for uid (nil when none).
func (m *statusManager) get(uid string) *corev1.PodStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.statuses[uid]; e != nil {
		return e.status
	}
	return nil
}

func (m *statusManager) forget(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.statuses, uid)
}

func (m *statusManager) wake() {
	select {
	case m.wakeCh <- struct{}{}:
	default:
	}
}

// run writes pending statuses when woken, and retries unwritten ones every few seconds.
func (m *statusManager) run(ctx context.Context) {
	t := m.clock.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wakeCh:
		case <-t.C():
		}
		m.syncAll(ctx)
	}
}

// flush writes uid's status now, on the caller's goroutine, and reports whether the API
// holds it (or the pod is gone). A pod's last status goes through here so that it is
// written before the kubelet confirms the pod's deletion.
func (m *statusManager) flush(ctx context.Context, uid string) bool {
	m.mu.Lock()
	e := m.statuses[uid]
	m.mu.Unlock()
	if e == nil {
		return true
	}
	ok := m.write(ctx, uid, e)
	m.mu.Lock()
	if ok && m.statuses[uid] == e {
		e.synced = true
	}
	m.mu.Unlock()
	return ok
}

func (m *statusManager) syncAll(ctx context.Context) {
	m.mu.Lock()
	pending := map[string]*podStatusEntry{}
	for uid, e := range m.statuses {
		if !e.synced {
			pending[uid] = e
		}
	}
	m.mu.Unlock()
	for uid, e := range pending {
		ok := m.write(ctx, uid, e)
		m.mu.Lock()
		if ok && m.statuses[uid] == e {
			e.synced = true
		}
		m.mu.Unlock()
	}
}

// write puts e's status on the pod when the pod is still the one with uid; it reports
// whether nothing is left to write.
func (m *statusManager) write(ctx context.Context, uid string, e *podStatusEntry) bool {
	for range 3 {
		done, conflict := m.writeOnce(ctx, uid, e)
		if !conflict {
			return done
		}
	}
	return false
}

func (m *statusManager) writeOnce(ctx context.Context, uid string, e *podStatusEntry) (done, conflict bool) {
	pods := m.client.Pods(e.namespace)
	pod, err := pods.Get(ctx, e.name)
	if apierrors.IsNotFound(err) {
		return true, false
	}
	if err != nil {
		m.log.Warn("get pod for status", "pod", e.namespace+"/"+e.name, "err", err)
		return false, false
	}
	if pod.GetMetadata().GetUid() != uid {
		return true, false // a new pod of the same name: not ours to write
	}
	st := mergeStatus(pod.GetStatus(), e.status)
	if statusEqual(pod.GetStatus(), st) {
		return true, false
	}
	upd := proto.Clone(pod).(*corev1.Pod)
	upd.Status = st
	if _, err := pods.UpdateStatus(ctx, upd); err != nil {
		if apierrors.IsNotFound(err) {
			return true, false
		}
		if apierrors.IsConflict(err) {
			return false, true
		}
		m.log.Warn("update pod status", "pod", e.namespace+"/"+e.name, "err", err)
		return false, false
	}
	m.log.Debug("pod status written", "pod", e.namespace+"/"+e.name, "phase", e.status.GetPhase())
	return true, false
}
