package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"kubelab.io/apiserver/internal/storage/storagetest"
	corev1 "kubelab.io/proto/api/core/v1"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/runtime"
)

const (
	// benchGetPods is how many pods (and raw etcd keys) the get benchmarks cycle through.
	benchGetPods = 1000
	// benchListPods is how many pods the listed namespace holds.
	benchListPods = 100
	// benchListNamespace holds exactly benchListPods pods and nothing else.
	benchListNamespace = "bench-list"
	// benchRawPrefix keeps the raw etcd keys away from the apiserver's /registry/.
	benchRawPrefix = "/bench-raw/pods/default/"
)

var benchConcurrency = []int{1, 10, 50}

// BenchmarkAPIServer measures, in one run, the apiserver's create, get and list of Pods over
// HTTPS (JSON, keep-alive HTTP/2, admin client certificate), its create and get over gRPC
// (protobuf, as the components call it), beside raw etcd Put and Get of the same Pod as
// protobuf, through the apiserver's own etcd client, at 1, 10 and 50 concurrent clients. etcd is the apiserver's embedded one, with fsync on, as in production. Every
// sub-benchmark reports ops/s, p50-ms and p99-ms. See docs/benchmarks.md.
func BenchmarkAPIServer(b *testing.B) {
	ctx := context.Background()
	s, err := Start(ctx, Config{
		DataDir: b.TempDir(), BindAddress: "127.0.0.1", SecurePort: 0, GRPCPort: 0,
		UnsafeNoFsync: false, Log: storagetest.QuietLogger(),
	})
	if err != nil {
		b.Fatalf("start apiserver: %v", err)
	}
	b.Cleanup(s.Close)
	c := adminClient(b, s)
	hc, base := c.http, c.base
	b.Cleanup(hc.CloseIdleConnections)
	etcd := s.EtcdClient()
	gc := grpcClient(b, s, false) // what the components use: protobuf over gRPC, one connection

	// The payloads: one Pod, as protobuf for etcd and as JSON for the apiserver. JSON bodies
	// differ only in the name, substituted into a template so the clients spend no time
	// marshalling inside the measured loop.
	value, err := runtime.MarshalProto(benchPod("default", "bench-pod-00000000"))
	if err != nil {
		b.Fatal(err)
	}
	const placeholder = "BENCH-NAME-PLACEHOLDER"
	tmpl, err := runtime.MarshalJSON(benchPod("", placeholder))
	if err != nil {
		b.Fatal(err)
	}
	if bytes.Count(tmpl, []byte(placeholder)) != 1 {
		b.Fatalf("pod JSON template has %d names: %s", bytes.Count(tmpl, []byte(placeholder)), tmpl)
	}
	body := func(name string) []byte { return bytes.Replace(tmpl, []byte(placeholder), []byte(name), 1) }
	b.Logf("payload: %d bytes protobuf, %d bytes JSON", len(value), len(tmpl))

	do := func(method, path string, reqBody []byte, want int) error {
		var r io.Reader
		if reqBody != nil {
			r = bytes.NewReader(reqBody)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, r)
		if err != nil {
			return err
		}
		if reqBody != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		// The whole answer is read, as a client would; into a reused buffer so the
		// benchmark's own garbage does not tax the server it shares the cores with.
		buf := respBufs.Get().(*bytes.Buffer)
		defer respBufs.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: HTTP %d, want %d: %.300s", method, path, resp.StatusCode, want, buf.Bytes())
		}
		return nil
	}
	podsPath := func(ns string) string { return "/api/v1/namespaces/" + ns + "/pods" }

	// Fixtures, outside any timer: benchGetPods pods in default and as raw keys, and a
	// namespace with benchListPods pods.
	rawKey := func(i int) string { return fmt.Sprintf("%sbench-get-%08d", benchRawPrefix, i) }
	getName := func(i int) string { return fmt.Sprintf("bench-get-%04d", i) }
	if err := do("POST", "/api/v1/namespaces", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+benchListNamespace+`"}}`), http.StatusCreated); err != nil {
		b.Fatal(err)
	}
	// Every default admission plugin runs, ServiceAccount included: the bench Pod runs as
	// the "web" account, which must exist.
	for _, ns := range []string{"default", benchListNamespace} {
		if err := do("POST", "/api/v1/namespaces/"+ns+"/serviceaccounts", []byte(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"web"}}`), http.StatusCreated); err != nil {
			b.Fatal(err)
		}
	}
	if err := parallel(10, benchGetPods, func(i int) error {
		if _, err := etcd.Put(ctx, rawKey(i), string(value)); err != nil {
			return err
		}
		if err := do("POST", podsPath("default"), body(getName(i)), http.StatusCreated); err != nil {
			return err
		}
		if i < benchListPods {
			return do("POST", podsPath(benchListNamespace), body(fmt.Sprintf("bench-list-%04d", i)), http.StatusCreated)
		}
		return nil
	}); err != nil {
		b.Fatalf("fixtures: %v", err)
	}

	// Puts and creates write new keys each time, across repeated runs of a sub-benchmark too.
	var seq atomic.Int64
	cases := []struct {
		name string
		op   func(run int64, i int) error
	}{
		{"rawEtcd/put", func(run int64, i int) error {
			_, err := etcd.Put(ctx, fmt.Sprintf("%sbench-put-%04d-%08d", benchRawPrefix, run, i), string(value))
			return err
		}},
		{"rawEtcd/get", func(_ int64, i int) error {
			resp, err := etcd.Get(ctx, rawKey(i%benchGetPods))
			if err == nil && len(resp.Kvs) != 1 {
				err = fmt.Errorf("get %s: %d keys", rawKey(i%benchGetPods), len(resp.Kvs))
			}
			return err
		}},
		{"apiserver/create", func(run int64, i int) error {
			return do("POST", podsPath("default"), body(fmt.Sprintf("bench-create-%04d-%08d", run, i)), http.StatusCreated)
		}},
		{"apiserver/get", func(_ int64, i int) error {
			return do("GET", podsPath("default")+"/"+getName(i%benchGetPods), nil, http.StatusOK)
		}},
		{"apiserver/list", func(_ int64, _ int) error {
			return do("GET", podsPath(benchListNamespace), nil, http.StatusOK)
		}},
		{"grpc/create", func(run int64, i int) error {
			obj, err := anypb.New(benchPod("default", fmt.Sprintf("bench-grpc-create-%04d-%08d", run, i)))
			if err == nil {
				_, err = gc.Create(ctx, &servicev1.CreateRequest{Ref: podsRef(""), Object: obj})
			}
			return err
		}},
		{"grpc/get", func(_ int64, i int) error {
			_, err := gc.Get(ctx, &servicev1.GetRequest{Ref: podsRef(getName(i % benchGetPods))})
			return err
		}},
	}
	for _, tc := range cases {
		for _, workers := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/clients=%d", tc.name, workers), func(b *testing.B) {
				run := seq.Add(1)
				storagetest.RunConcurrent(b, workers, func(_, i int) error { return tc.op(run, i) })
			})
		}
	}
}

// respBufs hold the benchmark clients' response bodies.
var respBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// benchPod is storagetest.Pod with the "config" volume its containers mount declared, so the
// apiserver's validation accepts it.
func benchPod(namespace, name string) *corev1.Pod {
	p := storagetest.Pod(namespace, name)
	p.Spec.Volumes = append(p.Spec.Volumes, &corev1.Volume{Name: "config", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web-config"}})
	return p
}

// parallel runs op(0..n-1) on workers goroutines and returns the first error.
func parallel(workers, n int, op func(i int) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		once  sync.Once
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
