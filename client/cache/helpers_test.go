package cache

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var (
	podMapping, _  = scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"})
	nodeMapping, _ = scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Node"})
	epoch          = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: &corev1.PodSpec{}}
}

func withNode(p *corev1.Pod, node string) *corev1.Pod { p.Spec.NodeName = node; return p }

func withLabels(p *corev1.Pod, kv ...string) *corev1.Pod {
	p.Metadata.Labels = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		p.Metadata.Labels[kv[i]] = kv[i+1]
	}
	return p
}

func withOwners(p *corev1.Pod, uids ...string) *corev1.Pod {
	for _, u := range uids {
		p.Metadata.OwnerReferences = append(p.Metadata.OwnerReferences, &metav1.OwnerReference{Kind: "ReplicaSet", Name: "rs-" + u, Uid: u})
	}
	return p
}

func keys(t *testing.T, objs []runtime.Object) []string {
	t.Helper()
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		k, err := MetaNamespaceKeyFunc(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// recorder is an event handler that turns notifications into strings on a channel.
type recorder struct{ ch chan string }

func newRecorder() *recorder { return &recorder{ch: make(chan string, 10000)} }

func (r *recorder) OnAdd(obj runtime.Object) { r.ch <- "add " + mustKey(obj) }
func (r *recorder) OnUpdate(old, obj runtime.Object) {
	r.ch <- fmt.Sprintf("update %s %s->%s", mustKey(obj), old.GetMetadata().GetResourceVersion(), obj.GetMetadata().GetResourceVersion())
}
func (r *recorder) OnDelete(obj any) {
	if d, ok := obj.(DeletedFinalStateUnknown); ok {
		r.ch <- "tombstone " + d.Key
		return
	}
	r.ch <- "delete " + mustKey(obj)
}

func mustKey(obj any) string {
	k, err := MetaNamespaceKeyFunc(obj)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return k
}

// next returns the next n notifications; the timeout only guards against a hang.
func (r *recorder) next(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for len(out) < n {
		select {
		case s := <-r.ch:
			out = append(out, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d notifications %q, want %d", len(out), out, n)
		}
	}
	return out
}

// expectSet checks the next len(want) notifications are want in any order.
func (r *recorder) expectSet(t *testing.T, want ...string) {
	t.Helper()
	got := r.next(t, len(want))
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("notifications = %q, want %q", got, want)
	}
}

func (r *recorder) expectNone(t *testing.T) {
	t.Helper()
	select {
	case s := <-r.ch:
		t.Fatalf("unexpected notification %q", s)
	default:
	}
}

func waitSynced(t *testing.T, fns ...func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !WaitForCacheSync(ctx, fns...) {
		t.Fatal("caches did not sync")
	}
}
