package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestEnabledControllers(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		want    []string
		wantErr bool
	}{
		{"*", []string{"clusterrole-aggregation", "cronjob", "daemonset", "deployment", "disruption", "endpoint", "endpointslice", "ephemeral-volume", "garbagecollector", "job", "local-path-provisioner", "namespace", "nodeipam",
			"nodelifecycle", "persistentvolume-binder", "pod-garbage-collector", "pv-protection", "pvc-protection", "replicaset", "resourcequota", "root-ca-cert-publisher", "serviceaccount", "statefulset", "ttl-after-finished"}, false},
		{"*,-nodeipam,-garbagecollector,-root-ca-cert-publisher,-clusterrole-aggregation,-endpoint,-endpointslice,-pod-garbage-collector,-pv-protection,-pvc-protection,-persistentvolume-binder,-ephemeral-volume,-local-path-provisioner", []string{"cronjob", "daemonset", "deployment", "disruption", "job",
			"namespace", "nodelifecycle", "replicaset", "resourcequota", "serviceaccount", "statefulset", "ttl-after-finished"}, false},
		{"replicaset", []string{"replicaset"}, false},
		{"replicaset,deployment", []string{"deployment", "replicaset"}, false},
		{"replicaset,-replicaset", nil, false},
		{"", nil, false},
		{"bogus", nil, true},
		{"*,-bogus", nil, true},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := EnabledControllers(tc.spec)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("EnabledControllers(%q) = %v, %v; want %v (error %v)", tc.spec, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	le := o.leaderElection
	if !le.LeaderElect || !o.grpc || o.controllers != "*" || o.securePort != 10257 || le.LeaseDuration != 15*time.Second ||
		le.RenewDeadline != 10*time.Second || le.RetryPeriod != 2*time.Second || le.ResourceNamespace != "kube-system" || le.ResourceName != "kube-controller-manager" ||
		o.controllerOp.ConcurrentReplicaSetSyncs != 5 || o.controllerOp.ClusterCIDR != "10.244.0.0/16" || o.controllerOp.NodeMonitorGracePeriod != 40*time.Second ||
		o.controllerOp.ConcurrentResourceQuotaSyncs != 5 || o.controllerOp.ResourceQuotaSyncPeriod != 5*time.Minute ||
		o.controllerOp.NodeEvictionRate != 0.1 || o.controllerOp.SecondaryNodeEvictionRate != 0.01 ||
		o.controllerOp.LargeClusterSizeThreshold != 50 || o.controllerOp.UnhealthyZoneThreshold != 0.55 ||
		o.controllerOp.ConcurrentServiceEndpointSyncs != 5 || o.controllerOp.ConcurrentEndpointSyncs != 5 || o.controllerOp.MaxEndpointsPerSlice != 100 ||
		o.controllerOp.EndpointUpdatesBatchPeriod != 0 || o.controllerOp.EndpointSliceUpdatesBatchPeriod != 0 ||
		o.controllerOp.ConcurrentDaemonSetSyncs != 2 || o.controllerOp.ConcurrentStatefulSetSyncs != 5 ||
		o.controllerOp.TerminatedPodGCThreshold != 12500 {
		t.Fatalf("defaults = %+v", o)
	}
	o, err = parseFlags([]string{"--concurrent-replicaset-syncs=2", "--cluster-cidr=10.8.0.0/16", "--node-cidr-mask-size=26",
		"--node-monitor-grace-period=10s", "--default-unreachable-toleration-seconds=30", "--leader-elect=false", "--grpc=false",
		"--concurrent-resource-quota-syncs=3", "--resource-quota-sync-period=30s",
		"--node-eviction-rate=0.5", "--secondary-node-eviction-rate=0.05", "--large-cluster-size-threshold=10", "--unhealthy-zone-threshold=0.4",
		"--concurrent-service-endpoint-syncs=7", "--concurrent-endpoint-syncs=3", "--max-endpoints-per-slice=50", "--endpointslice-updates-batch-period=500ms",
		"--concurrent-daemonset-syncs=4", "--concurrent-statefulset-syncs=3", "--terminated-pod-gc-threshold=0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	co := o.controllerOp
	if co.ConcurrentReplicaSetSyncs != 2 || co.ClusterCIDR != "10.8.0.0/16" || co.NodeCIDRMaskSize != 26 || co.NodeMonitorGracePeriod != 10*time.Second ||
		co.DefaultUnreachableTolerationSeconds != 30 || o.leaderElection.LeaderElect || o.grpc ||
		co.ConcurrentResourceQuotaSyncs != 3 || co.ResourceQuotaSyncPeriod != 30*time.Second ||
		co.NodeEvictionRate != 0.5 || co.SecondaryNodeEvictionRate != 0.05 || co.LargeClusterSizeThreshold != 10 || co.UnhealthyZoneThreshold != 0.4 ||
		co.ConcurrentServiceEndpointSyncs != 7 || co.ConcurrentEndpointSyncs != 3 || co.MaxEndpointsPerSlice != 50 || co.EndpointSliceUpdatesBatchPeriod != 500*time.Millisecond ||
		co.ConcurrentDaemonSetSyncs != 4 || co.ConcurrentStatefulSetSyncs != 3 || co.TerminatedPodGCThreshold != 0 {
		t.Fatalf("parsed = %+v", o)
	}
	for _, bad := range [][]string{
		{"--leader-elect-lease-duration=1s", "--leader-elect-renew-deadline=2s"},
		{"--concurrent-gc-syncs=0"},
		{"--concurrent-resource-quota-syncs=0"},
		{"--resource-quota-sync-period=-1s"},
		{"--cluster-cidr=nonsense"},
		{"--node-eviction-rate=-1"},
		{"--unhealthy-zone-threshold=0"},
		{"--unhealthy-zone-threshold=1.5"},
		{"--max-endpoints-per-slice=0"},
		{"--max-endpoints-per-slice=1001"},
		{"--concurrent-service-endpoint-syncs=51"},
		{"--concurrent-endpoint-syncs=0"},
		{"--concurrent-daemonset-syncs=0"},
		{"--concurrent-statefulset-syncs=0"},
		{"--endpoint-updates-batch-period=-1s"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
	if err := Run(context.Background(), []string{"--controllers=bogus", "--kubeconfig=/nonexistent"}, io.Discard); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("Run with a bad --controllers: %v", err)
	}
}

// TestRootCA: --root-ca-file wins and must hold certificates; without it the kubeconfig's
// certificate-authority file is read; a kubeconfig without a CA is refused, not published
// empty.
func TestRootCA(t *testing.T) {
	dir := t.TempDir()
	fileCA, kubeconfigCA := controllertest.CACert(t, "file-ca"), controllertest.CACert(t, "kubeconfig-ca")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, kcCAFile, notPEM := write("ca.crt", fileCA), write("kc-ca.crt", kubeconfigCA), write("bad.crt", []byte("not a certificate"))
	kubeconfigWith := func(name, ca string) string {
		p := filepath.Join(dir, name)
		cfg := &kubeconfig.Config{
			Clusters:       []kubeconfig.NamedCluster{{Name: "c", Cluster: kubeconfig.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthority: ca}}},
			Users:          []kubeconfig.NamedUser{{Name: "u", User: kubeconfig.AuthInfo{Token: "t"}}},
			Contexts:       []kubeconfig.NamedContext{{Name: "x", Context: kubeconfig.Context{Cluster: "c", User: "u"}}},
			CurrentContext: "x",
		}
		if err := kubeconfig.Write(p, cfg); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withCA, withoutCA := kubeconfigWith("with", kcCAFile), kubeconfigWith("without", "")
	for _, tc := range []struct {
		name, kubeconfig, rootCAFile string
		want                         []byte
		wantErr                      string
	}{
		{"flag", withCA, caFile, fileCA, ""},
		{"kubeconfig", withCA, "", kubeconfigCA, ""},
		{"bad flag", withCA, notPEM, nil, "error parsing root-ca-file at " + notPEM + ": the CA bundle holds no PEM certificate"},
		{"no CA anywhere", withoutCA, "", nil, "set --root-ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags([]string{"--kubeconfig", tc.kubeconfig, "--root-ca-file", tc.rootCAFile}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.rootCA()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("rootCA() error = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("rootCA() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// syncBuffer is a goroutine-safe log sink.
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

// instance is one in-process controller-manager.
type instance struct {
	name    string
	cancel  context.CancelFunc
	started chan struct{} // closed when its informers and controllers start
	done    chan struct{} // closed when Run returned, with err set
	err     error
	log     *syncBuffer
}

func startInstance(t *testing.T, srv *apiservertest.Server, name string, extra ...string) *instance {
	t.Helper()
	args := append([]string{
		"--kubeconfig", srv.Kubeconfig(), "--grpc-address", srv.GRPCAddr(), "--secure-port", "0",
		"--controllers", "replicaset", "--log-level", "debug",
		"--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "1500ms", "--leader-elect-retry-period", "300ms",
	}, extra...)
	o, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, started: make(chan struct{}), done: make(chan struct{}), log: &syncBuffer{}}
	o.leaderElection.Identity = name
	var once sync.Once
	o.started = func() { once.Do(func() { close(in.started) }) }
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.err = o.run(ctx, in.log); close(in.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-in.done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", name)
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, in.log.String())
		}
	})
	return in
}

func (in *instance) isStarted() bool {
	select {
	case <-in.started:
		return true
	default:
		return false
	}
}

func podCount(t *testing.T, cs *kube.Clientset, selector string) int {
	t.Helper()
	l, err := cs.Pods("default").List(context.Background(), transport.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range l.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			n++
		}
	}
	return n
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: &appsv1.ReplicaSetSpec{
			Replicas: proto.Int32(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}},
			},
		},
	}
}

func leaseHolder(t *testing.T, cs *kube.Clientset) string {
	t.Helper()
	l, err := cs.Leases("kube-system").Get(context.Background(), "kube-controller-manager")
	if err != nil {
		return ""
	}
	return l.GetSpec().GetHolderIdentity()
}

func TestLeaderElection(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	a := startInstance(t, srv, "cm-a")
	b := startInstance(t, srv, "cm-b")

	var leader, standby *instance
	controllertest.Eventually(t, "a leader", func() (bool, string) {
		switch {
		case a.isStarted():
			leader, standby = a, b
		case b.isStarted():
			leader, standby = b, a
		}
		return leader != nil, "none started"
	})
	if h := leaseHolder(t, cs); h != leader.name {
		t.Fatalf("lease holder %q, leader %q", h, leader.name)
	}
	if _, err := cs.ReplicaSets("default").Create(context.Background(), newRS("web", 2)); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "2 pods", func() (bool, string) {
		n := podCount(t, cs, "app=web")
		return n == 2, fmt.Sprintf("%d pods", n)
	})
	if standby.isStarted() {
		t.Fatal("the standby started its informers and controllers")
	}
	if strings.Contains(standby.log.String(), "starting controller") {
		t.Fatal("the standby logged a controller start")
	}

	// Hand over: the standby must lead within the lease duration.
	stopped := time.Now()
	leader.cancel()
	<-leader.done
	if leader.err != nil {
		t.Fatalf("cancelled leader: %v", leader.err)
	}
	select {
	case <-standby.started:
	case <-time.After(2*time.Second + time.Second): // lease duration, plus one retry period of slack and jitter
		t.Fatalf("no handover within the lease duration")
	}
	t.Logf("handover took %v", time.Since(stopped))
	if h := leaseHolder(t, cs); h != standby.name {
		t.Fatalf("lease holder %q after handover, want %q", h, standby.name)
	}
	rs, err := cs.ReplicaSets("default").Get(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	rs.Spec.Replicas = proto.Int32(4)
	if _, err := cs.ReplicaSets("default").Update(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "4 pods under the new leader", func() (bool, string) {
		n := podCount(t, cs, "app=web")
		return n == 4, fmt.Sprintf("%d pods", n)
	})
}

func TestLosingTheLeaseExits(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	a := startInstance(t, srv, "cm-a")
	select {
	case <-a.started:
	case <-time.After(10 * time.Second):
		t.Fatal("did not lead")
	}
	// Another replica takes the lease (as after a partition): a must give up and exit.
	// The leader renews every retry period, so the takeover may race a renewal: retry on
	// conflict, as any writer of a contended object must.
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		l, err := cs.Leases("kube-system").Get(context.Background(), "kube-controller-manager")
		if err != nil {
			return err
		}
		l.Spec.HolderIdentity = proto.String("intruder")
		_, err = cs.Leases("kube-system").Update(context.Background(), l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
		if a.err == nil || !strings.Contains(a.err.Error(), "leaderelection lost") {
			t.Fatalf("Run returned %v, want leaderelection lost", a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running after losing the lease")
	}
}

func TestHealthAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := apiservertest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	in := startInstance(t, srv, "solo", "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port))
	select {
	case <-in.started:
	case <-time.After(10 * time.Second):
		t.Fatal("did not start")
	}
	get := func(path string) string {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(body)
	}
	if got := get("/healthz"); got != "ok" {
		t.Fatalf("/healthz = %q", got)
	}
	if got := get("/metrics"); !strings.Contains(got, `workqueue_adds_total{name="replicaset"}`) {
		t.Fatalf("/metrics lacks the replicaset queue:\n%.2000s", got)
	}
	in.cancel()
	<-in.done
	if in.err != nil {
		t.Fatalf("Run: %v", in.err)
	}
}
