package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/apierrors"
	tu "kubelab.io/scheduler/internal/testutil"
)

// syncBuffer collects a scheduler's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type cluster struct {
	t   *testing.T
	srv *apiservertest.Server
	cs  *kube.Clientset
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv := apiservertest.Start(t)
	return &cluster{t: t, srv: srv, cs: srv.Clientset(true)}
}

// startScheduler runs the scheduler command until the test ends (or the returned stop is
// called) and returns its log.
func (c *cluster) startScheduler(extra ...string) (stop func(), log *syncBuffer) {
	c.t.Helper()
	log = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--kubeconfig", c.srv.Kubeconfig(), "--grpc-address", c.srv.GRPCAddr(), "--secure-port", "0", "--log-level", "debug"}, extra...)
	if !strings.Contains(strings.Join(extra, " "), "--leader-elect") {
		args = append(args, "--leader-elect=false")
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, log) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					c.t.Errorf("scheduler: %v", err)
				}
			case <-time.After(20 * time.Second):
				c.t.Errorf("scheduler did not stop")
			}
		})
	}
	c.t.Cleanup(func() {
		stop()
		if c.t.Failed() {
			c.t.Logf("scheduler log:\n%s", log.String())
		}
	})
	return stop, log
}

func (c *cluster) createNode(n *corev1.Node) {
	c.t.Helper()
	ctx := context.Background()
	status := n.Status
	created, err := c.cs.Nodes().Create(ctx, proto.Clone(n).(*corev1.Node))
	if err != nil {
		c.t.Fatalf("create node: %v", err)
	}
	created.Status = status
	if _, err := c.cs.Nodes().UpdateStatus(ctx, created); err != nil {
		c.t.Fatalf("node status: %v", err)
	}
}

// createPod creates p. A pod with a spec.priority names a PriorityClass of that value and
// preemption policy, created on first use: the apiserver's Priority admission plugin, as
// Kubernetes', refuses a priority that no class gives.
func (c *cluster) createPod(p *corev1.Pod) {
	c.t.Helper()
	p.Metadata.Uid = ""
	if p.Spec.Priority != nil && p.Spec.PriorityClassName == "" {
		p.Spec.PriorityClassName = c.priorityClass(p.Spec.GetPriority(), p.Spec.GetPreemptionPolicy())
	}
	if _, err := c.cs.Pods(p.Metadata.Namespace).Create(context.Background(), p); err != nil {
		c.t.Fatalf("create pod: %v", err)
	}
}

// priorityClass returns the name of a PriorityClass of value and policy (PreemptLowerPriority
// when empty), creating it if needed.
func (c *cluster) priorityClass(value int32, policy string) string {
	c.t.Helper()
	if policy == "" {
		policy = "PreemptLowerPriority"
	}
	name := fmt.Sprintf("p%d-%s", value, strings.ToLower(policy))
	pc := &schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: name}, Value: value, PreemptionPolicy: &policy}
	if _, err := c.cs.PriorityClasses().Create(context.Background(), pc); err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatalf("create priority class %s: %v", name, err)
	}
	return name
}

func (c *cluster) pod(name string) *corev1.Pod {
	c.t.Helper()
	p, err := c.cs.Pods("default").Get(context.Background(), name)
	if err != nil {
		c.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitBound waits for the pods to be bound and returns their nodes.
func (c *cluster) waitBound(timeout time.Duration, names ...string) map[string]string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := map[string]string{}
		for _, n := range names {
			if node := c.pod(n).GetSpec().GetNodeName(); node != "" {
				out[n] = node
			}
		}
		if len(out) == len(names) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("only %d of %d pods bound after %v: %v", len(out), len(names), timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) events(object, reason string) []*corev1.Event {
	c.t.Helper()
	list, err := c.cs.Events("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []*corev1.Event
	for _, e := range list.GetItems() {
		if e.GetInvolvedObject().GetName() == object && e.GetReason() == reason {
			out = append(out, e)
		}
	}
	return out
}

func (c *cluster) waitEvent(object, reason string, timeout time.Duration) *corev1.Event {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if evs := c.events(object, reason); len(evs) > 0 {
			return evs[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s event for %s after %v", reason, object, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) waitCondition(name string, timeout time.Duration) *corev1.PodCondition {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, cond := range c.pod(name).GetStatus().GetConditions() {
			if cond.GetType() == "PodScheduled" {
				return cond
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pod %s has no PodScheduled condition after %v", name, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func threeNodes(c *cluster) {
	for i := 1; i <= 3; i++ {
		c.createNode(tu.Node(fmt.Sprintf("node-%d", i)).Obj())
	}
}

func TestSpreadEventsAndUnschedulable(t *testing.T) {
	c := newCluster(t)
	threeNodes(c)
	c.startScheduler()

	// A deployment-like set of 6 pods requesting 1 cpu each: LeastAllocated spreads them 2/2/2.
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("web-%d", i)
		names = append(names, name)
		c.createPod(tu.Pod(name).Req("cpu", "1", "memory", "256Mi").Obj())
	}
	bound := c.waitBound(10*time.Second, names...)
	perNode := map[string]int{}
	for _, node := range bound {
		perNode[node]++
	}
	if len(perNode) != 3 || perNode["node-1"] != 2 || perNode["node-2"] != 2 || perNode["node-3"] != 2 {
		t.Errorf("spread %v, want 2 pods on each node", perNode)
	}
	for _, name := range names {
		ev := c.waitEvent(name, "Scheduled", 5*time.Second)
		if want := fmt.Sprintf("Successfully assigned default/%s to %s", name, bound[name]); ev.GetMessage() != want || ev.GetType() != "Normal" ||
			ev.GetSource().GetComponent() != "default-scheduler" {
			t.Errorf("event %q (%s, %s), want %q", ev.GetMessage(), ev.GetType(), ev.GetSource().GetComponent(), want)
		}
		if cond := c.waitCondition(name, time.Second); cond.GetStatus() != "True" {
			t.Errorf("%s PodScheduled %v", name, cond)
		}
	}

	// A pod too big for any node stays pending with the summed-up reason.
	c.createPod(tu.Pod("big").Req("cpu", "6").Obj())
	ev := c.waitEvent("big", "FailedScheduling", 10*time.Second)
	if want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."; ev.GetMessage() != want || ev.GetType() != "Warning" {
		t.Errorf("FailedScheduling %q (%s), want %q", ev.GetMessage(), ev.GetType(), want)
	}
	cond := c.waitCondition("big", 5*time.Second)
	if cond.GetStatus() != "False" || cond.GetReason() != "Unschedulable" || cond.GetMessage() != "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod." {
		t.Errorf("PodScheduled %v", cond)
	}
	if c.pod("big").GetSpec().GetNodeName() != "" {
		t.Fatal("big pod bound")
	}
	// Past its first backoff, a node that fits arrives: the pod is bound within a second.
	time.Sleep(1100 * time.Millisecond)
	start := time.Now()
	c.createNode(tu.Node("node-big").Alloc("cpu", "16").Obj())
	got := c.waitBound(5*time.Second, "big")
	took := time.Since(start)
	if got["big"] != "node-big" {
		t.Errorf("big on %s", got["big"])
	}
	if took > time.Second {
		t.Errorf("big pod bound %v after the node was added, want within 1s", took)
	}
	t.Logf("unschedulable pod bound %v after a fitting node appeared", took)
}

func TestPlacementRules(t *testing.T) {
	c := newCluster(t)
	c.createNode(tu.Node("plain-1").Obj())
	c.createNode(tu.Node("plain-2").Obj())
	c.createNode(tu.Node("tainted").Taint("dedicated", "infra", "NoSchedule").Alloc("cpu", "64", "memory", "256Gi").Obj())
	c.createNode(tu.Node("ssd").Label("disk", "ssd").Label("zone", "b").Obj())
	c.createNode(tu.Node("zone-a").Label("zone", "a").Obj())
	c.startScheduler()

	// The tainted node has by far the most room; pods without a toleration still avoid it.
	var spread []string
	for i := range 8 {
		name := fmt.Sprintf("spread-%d", i)
		spread = append(spread, name)
		c.createPod(tu.Pod(name).Req("cpu", "500m").Obj())
	}
	for name, node := range c.waitBound(10*time.Second, spread...) {
		if node == "tainted" {
			t.Errorf("%s landed on the tainted node", name)
		}
	}
	c.createPod(tu.Pod("tolerating").NodeSelector(map[string]string{"kubernetes.io/hostname": "tainted"}).
		Toleration("dedicated", "Equal", "infra", "NoSchedule").Obj())
	c.createPod(tu.Pod("selector").NodeSelector(map[string]string{"disk": "ssd"}).Obj())
	c.createPod(tu.Pod("required").Required("zone", "In", "a").Obj())
	c.createPod(tu.Pod("preferred").Preferred(100, "zone", "In", "b").Obj())
	got := c.waitBound(10*time.Second, "tolerating", "selector", "required", "preferred")
	want := map[string]string{"tolerating": "tainted", "selector": "ssd", "required": "zone-a", "preferred": "ssd"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s on %s, want %s", k, got[k], v)
		}
	}
	// Untolerated taint plus mismatched selector: the reasons of each node.
	c.createPod(tu.Pod("nowhere").NodeSelector(map[string]string{"disk": "nvme"}).Obj())
	ev := c.waitEvent("nowhere", "FailedScheduling", 10*time.Second)
	if want := "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."; ev.GetMessage() != want {
		t.Errorf("FailedScheduling %q, want %q", ev.GetMessage(), want)
	}
}

// extenderServer is a scheduler extender: filter rejects listed nodes, prioritize favours
// one node.
func extenderServer(t *testing.T, reject map[string]bool, favour string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var args struct {
			Nodes struct {
				Items []json.RawMessage `json:"items"`
			}
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &args); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var names []string
		for _, it := range args.Nodes.Items {
			var n struct {
				Metadata struct{ Name string } `json:"metadata"`
			}
			_ = json.Unmarshal(it, &n)
			names = append(names, n.Metadata.Name)
		}
		switch r.URL.Path {
		case "/filter":
			var keep []json.RawMessage
			failed := map[string]string{}
			for i, n := range names {
				if reject[n] {
					failed[n] = "rejected by the extender"
				} else {
					keep = append(keep, args.Nodes.Items[i])
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"Nodes": map[string]any{"items": keep}, "FailedNodes": failed})
		case "/prioritize":
			var out []map[string]any
			for _, n := range names {
				s := 0
				if n == favour {
					s = 10
				}
				out = append(out, map[string]any{"Host": n, "Score": s})
			}
			_ = json.NewEncoder(w).Encode(out)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestExtenders(t *testing.T) {
	c := newCluster(t)
	threeNodes(c)
	filter := extenderServer(t, map[string]bool{"node-1": true}, "")
	prio := extenderServer(t, nil, "node-3")
	cfg := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
extenders:
- urlPrefix: %s
  filterVerb: filter
  enableHTTPS: false
  httpTimeout: 2s
- urlPrefix: %s
  prioritizeVerb: prioritize
  weight: 5
- urlPrefix: http://127.0.0.1:1/down
  filterVerb: filter
  prioritizeVerb: prioritize
  weight: 1
  ignorable: true
`, filter.URL, prio.URL)
	path := filepath.Join(t.TempDir(), "scheduler.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.startScheduler("--config", path)
	var names []string
	for i := range 3 {
		name := fmt.Sprintf("ext-%d", i)
		names = append(names, name)
		c.createPod(tu.Pod(name).Req("cpu", "100m").Obj())
	}
	for name, node := range c.waitBound(10*time.Second, names...) {
		// Filtered: never node-1. Prioritized (weight 5 × 10 × 10 = 500) beats any
		// spreading: always node-3. The ignorable extender is down and changes nothing.
		if node != "node-3" {
			t.Errorf("%s on %s, want node-3", name, node)
		}
	}
}

func TestLeaderElection(t *testing.T) {
	c := newCluster(t)
	threeNodes(c)
	le := []string{"--leader-elect", "--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "1500ms", "--leader-elect-retry-period", "200ms"}
	stopA, _ := c.startScheduler(append(le, "--leader-elect-identity", "sched-a")...)
	// Let a lead before b starts, so the test knows who leads.
	deadline := time.Now().Add(10 * time.Second)
	for {
		lease, err := c.cs.Leases("kube-system").Get(context.Background(), "kube-scheduler")
		if err == nil && lease.GetSpec().GetHolderIdentity() == "sched-a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sched-a did not acquire the lease: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.startScheduler(append(le, "--leader-elect-identity", "sched-b")...)
	var first []string
	for i := range 6 {
		name := fmt.Sprintf("a-%d", i)
		first = append(first, name)
		c.createPod(tu.Pod(name).Obj())
	}
	c.waitBound(10*time.Second, first...)
	for _, name := range first {
		evs := c.events(name, "Scheduled")
		for len(evs) == 0 {
			evs = []*corev1.Event{c.waitEvent(name, "Scheduled", 5*time.Second)}
		}
		if len(evs) != 1 || evs[0].GetSource().GetHost() != "sched-a" {
			t.Errorf("%s: %d Scheduled events, from %q; want one from sched-a", name, len(evs), evs[0].GetSource().GetHost())
		}
	}
	// The leader stops (releasing the lease): b takes over and schedules.
	stopA()
	c.createPod(tu.Pod("b-0").Obj())
	c.waitBound(10*time.Second, "b-0")
	if ev := c.waitEvent("b-0", "Scheduled", 5*time.Second); ev.GetSource().GetHost() != "sched-b" {
		t.Errorf("b-0 scheduled by %q, want sched-b", ev.GetSource().GetHost())
	}
}

// TestRestartMidway stops the scheduler while hundreds of pods are queued and starts a new
// one: it rebuilds its state from the API and every pod ends bound, once.
func TestRestartMidway(t *testing.T) {
	c := newCluster(t)
	for i := 1; i <= 10; i++ {
		c.createNode(tu.Node(fmt.Sprintf("node-%d", i)).Alloc("cpu", "100", "pods", "200").Obj())
	}
	const n = 500
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("r-%03d", i)
		c.createPod(tu.Pod(names[i]).Req("cpu", "100m").Obj())
	}
	stop, _ := c.startScheduler()
	// Stop once some, not all, are bound.
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := c.cs.Pods("default").List(context.Background(), transport.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bound := 0
		for _, p := range list.GetItems() {
			if p.GetSpec().GetNodeName() != "" {
				bound++
			}
		}
		if bound > 0 {
			t.Logf("stopping the scheduler with %d of %d pods bound", bound, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing bound")
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	c.startScheduler()
	c.waitBound(30*time.Second, names...)
	list, err := c.cs.Events("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := map[string]int32{}
	for _, e := range list.GetItems() {
		if e.GetReason() == "Scheduled" {
			scheduled[e.GetInvolvedObject().GetName()] += e.GetCount()
		}
	}
	for name, count := range scheduled {
		if count > 1 {
			t.Errorf("%s scheduled %d times", name, count)
		}
	}
}

// TestPreemption fills a node with pods of low priority and checks, against a real
// apiserver, that a pod of higher priority evicts exactly the least important one,
// is nominated to the node, keeps the freed room from pods of lower priority, and is
// bound once its victim is gone; and that pods with preemptionPolicy Never, or without a
// higher priority than any pod on the node, evict nothing.
func TestPreemption(t *testing.T) {
	c := newCluster(t)
	c.createNode(tu.Node("n1").Alloc("cpu", "2").Obj())
	c.startScheduler()
	ctx := context.Background()

	c.createPod(tu.Pod("low-a").Req("cpu", "1").Priority(3).Obj())
	c.createPod(tu.Pod("low-b").Req("cpu", "1").Priority(5).Obj())
	c.waitBound(10*time.Second, "low-a", "low-b")
	untouched := func(names ...string) {
		t.Helper()
		for _, n := range names {
			p := c.pod(n)
			if p.GetMetadata().GetDeletionTimestamp() != nil {
				t.Errorf("%s is being deleted", n)
			}
			if evs := c.events(n, "Preempted"); len(evs) > 0 {
				t.Errorf("%s preempted: %s", n, evs[0].GetMessage())
			}
		}
	}

	// No higher priority than the least important pod there: nothing to evict.
	c.createPod(tu.Pod("equal").Req("cpu", "1").Priority(3).Obj())
	ev := c.waitEvent("equal", "FailedScheduling", 10*time.Second)
	if want := "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."; ev.GetMessage() != want {
		t.Errorf("equal: FailedScheduling %q, want %q", ev.GetMessage(), want)
	}
	// Higher priority, but it may not preempt.
	c.createPod(tu.Pod("never").Req("cpu", "1").Priority(4).PreemptionPolicy("Never").Obj())
	ev = c.waitEvent("never", "FailedScheduling", 10*time.Second)
	if want := "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."; ev.GetMessage() != want {
		t.Errorf("never: FailedScheduling %q, want %q", ev.GetMessage(), want)
	}
	untouched("low-a", "low-b")

	// One cpu is needed: low-a (priority 3) goes, low-b (5) stays.
	c.createPod(tu.Pod("high").Req("cpu", "1").Priority(50).Obj())
	high := c.pod("high")
	pre := c.waitEvent("low-a", "Preempted", 10*time.Second)
	if want := fmt.Sprintf("Preempted by pod %s on node n1", high.GetMetadata().GetUid()); pre.GetMessage() != want || pre.GetType() != "Normal" {
		t.Errorf("Preempted event %q (%s), want %q", pre.GetMessage(), pre.GetType(), want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.pod("high").GetStatus().GetNominatedNodeName() != "n1" {
		if time.Now().After(deadline) {
			t.Fatalf("high not nominated to n1: %v", c.pod("high").GetStatus())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Deleted gracefully: with no kubelet to confirm, it waits out its grace period.
	if c.pod("low-a").GetMetadata().GetDeletionTimestamp() == nil {
		t.Error("low-a has no deletionTimestamp")
	}
	untouched("low-b")
	if n := c.pod("high").GetSpec().GetNodeName(); n != "" {
		t.Fatalf("high bound to %s while its victim is still there", n)
	}

	// Confirm the deletion as a kubelet would. high is backing off after its failed
	// attempt, so a new pod of lower priority is tried first: it must not take the room
	// held for high, nor may the pending ones.
	if _, err := c.cs.Pods("default").Delete(ctx, "low-a", &metav1.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatalf("delete low-a: %v", err)
	}
	c.createPod(tu.Pod("thief").Req("cpu", "1").Priority(5).Obj())
	deadline = time.Now().Add(10 * time.Second)
	for len(c.events("thief", "FailedScheduling")) == 0 {
		if node := c.pod("thief").GetSpec().GetNodeName(); node != "" {
			t.Fatalf("thief took the room held for high: bound to %s", node)
		}
		if time.Now().After(deadline) {
			t.Fatal("thief neither bound nor failed after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev = c.events("thief", "FailedScheduling")[0]
	if want := "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."; ev.GetMessage() != want {
		t.Errorf("thief: FailedScheduling %q, want %q", ev.GetMessage(), want)
	}
	if got := c.waitBound(10*time.Second, "high"); got["high"] != "n1" {
		t.Errorf("high on %s, want n1", got["high"])
	}
	for _, n := range []string{"equal", "never", "thief"} {
		if node := c.pod(n).GetSpec().GetNodeName(); node != "" {
			t.Errorf("%s took the room: bound to %s", n, node)
		}
	}
	untouched("low-b", "equal", "never", "thief")
	list, err := c.cs.Pods("default").List(ctx, transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetItems()) != 5 {
		t.Errorf("%d pods left, want low-b, high, equal, never, thief", len(list.GetItems()))
	}
}

// TestPreemptionSparesBudgets checks, against a real apiserver, that the scheduler reads
// PodDisruptionBudgets: of two pods on a full node, the less important one is covered by a
// budget that allows no disruption (its status written as the disruption controller would),
// so the more important one is preempted instead.
func TestPreemptionSparesBudgets(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	c.createNode(tu.Node("n1").Alloc("cpu", "2").Obj())
	// Bound already (spec.nodeName), so they need no scheduler before the budget exists.
	c.createPod(tu.Pod("guarded").Label("app", "guarded").Req("cpu", "1").Priority(3).NodeName("n1").Obj())
	c.createPod(tu.Pod("free").Label("app", "free").Req("cpu", "1").Priority(5).NodeName("n1").Obj())
	pdb := tu.PDB("guarded", "guarded", 0)
	pdb.Spec.MinAvailable = &metav1.IntOrString{IntVal: 1}
	status := pdb.Status
	created, err := c.cs.PodDisruptionBudgets("default").Create(ctx, pdb)
	if err != nil {
		t.Fatalf("create budget: %v", err)
	}
	created.Status = status
	if _, err := c.cs.PodDisruptionBudgets("default").UpdateStatus(ctx, created); err != nil {
		t.Fatalf("budget status: %v", err)
	}
	c.startScheduler()

	c.createPod(tu.Pod("high").Req("cpu", "1").Priority(50).Obj())
	pre := c.waitEvent("free", "Preempted", 10*time.Second)
	if want := fmt.Sprintf("Preempted by pod %s on node n1", c.pod("high").GetMetadata().GetUid()); pre.GetMessage() != want {
		t.Errorf("Preempted event %q, want %q", pre.GetMessage(), want)
	}
	if c.pod("guarded").GetMetadata().GetDeletionTimestamp() != nil || len(c.events("guarded", "Preempted")) > 0 {
		t.Error("guarded was preempted despite its budget")
	}
}

// Inter-pod anti-affinity spreads a set one per node and leaves the one too many pending;
// required affinity waits for its partner and follows it once it is placed.
func TestInterPodAffinity(t *testing.T) {
	c := newCluster(t)
	threeNodes(c)
	c.startScheduler()

	oneWebPerNode := tu.PodAffinityTerm("kubernetes.io/hostname", "app", "web")
	var webs []string
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		webs = append(webs, name)
		c.createPod(tu.Pod(name).Label("app", "web").PodAntiAffinity(oneWebPerNode).Obj())
	}
	nodes := map[string]bool{}
	for _, node := range c.waitBound(10*time.Second, webs...) {
		nodes[node] = true
	}
	if len(nodes) != 3 {
		t.Errorf("web pods on %v, want one on each of 3 nodes", nodes)
	}
	c.createPod(tu.Pod("web-3").Label("app", "web").PodAntiAffinity(oneWebPerNode).Obj())
	ev := c.waitEvent("web-3", "FailedScheduling", 10*time.Second)
	if want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."; ev.GetMessage() != want {
		t.Errorf("FailedScheduling %q, want %q", ev.GetMessage(), want)
	}

	c.createPod(tu.Pod("cache").PodAffinity(tu.PodAffinityTerm("kubernetes.io/hostname", "app", "db")).Obj())
	ev = c.waitEvent("cache", "FailedScheduling", 10*time.Second)
	if want := "0/3 nodes are available: 3 node(s) didn't match pod affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."; ev.GetMessage() != want {
		t.Errorf("FailedScheduling %q, want %q", ev.GetMessage(), want)
	}
	// The partner arrives, placed by hand on node-2: an assigned pod's arrival requeues
	// the pod InterPodAffinity rejected, well before the 5-minute leftover flush.
	c.createPod(tu.Pod("db").Label("app", "db").NodeName("node-2").Obj())
	if got := c.waitBound(10*time.Second, "cache"); got["cache"] != "node-2" {
		t.Errorf("cache on %q, want node-2 beside db", got["cache"])
	}
	if c.pod("web-3").GetSpec().GetNodeName() != "" {
		t.Error("web-3 was bound beside another web pod")
	}
}

// Topology spread keeps a set even across zones: with zone c cordoned (still a domain, at
// 0) and a node without a zone, two pods take zones a and b and the third waits, until a
// pod placed by hand in zone c raises the minimum; that assigned pod's arrival requeues it.
func TestPodTopologySpread(t *testing.T) {
	c := newCluster(t)
	c.createNode(tu.Node("node-1").Label("topology.kubernetes.io/zone", "a").Obj())
	c.createNode(tu.Node("node-2").Label("topology.kubernetes.io/zone", "b").Obj())
	c.createNode(tu.Node("node-3").Label("topology.kubernetes.io/zone", "c").Unschedulable().Obj())
	c.createNode(tu.Node("node-4").Obj())
	c.startScheduler()

	web := func(name string) *corev1.Pod {
		return tu.Pod(name).Label("app", "web").
			Spread(tu.SpreadConstraint(1, "topology.kubernetes.io/zone", "DoNotSchedule", "app", "web")).Obj()
	}
	c.createPod(web("web-0"))
	c.waitBound(10*time.Second, "web-0")
	c.createPod(web("web-1"))
	bound := c.waitBound(10*time.Second, "web-0", "web-1")
	if got := []string{bound["web-0"], bound["web-1"]}; !slices.Contains(got, "node-1") || !slices.Contains(got, "node-2") {
		t.Errorf("web-0 and web-1 on %v, want one on node-1 and one on node-2", got)
	}

	c.createPod(web("web-2"))
	ev := c.waitEvent("web-2", "FailedScheduling", 10*time.Second)
	want := "0/4 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label), " +
		"1 node(s) were unschedulable, 2 node(s) didn't match pod topology spread constraints. " +
		"preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
	if ev.GetMessage() != want {
		t.Errorf("FailedScheduling %q, want %q", ev.GetMessage(), want)
	}

	c.createPod(tu.Pod("web-by-hand").Label("app", "web").NodeName("node-3").Obj())
	if got := c.waitBound(10*time.Second, "web-2"); got["web-2"] != "node-1" && got["web-2"] != "node-2" {
		t.Errorf("web-2 on %q, want node-1 or node-2", got["web-2"])
	}
}

// Pods that declare no topologySpreadConstraints are spread by the system default ones
// over the pods of their ReplicaSet: on three equal nodes, by score alone, three replicas
// take one node each, and three more make it two each. The resource score plugins, which
// spread pods too, are disabled so that only PodTopologySpread's score tells nodes apart.
func TestSystemDefaultSpreading(t *testing.T) {
	c := newCluster(t)
	threeNodes(c)
	ctx := context.Background()
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tmpl := tu.Pod("").Label("app", "web").Obj()
	rs, err := c.cs.ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(6), Selector: sel, Template: &corev1.PodTemplateSpec{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: tmpl.Spec,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scheduler.yaml")
	cfg := `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    score:
      disabled: [{name: NodeResourcesLeastAllocated}, {name: NodeResourcesBalancedAllocation}]
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.startScheduler("--config", path)
	replica := func(i int) string {
		name := fmt.Sprintf("web-%d", i)
		p := tu.Pod(name).Label("app", "web").Obj()
		p.Metadata.OwnerReferences = []*metav1.OwnerReference{{
			ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", Uid: rs.GetMetadata().GetUid(), Controller: proto.Bool(true),
		}}
		c.createPod(p)
		return name
	}
	perNode := func(names []string) map[string]int {
		n := map[string]int{}
		for _, node := range c.waitBound(10*time.Second, names...) {
			n[node]++
		}
		return n
	}
	var names []string
	for i := range 3 {
		names = append(names, replica(i))
	}
	if got := perNode(names); len(got) != 3 {
		t.Fatalf("three replicas on %v, want one on each node", got)
	}
	for i := 3; i < 6; i++ {
		names = append(names, replica(i))
	}
	if got, want := perNode(names), map[string]int{"node-1": 2, "node-2": 2, "node-3": 2}; !maps.Equal(got, want) {
		t.Errorf("six replicas on %v, want %v", got, want)
	}
}

// A pod that PodTopologySpread rejected is retried as soon as the assigned pod that kept
// it out is deleted: well before the queue's flush of leftover unschedulable pods (every
// 30 s, for pods parked 5 min), so only the delete event can have moved it.
func TestSpreadRequeueOnPodDelete(t *testing.T) {
	c := newCluster(t)
	c.createNode(tu.Node("node-1").Obj())
	c.createNode(tu.Node("node-2").Obj())
	c.startScheduler()
	c.createPod(tu.Pod("web-0").Label("app", "web").NodeName("node-1").Obj())
	c.createPod(tu.Pod("web-1").Label("app", "web").NodeName("node-2").Obj())
	// minDomains 3 with two nodes: the minimum counts as 0, so a second web pod on
	// either node would skew 2.
	sc := tu.SpreadConstraint(1, "kubernetes.io/hostname", "DoNotSchedule", "app", "web")
	sc.MinDomains = proto.Int32(3)
	c.createPod(tu.Pod("web-2").Label("app", "web").Spread(sc).Obj())
	if ev := c.waitEvent("web-2", "FailedScheduling", 10*time.Second); !strings.Contains(ev.GetMessage(), "didn't match pod topology spread constraints") {
		t.Fatalf("FailedScheduling %q", ev.GetMessage())
	}
	if _, err := c.cs.Pods("default").Delete(context.Background(), "web-0", &metav1.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	if got := c.waitBound(10*time.Second, "web-2"); got["web-2"] != "node-1" {
		t.Errorf("web-2 on %q, want node-1", got["web-2"])
	}
}
