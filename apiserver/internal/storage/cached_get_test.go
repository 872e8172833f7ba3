package storage_test

import (
	"context"
	"errors"
	"strings"
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

// TestListCachedNamespaces: a list at resourceVersion "0" from the watch cache returns one
// namespace's objects, or every namespace's, in key order, sees every write made through the
// storage at once (admission's LimitRange and ResourceQuota lookups depend on it), and hands
// out copies.
func TestListCachedNamespaces(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	create := func(ns, name string) {
		t.Helper()
		p := pod(name, nil)
		p.Metadata.Namespace = ns
		if _, err := s.Create(ctx, podPrefix+ns+"/"+name, p); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) string {
		t.Helper()
		res, err := s.List(ctx, prefix, storage.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, it := range res.Items {
			out += it.GetMetadata().GetNamespace() + "/" + it.GetMetadata().GetName() + " "
		}
		return out
	}
	// Each write is listed at once, with no wait: read-your-writes.
	for i, name := range []string{"b", "a", "c"} {
		create("ns1", name)
		if got := list(podPrefix + "ns1/"); strings.Count(got, " ") != i+1 {
			t.Fatalf("after creating %s: ns1 lists %q", name, got)
		}
	}
	create("ns2", "a")
	create("ns10", "z")
	equalStr(t, list(podPrefix+"ns1/"), "ns1/a ns1/b ns1/c ")
	equalStr(t, list(podPrefix+"ns2/"), "ns2/a ")
	equalStr(t, list(podPrefix+"none/"), "")
	equalStr(t, list(podPrefix), "ns1/a ns1/b ns1/c ns10/z ns2/a ")
	if _, err := s.Delete(ctx, podPrefix+"ns2/a", nil); err != nil {
		t.Fatal(err)
	}
	equalStr(t, list(podPrefix+"ns2/"), "")
	equalStr(t, list(podPrefix), "ns1/a ns1/b ns1/c ns10/z ")

	res, _ := s.List(ctx, podPrefix+"ns1/", storage.ListOptions{ResourceVersion: "0"})
	runtime.Meta(res.Items[0]).Name = "changed"
	equalStr(t, list(podPrefix+"ns1/"), "ns1/a ns1/b ns1/c ")

	// A watch from "0" starts with the same objects.
	w, err := s.Watch(ctx, podPrefix+"ns1/", "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, want := range []string{"a", "b", "c"} {
		ev := <-w.ResultChan()
		if got := ev.Object.GetMetadata().GetName(); got != want {
			t.Fatalf("initial event %s, want %s", got, want)
		}
	}
}

func equalStr(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
