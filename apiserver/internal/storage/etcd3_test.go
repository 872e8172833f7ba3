package storage_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/storage"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
)

func TestCreateGet(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()

	in := pod("a", map[string]string{"app": "web"})
	in.Metadata.ResourceVersion = "42" // ignored
	created, err := s.Create(ctx, key("a"), in)
	if err != nil {
		t.Fatal(err)
	}
	if created != in {
		t.Fatalf("Create returned a copy, not the object it was given")
	}
	if rv(t, created) <= 1 {
		t.Fatalf("created resourceVersion %q", created.GetMetadata().GetResourceVersion())
	}
	got, err := s.Get(ctx, key("a"))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, created) {
		t.Fatalf("Get = %v, want %v", got, created)
	}

	// The stored value is plain protobuf without a resourceVersion.
	resp, err := c.Get(ctx, key("a"))
	if err != nil {
		t.Fatal(err)
	}
	var stored corev1.Pod
	if err := proto.Unmarshal(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.GetMetadata().GetResourceVersion() != "" || stored.GetMetadata().GetName() != "a" {
		t.Fatalf("stored %v", &stored)
	}

	_, err = s.Create(ctx, key("a"), pod("a", nil))
	wantErr(t, err, storage.ErrExists)
	_, err = s.Get(ctx, key("missing"))
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.Get(ctx, "/registry/services/default/a")
	wantErr(t, err, storage.ErrBadRequest)
}

func TestGuaranteedUpdate(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	v1 := mustCreate(t, s, pod("a", nil))
	v2 := mustUpdate(t, s, "a", setLabel("x", "1"))
	if rv(t, v2) <= rv(t, v1) || v2.GetMetadata().GetLabels()["x"] != "1" {
		t.Fatalf("update returned %v", v2)
	}

	// A stale resourceVersion precondition conflicts and runs no update.
	_, err := s.GuaranteedUpdate(ctx, key("a"), &storage.Preconditions{ResourceVersion: v1.GetMetadata().GetResourceVersion()},
		func(runtime.Object) (runtime.Object, error) { t.Fatal("tryUpdate ran"); return nil, nil })
	wantErr(t, err, storage.ErrConflict)
	_, err = s.GuaranteedUpdate(ctx, key("a"), &storage.Preconditions{UID: "other"}, setLabel("x", "2"))
	wantErr(t, err, storage.ErrConflict)
	v3, err := s.GuaranteedUpdate(ctx, key("a"), &storage.Preconditions{UID: "uid-a", ResourceVersion: v2.GetMetadata().GetResourceVersion()}, setLabel("x", "3"))
	if err != nil {
		t.Fatal(err)
	}

	// An update that changes nothing writes nothing.
	same := mustUpdate(t, s, "a", setLabel("x", "3"))
	if rv(t, same) != rv(t, v3) {
		t.Fatalf("no-op update wrote: rv %d, want %d", rv(t, same), rv(t, v3))
	}
	_, err = s.GuaranteedUpdate(ctx, key("missing"), nil, setLabel("x", "1"))
	wantErr(t, err, storage.ErrNotFound)
	// tryUpdate's error comes back as is.
	_, err = s.GuaranteedUpdate(ctx, key("a"), nil, func(runtime.Object) (runtime.Object, error) { return nil, storage.ErrBadRequest })
	wantErr(t, err, storage.ErrBadRequest)
}

// TestGuaranteedUpdateConcurrent: 100 concurrent read-modify-writes lose no increment.
func TestGuaranteedUpdateConcurrent(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	mustCreate(t, s, pod("counter", map[string]string{"n": "0"}))
	const workers = 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.GuaranteedUpdate(context.Background(), key("counter"), nil, func(cur runtime.Object) (runtime.Object, error) {
				m := runtime.Meta(cur)
				n, err := strconv.Atoi(m.Labels["n"])
				if err != nil {
					return nil, err
				}
				m.Labels["n"] = strconv.Itoa(n + 1)
				return cur, nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(context.Background(), key("counter"))
	if err != nil {
		t.Fatal(err)
	}
	if n := got.GetMetadata().GetLabels()["n"]; n != strconv.Itoa(workers) {
		t.Fatalf("counter = %s, want %d", n, workers)
	}
}

func TestDelete(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	v1 := mustCreate(t, s, pod("a", nil))
	v2 := mustUpdate(t, s, "a", setLabel("x", "1"))

	_, err := s.Delete(ctx, key("a"), &storage.Preconditions{ResourceVersion: v1.GetMetadata().GetResourceVersion()})
	wantErr(t, err, storage.ErrConflict)
	_, err = s.Delete(ctx, key("a"), &storage.Preconditions{UID: "other"})
	wantErr(t, err, storage.ErrConflict)

	last, err := s.Delete(ctx, key("a"), &storage.Preconditions{UID: "uid-a"})
	if err != nil {
		t.Fatal(err)
	}
	if last.GetMetadata().GetLabels()["x"] != "1" || rv(t, last) <= rv(t, v2) {
		t.Fatalf("delete returned %v, want the last state at a newer revision than %d", last, rv(t, v2))
	}
	_, err = s.Get(ctx, key("a"))
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.Delete(ctx, key("a"), nil)
	wantErr(t, err, storage.ErrNotFound)
}
