package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/proto/runtime"
)

// TestGetCached: the cached read sees every write made through the storage at once, sees
// writes made elsewhere once the watch delivers them, and says ErrNotFound for what the
// cache does not hold.
func TestGetCached(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	cg, ok := s.(storage.CachedGetter)
	if !ok {
		t.Fatalf("%T does not implement CachedGetter", s)
	}
	ctx := context.Background()

	if _, err := cg.GetCached(ctx, key("a")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing: err = %v, want ErrNotFound", err)
	}
	if _, err := cg.GetCached(ctx, "/registry/other/x"); !errors.Is(err, storage.ErrBadRequest) {
		t.Fatalf("outside the prefix: err = %v, want ErrBadRequest", err)
	}

	// Read-your-writes, with no wait: create, update, delete, each read back at once.
	for i := 0; i < 20; i++ {
		created := mustCreate(t, s, pod("a", nil))
		got, err := cg.GetCached(ctx, key("a"))
		if err != nil || !proto.Equal(got, created) {
			t.Fatalf("after create: %v, %v; want %v", got, err, created)
		}
		updated := mustUpdate(t, s, "a", setLabel("x", "1"))
		got, err = cg.GetCached(ctx, key("a"))
		if err != nil || !proto.Equal(got, updated) {
			t.Fatalf("after update: %v, %v; want %v", got, err, updated)
		}
		if _, err := s.Delete(ctx, key("a"), nil); err != nil {
			t.Fatal(err)
		}
		if got, err := cg.GetCached(ctx, key("a")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after delete: %v, %v; want ErrNotFound", got, err)
		}
	}

	// The result is a copy.
	mustCreate(t, s, pod("b", nil))
	got, _ := cg.GetCached(ctx, key("b"))
	runtime.Meta(got).Name = "changed"
	if again, _ := cg.GetCached(ctx, key("b")); again.GetMetadata().GetName() != "b" {
		t.Fatalf("GetCached returned the cached object itself")
	}

	// A write made elsewhere (straight to etcd, through a second storage) shows up once its
	// event arrives.
	other := newPods(t, c, storage.ResourceConfig{})
	if _, err := other.Create(ctx, key("c"), pod("c", nil)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := cg.GetCached(ctx, key("c")); err == nil {
			break
		} else if !errors.Is(err, storage.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("write made elsewhere: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}
