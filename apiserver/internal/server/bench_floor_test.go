package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"kubelab.io/apiserver/internal/storage/storagetest"
	"kubelab.io/proto/runtime"
)

// BenchmarkHTTPSFloor measures what any REST create costs before the apiserver does any
// work: the benchmark's POST of the Pod's JSON over HTTPS (HTTP/2, one keep-alive
// connection, as BenchmarkAPIServer's clients) to a handler that reads the body and answers
// 201 with a body of the created Pod's size, and nothing else. It is the floor under
// apiserver/create: a create pays this round trip plus the etcd write, its watch event and
// the apiserver's own work. See docs/benchmarks.md.
func BenchmarkHTTPSFloor(b *testing.B) {
	tmpl, err := runtime.MarshalJSON(benchPod("default", "bench-floor-00000000"))
	if err != nil {
		b.Fatal(err)
	}
	// The apiserver's answer to the bench create is the Pod with uid, resourceVersion,
	// timestamps and the service account's volume added: about 1.5 × the request.
	answer := bytes.Repeat([]byte("x"), len(tmpl)*3/2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := respBufs.Get().(*bytes.Buffer)
		defer respBufs.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(answer)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	hc := srv.Client()
	b.Cleanup(hc.CloseIdleConnections)
	ctx := context.Background()
	for _, workers := range benchConcurrency {
		b.Run(fmt.Sprintf("post/clients=%d", workers), func(b *testing.B) {
			storagetest.RunConcurrent(b, workers, func(_, _ int) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v1/namespaces/default/pods", bytes.NewReader(tmpl))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.ProtoMajor != 2 {
					return fmt.Errorf("%s, want HTTP/2", resp.Proto)
				}
				buf := respBufs.Get().(*bytes.Buffer)
				defer respBufs.Put(buf)
				buf.Reset()
				if _, err := buf.ReadFrom(resp.Body); err != nil {
					return err
				}
				if resp.StatusCode != http.StatusCreated {
					return fmt.Errorf("HTTP %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}
