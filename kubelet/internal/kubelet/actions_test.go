package kubelet

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

var (
	running = runtimeapi.ContainerState_CONTAINER_RUNNING
	exited  = runtimeapi.ContainerState_CONTAINER_EXITED
	created = runtimeapi.ContainerState_CONTAINER_CREATED
)

func testPod(policy string, names ...string) *corev1.Pod {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "uid-1"}, Spec: &corev1.PodSpec{RestartPolicy: policy}}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, &corev1.Container{Name: n, Image: "nginx:1.14.2"})
	}
	return p
}

func ctr(pod *corev1.Pod, name, id string, state runtimeapi.ContainerState, exit int32, age int) *containerInfo {
	var spec *corev1.Container
	for _, c := range pod.GetSpec().GetContainers() {
		if c.GetName() == name {
			spec = c
		}
	}
	hash := ""
	if spec != nil {
		hash = containerHash(spec)
	}
	return &containerInfo{ID: id, SandboxID: "sb1", Name: name, State: state, ExitCode: exit, Hash: hash,
		CreatedAt: time.Unix(int64(1000-age), 0)}
}

func readySandbox() []*sandboxInfo {
	return []*sandboxInfo{{ID: "sb1", Ready: true, IPs: []string{"10.88.0.2"}}}
}

type fakeProbes map[string]map[probeKind]probeResult

func (f fakeProbes) Liveness(id string) probeResult  { return f[id][liveness] }
func (f fakeProbes) Readiness(id string) probeResult { return f[id][readiness] }
func (f fakeProbes) Startup(id string) probeResult   { return f[id][startup] }

func TestComputeActions(t *testing.T) {
	always := testPod(RestartAlways, "a", "b")
	never := testPod(RestartNever, "a")
	onFailure := testPod(RestartOnFailure, "a", "b")
	withLiveness := testPod(RestartAlways, "a")
	withLiveness.Spec.Containers[0].LivenessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	changed := testPod(RestartAlways, "a")
	deleting := proto.Clone(always).(*corev1.Pod)
	deleting.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1}

	tests := []struct {
		name   string
		pod    *corev1.Pod
		rt     *podRuntime
		probes probeView
		want   podActions
		kill   []string
	}{
		{
			name: "new pod: sandbox and every container",
			pod:  always, rt: &podRuntime{},
			want: podActions{KillPod: true, CreateSandbox: true, ContainersToStart: []int{0, 1}},
		},
		{
			name: "all running: nothing to do",
			pod:  always, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "a", "c1", running, 0, 1), ctr(always, "b", "c2", running, 0, 1)}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name: "one exited, Always: restart it",
			pod:  always, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "a", "c1", running, 0, 1), ctr(always, "b", "c2", exited, 0, 1)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{1}},
		},
		{
			name: "one missing: start it",
			pod:  always, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "a", "c1", running, 0, 1)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{1}},
		},
		{
			name: "OnFailure: succeeded stays, failed restarts",
			pod:  onFailure, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(onFailure, "a", "c1", exited, 0, 1), ctr(onFailure, "b", "c2", exited, 2, 1)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{1}},
		},
		{
			name: "Never, exited: kill the pod (sandbox), start nothing",
			pod:  never, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(never, "a", "c1", exited, 1, 1)}},
			want: podActions{KillPod: true, SandboxID: "sb1"},
		},
		{
			name: "sandbox died, Always: new sandbox with the next attempt, restart all",
			pod:  always, rt: &podRuntime{Sandboxes: []*sandboxInfo{{ID: "sb1", Attempt: 2}}, Containers: []*containerInfo{ctr(always, "a", "c1", exited, 137, 1), ctr(always, "b", "c2", exited, 137, 1)}},
			want: podActions{KillPod: true, CreateSandbox: true, Attempt: 3, SandboxID: "sb1", ContainersToStart: []int{0, 1}},
		},
		{
			name: "sandbox died, Never, containers ran: no new sandbox",
			pod:  never, rt: &podRuntime{Sandboxes: []*sandboxInfo{{ID: "sb1"}}, Containers: []*containerInfo{ctr(never, "a", "c1", exited, 0, 1)}},
			want: podActions{KillPod: true, Attempt: 1, SandboxID: "sb1"},
		},
		{
			name: "sandbox without an IP: recreate",
			pod:  always, rt: &podRuntime{Sandboxes: []*sandboxInfo{{ID: "sb1", Ready: true}}},
			want: podActions{KillPod: true, CreateSandbox: true, Attempt: 1, SandboxID: "sb1", ContainersToStart: []int{0, 1}},
		},
		{
			name: "two ready sandboxes: start over",
			pod:  always, rt: &podRuntime{Sandboxes: append(readySandbox(), &sandboxInfo{ID: "sb0", Ready: true, IPs: []string{"x"}})},
			want: podActions{KillPod: true, CreateSandbox: true, Attempt: 1, SandboxID: "sb1", ContainersToStart: []int{0, 1}},
		},
		{
			name: "liveness failed: kill and restart",
			pod:  withLiveness, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(withLiveness, "a", "c1", running, 0, 1)}},
			probes: fakeProbes{"c1": {liveness: probeFailure}},
			want:   podActions{SandboxID: "sb1", ContainersToStart: []int{0}},
			kill:   []string{"c1"},
		},
		{
			name: "liveness failed without a probe in the spec: ignored",
			pod:  always, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "a", "c1", running, 0, 1), ctr(always, "b", "c2", running, 0, 1)}},
			probes: fakeProbes{"c1": {liveness: probeFailure}},
			want:   podActions{SandboxID: "sb1"},
		},
		{
			name: "spec changed (hash): kill and restart",
			pod:  changed, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{{ID: "c1", Name: "a", State: running, Hash: "stale"}}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}},
			kill: []string{"c1"},
		},
		{
			name: "container not in spec: killed",
			pod:  testPod(RestartAlways, "a"), rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(testPod(RestartAlways, "a"), "a", "c1", running, 0, 1), {ID: "c9", Name: "old", State: running}}},
			want: podActions{SandboxID: "sb1"},
			kill: []string{"c9"},
		},
		{
			name: "adoption: a stale duplicate instance is killed, the newest kept",
			pod:  testPod(RestartAlways, "a"), rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "a", "c2", running, 0, 1), ctr(always, "a", "c1", running, 0, 5)}},
			want: podActions{SandboxID: "sb1"},
			kill: []string{"c1"},
		},
		{
			name: "created but never started: start a new one",
			pod:  testPod(RestartNever, "a"), rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(never, "a", "c1", created, 0, 1)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}},
		},
		{
			name: "deleting: nothing restarts",
			pod:  deleting, rt: &podRuntime{Sandboxes: readySandbox(), Containers: []*containerInfo{ctr(always, "a", "c1", exited, 0, 1), ctr(always, "b", "c2", exited, 0, 1)}},
			want: podActions{KillPod: true, SandboxID: "sb1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := computeActions(tt.pod, tt.rt, tt.probes)
			var kill []string
			for id := range got.ContainersToKill {
				kill = append(kill, id)
			}
			slices.Sort(kill)
			got.ContainersToKill = nil
			if got.KillPod != tt.want.KillPod || got.CreateSandbox != tt.want.CreateSandbox || got.Attempt != tt.want.Attempt ||
				got.SandboxID != tt.want.SandboxID || !slices.Equal(got.ContainersToStart, tt.want.ContainersToStart) {
				t.Errorf("actions\n got %+v\nwant %+v", got, tt.want)
			}
			if !slices.Equal(kill, tt.kill) {
				t.Errorf("kill %v, want %v", kill, tt.kill)
			}
		})
	}
}

func TestLinuxResources(t *testing.T) {
	c := &corev1.Container{Resources: &corev1.ResourceRequirements{
		Requests: map[string]*metav1.Quantity{"cpu": {String_: "250m"}},
		Limits:   map[string]*metav1.Quantity{"cpu": {String_: "500m"}, "memory": {String_: "128Mi"}},
	}}
	r := linuxResources(c)
	if r.CpuShares != 256 || r.CpuQuota != 50000 || r.CpuPeriod != 100000 || r.MemoryLimitInBytes != 128<<20 {
		t.Errorf("got %v", r)
	}
	if r := linuxResources(&corev1.Container{}); r.CpuShares != 2 || r.CpuQuota != 0 || r.MemoryLimitInBytes != 0 {
		t.Errorf("best effort: got %v", r)
	}
	limitOnly := &corev1.Container{Resources: &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"cpu": {String_: "1"}}}}
	if r := linuxResources(limitOnly); r.CpuShares != 1024 || r.CpuQuota != 100000 {
		t.Errorf("limit only: got %v", r)
	}
	if q := milliCPUToQuota(1, quotaPeriod); q != minQuotaUsecs {
		t.Errorf("tiny quota %d", q)
	}
}

func TestContainerConfig(t *testing.T) {
	pod := testPod(RestartAlways, "web")
	pod.Spec.NodeName = "node-1"
	pod.Spec.TerminationGracePeriodSeconds = proto.Int64(7)
	c := pod.Spec.Containers[0]
	c.Command = []string{"/bin/sh", "-c"}
	c.Args = []string{"echo $(GREETING) from $(POD_IP) $$(NOT) $(UNKNOWN)"}
	c.Env = []*corev1.EnvVar{
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "GREETING", Value: "hello $(NODE)"},
	}
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"nginx", "-s", "quit"}}}}
	cfg, err := containerConfig(context.Background(), pod, c, 3, "nginx:1.14.2", envContext{PodIPs: []string{"10.244.1.5"}, HostIPs: []string{"192.168.1.10"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Args[0], "echo hello node-1 from 10.244.1.5 $(NOT) $(UNKNOWN)"; got != want {
		t.Errorf("args %q, want %q", got, want)
	}
	if cfg.LogPath != "web/3.log" || cfg.Metadata.Attempt != 3 {
		t.Errorf("log path %q attempt %d", cfg.LogPath, cfg.Metadata.Attempt)
	}
	if cfg.Labels["io.kubernetes.container.name"] != "web" || cfg.Labels["io.kubernetes.pod.uid"] != "uid-1" {
		t.Errorf("labels %v", cfg.Labels)
	}
	if cfg.Annotations["io.kubernetes.container.restartCount"] != "3" || cfg.Annotations["io.kubernetes.pod.terminationGracePeriod"] != "7" {
		t.Errorf("annotations %v", cfg.Annotations)
	}
	// What the runtime hands back is read back by the kubelet (adoption).
	info := containerFromStatus(&runtimeapi.ContainerStatus{Id: "c1", Labels: cfg.Labels, Annotations: cfg.Annotations, Metadata: cfg.Metadata}, "sb")
	if info.RestartCount != 3 || info.GracePeriod != 7 || !slices.Equal(info.PreStop, []string{"nginx", "-s", "quit"}) || info.Hash != containerHash(c) {
		t.Errorf("read back %+v", info)
	}
}

func TestSandboxConfig(t *testing.T) {
	pod := testPod(RestartAlways, "web")
	pod.Metadata.Labels = map[string]string{"app": "web"}
	pod.Spec.Containers[0].Ports = []*corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}, {ContainerPort: 53, Protocol: "UDP"}}
	host := parseResolvConf([]byte("# comment\nnameserver 192.168.1.1\nsearch lan example.com\noptions edns0\n"))
	cfg := sandboxConfig(pod, 2, sandboxOptions{PodLogRoot: "/var/log/pods", HostDNS: host})
	if cfg.LogDirectory != "/var/log/pods/default_p_uid-1" || cfg.Hostname != "p" || cfg.Metadata.Attempt != 2 || cfg.Metadata.Uid != "uid-1" {
		t.Errorf("config %v", cfg)
	}
	if len(cfg.PortMappings) != 1 || cfg.PortMappings[0].HostPort != 8080 {
		t.Errorf("port mappings %v", cfg.PortMappings)
	}
	if cfg.Labels["app"] != "web" || cfg.Labels["io.kubernetes.pod.name"] != "p" {
		t.Errorf("labels %v", cfg.Labels)
	}
	if !slices.Equal(cfg.DnsConfig.Servers, []string{"192.168.1.1"}) || !slices.Equal(cfg.DnsConfig.Searches, []string{"lan", "example.com"}) {
		t.Errorf("dns %v", cfg.DnsConfig)
	}
	cluster := sandboxConfig(pod, 0, sandboxOptions{HostDNS: host, ClusterDNS: []string{"10.96.0.10"}})
	if !slices.Equal(cluster.DnsConfig.Servers, []string{"10.96.0.10"}) || cluster.DnsConfig.Searches[0] != "default.svc.cluster.local" {
		t.Errorf("cluster dns %v", cluster.DnsConfig)
	}
}

func TestPullPolicy(t *testing.T) {
	for img, want := range map[string]string{
		"nginx": "Always", "nginx:latest": "Always", "nginx:1.14.2": "IfNotPresent",
		"localhost:5000/nginx": "Always", "localhost:5000/nginx:1": "IfNotPresent", "nginx@sha256:abc": "IfNotPresent",
	} {
		if got := pullPolicy(&corev1.Container{Image: img}); got != want {
			t.Errorf("%s: %s, want %s", img, got, want)
		}
	}
}
