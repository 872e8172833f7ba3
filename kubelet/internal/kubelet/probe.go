package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

type probeKind int

const (
	liveness probeKind = iota
	readiness
	startup
)

func (k probeKind) String() string {
	return [...]string{"Liveness", "Readiness", "Startup"}[k]
}

func probeOf(c *corev1.Container, k probeKind) *corev1.Probe {
	switch k {
	case liveness:
		return c.GetLivenessProbe()
	case readiness:
		return c.GetReadinessProbe()
	}
	return c.GetStartupProbe()
}

// probeTarget is what a probe worker sees of its container at one tick.
type probeTarget struct {
	ContainerID string
	Running     bool
	StartedAt   time.Time
	// Started: the startup probe (if any) has succeeded.
	Started bool
}

// probeState is one probe worker's memory, and the pure heart of probing (upstream's
// prober worker.doProbe): when to probe, and when a run of outcomes becomes a result.
type probeState struct {
	Kind        probeKind
	ContainerID string
	LastResult  probeResult
	ResultRun   int
	OnHold      bool
}

func initialResult(k probeKind) probeResult {
	switch k {
	case liveness:
		return probeSuccess
	case readiness:
		return probeFailure
	}
	return probeUnknown
}

func withDefaults(p *corev1.Probe) (period, timeout time.Duration, success, failure int) {
	period, timeout, success, failure = 10*time.Second, time.Second, 1, 3
	if p.GetPeriodSeconds() > 0 {
		period = time.Duration(p.GetPeriodSeconds()) * time.Second
	}
	if p.GetTimeoutSeconds() > 0 {
		timeout = time.Duration(p.GetTimeoutSeconds()) * time.Second
	}
	if p.GetSuccessThreshold() > 0 {
		success = int(p.GetSuccessThreshold())
	}
	if p.GetFailureThreshold() > 0 {
		failure = int(p.GetFailureThreshold())
	}
	return
}

// prepare decides whether to run the probe at now. set is a result to record before
// (a new container starts from the kind's initial result).
func (s *probeState) prepare(t probeTarget, p *corev1.Probe, now time.Time) (run bool, set *probeResult) {
	if !t.Running || t.ContainerID == "" {
		return false, nil
	}
	if t.ContainerID != s.ContainerID {
		s.ContainerID, s.LastResult, s.ResultRun, s.OnHold = t.ContainerID, probeUnknown, 0, false
		r := initialResult(s.Kind)
		set = &r
	}
	if s.OnHold {
		return false, set
	}
	if s.Kind == startup && t.Started {
		return false, set // done: the startup probe never runs again for this container
	}
	if s.Kind != startup && !t.Started {
		return false, set // gated by the startup probe
	}
	if now.Sub(t.StartedAt) < time.Duration(p.GetInitialDelaySeconds())*time.Second {
		return false, set
	}
	return true, set
}

// observe records one probe outcome and returns the result to record when the run of
// equal outcomes reaches its threshold.
func (s *probeState) observe(outcome probeResult, p *corev1.Probe) *probeResult {
	if outcome == s.LastResult {
		s.ResultRun++
	} else {
		s.LastResult, s.ResultRun = outcome, 1
	}
	_, _, success, failure := withDefaults(p)
	if s.Kind != readiness {
		success = 1
	}
	if (outcome == probeFailure && s.ResultRun < failure) || (outcome == probeSuccess && s.ResultRun < success) {
		return nil
	}
	if outcome == probeFailure && s.Kind != readiness {
		// The container is about to be killed: stop probing it until a new one runs.
		s.OnHold, s.ResultRun = true, 0
	}
	return &outcome
}

// handler is a probe's or hook's action.
type handler struct {
	Exec      *corev1.ExecAction
	HTTPGet   *corev1.HTTPGetAction
	TCPSocket *corev1.TCPSocketAction
	Sleep     *corev1.SleepAction
}

func probeHandler(p *corev1.Probe) handler {
	return handler{Exec: p.GetExec(), HTTPGet: p.GetHttpGet(), TCPSocket: p.GetTcpSocket()}
}

func hookHandler(h *corev1.LifecycleHandler) handler {
	return handler{Exec: h.GetExec(), HTTPGet: h.GetHttpGet(), TCPSocket: h.GetTcpSocket(), Sleep: h.GetSleep()}
}

// actionRunner runs probes and lifecycle hooks: exec through the runtime's ExecSync,
// httpGet and tcpSocket over the network to the pod IP.
type actionRunner struct {
	rt     krt.Runtime
	clock  clock.Clock
	dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newActionRunner(rt krt.Runtime, clk clock.Clock) *actionRunner {
	d := &net.Dialer{}
	return &actionRunner{rt: rt, clock: clk, dialer: d.DialContext}
}

func resolvePort(port *metav1.IntOrString, c *corev1.Container) (int, error) {
	if port.GetType() == 0 {
		if port.GetIntVal() <= 0 {
			return 0, fmt.Errorf("invalid port %d", port.GetIntVal())
		}
		return int(port.GetIntVal()), nil
	}
	if n, err := strconv.Atoi(port.GetStrVal()); err == nil {
		return n, nil
	}
	for _, p := range c.GetPorts() {
		if p.GetName() == port.GetStrVal() {
			return int(p.GetContainerPort()), nil
		}
	}
	return 0, fmt.Errorf("no port named %q in container %s", port.GetStrVal(), c.GetName())
}

// run runs h against container c (id containerID) of a pod at podIP, and reports success
// and a message explaining a failure.
func (r *actionRunner) run(ctx context.Context, h handler, c *corev1.Container, containerID, podIP string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		out, errOut, code, err := r.rt.ExecSync(ctx, containerID, h.Exec.GetCommand(), timeout)
		if err != nil {
			return false, err.Error()
		}
		if code != 0 {
			return false, fmt.Sprintf("command %q exited with %d: %s", strings.Join(h.Exec.GetCommand(), " "), code, strings.TrimSpace(string(out)+string(errOut)))
		}
		return true, ""
	case h.HTTPGet != nil:
		g := h.HTTPGet
		port, err := resolvePort(g.GetPort(), c)
		if err != nil {
			return false, err.Error()
		}
		host := g.GetHost()
		if host == "" {
			host = podIP
		}
		scheme := strings.ToLower(g.GetScheme())
		if scheme == "" {
			scheme = "http"
		}
		path := g.GetPath()
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
		target := u.String() + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("User-Agent", "kube-probe/1.32")
		for _, hd := range g.GetHttpHeaders() {
			req.Header.Set(hd.GetName(), hd.GetValue())
		}
		client := &http.Client{Transport: &http.Transport{
			DialContext:       r.dialer,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as Kubernetes' prober: the pod's cert is not checked
			DisableKeepAlives: true,
		}}
		resp, err := client.Do(req)
		if err != nil {
			return false, fmt.Sprintf("Get %q: %v", target, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return true, ""
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.GetPort(), c)
		if err != nil {
			return false, err.Error()
		}
		host := h.TCPSocket.GetHost()
		if host == "" {
			host = podIP
		}
		conn, err := r.dialer(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-r.clock.After(time.Duration(h.Sleep.GetSeconds()) * time.Second):
		}
		return true, ""
	}
	return false, "no action"
}

// probeResults holds the probes' latest results by container id. Safe for concurrent use.
type probeResults struct {
	mu sync.Mutex
	m  map[string]map[probeKind]probeResult
}

func newProbeResults() *probeResults {
	return &probeResults{m: map[string]map[probeKind]probeResult{}}
}

func (r *probeResults) get(id string, k probeKind) probeResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id][k]
}

// set records a result and reports whether it changed.
func (r *probeResults) set(id string, k probeKind, v probeResult) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[id] == nil {
		r.m[id] = map[probeKind]probeResult{}
	}
	old, ok := r.m[id][k]
	r.m[id][k] = v
	return !ok || old != v
}

func (r *probeResults) forget(ids map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.m {
		if !ids[id] {
			delete(r.m, id)
		}
	}
}

func (r *probeResults) Liveness(id string) probeResult  { return r.get(id, liveness) }
func (r *probeResults) Readiness(id string) probeResult { return r.get(id, readiness) }
func (r *probeResults) Startup(id string) probeResult   { return r.get(id, startup) }

type probeKey struct {
	uid, container string
	kind           probeKind
}

// probeManager runs one worker goroutine per probe of every running pod. Workers read
// their container's state through target and report result changes through onChange.
type probeManager struct {
	results  *probeResults
	runner   *actionRunner
	clock    clock.WithTicker
	target   func(uid, container string) (probeTarget, string)
	onChange func(uid string)
	recorder func(pod *corev1.Pod, kind probeKind, c *corev1.Container, msg string)

	mu      sync.Mutex
	workers map[probeKey]context.CancelFunc
}

// addPod starts the workers of pod's probes not yet running.
func (m *probeManager) addPod(ctx context.Context, pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid := pod.GetMetadata().GetUid()
	for _, c := range probedContainers(pod) {
		for _, k := range []probeKind{liveness, readiness, startup} {
			p := probeOf(c, k)
			key := probeKey{uid, c.GetName(), k}
			if p == nil || m.workers[key] != nil {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			m.workers[key] = cancel
			go m.work(wctx, pod, c, k, p)
		}
	}
}

// probedContainers are the containers of pod whose probes run: the app containers and
// the sidecars (a regular init container's probes are not allowed).
func probedContainers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for _, c := range pod.GetSpec().GetInitContainers() {
		if isSidecar(c) {
			out = append(out, c)
		}
	}
	return append(out, pod.GetSpec().GetContainers()...)
}

// removePod stops pod's workers.
func (m *probeManager) removePod(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, cancel := range m.workers {
		if k.uid == uid {
			cancel()
			delete(m.workers, k)
		}
	}
}

func (m *probeManager) work(ctx context.Context, pod *corev1.Pod, c *corev1.Container, k probeKind, p *corev1.Probe) {
	period, timeout, _, _ := withDefaults(p)
	uid := pod.GetMetadata().GetUid()
	st := &probeState{Kind: k}
	ticker := m.clock.NewTicker(period)
	defer ticker.Stop()
	for {
		t, podIP := m.target(uid, c.GetName())
		run, set := st.prepare(t, p, m.clock.Now())
		if set != nil && m.results.set(t.ContainerID, k, *set) {
			m.onChange(uid)
		}
		if run {
			ok, msg := m.runner.run(ctx, probeHandler(p), c, t.ContainerID, podIP, timeout)
			if ctx.Err() != nil {
				return
			}
			outcome := probeSuccess
			if !ok {
				outcome = probeFailure
				if m.recorder != nil {
					m.recorder(pod, k, c, msg)
				}
			}
			if r := st.observe(outcome, p); r != nil && m.results.set(t.ContainerID, k, *r) {
				m.onChange(uid)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}
