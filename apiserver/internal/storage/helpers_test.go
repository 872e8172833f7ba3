package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/apiserver/internal/storage/storagetest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

const podPrefix = "/registry/pods/"

// startEtcd starts a fast (no fsync) etcd for t.
func startEtcd(t testing.TB) *clientv3.Client {
	_, c := storagetest.StartEtcd(t, storage.EmbeddedConfig{UnsafeNoFsync: true, CompactionRetention: -1})
	return c
}

// newPods returns pod storage on c, stopped when t ends.
func newPods(t testing.TB, c *clientv3.Client, cfg storage.ResourceConfig) storage.Interface {
	t.Helper()
	cfg.Prefix = podPrefix
	cfg.NewFunc = func() runtime.Object { return &corev1.Pod{} }
	cfg.Logger = storagetest.QuietLogger()
	s, stop, err := storage.NewResource(context.Background(), c, cfg)
	if err != nil {
		t.Fatalf("NewResource: %v", err)
	}
	t.Cleanup(stop)
	return s
}

func pod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{
		Name: name, Namespace: "default", Uid: "uid-" + name, Labels: labels,
	}}
}

func key(name string) string { return podPrefix + "default/" + name }

func rv(t testing.TB, obj runtime.Object) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.GetMetadata().GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion of %s: %v", obj.GetMetadata().GetName(), err)
	}
	return n
}

func mustCreate(t testing.TB, s storage.Interface, p *corev1.Pod) runtime.Object {
	t.Helper()
	out, err := s.Create(context.Background(), key(p.GetMetadata().GetName()), p)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return out
}

// setLabel returns an UpdateFunc setting one label.
func setLabel(k, v string) storage.UpdateFunc {
	return func(cur runtime.Object) (runtime.Object, error) {
		m := runtime.Meta(cur)
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		if v == "" {
			delete(m.Labels, k)
		} else {
			m.Labels[k] = v
		}
		return cur, nil
	}
}

func mustUpdate(t testing.TB, s storage.Interface, name string, f storage.UpdateFunc) runtime.Object {
	t.Helper()
	out, err := s.GuaranteedUpdate(context.Background(), key(name), nil, f)
	if err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
	return out
}

func wantErr(t testing.TB, err, class error) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("got error %v, want %v", err, class)
	}
}

// event summarizes a watch event for comparisons: "ADDED a 12".
func event(e watch.Event) string {
	m := e.Object.GetMetadata()
	return fmt.Sprintf("%s %s %s", e.Type, m.GetName(), m.GetResourceVersion())
}

func eventOf(typ watch.EventType, obj runtime.Object) string {
	return fmt.Sprintf("%s %s %s", typ, obj.GetMetadata().GetName(), obj.GetMetadata().GetResourceVersion())
}

// next returns the next n events of w, failing after a deadline.
func next(t testing.TB, w watch.Interface, n int) []string {
	t.Helper()
	var out []string
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %v, want %d events", out, n)
			}
			out = append(out, event(e))
		case <-timeout:
			t.Fatalf("got %v, want %d events", out, n)
		}
	}
	return out
}

// noEvent fails if w delivers an event within a short while.
func noEvent(t testing.TB, w watch.Interface) {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if ok {
			t.Fatalf("unexpected event %s", event(e))
		}
		t.Fatalf("watch closed unexpectedly")
	case <-time.After(100 * time.Millisecond):
	}
}

func equal(t testing.TB, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// waitForCache returns once the watch cache of s has seen revision rv: a Watch from rv
// waits for that.
func waitForCache(t testing.TB, s storage.Interface, rv string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := s.Watch(ctx, podPrefix, rv, nil)
	if err != nil {
		t.Fatalf("wait for cache at %s: %v", rv, err)
	}
	w.Stop()
}
