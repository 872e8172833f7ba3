package storage_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/apiserver/internal/storage/storagetest"
	"kubelab.io/proto/runtime"
)

// benchKeys is how many distinct pods the benchmarks write and read.
const benchKeys = 1000

var benchWorkers = []int{1, 10, 50}

// BenchmarkEtcd is the raw etcd baseline: Put and Get of a Pod-sized protobuf value through
// clientv3 on an embedded etcd with fsync, as the apiserver runs it.
func BenchmarkEtcd(b *testing.B) {
	_, c := storagetest.StartEtcd(b, storage.EmbeddedConfig{})
	ctx := context.Background()
	value, err := proto.Marshal(storagetest.Pod("default", "bench-pod-0000"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("value: %d bytes", len(value))
	keyOf := func(i int) string { return fmt.Sprintf("/registry/pods/default/bench-pod-%04d", i%benchKeys) }
	for i := range benchKeys {
		if _, err := c.Put(ctx, keyOf(i), string(value)); err != nil {
			b.Fatal(err)
		}
	}
	for _, workers := range benchWorkers {
		b.Run(fmt.Sprintf("Put/workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(value)))
			storagetest.RunConcurrent(b, workers, func(_, i int) error {
				_, err := c.Put(ctx, keyOf(i), string(value))
				return err
			})
		})
		b.Run(fmt.Sprintf("Get/workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(value)))
			storagetest.RunConcurrent(b, workers, func(_, i int) error {
				_, err := c.Get(ctx, keyOf(i))
				return err
			})
		})
	}
}

// BenchmarkStorage is the same through storage.Interface (codec, compare-and-swap, watch
// cache kept in sync): its overhead over BenchmarkEtcd.
func BenchmarkStorage(b *testing.B) {
	_, c := storagetest.StartEtcd(b, storage.EmbeddedConfig{})
	s := newPods(b, c, storage.ResourceConfig{})
	ctx := context.Background()
	for i := range benchKeys {
		if _, err := s.Create(ctx, key(fmt.Sprintf("bench-pod-%04d", i)), storagetest.Pod("default", fmt.Sprintf("bench-pod-%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	keyOf := func(i int) string { return key(fmt.Sprintf("bench-pod-%04d", i%benchKeys)) }
	for _, workers := range benchWorkers {
		b.Run(fmt.Sprintf("Update/workers=%d", workers), func(b *testing.B) {
			storagetest.RunConcurrent(b, workers, func(_, i int) error {
				_, err := s.GuaranteedUpdate(ctx, keyOf(i), nil, func(cur runtime.Object) (runtime.Object, error) {
					runtime.Meta(cur).Generation++
					return cur, nil
				})
				return err
			})
		})
		b.Run(fmt.Sprintf("Get/workers=%d", workers), func(b *testing.B) {
			storagetest.RunConcurrent(b, workers, func(_, i int) error {
				_, err := s.Get(ctx, keyOf(i))
				return err
			})
		})
	}
}
