package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/kube"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/watch"
)

// cmProc is one controller-manager process (bin/controller-manager) against an apiserverProc.
// Its log file collects every run, each opened by a "=== run N" line.
type cmProc struct {
	t       *testing.T
	api     *apiserverProc
	name    string
	args    []string
	logPath string
	runs    int
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// newControllerManager prepares a controller-manager with the admin kubeconfig, gRPC to
// the apiserver, no health port, and extra flags; start runs it.
func newControllerManager(t *testing.T, api *apiserverProc, name string, extra ...string) *cmProc {
	c := &cmProc{t: t, api: api, name: name, logPath: filepath.Join(api.dir, name+".log")}
	c.args = append([]string{
		"--kubeconfig", filepath.Join(api.dir, "pki", "admin.kubeconfig"),
		"--grpc-address", fmt.Sprintf("127.0.0.1:%d", api.grpcPort),
		"--secure-port", "0",
	}, extra...)
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			b, _ := os.ReadFile(c.logPath)
			t.Logf("log of %s:\n%s", name, cmTail(string(b), 12000))
		}
	})
	return c
}

func cmTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func (c *cmProc) start() {
	c.t.Helper()
	var err error
	c.logFile, err = os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	c.runs++
	fmt.Fprintf(c.logFile, "=== run %d\n", c.runs)
	c.cmd = exec.Command(filepath.Join(binDir, "controller-manager"), c.args...)
	c.cmd.Stdout, c.cmd.Stderr = c.logFile, c.logFile
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.exited = make(chan struct{})
	cmd, exited := c.cmd, c.exited
	go func() { _ = cmd.Wait(); close(exited) }()
}

// kill sends SIGKILL: no deferred code, no lease release, no flush of anything.
func (c *cmProc) kill() {
	if c.cmd != nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.exited
		c.cmd = nil
	}
	if c.logFile != nil {
		c.logFile.Close()
		c.logFile = nil
	}
}

// running reports whether the process started and has not exited.
func (c *cmProc) running() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// currentLog is the log of the current (or last) run only.
func (c *cmProc) currentLog() string {
	b, _ := os.ReadFile(c.logPath)
	s := string(b)
	if i := strings.LastIndex(s, fmt.Sprintf("=== run %d\n", c.runs)); i >= 0 {
		s = s[i:]
	}
	return s
}

var cmIdentityRE = regexp.MustCompile(`campaigning for leadership.*identity="?([^"\s]+)"?`)

// identity is the leader election identity the current run campaigns with ("" until logged).
func (c *cmProc) identity() string {
	if m := cmIdentityRE.FindStringSubmatch(c.currentLog()); m != nil {
		return m[1]
	}
	return ""
}

// controllersStarted reports whether the current run started its controllers, which a
// controller-manager does only while it leads.
func (c *cmProc) controllersStarted() bool {
	return strings.Contains(c.currentLog(), "starting controller")
}

// clientset is the admin over gRPC, without client-side rate limits.
func cmClientset(t *testing.T, p *apiserverProc) *kube.Clientset {
	t.Helper()
	cs, err := kube.NewForConfigFile(filepath.Join(p.dir, "pki", "admin.kubeconfig"), kube.Options{
		GRPC: true, GRPCAddress: fmt.Sprintf("127.0.0.1:%d", p.grpcPort), QPS: -1, UserAgent: "e2e",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func cmPodReady(p *corev1.Pod) bool {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus() == "True"
		}
	}
	return false
}

func cmPodImage(p *corev1.Pod) string {
	if cs := p.GetSpec().GetContainers(); len(cs) > 0 {
		return cs[0].GetImage()
	}
	return ""
}

// cmFakeKubelet stands in for the kubelets: every pod that is not terminating is marked
// Running and Ready through pods/status, delay after it was first seen. It runs until ctx
// ends.
func cmFakeKubelet(ctx context.Context, cs *kube.Clientset, delay time.Duration) {
	var mu sync.Mutex
	pending := map[string]bool{}
	markReady := func(ns, name string) {
		defer func() { mu.Lock(); delete(pending, ns+"/"+name); mu.Unlock() }()
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		_ = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			pod, err := cs.Pods(ns).Get(ctx, name)
			if err != nil || cmPodReady(pod) || pod.GetMetadata().GetDeletionTimestamp() != nil {
				return nil // gone, done or going: nothing to do
			}
			if pod.Status == nil {
				pod.Status = &corev1.PodStatus{}
			}
			now := &metav1.Time{Seconds: time.Now().Unix()}
			pod.Status.Phase = "Running"
			pod.Status.Conditions = append(pod.Status.Conditions, &corev1.PodCondition{Type: "Ready", Status: "True", LastTransitionTime: now})
			_, err = cs.Pods(ns).UpdateStatus(ctx, pod)
			return err
		})
	}
	for ctx.Err() == nil {
		w, err := cs.Pods("").Watch(ctx, transport.ListOptions{})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || cmPodReady(pod) || pod.GetMetadata().GetDeletionTimestamp() != nil {
				continue
			}
			key := pod.Metadata.Namespace + "/" + pod.Metadata.Name
			mu.Lock()
			if !pending[key] {
				pending[key] = true
				go markReady(pod.Metadata.Namespace, pod.Metadata.Name)
			}
			mu.Unlock()
		}
		w.Stop()
	}
}

func cmStartFakeKubelet(t *testing.T, cs *kube.Clientset, delay time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cmFakeKubelet(ctx, cs, delay); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func cmDeployment(name string, replicas, surge, unavailable int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		Kind: "Deployment", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: &appsv1.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: &metav1.IntOrString{IntVal: surge}, MaxUnavailable: &metav1.IntOrString{IntVal: unavailable},
			}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: labels},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
					Name: "nginx", Image: image, Ports: []*corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
		},
	}
}

func cmEventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// cmLivePods lists the pods of app that are not terminating.
func cmLivePods(ctx context.Context, cs *kube.Clientset, app string) ([]*corev1.Pod, error) {
	l, err := cs.Pods("default").List(ctx, transport.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range l.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// cmWaitRolledOut waits until deployment name reports a finished rollout of n replicas on
// its current generation and exactly n live pods exist, all ready and of image.
func cmWaitRolledOut(t *testing.T, cs *kube.Clientset, name, image string, n int32, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	cmEventually(t, fmt.Sprintf("%s rolled out: %d ready pods of %s", name, n, image), timeout, func() (bool, string) {
		d, err := cs.Deployments("default").Get(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		pods, err := cmLivePods(ctx, cs, name)
		if err != nil {
			return false, err.Error()
		}
		good := 0
		for _, p := range pods {
			if cmPodImage(p) == image && cmPodReady(p) {
				good++
			}
		}
		s := d.GetStatus()
		state := fmt.Sprintf("generation %d observed %d, status replicas %d updated %d ready %d available %d; %d live pods, %d ready of %s",
			d.GetMetadata().GetGeneration(), s.GetObservedGeneration(), s.GetReplicas(), s.GetUpdatedReplicas(),
			s.GetReadyReplicas(), s.GetAvailableReplicas(), len(pods), good, image)
		return s.GetObservedGeneration() == d.GetMetadata().GetGeneration() && s.GetReplicas() == n &&
			s.GetUpdatedReplicas() == n && s.GetReadyReplicas() == n && s.GetAvailableReplicas() == n &&
			len(pods) == int(n) && good == int(n), state
	})
}

// cmRolloutMonitor follows every pod event of one app from a list onward and checks, at each
// event, that at most maxPods live pods exist and at least minReady of them are ready. It
// also counts the pods ever created per image.
type cmRolloutMonitor struct {
	mu         sync.Mutex
	maxPods    int
	minReady   int
	live       map[string]*corev1.Pod
	created    map[string]map[string]bool // image → pod names seen alive after the list
	deleted    map[string]int             // image → pods seen deleted or terminating
	events     int
	peak       int
	violations []string
	changed    chan struct{} // receives (without blocking) after every event
}

func cmMonitorRollout(t *testing.T, cs *kube.Clientset, app string, maxPods, minReady int) *cmRolloutMonitor {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &cmRolloutMonitor{maxPods: maxPods, minReady: minReady, live: map[string]*corev1.Pod{},
		created: map[string]map[string]bool{}, deleted: map[string]int{}, changed: make(chan struct{}, 1)}
	list, err := cs.Pods("default").List(ctx, transport.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			m.live[p.Metadata.Name] = p
		}
	}
	rv := list.GetMetadata().GetResourceVersion()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			// Resume from the last event seen, so no event is skipped when a watch ends.
			w, err := cs.Pods("default").Watch(ctx, transport.ListOptions{LabelSelector: "app=" + app, ResourceVersion: rv})
			if err != nil {
				if ctx.Err() == nil {
					m.violate(fmt.Sprintf("watch from %s: %v", rv, err))
				}
				return
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					m.violate(fmt.Sprintf("watch error: %v", ev.Status))
					w.Stop()
					return
				}
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = pod.GetMetadata().GetResourceVersion()
				m.observe(ev.Type, pod)
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func (m *cmRolloutMonitor) violate(s string) {
	m.mu.Lock()
	m.violations = append(m.violations, s)
	m.mu.Unlock()
}

func (m *cmRolloutMonitor) observe(typ watch.EventType, pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events++
	name, image := pod.Metadata.Name, cmPodImage(pod)
	if typ == watch.Deleted || pod.GetMetadata().GetDeletionTimestamp() != nil {
		if _, ok := m.live[name]; ok {
			m.deleted[image]++
		}
		delete(m.live, name)
	} else {
		if _, ok := m.live[name]; !ok {
			if m.created[image] == nil {
				m.created[image] = map[string]bool{}
			}
			m.created[image][name] = true
		}
		m.live[name] = pod
	}
	ready := 0
	for _, p := range m.live {
		if cmPodReady(p) {
			ready++
		}
	}
	m.peak = max(m.peak, len(m.live))
	if len(m.live) > m.maxPods || ready < m.minReady {
		m.violations = append(m.violations, fmt.Sprintf("after %s %s: %d live pods (max %d), %d ready (min %d)",
			typ, name, len(m.live), m.maxPods, ready, m.minReady))
	}
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// count is the number of live pods of image, and how many of them are ready.
func (m *cmRolloutMonitor) count(image string) (live, ready int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.live {
		if cmPodImage(p) == image {
			live++
			if cmPodReady(p) {
				ready++
			}
		}
	}
	return live, ready
}

// waitReady blocks until at least n live pods of image are ready.
func (m *cmRolloutMonitor) waitReady(t *testing.T, image string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if _, ready := m.count(image); ready >= n {
			return
		}
		select {
		case <-m.changed:
		case <-deadline:
			live, ready := m.count(image)
			t.Fatalf("%d ready pods of %s not within %v (%d live, %d ready)", n, image, timeout, live, ready)
		}
	}
}

const (
	cmOldImage = "nginx:1.14.2"
	cmNewImage = "nginx:1.16.1"
)

// TestControllerManagerKilledMidRollout: a RollingUpdate (10 replicas, maxSurge 2,
// maxUnavailable 0) survives two SIGKILLs of the controller-manager at different points of
// the rollout. A pod watch opened before the image change checks at every event that no
// more than replicas + maxSurge pods exist and no fewer than replicas are ready; at the end
// exactly 10 pods of the new template exist, each created once, and none of the old.
func TestControllerManagerKilledMidRollout(t *testing.T) {
	const (
		replicas = 10
		surge    = 2
	)
	api := newAPIServer(t)
	api.start(10 * time.Second)
	cs := cmClientset(t, api)
	// A readiness delay, as a kubelet starting containers has, so that the rollout is
	// still under way when the controller-manager is killed.
	cmStartFakeKubelet(t, cs, 300*time.Millisecond)
	cm := newControllerManager(t, api, "controller-manager", "--leader-elect=false")
	cm.start()

	ctx := context.Background()
	if _, err := cs.Deployments("default").Create(ctx, cmDeployment("web", replicas, surge, 0, cmOldImage)); err != nil {
		t.Fatal(err)
	}
	cmWaitRolledOut(t, cs, "web", cmOldImage, replicas, 60*time.Second)

	mon := cmMonitorRollout(t, cs, "web", replicas+surge, replicas)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		d, err := cs.Deployments("default").Get(ctx, "web")
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = cmNewImage
		_, err = cs.Deployments("default").Update(ctx, d)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()

	for _, killAt := range []int{2, 6} {
		mon.waitReady(t, cmNewImage, killAt, 60*time.Second)
		cm.kill()
		// Nothing acts on the Deployment now: the state at the kill is what we read.
		liveNew, readyNew := mon.count(cmNewImage)
		liveOld, _ := mon.count(cmOldImage)
		t.Logf("SIGKILL at %v into the rollout: %d new pods (%d ready), %d old pods", time.Since(began).Round(time.Millisecond), liveNew, readyNew, liveOld)
		if liveOld == 0 {
			t.Fatalf("the rollout had finished before the kill at %d ready new pods; the test proves nothing", killAt)
		}
		time.Sleep(500 * time.Millisecond) // let the kubelet make the surge ready while no controller runs
		cm.start()
	}
	cmWaitRolledOut(t, cs, "web", cmNewImage, replicas, 60*time.Second)
	t.Logf("rollout complete %v after the image change, across 2 kills", time.Since(began).Round(time.Millisecond))

	pods, err := cmLivePods(ctx, cs, "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if cmPodImage(p) != cmNewImage {
			t.Errorf("pod %s still runs %s", p.Metadata.Name, cmPodImage(p))
		}
	}
	rss, err := cs.ReplicaSets("default").List(ctx, transport.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.GetItems()) != 2 {
		t.Errorf("%d replica sets, want 2 (old and new template)", len(rss.GetItems()))
	}
	for _, rs := range rss.GetItems() {
		want := int32(0)
		if rs.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() == cmNewImage {
			want = replicas
		}
		if rs.GetSpec().GetReplicas() != want {
			t.Errorf("replica set %s wants %d replicas, want %d", rs.Metadata.Name, rs.GetSpec().GetReplicas(), want)
		}
	}

	mon.mu.Lock()
	defer mon.mu.Unlock()
	for _, v := range mon.violations {
		t.Errorf("bound broken: %s", v)
	}
	if n := len(mon.created[cmNewImage]); n != replicas {
		t.Errorf("%d pods of the new template were created, want exactly %d", n, replicas)
	}
	if n := len(mon.created[cmOldImage]); n != 0 {
		t.Errorf("%d pods of the old template were created during the rollout", n)
	}
	if n := mon.deleted[cmOldImage]; n != replicas {
		t.Errorf("%d old pods deleted, want %d", n, replicas)
	}
	t.Logf("%d pod events checked; at most %d pods existed at once (bound %d)", mon.events, mon.peak, replicas+surge)
}

func cmLeaseHolder(cs *kube.Clientset) string {
	l, err := cs.Leases("kube-system").Get(context.Background(), "kube-controller-manager")
	if err != nil {
		return ""
	}
	return l.GetSpec().GetHolderIdentity()
}

// TestControllerManagerLeaderElectionKill: two controller-manager processes with
// --leader-elect; only the lease holder starts controllers. SIGKILL of the leader cannot
// release the lease, so the standby must wait it out: it holds the lease within the lease
// duration (plus the polling slack of the retry period) and its controllers then act.
func TestControllerManagerLeaderElectionKill(t *testing.T) {
	const (
		leaseDuration = 3 * time.Second
		renewDeadline = 2 * time.Second
		retryPeriod   = 500 * time.Millisecond
	)
	api := newAPIServer(t)
	api.start(10 * time.Second)
	cs := cmClientset(t, api)
	le := []string{"--leader-elect=true", "--leader-elect-lease-duration", leaseDuration.String(),
		"--leader-elect-renew-deadline", renewDeadline.String(), "--leader-elect-retry-period", retryPeriod.String()}
	a := newControllerManager(t, api, "cm-a", le...)
	b := newControllerManager(t, api, "cm-b", le...)
	a.start()
	b.start()

	var leader, standby *cmProc
	cmEventually(t, "a leader with its controllers started", 15*time.Second, func() (bool, string) {
		holder := cmLeaseHolder(cs)
		switch {
		case holder == "":
		case holder == a.identity():
			leader, standby = a, b
		case holder == b.identity():
			leader, standby = b, a
		}
		return leader != nil && leader.controllersStarted() && standby.identity() != "",
			fmt.Sprintf("holder %q, identities %q %q", holder, a.identity(), b.identity())
	})
	if leader.identity() == standby.identity() {
		t.Fatalf("both replicas use identity %q", leader.identity())
	}
	t.Logf("leader %s (%s), standby %s (%s)", leader.name, leader.identity(), standby.name, standby.identity())

	ctx := context.Background()
	if _, err := cs.Deployments("default").Create(ctx, cmDeployment("before", 3, 1, 0, cmOldImage)); err != nil {
		t.Fatal(err)
	}
	cmEventually(t, "3 pods of the first Deployment", 20*time.Second, func() (bool, string) {
		pods, err := cmLivePods(ctx, cs, "before")
		return err == nil && len(pods) == 3, fmt.Sprintf("%d pods, %v", len(pods), err)
	})
	if standby.controllersStarted() {
		t.Fatal("the standby started controllers while the other replica led")
	}
	if !standby.running() {
		t.Fatal("the standby exited")
	}

	killed := time.Now()
	leader.kill()
	if h := cmLeaseHolder(cs); h != leader.identity() {
		t.Fatalf("right after SIGKILL the lease holder is %q, want the dead leader %q (a killed process cannot release it)", h, leader.identity())
	}
	var tookOver time.Duration
	cmEventually(t, "the standby to take the lease", 2*leaseDuration+5*time.Second, func() (bool, string) {
		h := cmLeaseHolder(cs)
		tookOver = time.Since(killed)
		return h == standby.identity(), "holder " + h
	})
	// The standby takes over once the lease, unchanged, is leaseDuration old by its own
	// clock; it sees the last renewal and the expiry each at most one (jittered) retry
	// period late.
	bound := leaseDuration + 2*retryPeriod*12/10 + 500*time.Millisecond
	t.Logf("SIGKILL of the leader → standby holds the lease: %v (lease duration %v, bound %v)", tookOver.Round(time.Millisecond), leaseDuration, bound)
	if tookOver > bound {
		t.Errorf("handover took %v, more than %v", tookOver, bound)
	}
	if _, err := cs.Deployments("default").Create(ctx, cmDeployment("after", 3, 1, 0, cmOldImage)); err != nil {
		t.Fatal(err)
	}
	cmEventually(t, "3 pods of a Deployment made after the handover", 20*time.Second, func() (bool, string) {
		pods, err := cmLivePods(ctx, cs, "after")
		return err == nil && len(pods) == 3, fmt.Sprintf("%d pods, %v", len(pods), err)
	})
	t.Logf("SIGKILL of the leader → new Deployment has its 3 pods: %v", time.Since(killed).Round(time.Millisecond))
	if !standby.controllersStarted() {
		t.Error("the new leader never logged a controller start")
	}

	// The killed replica comes back as a standby: it campaigns but does not act.
	leader.start()
	cmEventually(t, "the restarted replica to campaign", 10*time.Second, func() (bool, string) {
		return leader.identity() != "", "no identity logged yet"
	})
	time.Sleep(leaseDuration)
	if leader.controllersStarted() {
		t.Error("the restarted replica started controllers while the other led")
	}
	if h := cmLeaseHolder(cs); h != standby.identity() {
		t.Errorf("lease holder %q after the old leader returned, want %q", h, standby.identity())
	}
}

// ---- benchmark: hack/bench-controllers.sh ----

// cmCPUTime is a process's user+system CPU time from /proc/PID/stat.
func cmCPUTime(pid int) time.Duration {
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

// cmPodCounter counts the distinct pods of one namespace that a watch reports, and when the
// n-th appeared.
type cmPodCounter struct {
	mu    sync.Mutex
	seen  map[string]bool
	times []time.Duration // times[i]: when the (i+1)-th pod appeared, since start
	start time.Time
	grew  chan struct{}
	stop  func()
}

func cmCountPods(t *testing.T, cs *kube.Clientset, ns, selector string) *cmPodCounter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &cmPodCounter{seen: map[string]bool{}, grew: make(chan struct{}, 1)}
	list, err := cs.Pods(ns).List(ctx, transport.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetItems()) != 0 {
		t.Fatalf("%d pods exist before the benchmark", len(list.GetItems()))
	}
	w, err := cs.Pods(ns).Watch(ctx, transport.ListOptions{LabelSelector: selector, ResourceVersion: list.GetMetadata().GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added {
				continue
			}
			now := time.Now()
			c.mu.Lock()
			if !c.seen[pod.Metadata.Name] {
				c.seen[pod.Metadata.Name] = true
				c.times = append(c.times, now.Sub(c.start))
			}
			c.mu.Unlock()
			select {
			case c.grew <- struct{}{}:
			default:
			}
		}
	}()
	c.stop = func() { cancel(); w.Stop(); <-done }
	t.Cleanup(c.stop)
	return c
}

func (c *cmPodCounter) begin() {
	c.mu.Lock()
	c.start = time.Now()
	c.mu.Unlock()
}

// wait blocks until n pods appeared and returns the times the quarter, half, 90 % and
// last of them did.
func (c *cmPodCounter) wait(t *testing.T, n int, timeout time.Duration) (q1, p50, p90, all time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		got := len(c.times)
		if got >= n {
			at := func(f float64) time.Duration { return c.times[max(int(float64(n)*f+0.999999)-1, 0)] }
			q1, p50, p90, all = at(0.25), at(0.5), at(0.9), c.times[n-1]
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		select {
		case <-c.grew:
		case <-deadline:
			t.Fatalf("%d of %d pods within %v", got, n, timeout)
		}
	}
}

// TestControllerManagerBenchmark (KUBELAB_BENCH=1; hack/bench-controllers.sh) measures the
// wall time from creating Deployments to all their pods existing, with bin/apiserver
// (embedded etcd, fsync on) and bin/controller-manager as processes on this machine, and
// no kubelet: pods are counted when their ADDED event arrives on a watch opened before the
// first create. Each scenario gets a fresh apiserver and controller-manager, warmed up by a
// 1-replica Deployment whose pod must exist before the clock starts.
// KUBELAB_BENCH_CM_FLAGS adds controller-manager flags (e.g. "--kube-api-qps=200
// --kube-api-burst=400"); without it the binary's defaults (Kubernetes' 20 QPS, burst 30)
// apply.
func TestControllerManagerBenchmark(t *testing.T) {
	if os.Getenv("KUBELAB_BENCH") == "" {
		t.Skip("set KUBELAB_BENCH=1 (hack/bench-controllers.sh) to run the controller-manager benchmark")
	}
	extra := strings.Fields(os.Getenv("KUBELAB_BENCH_CM_FLAGS"))
	t.Run("1x100", func(t *testing.T) { cmBench(t, extra, 1, 100) })
	t.Run("300x3", func(t *testing.T) { cmBench(t, extra, 300, 3) })
}

func cmBench(t *testing.T, extra []string, deployments int, replicas int32) {
	api := newAPIServer(t)
	api.start(10 * time.Second)
	cs := cmClientset(t, api)
	cm := newControllerManager(t, api, "controller-manager", append([]string{"--leader-elect=false"}, extra...)...)
	cm.start()
	ctx := context.Background()
	if _, err := cs.Deployments("default").Create(ctx, cmDeployment("warmup", 1, 1, 0, cmOldImage)); err != nil {
		t.Fatal(err)
	}
	cmEventually(t, "the warm-up pod", 30*time.Second, func() (bool, string) {
		pods, err := cmLivePods(ctx, cs, "warmup")
		return err == nil && len(pods) == 1, fmt.Sprintf("%d pods, %v", len(pods), err)
	})

	want := deployments * int(replicas)
	counter := cmCountPods(t, cs, "default", "bench=1")
	objs := make([]*appsv1.Deployment, deployments)
	for i := range objs {
		d := cmDeployment(fmt.Sprintf("bench-%03d", i), replicas, 1, 0, cmOldImage)
		d.Spec.Template.Metadata.Labels["bench"] = "1"
		objs[i] = d
	}
	cpuCM0, cpuAPI0 := cmCPUTime(cm.cmd.Process.Pid), cmCPUTime(api.cmd.Process.Pid)
	counter.begin()
	began := time.Now()
	// 8 concurrent clients create the Deployments, as a script or an apply of many files.
	work := make(chan *appsv1.Deployment)
	errs := make(chan error, deployments)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for d := range work {
				if _, err := cs.Deployments("default").Create(ctx, d); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, d := range objs {
		work <- d
	}
	close(work)
	wg.Wait()
	created := time.Since(began)
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	q1, p50, p90, all := counter.wait(t, want, 5*time.Minute)
	cpuCM, cpuAPI := cmCPUTime(cm.cmd.Process.Pid)-cpuCM0, cmCPUTime(api.cmd.Process.Pid)-cpuAPI0
	counter.stop()
	// Settle: no pod beyond the wanted ones appears.
	time.Sleep(time.Second)
	l, err := cs.Pods("default").List(ctx, transport.ListOptions{LabelSelector: "bench=1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.GetItems()) != want {
		t.Errorf("%d pods exist, want %d", len(l.GetItems()), want)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d Deployment(s) x %d replicas: creates done %v; pods 25%% %v, 50%% %v, 90%% %v, all %d %v (%.0f pods/s); CPU controller-manager %v, apiserver %v; loadavg %s",
		deployments, replicas, created.Round(time.Millisecond), q1.Round(time.Millisecond), p50.Round(time.Millisecond),
		p90.Round(time.Millisecond), want, all.Round(time.Millisecond), float64(want)/all.Seconds(), cpuCM, cpuAPI,
		strings.TrimSpace(string(load)))
	fmt.Printf("BENCH-CM deployments=%d replicas=%d pods=%d creates_s=%.3f p50_s=%.3f p90_s=%.3f all_s=%.3f cpu_cm_s=%.2f cpu_api_s=%.2f flags=%q\n",
		deployments, replicas, want, created.Seconds(), p50.Seconds(), p90.Seconds(), all.Seconds(), cpuCM.Seconds(), cpuAPI.Seconds(),
		strings.Join(extra, " "))
}
