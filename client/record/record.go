// Package record writes core/v1 Events about objects, as client-go's event recorder does:
// Eventf returns at once and a background goroutine writes; a repeat of the same event
// (same object, type, reason, message and source) bumps the existing Event's count and
// lastTimestamp instead of creating a new one, so a flapping controller cannot flood etcd.
package record

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Event types.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Config configures a Recorder.
type Config struct {
	Client transport.Interface
	// Component is the source ("deployment-controller", "default-scheduler", "kubelet").
	Component string
	// Host is the source host (kubelets set their node name).
	Host string
	// Buffer is how many events may wait to be written before new ones are dropped (and
	// logged); 0 means 1000.
	Buffer int
	Clock  func() time.Time
	Log    *slog.Logger
}

// Recorder records events. Start it with Run; Eventf never blocks.
type Recorder struct {
	cfg     Config
	queue   chan *corev1.Event
	mapping scheme.Mapping

	mu sync.Mutex
	// seen maps an event's aggregation key to the name and count of the Event written for
	// it. It is bounded: the oldest half is forgotten when it grows past maxSeen.
	seen  map[string]*seenEvent
	order []string
}

type seenEvent struct {
	name      string
	namespace string
	count     int32
}

const maxSeen = 4096

// New returns a Recorder; call Run to start writing.
func New(cfg Config) *Recorder {
	if cfg.Buffer == 0 {
		cfg.Buffer = 1000
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Event"})
	return &Recorder{cfg: cfg, queue: make(chan *corev1.Event, cfg.Buffer), mapping: m, seen: map[string]*seenEvent{}}
}

// Eventf records an event about obj. It logs the event (one line, with the object's
// namespace/name) and queues it for writing; when the queue is full the event is dropped.
func (r *Recorder) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m := obj.GetMetadata()
	r.cfg.Log.Info("event", "object", m.GetNamespace()+"/"+m.GetName(), "kind", obj.GetKind(),
		"type", eventType, "reason", reason, "message", msg)
	now := r.cfg.Clock()
	ts := &metav1.Time{Seconds: now.Unix()}
	ns := m.GetNamespace()
	if ns == "" {
		ns = "default" // events about cluster-scoped objects live in default, as in Kubernetes
	}
	ev := &corev1.Event{
		Kind: "Event", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{
			Name:      m.GetName() + "." + strconv.FormatInt(now.UnixNano(), 16),
			Namespace: ns,
		},
		InvolvedObject: &corev1.ObjectReference{
			Kind: obj.GetKind(), Namespace: m.GetNamespace(), Name: m.GetName(), Uid: m.GetUid(),
			ApiVersion: obj.GetApiVersion(), ResourceVersion: m.GetResourceVersion(),
		},
		Reason: reason, Message: msg, Type: eventType,
		Source:         &corev1.EventSource{Component: r.cfg.Component, Host: r.cfg.Host},
		FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
		ReportingComponent: r.cfg.Component, ReportingInstance: r.cfg.Host,
	}
	select {
	case r.queue <- ev:
	default:
		r.cfg.Log.Warn("event dropped: too many pending", "object", m.GetNamespace()+"/"+m.GetName(), "reason", reason)
	}
}

// Run writes queued events until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.queue:
			r.write(ctx, ev)
		}
	}
}

func aggregationKey(ev *corev1.Event) string {
	io := ev.GetInvolvedObject()
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", io.GetKind(), io.GetNamespace(), io.GetName(), io.GetUid(),
		ev.GetType(), ev.GetReason(), ev.GetMessage(), ev.GetSource().GetComponent()+"/"+ev.GetSource().GetHost())
}

// write creates the event, or bumps the count of the one already written for a repeat.
func (r *Recorder) write(ctx context.Context, ev *corev1.Event) {
	key := aggregationKey(ev)
	r.mu.Lock()
	prev := r.seen[key]
	r.mu.Unlock()
	if prev != nil {
		patch := fmt.Sprintf(`{"count":%d,"lastTimestamp":%q}`, prev.count+1,
			time.Unix(ev.GetLastTimestamp().GetSeconds(), 0).UTC().Format(time.RFC3339))
		ref := transport.Ref{Mapping: r.mapping, Namespace: prev.namespace, Name: prev.name}
		_, err := r.cfg.Client.Patch(ctx, ref, transport.MergePatch, []byte(patch), "")
		if err == nil {
			r.mu.Lock()
			prev.count++
			r.mu.Unlock()
			return
		}
		if !apierrors.IsNotFound(err) {
			r.cfg.Log.Warn("event update failed", "event", prev.namespace+"/"+prev.name, "err", err)
			return
		}
		// The old Event expired or was deleted: start a new one.
	}
	ref := transport.Ref{Mapping: r.mapping, Namespace: ev.GetMetadata().GetNamespace()}
	if _, err := r.cfg.Client.Create(ctx, ref, ev); err != nil {
		r.cfg.Log.Warn("event write failed", "event", ev.GetMetadata().GetNamespace()+"/"+ev.GetMetadata().GetName(), "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) >= maxSeen {
		for _, k := range r.order[:maxSeen/2] {
			delete(r.seen, k)
		}
		r.order = append([]string(nil), r.order[maxSeen/2:]...)
	}
	r.seen[key] = &seenEvent{name: ev.GetMetadata().GetName(), namespace: ev.GetMetadata().GetNamespace(), count: 1}
	r.order = append(r.order, key)
}
