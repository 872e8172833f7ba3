package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"kubelab.io/client/kube"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/watch"
)

// schedulerProc is one bin/scheduler process against an apiserverProc.
type schedulerProc struct {
	t       *testing.T
	api     *apiserverProc
	logPath string
	port    int // /healthz, /metrics (and /debug/pprof) over HTTP; 0 when not served
	cmd     *exec.Cmd
	log     *os.File
}

// startScheduler runs bin/scheduler with the admin kubeconfig over gRPC and no leader
// election; it is killed with SIGKILL when the test ends.
func startScheduler(t *testing.T, api *apiserverProc, name string, serve bool, extra ...string) *schedulerProc {
	t.Helper()
	s := &schedulerProc{t: t, api: api, logPath: filepath.Join(api.dir, name+".log")}
	args := []string{"--kubeconfig", filepath.Join(api.dir, "pki", "admin.kubeconfig"),
		"--grpc-address", fmt.Sprintf("127.0.0.1:%d", api.grpcPort), "--leader-elect=false", "--bind-address", "127.0.0.1"}
	if serve {
		s.port = freePort(t)
	}
	args = append(append(args, "--secure-port", strconv.Itoa(s.port)), extra...)
	var err error
	if s.log, err = os.Create(s.logPath); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(filepath.Join(binDir, "scheduler"), args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			s.dump()
		}
	})
	return s
}

// kill stops the process with SIGKILL: no shutdown code runs, in-flight bindings are cut.
func (s *schedulerProc) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

func (s *schedulerProc) dump() {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 8000 {
		b = append([]byte("…\n"), b[len(b)-8000:]...)
	}
	s.t.Logf("%s:\n%s", filepath.Base(s.logPath), b)
}

// waitSynced waits for the scheduler's "caches synced; scheduling" log line.
func (s *schedulerProc) waitSynced(within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(s.logPath)
		if strings.Contains(string(b), "scheduler caches synced") {
			return
		}
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			s.dump()
			s.t.Fatalf("scheduler did not sync its caches within %v", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pendingPods reads the scheduler_pending_pods gauges from /metrics ("active=N …").
func (s *schedulerProc) pendingPods() string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", s.port))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, `scheduler_pending_pods{queue="`); ok {
			out = append(out, strings.Replace(rest, `"} `, "=", 1))
		}
	}
	return strings.Join(out, " ")
}

// clientset is a gRPC clientset with the admin credentials and no client-side rate limit.
func (p *apiserverProc) clientset(t *testing.T) *kube.Clientset {
	t.Helper()
	cfg, err := kubeconfig.Load(filepath.Join(p.dir, "pki", "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kube.NewGRPCForConfig(rc, kube.Options{GRPCAddress: fmt.Sprintf("127.0.0.1:%d", p.grpcPort), QPS: -1, UserAgent: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func quantities(kv ...string) map[string]*metav1.Quantity {
	m := map[string]*metav1.Quantity{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = &metav1.Quantity{String_: kv[i+1]}
	}
	return m
}

// benchNode is scheduler_perf's node-default.yaml: 4 cpu, 32Gi, 110 pods, Ready (the
// status is kept on create, as Kubernetes does for nodes).
func benchNode(name string) *corev1.Node {
	alloc := quantities("cpu", "4", "memory", "32Gi", "pods", "110")
	return &corev1.Node{
		Kind: "Node", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:     &corev1.NodeSpec{},
		Status: &corev1.NodeStatus{
			Capacity: alloc, Allocatable: alloc,
			Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True", Reason: "KubeletReady"}},
		},
	}
}

// benchPod is scheduler_perf's pod-default.yaml: one container requesting 100m cpu and
// 500Mi memory.
func benchPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
			Name: "pause", Image: "registry.k8s.io/pause:3.10",
			Resources: &corev1.ResourceRequirements{Requests: quantities("cpu", "100m", "memory", "500Mi")},
		}}},
	}
}

// parallel runs do(i) for i in [0, n) on workers goroutines and returns the first error.
func parallel(n, workers int, do func(i int) error) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := do(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

func createNodes(t *testing.T, cs *kube.Clientset, n int) time.Duration {
	t.Helper()
	began := time.Now()
	err := parallel(n, 32, func(i int) error {
		_, err := cs.Nodes().Create(context.Background(), benchNode(fmt.Sprintf("node-%d", i)))
		return err
	})
	if err != nil {
		t.Fatalf("create nodes: %v", err)
	}
	return time.Since(began)
}

// podWatch follows every pod of a namespace from one resourceVersion on, re-watching from
// the last one seen when a stream ends, and records each pod's spec.nodeName transitions
// and when the first binding was observed.
type podWatch struct {
	mu       sync.Mutex
	last     map[string]string    // the newest nodeName seen per pod
	changes  map[string][]string  // every change of nodeName per pod, in order ("" when cleared)
	boundAt  map[string]time.Time // when a nodeName was first seen
	deleted  []string
	problems []string
	relists  int // lists after the first: stretches of changes seen only as their end state
	bound    atomic.Int64
	stop     context.CancelFunc
	done     chan struct{}
}

func watchPods(t *testing.T, cs *kube.Clientset, ns string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWatch{last: map[string]string{}, changes: map[string][]string{}, boundAt: map[string]time.Time{},
		stop: cancel, done: make(chan struct{})}
	rv, err := w.list(ctx, cs, ns)
	if err != nil {
		t.Fatal(err)
	}
	w.relists = 0
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			if rv == "" {
				// The watch could not resume (410 Gone or an error): list again. Changes
				// between the two are seen only as their end state.
				if rv, err = w.list(ctx, cs, ns); err != nil {
					if ctx.Err() == nil {
						w.problem("relist: %v", err)
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
			}
			wi, err := cs.Pods(ns).Watch(ctx, transport.ListOptions{ResourceVersion: rv})
			if err != nil {
				if ctx.Err() == nil {
					w.problem("watch from %s: %v", rv, err)
				}
				rv = ""
				continue
			}
			for ev := range wi.ResultChan() {
				now := time.Now()
				switch ev.Type {
				case watch.Error:
					w.problem("watch from %s: error event: %v", rv, ev.Status)
					rv = ""
					wi.Stop()
				case watch.Deleted:
					w.mu.Lock()
					w.deleted = append(w.deleted, ev.Object.GetMetadata().GetName())
					w.mu.Unlock()
				default:
					if p, ok := ev.Object.(*corev1.Pod); ok {
						w.observe(p, now)
					}
				}
				if ev.Object != nil && rv != "" {
					if v := ev.Object.GetMetadata().GetResourceVersion(); v != "" {
						rv = v
					}
				}
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

// list observes every pod of ns and returns the list's resourceVersion.
func (w *podWatch) list(ctx context.Context, cs *kube.Clientset, ns string) (string, error) {
	list, err := cs.Pods(ns).List(ctx, transport.ListOptions{})
	if err != nil {
		return "", err
	}
	now := time.Now()
	for _, p := range list.GetItems() {
		w.observe(p, now)
	}
	w.mu.Lock()
	w.relists++
	w.mu.Unlock()
	return list.GetMetadata().GetResourceVersion(), nil
}

func (w *podWatch) close() {
	w.stop()
	<-w.done
}

func (w *podWatch) problem(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, fmt.Sprintf(format, args...))
}

func (w *podWatch) observe(p *corev1.Pod, now time.Time) {
	name, node := p.GetMetadata().GetName(), p.GetSpec().GetNodeName()
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, seen := w.last[name]
	w.last[name] = node
	if !seen && node == "" || prev == node {
		return
	}
	w.changes[name] = append(w.changes[name], node)
	if _, ok := w.boundAt[name]; !ok && node != "" {
		w.boundAt[name] = now
		w.bound.Add(1)
	}
}

// waitBound waits until n pods were seen bound.
func (w *podWatch) waitBound(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for w.bound.Load() < n {
		if time.Now().After(deadline) {
			w.mu.Lock()
			problems := w.problems
			w.mu.Unlock()
			t.Fatalf("only %d of %d pods seen bound after %v; watch problems: %q", w.bound.Load(), n, within, problems)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func simplePod(name string) *corev1.Pod {
	return &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "nginx:1.14.2"}}},
	}
}

// TestSchedulerKill9WhileQueued: 1000 pods are queued, the scheduler process is killed with
// SIGKILL once about a third of them are bound (others mid-binding), and a new process
// finishes the job. Every pod ends bound exactly once: a watch from before the first create
// sees each pod's spec.nodeName go from empty to one node and never change again, none is
// left unbound, and no pod has more than one Scheduled event.
func TestSchedulerKill9WhileQueued(t *testing.T) {
	const pods, nodes = 1000, 20
	api := newAPIServer(t)
	api.args = []string{withoutControllerManager}
	api.start(5 * time.Second)
	cs := api.clientset(t)
	createNodes(t, cs, nodes)
	w := watchPods(t, cs, "default")

	// All 1000 pods queued before the first scheduler starts: its initial list holds them.
	began := time.Now()
	if err := parallel(pods, 16, func(i int) error {
		_, err := cs.Pods("default").Create(context.Background(), simplePod(fmt.Sprintf("p-%04d", i)))
		return err
	}); err != nil {
		t.Fatalf("create pods: %v", err)
	}
	t.Logf("created %d pods in %v", pods, time.Since(began))

	// Unthrottled, the first process would decide every pod in a fraction of a second and
	// have all its bindings on the wire before any kill lands. A client rate limit (as
	// kube-scheduler's --kube-api-qps, default 50, always imposes) holds most decisions as
	// assumed-but-unbound pods whose bindings wait in the process, which is the state a
	// crash must not corrupt.
	first := startScheduler(t, api, "scheduler-1", true, "--kube-api-qps", "200", "--kube-api-burst", "20")
	w.waitBound(t, pods/3, 60*time.Second)
	pending := first.pendingPods()
	first.kill()
	// An empty queue with pods unbound means the rest were decided and assumed, their
	// bindings waiting on the rate limiter or in flight: what SIGKILL throws away.
	t.Logf("the first process's queue just before the kill: %s", pending)
	atKill := w.bound.Load()
	// Let bindings the dead process had in flight land (or not) before counting.
	time.Sleep(300 * time.Millisecond)
	settled := w.bound.Load()
	t.Logf("SIGKILL with %d of %d pods bound, %d once in-flight bindings landed; restarting", atKill, pods, settled)
	if settled > pods-100 {
		t.Fatalf("%d of %d pods were bound by the first process: too few left queued to test the restart", settled, pods)
	}

	startScheduler(t, api, "scheduler-2", false)
	w.waitBound(t, pods, 60*time.Second)
	// Give a stray second binding, if there were one, time to show in the watch.
	time.Sleep(500 * time.Millisecond)
	w.close()

	list, err := cs.Pods("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetItems()) != pods {
		t.Errorf("%d pods listed, want %d", len(list.GetItems()), pods)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.problems {
		t.Error(p)
	}
	if w.relists > 0 {
		t.Errorf("the watch had to list again %d times: nodeName changes in between were not seen", w.relists)
	}
	if len(w.deleted) > 0 {
		t.Errorf("pods deleted: %v", w.deleted)
	}
	perNode := map[string]int{}
	for _, p := range list.GetItems() {
		name, node := p.GetMetadata().GetName(), p.GetSpec().GetNodeName()
		switch ch := w.changes[name]; {
		case node == "":
			t.Errorf("pod %s left unbound (phase %s, conditions %v)", name, p.GetStatus().GetPhase(), p.GetStatus().GetConditions())
		case len(ch) != 1:
			t.Errorf("pod %s: spec.nodeName went through %q, want one binding", name, ch)
		case ch[0] != node:
			t.Errorf("pod %s: watch saw it bound to %s, the apiserver says %s", name, ch[0], node)
		}
		perNode[node]++
	}
	for node, n := range perNode {
		if n > 110 {
			t.Errorf("node %s holds %d pods, above its 110", node, n)
		}
	}

	// Events: at most one Scheduled per pod across both processes (the killed one may
	// have lost a few it had not written yet).
	evs, err := cs.Events("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := map[string]int32{}
	for _, e := range evs.GetItems() {
		if e.GetReason() == "Scheduled" {
			scheduled[e.GetInvolvedObject().GetName()] += max(e.GetCount(), 1)
		}
	}
	total := 0
	for name, n := range scheduled {
		total += int(n)
		if n > 1 {
			t.Errorf("pod %s has %d Scheduled events", name, n)
		}
	}
	t.Logf("%d pods on %d nodes; %d Scheduled events", len(list.GetItems()), len(perNode), total)
}

// ---- benchmark: hack/bench-scheduler.sh ----

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// cpuTime is a process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

// TestSchedulerBenchmark measures pods scheduled per second end to end through the
// apiserver: bin/apiserver (embedded etcd, fsync on) and bin/scheduler as processes, N Node
// objects and no kubelets; KUBELAB_SCHED_BENCH_CLIENTS goroutines of this process create
// KUBELAB_SCHED_BENCH_PODS pods over gRPC as fast as the apiserver takes them, and a watch
// records when each pod's binding shows. Throughput is pods / (first create sent → last
// binding seen); latency is per pod, create returned → binding seen. Then the scheduler is
// stopped and the same number of pods created again: the apiserver's create throughput on
// its own, in the same run. Runs only with KUBELAB_SCHED_BENCH=1 (hack/bench-scheduler.sh).
func TestSchedulerBenchmark(t *testing.T) {
	if os.Getenv("KUBELAB_SCHED_BENCH") == "" {
		t.Skip("benchmark: set KUBELAB_SCHED_BENCH=1 (hack/bench-scheduler.sh)")
	}
	pods := envInt(t, "KUBELAB_SCHED_BENCH_PODS", 5000)
	clients := envInt(t, "KUBELAB_SCHED_BENCH_CLIENTS", 16)
	nodeCounts := strings.Split(os.Getenv("KUBELAB_SCHED_BENCH_NODES"), ",")
	if nodeCounts[0] == "" {
		nodeCounts = []string{"1000", "5000"}
	}
	for _, nc := range nodeCounts {
		nodes, err := strconv.Atoi(nc)
		if err != nil {
			t.Fatalf("KUBELAB_SCHED_BENCH_NODES: %v", err)
		}
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) { benchScheduler(t, nodes, pods, clients) })
	}
}

func benchScheduler(t *testing.T, nodes, pods, clients int) {
	api := newAPIServer(t)
	api.args = []string{withoutControllerManager}
	api.start(10 * time.Second)
	cs := api.clientset(t)
	took := createNodes(t, cs, nodes)
	t.Logf("%d nodes created in %v", nodes, took.Round(time.Millisecond))

	var extra []string
	if os.Getenv("KUBELAB_SCHED_BENCH_LOG_LEVEL") != "" {
		extra = append(extra, "--log-level", os.Getenv("KUBELAB_SCHED_BENCH_LOG_LEVEL"))
	}
	profDir := os.Getenv("KUBELAB_SCHED_BENCH_PROFILE")
	if profDir != "" {
		extra = append(extra, "--profiling")
	}
	sched := startScheduler(t, api, "scheduler", true, extra...)
	sched.waitSynced(30 * time.Second)
	w := watchPods(t, cs, "default")

	profDone := make(chan struct{})
	if profDir != "" {
		// A CPU profile of the scheduler over the run (its --profiling endpoint).
		go func() {
			defer close(profDone)
			secs := envInt(t, "KUBELAB_SCHED_BENCH_PROFILE_SECONDS", 5)
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", sched.port, secs))
			if err != nil {
				t.Logf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("scheduler-%dnodes.pprof", nodes)))
			if err != nil {
				t.Logf("profile: %v", err)
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	} else {
		close(profDone)
	}

	apiCPU0, schedCPU0, selfCPU0 := cpuTime(api.cmd.Process.Pid), cpuTime(sched.cmd.Process.Pid), cpuTime(os.Getpid())
	created := make([]time.Time, pods)
	began := time.Now()
	if err := parallel(pods, clients, func(i int) error {
		_, err := cs.Pods("default").Create(context.Background(), benchPod("default", fmt.Sprintf("p-%05d", i)))
		created[i] = time.Now()
		return err
	}); err != nil {
		t.Fatalf("create pods: %v", err)
	}
	createsDone := time.Now()
	w.waitBound(t, int64(pods), 5*time.Minute)
	apiCPU, schedCPU, selfCPU := cpuTime(api.cmd.Process.Pid)-apiCPU0, cpuTime(sched.cmd.Process.Pid)-schedCPU0, cpuTime(os.Getpid())-selfCPU0
	<-profDone
	w.close()

	w.mu.Lock()
	var last time.Time
	lat := make([]time.Duration, 0, pods)
	for i := range pods {
		at := w.boundAt[fmt.Sprintf("p-%05d", i)]
		if at.After(last) {
			last = at
		}
		lat = append(lat, max(at.Sub(created[i]), 0))
	}
	problems, relists := w.problems, w.relists
	w.mu.Unlock()
	for _, p := range problems {
		t.Log("watch:", p) // the watch resumed or listed again; relists is in the result line
	}
	slices.Sort(lat)
	total := last.Sub(began)
	rate := float64(pods) / total.Seconds()
	createRate := float64(pods) / createsDone.Sub(began).Seconds()

	// The apiserver's create throughput alone: the scheduler stopped, no watch of ours.
	sched.kill()
	b0 := time.Now()
	if err := parallel(pods, clients, func(i int) error {
		_, err := cs.Pods("default").Create(context.Background(), benchPod("default", fmt.Sprintf("q-%05d", i)))
		return err
	}); err != nil {
		t.Fatalf("create pods (apiserver alone): %v", err)
	}
	aloneRate := float64(pods) / time.Since(b0).Seconds()

	// Drain: those pods were all queued when a new scheduler starts; from its caches
	// synced to the last binding seen, no creates competing.
	w = watchPods(t, cs, "default")
	sched = startScheduler(t, api, "scheduler-drain", true, append(extra, "--profiling")...)
	sched.waitSynced(30 * time.Second)
	synced := time.Now()
	for deadline := time.Now().Add(3 * time.Minute); w.bound.Load() < int64(2*pods); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, path := range []string{"/metrics", "/debug/pprof/goroutine?debug=1"} {
				if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", sched.port, path)); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					os.WriteFile(filepath.Join(os.TempDir(), "sched-drain-"+strings.Trim(path[1:8], "/")), b, 0o644)
				}
			}
			w.mu.Lock()
			t.Fatalf("drain: %d of %d pods seen bound after 3m; watch problems: %q", w.bound.Load()-int64(pods), pods, w.problems)
		}
	}
	w.close()
	w.mu.Lock()
	var drainLast time.Time
	for name, at := range w.boundAt {
		if strings.HasPrefix(name, "q-") && at.After(drainLast) {
			drainLast = at
		}
	}
	w.mu.Unlock()
	drainRate := float64(pods) / drainLast.Sub(synced).Seconds()

	wall := total.Seconds()
	line := fmt.Sprintf("BENCH nodes=%d pods=%d clients=%d pods_per_s=%.0f total_s=%.2f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s "+
		"creates_per_s_during=%.0f creates_per_s_alone=%.0f drain_pods_per_s=%.0f cpu_apiserver=%.2f cpu_scheduler=%.2f cpu_test=%.2f watch_relists=%d",
		nodes, pods, clients, rate, wall, ms(percentile(lat, 0.50)), ms(percentile(lat, 0.90)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1]),
		createRate, aloneRate, drainRate, apiCPU.Seconds()/wall, schedCPU.Seconds()/wall, selfCPU.Seconds()/wall, relists)
	t.Log(line)
	fmt.Println(line)
}
