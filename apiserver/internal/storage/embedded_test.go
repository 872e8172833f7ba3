package storage_test

import (
	"context"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/apiserver/internal/storage/storagetest"
	"kubelab.io/proto/watch"
)

// TestEmbeddedRestart: etcd restarted on the same data directory keeps the data, starts
// quickly, and the watch cache's watch survives the outage.
func TestEmbeddedRestart(t *testing.T) {
	ctx := context.Background()
	cfg := storage.EmbeddedConfig{DataDir: t.TempDir(), Logger: storagetest.QuietLogger()}
	start := time.Now()
	e, err := storage.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first start: %s", time.Since(start))
	t.Cleanup(func() { e.Close() }) // cleanups run last-in first-out: etcd goes last
	// Restart on the same URLs, so the client finds etcd again.
	cfg.ClientURL = e.Endpoints()[0]
	c, err := e.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := newPods(t, c, storage.ResourceConfig{})
	created := mustCreate(t, s, pod("a", nil))
	w := watchPods(t, s, podPrefix, created.GetMetadata().GetResourceVersion(), nil)

	e.Close()
	start = time.Now()
	e, err = storage.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("restart: %s", took)
	if took > 2*time.Second {
		t.Errorf("restart took %s, want < 2s", took)
	}

	got, err := s.Get(ctx, key("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.GetMetadata().GetResourceVersion() != created.GetMetadata().GetResourceVersion() {
		t.Fatalf("after restart: %v, want %v", got, created)
	}
	updated := mustUpdate(t, s, "a", setLabel("after", "restart"))
	equal(t, next(t, w, 1), []string{eventOf(watch.Modified, updated)})
}
