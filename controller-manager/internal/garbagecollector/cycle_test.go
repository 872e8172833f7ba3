package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// countingHandler counts the records logged, to tell a collector that settles from one
// that keeps working on the same objects.
type countingHandler struct{ n *atomic.Int64 }

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// ring creates ConfigMaps prefix-0 … prefix-(n-1) where each owns the next and the last owns
// the first, every reference blocking its owner's deletion.
func ring(t *testing.T, ctx context.Context, cs *kube.Clientset, ns, prefix string, n int) []*corev1.ConfigMap {
	t.Helper()
	cms := make([]*corev1.ConfigMap, n)
	for i := range n {
		cm, err := cs.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i)}})
		if err != nil {
			t.Fatal(err)
		}
		cms[i] = cm
	}
	for i := range n {
		cm := cms[i]
		cm.Metadata.OwnerReferences = []*metav1.OwnerReference{controllerRef(cms[(i+n-1)%n])}
		updated, err := cs.ConfigMaps(ns).Update(ctx, cm)
		if err != nil {
			t.Fatal(err)
		}
		cms[i] = updated
	}
	return cms
}

// TestIntegrationOwnerCycles deletes objects that own each other in a ring. Upstream's
// collector breaks a "waiting for dependents" ring: a dependent whose owner waits for it and
// which has a dependent itself waiting makes its own references non-blocking before it is
// deleted in the foreground, so every member goes and none waits for another forever.
func TestIntegrationOwnerCycles(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const ns = "default"

	var logged atomic.Int64
	startGCLogging(t, cs, slog.New(countingHandler{&logged}))

	gone := func(t *testing.T, cms []*corev1.ConfigMap) func() bool {
		return func() bool {
			for _, cm := range cms {
				if _, err := cs.ConfigMaps(ns).Get(ctx, cm.GetMetadata().GetName()); exists(t, err) {
					return false
				}
			}
			return true
		}
	}
	// settled checks that the collector stops logging once the ring is handled: a
	// collector requeueing the same objects would keep adding records.
	settled := func(t *testing.T, bound int64) {
		t.Helper()
		before := logged.Load()
		time.Sleep(500 * time.Millisecond)
		after := logged.Load()
		t.Logf("%d log records", after)
		if after != before || after > bound {
			t.Errorf("collector still busy: %d log records, then %d (bound %d)", before, after, bound)
		}
	}
	foreground := PolicyForeground

	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("foreground ring of %d", n), func(t *testing.T) {
			logged.Store(0)
			cms := ring(t, ctx, cs, ns, fmt.Sprintf("fg%d", n), n)
			if _, err := cs.ConfigMaps(ns).Delete(ctx, cms[0].GetMetadata().GetName(), &metav1.DeleteOptions{PropagationPolicy: &foreground}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every member of the ring to go", gone(t, cms))
			settled(t, int64(4*n))
		})
	}

	t.Run("orphan ring of 2", func(t *testing.T) {
		logged.Store(0)
		cms := ring(t, ctx, cs, ns, "or", 2)
		orphan := PolicyOrphan
		if _, err := cs.ConfigMaps(ns).Delete(ctx, "or-0", &metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "or-0 to go", gone(t, cms[:1]))
		// or-1 was or-0's dependent: orphaned, it keeps living without the reference.
		got, err := cs.ConfigMaps(ns).Get(ctx, "or-1")
		if err != nil {
			t.Fatalf("orphaned or-1: %v", err)
		}
		if refs := got.GetMetadata().GetOwnerReferences(); len(refs) != 0 {
			t.Errorf("or-1 still has owner references %v", refs)
		}
		settled(t, 5)
	})
}
