// Command apiload measures an apiserver's Pod create throughput beside raw etcd puts of a
// same-sized value, the way kubelab's BenchmarkAPIServer does, but from outside the server's
// process, so that any apiserver (kubelab's or upstream kube-apiserver) can be measured.
//
// For each client count it runs, one after the other:
//
//	put     clientv3 Put of a new key under /bench-raw/ (apart from /registry/) whose value is
//	        the Pod as kubelab's protobuf (pod.pb, 1295 B), one etcd client shared by all workers
//	create  POST /api/v1/namespaces/NS/pods of the Pod as JSON (pod.json, 2.7 KB, the same
//	        bytes kubelab's bench sends), a unique name each time, 201 expected, one keep-alive
//	        HTTP/2 connection shared by all workers
//
// Each row is a warm-up (not measured) and then a timed run of -duration (or -max-ops
// operations, whichever comes first). Every row prints ops/s, p50 and p99 (nearest rank), and a
// machine-readable "ROW" line for hack/oracle/bench.sh.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	//go:embed pod.json
	podJSON []byte
	//go:embed pod.pb
	podProto []byte
)

const placeholder = "BENCH-NAME-PLACEHOLDER"

func main() {
	var (
		server     = flag.String("server", "", "apiserver base URL, e.g. https://127.0.0.1:6443 (empty: no create rows)")
		token      = flag.String("token", "", "bearer token")
		certFile   = flag.String("cert", "", "client certificate (PEM)")
		keyFile    = flag.String("key", "", "client key (PEM)")
		caFile     = flag.String("cacert", "", "CA bundle that signed the apiserver's serving certificate")
		etcdEP     = flag.String("etcd", "", "etcd endpoint, e.g. http://127.0.0.1:2379 (empty: no put rows)")
		namespace  = flag.String("namespace", "default", "namespace the pods are created in")
		clientsArg = flag.String("clients", "1,10,50", "comma-separated concurrent client counts")
		ops        = flag.String("ops", "put,create", "rows to run for each client count, in order")
		duration   = flag.Duration("duration", 5*time.Second, "measured time per row")
		warmup     = flag.Duration("warmup", time.Second, "unmeasured warm-up per row")
		maxOps     = flag.Int("max-ops", 200000, "stop a row after this many operations")
		label      = flag.String("label", "server", "name of the server under test, for the ROW lines")
		serverPID  = flag.Int("server-pid", 0, "apiserver process id: report its CPU time per operation (0: not reported)")
		etcdPID    = flag.Int("etcd-pid", 0, "etcd process id: report its CPU time per operation (0: not reported)")
	)
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*clientsArg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad -clients %q", *clientsArg)
		}
		counts = append(counts, n)
	}
	if bytes.Count(podJSON, []byte(placeholder)) != 1 {
		log.Fatal("pod.json must hold the name placeholder exactly once")
	}
	ctx := context.Background()

	var hc *http.Client
	if *server != "" {
		var err error
		if hc, err = httpClient(*caFile, *certFile, *keyFile); err != nil {
			log.Fatal(err)
		}
		defer hc.CloseIdleConnections()
	}
	var etcd *clientv3.Client
	if *etcdEP != "" {
		var err error
		etcd, err = clientv3.New(clientv3.Config{Endpoints: []string{*etcdEP}, DialTimeout: 5 * time.Second})
		if err != nil {
			log.Fatalf("etcd: %v", err)
		}
		defer etcd.Close()
	}

	create := func(name string) error {
		body := bytes.Replace(podJSON, []byte(placeholder), []byte(name), 1)
		req, err := http.NewRequestWithContext(ctx, "POST", *server+"/api/v1/namespaces/"+*namespace+"/pods", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		respBody, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST pod %s: HTTP %d: %.400s", name, resp.StatusCode, respBody)
		}
		if resp.ProtoMajor != 2 {
			return fmt.Errorf("POST pod %s: answered over %s, want HTTP/2", name, resp.Proto)
		}
		return nil
	}
	put := func(name string) error {
		_, err := etcd.Put(ctx, "/bench-raw/pods/"+*namespace+"/"+name, string(podProto))
		return err
	}

	fmt.Printf("apiload: %s; pod %d B JSON, %d B protobuf; %v per row after %v warm-up; %d CPUs\n",
		*label, len(podJSON)-len(placeholder)+len("bench-create-000-00000000"), len(podProto), *duration, *warmup, runtime.NumCPU())
	fmt.Printf("%-10s %-7s %7s %9s %8s %8s %8s %14s %14s\n", "server", "row", "clients", "ops", "ops/s", "p50 ms", "p99 ms", "server cpu/op", "etcd cpu/op")
	row := 0
	for _, c := range counts {
		for _, op := range strings.Split(*ops, ",") {
			var f func(string) error
			switch op {
			case "create":
				if hc == nil {
					continue
				}
				f = create
			case "put":
				if etcd == nil {
					continue
				}
				f = put
			default:
				log.Fatalf("unknown row %q in -ops", op)
			}
			row++
			prefix := fmt.Sprintf("bench-%s-%03d-", op, row)
			if _, err := run(c, *warmup, *maxOps, func(i int) error { return f(fmt.Sprintf("%sw%07d", prefix, i)) }); err != nil {
				log.Fatalf("%s clients=%d warm-up: %v", op, c, err)
			}
			srv0, etcd0 := cpuTime(*serverPID), cpuTime(*etcdPID)
			r, err := run(c, *duration, *maxOps, func(i int) error { return f(fmt.Sprintf("%s%08d", prefix, i)) })
			if err != nil {
				log.Fatalf("%s clients=%d: %v", op, c, err)
			}
			srvCPU := ms(cpuTime(*serverPID)-srv0) / float64(r.n)
			etcdCPU := ms(cpuTime(*etcdPID)-etcd0) / float64(r.n)
			fmt.Printf("%-10s %-7s %7d %9d %8.0f %8.2f %8.2f %11.3f ms %11.3f ms\n", *label, op, c, r.n, r.opsPerSec, r.p50, r.p99, srvCPU, etcdCPU)
			fmt.Printf("ROW %s %s %d %d %.1f %.3f %.3f %.4f %.4f\n", *label, op, c, r.n, r.opsPerSec, r.p50, r.p99, srvCPU, etcdCPU)
		}
	}
}

type result struct {
	n         int
	opsPerSec float64
	p50, p99  float64 // milliseconds
}

// run calls op(0), op(1), … on workers goroutines until d has passed or maxOps calls were
// started, and reports throughput and latency percentiles. It stops at the first error.
func run(workers int, d time.Duration, maxOps int, op func(i int) error) (result, error) {
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		stop     atomic.Bool
		once     sync.Once
		firstErr error
		lats     = make([][]time.Duration, workers)
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for !stop.Load() {
				i := int(next.Add(1)) - 1
				if i >= maxOps {
					break
				}
				t := time.Now()
				if err := op(i); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					break
				}
				now := time.Now()
				lat = append(lat, now.Sub(t))
				if now.After(deadline) {
					break
				}
			}
			lats[w] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return result{}, errors.New("no operation completed")
	}
	slices.Sort(all)
	return result{
		n:         len(all),
		opsPerSec: float64(len(all)) / elapsed.Seconds(),
		p50:       ms(percentile(all, 50)),
		p99:       ms(percentile(all, 99)),
	}, nil
}

// cpuTime is the user+system CPU time a process has used so far, from /proc/PID/stat (0 for
// pid 0 or an unreadable file).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// httpClient is one keep-alive HTTP/2 client over TLS, shared by all workers, as in kubelab's
// bench (one connection, many streams).
func httpClient(caFile, certFile, keyFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
