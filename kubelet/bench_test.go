package kubelet_test

// Pod start-up benchmark on the real containerd, run with
//
//	cd kubelet && KUBELAB_BENCH=1 go test -run TestBenchPodStartup -count=1 -v .
//
// A burst of 30 nginx pods bound to the node at create (spec.nodeName; no scheduler),
// per pod from its create call to: sandbox ready (RunPodSandbox returned, at the
// kubelet's CRI seam), container started (StartContainer returned), and Ready (the first
// watch event with condition Ready=True); beside raw CRI in the same run: 30 concurrent
// RunPodSandbox + CreateContainer + StartContainer of the same image, from the burst's
// start. docs/benchmarks.md has the results.

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/client/transport"
	"kubelab.io/kubelet/internal/kubelet"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
)

const benchPods = 30

// timedRuntime records when the kubelet's sandboxes became ready and its containers
// started, per pod uid.
type timedRuntime struct {
	krt.Runtime
	mu        sync.Mutex
	sandboxAt map[string]time.Time // uid → RunPodSandbox returned
	startedAt map[string]time.Time // uid → StartContainer returned
	ctrUID    map[string]string    // container id → uid
}

func (r *timedRuntime) RunPodSandbox(ctx context.Context, cfg *runtimeapi.PodSandboxConfig) (string, error) {
	id, err := r.Runtime.RunPodSandbox(ctx, cfg)
	if err == nil {
		r.mu.Lock()
		if _, ok := r.sandboxAt[cfg.GetMetadata().GetUid()]; !ok {
			r.sandboxAt[cfg.GetMetadata().GetUid()] = time.Now()
		}
		r.mu.Unlock()
	}
	return id, err
}

func (r *timedRuntime) CreateContainer(ctx context.Context, sb string, cfg *runtimeapi.ContainerConfig, sbCfg *runtimeapi.PodSandboxConfig) (string, error) {
	id, err := r.Runtime.CreateContainer(ctx, sb, cfg, sbCfg)
	if err == nil {
		r.mu.Lock()
		r.ctrUID[id] = sbCfg.GetMetadata().GetUid()
		r.mu.Unlock()
	}
	return id, err
}

func (r *timedRuntime) StartContainer(ctx context.Context, id string) error {
	err := r.Runtime.StartContainer(ctx, id)
	if err == nil {
		r.mu.Lock()
		if uid := r.ctrUID[id]; uid != "" {
			if _, ok := r.startedAt[uid]; !ok {
				r.startedAt[uid] = time.Now()
			}
		}
		r.mu.Unlock()
	}
	return err
}

// percentile is the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func TestBenchPodStartup(t *testing.T) {
	if os.Getenv("KUBELAB_BENCH") != "1" {
		t.Skip("benchmark: set KUBELAB_BENCH=1")
	}
	var tr *timedRuntime
	e := startE2E(t, "kubelab-bench", 10*time.Minute, func(c *kubelet.Config) {
		tr = &timedRuntime{Runtime: c.Runtime, sandboxAt: map[string]time.Time{}, startedAt: map[string]time.Time{}, ctrUID: map[string]string{}}
		c.Runtime = tr
	})
	ctx := e.ctx

	// Raw CRI: the same work without the kubelet and the API.
	raw := rawCRIBurst(t, ctx, e.rt)

	// kubelab: create the burst, watch for Ready.
	w, err := e.cs.Pods("default").Watch(ctx, transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var (
		mu      sync.Mutex
		readyAt = map[string]time.Time{} // uid → first Ready=True seen
	)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || podCondition(p, "Ready") != "True" {
				continue
			}
			now := time.Now()
			mu.Lock()
			if _, seen := readyAt[p.GetMetadata().GetUid()]; !seen {
				readyAt[p.GetMetadata().GetUid()] = now
			}
			n := len(readyAt)
			mu.Unlock()
			if n == benchPods {
				return
			}
		}
	}()
	createdAt := map[string]time.Time{}
	var names []string
	var wg sync.WaitGroup
	burst := time.Now()
	for i := range benchPods {
		name := fmt.Sprintf("bench-%02d", i)
		names = append(names, name)
		wg.Go(func() {
			start := time.Now()
			p := e.nginx(name, nil)
			mu.Lock()
			createdAt[p.GetMetadata().GetUid()] = start
			mu.Unlock()
		})
	}
	wg.Wait()
	select {
	case <-watchDone:
	case <-time.After(2 * time.Minute):
		t.Fatalf("only %d of %d pods Ready after 2 minutes", len(readyAt), benchPods)
	}
	all := time.Since(burst)

	var sandbox, started, ready []time.Duration
	tr.mu.Lock()
	for uid, c := range createdAt {
		sandbox = append(sandbox, tr.sandboxAt[uid].Sub(c))
		started = append(started, tr.startedAt[uid].Sub(c))
		ready = append(ready, readyAt[uid].Sub(c))
	}
	tr.mu.Unlock()

	var b strings.Builder
	fmt.Fprintf(&b, "| %d pods, burst | p50 | p99 |\n|---|---|---|\n", benchPods)
	row := func(what string, ds []time.Duration) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", what, ms(percentile(ds, 50)), ms(percentile(ds, 99)))
	}
	row("kubelab: create → sandbox ready", sandbox)
	row("kubelab: create → container started", started)
	row("kubelab: create → Ready (watch)", ready)
	row("raw CRI: → sandbox ready", raw.sandbox)
	row("raw CRI: → container started", raw.started)
	fmt.Fprintf(&b, "\nall %d pods Ready %s after the burst began; overhead over raw CRI at p99 (Ready vs started): %s\n",
		benchPods, ms(all), ms(percentile(ready, 99)-percentile(raw.started, 99)))
	t.Logf("\n%s", b.String())
	if out := os.Getenv("KUBELAB_BENCH_OUT"); out != "" {
		_ = os.WriteFile(out, []byte(b.String()), 0o644)
	}
	// Reported, not asserted: on a loaded machine raw CRI alone can take longer than 5 s.
	if p := percentile(ready, 99); p > 5*time.Second {
		t.Logf("MISSED the 5 s SLO: p99 create → Ready %v (raw CRI p99 %v)", p, percentile(raw.started, 99))
	}

	start := time.Now()
	e.deleteAndWait(2*time.Minute, names...)
	t.Logf("%d pods deleted (graceful, confirmed by the kubelet) in %v", benchPods, time.Since(start).Round(time.Millisecond))
}

type rawResult struct{ sandbox, started []time.Duration }

// rawCRIBurst runs benchPods sandboxes with an nginx container each, concurrently,
// straight through CRI, and removes them again.
func rawCRIBurst(t *testing.T, ctx context.Context, rt krt.Runtime) rawResult {
	t.Helper()
	logDir := t.TempDir()
	var (
		mu  sync.Mutex
		res rawResult
		ids []string
		wg  sync.WaitGroup
	)
	burst := time.Now()
	for i := range benchPods {
		wg.Go(func() {
			name := fmt.Sprintf("raw-%02d", i)
			uid := fmt.Sprintf("raw-%d-%02d", burst.UnixNano(), i)
			sb := &runtimeapi.PodSandboxConfig{
				Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: uid},
				Hostname:     name,
				LogDirectory: logDir,
				Labels:       map[string]string{"io.kubelab.bench": "raw"},
				Linux:        &runtimeapi.LinuxPodSandboxConfig{},
			}
			id, err := rt.RunPodSandbox(ctx, sb)
			if err != nil {
				t.Errorf("raw RunPodSandbox: %v", err)
				return
			}
			sandboxAt := time.Since(burst)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			cid, err := rt.CreateContainer(ctx, id, &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: "nginx"},
				Image:    &runtimeapi.ImageSpec{Image: "nginx:1.14.2"},
				LogPath:  name + ".log",
				Labels:   map[string]string{"io.kubelab.bench": "raw"},
			}, sb)
			if err != nil {
				t.Errorf("raw CreateContainer: %v", err)
				return
			}
			if err := rt.StartContainer(ctx, cid); err != nil {
				t.Errorf("raw StartContainer: %v", err)
				return
			}
			startedAt := time.Since(burst)
			mu.Lock()
			res.sandbox = append(res.sandbox, sandboxAt)
			res.started = append(res.started, startedAt)
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("raw CRI: %d sandboxes + containers started in %v", len(res.started), time.Since(burst).Round(time.Millisecond))
	for _, id := range ids {
		_ = rt.StopPodSandbox(ctx, id)
		_ = rt.RemovePodSandbox(ctx, id)
	}
	return res
}
