package kubelet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/kubelet/internal/kubelet"
	"kubelab.io/kubelet/internal/server"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// e2eEnv is an apiserver (in-process, embedded etcd) and one kubelet for node on the
// machine's real containerd, with the node Ready.
type e2eEnv struct {
	t    *testing.T
	ctx  context.Context
	cs   *kube.Clientset
	rt   *krt.Remote
	node string
	cfg  kubelet.Config
	k    *kubelet.Kubelet
	stop func() // stops the kubelet (abruptly: its context ends)
}

func e2eLog() *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("KUBELAB_TEST_LOG") == "" {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startE2E skips unless the node runtime is there; tweak adjusts the kubelet's config.
func startE2E(t *testing.T, node string, timeout time.Duration, tweak func(*kubelet.Config)) *e2eEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: -short")
	}
	pc := privateContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	rt, err := krt.NewRemote("unix://"+pc.Socket, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	if _, err := rt.Version(ctx); err != nil {
		t.Skipf("e2e: containerd does not answer CRI Version: %v", err)
	}
	srv := apiservertest.Start(t)
	e := &e2eEnv{t: t, ctx: ctx, cs: srv.Clientset(true), rt: rt, node: node}
	e.cfg = kubelet.Config{
		NodeName: node, Client: e.cs, Runtime: rt, RegisterNode: true, Log: e2eLog(),
		CNIConfDir: pc.CNIConfDir, CNIBridge: e2eBridge, PodLogDir: "/var/log/pods", RootDir: t.TempDir(),
		NodeStatusUpdateFrequency: 2 * time.Second, Preload: pc.Preload,
	}
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.startKubelet()
	t.Cleanup(func() { e.removeLeftovers() })
	t.Cleanup(func() { e.stop() }) // runs first

	// The node IPAM controller's part: give the node its podCIDR.
	wait(t, 20*time.Second, "node registered with a podCIDR", func() (bool, string) {
		n, err := e.cs.Nodes().Get(ctx, node)
		if err != nil {
			return false, err.Error()
		}
		if n.GetSpec().GetPodCIDR() != "" {
			return true, ""
		}
		upd := proto.Clone(n).(*corev1.Node)
		upd.Spec.PodCIDR, upd.Spec.PodCIDRs = e2ePodCIDR, []string{e2ePodCIDR}
		_, err = e.cs.Nodes().Update(ctx, upd)
		return err == nil, fmt.Sprint(err)
	})
	e.waitNodeReady(60 * time.Second)
	return e
}

// sub is e for the subtest t (its helpers fail t, not the parent).
func (e *e2eEnv) sub(t *testing.T) *e2eEnv {
	c := *e
	c.t = t
	return &c
}

func (e *e2eEnv) startKubelet() {
	k, err := kubelet.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.k = k
	kctx, kcancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(kctx) }()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		kcancel()
		if err := <-done; err != nil {
			e.t.Errorf("kubelet: %v", err)
		}
	}
}

func (e *e2eEnv) waitNodeReady(timeout time.Duration) {
	e.t.Helper()
	wait(e.t, timeout, "node Ready", func() (bool, string) {
		n, err := e.cs.Nodes().Get(e.ctx, e.node)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.GetStatus().GetConditions() {
			if c.GetType() == "Ready" {
				return c.GetStatus() == "True", c.GetMessage()
			}
		}
		return false, "no Ready condition"
	})
}

// removeLeftovers removes what a failed test left in containerd for this node.
func (e *e2eEnv) removeLeftovers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := map[string]string{krt.LabelNodeName: e.node}
	ctrs, _ := e.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	for _, c := range ctrs {
		_ = e.rt.StopContainer(ctx, c.GetId(), 0)
		_ = e.rt.RemoveContainer(ctx, c.GetId())
	}
	sbs, _ := e.rt.ListPodSandboxes(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	for _, s := range sbs {
		_ = e.rt.StopPodSandbox(ctx, s.GetId())
		_ = e.rt.RemovePodSandbox(ctx, s.GetId())
	}
	if len(ctrs)+len(sbs) > 0 {
		e.t.Logf("removed leftovers of node %s: %d containers, %d sandboxes", e.node, len(ctrs), len(sbs))
	}
}

// nginx is a pod of one nginx:1.14.2 container bound to the env's node (no scheduler).
func (e *e2eEnv) nginx(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	e.t.Helper()
	pod := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: &corev1.PodSpec{
			NodeName: e.node, TerminationGracePeriodSeconds: proto.Int64(10),
			Containers: []*corev1.Container{{
				Name: "nginx", Image: "nginx:1.14.2", ImagePullPolicy: "IfNotPresent",
				Ports: []*corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}},
			}},
		},
	}
	if mutate != nil {
		mutate(pod)
	}
	created, err := e.cs.Pods("default").Create(e.ctx, pod)
	if err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
	return created
}

func (e *e2eEnv) pod(name string) *corev1.Pod {
	p, err := e.cs.Pods("default").Get(e.ctx, name)
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return p
}

func podCondition(p *corev1.Pod, typ string) string {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == typ {
			return c.GetStatus()
		}
	}
	return ""
}

func (e *e2eEnv) waitRunningReady(name string, timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	var p *corev1.Pod
	wait(e.t, timeout, "pod "+name+" Running and Ready", func() (bool, string) {
		p = e.pod(name)
		return p.GetStatus().GetPhase() == "Running" && podCondition(p, "Ready") == "True" && p.GetStatus().GetPodIP() != "", fmt.Sprint(p.GetStatus())
	})
	return p
}

// deleteAndWait deletes pods gracefully and waits until the kubelet confirmed it.
func (e *e2eEnv) deleteAndWait(timeout time.Duration, names ...string) {
	e.t.Helper()
	for _, n := range names {
		if _, err := e.cs.Pods("default").Delete(e.ctx, n, nil); err != nil && !apierrors.IsNotFound(err) {
			e.t.Fatal(err)
		}
	}
	for _, n := range names {
		wait(e.t, timeout, "pod "+n+" deleted", func() (bool, string) {
			_, err := e.cs.Pods("default").Get(e.ctx, n)
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	}
}

// events are the reasons and messages of the events about pod name.
func (e *e2eEnv) events(name string) []string {
	evs, err := e.cs.Events("default").List(e.ctx, transport.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs.GetItems() {
		if ev.GetInvolvedObject().GetName() == name {
			out = append(out, ev.GetReason()+": "+ev.GetMessage())
		}
	}
	return out
}

func hasEvent(evs []string, prefix string) bool {
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// containerIDOf is the runtime id of the pod's (only) container.
func containerIDOf(p *corev1.Pod) string {
	s := p.GetStatus().GetContainerStatuses()
	if len(s) == 0 {
		return ""
	}
	return strings.TrimPrefix(s[0].GetContainerID(), "containerd://")
}

// kubeletServer serves k's API on a loopback port through the production server
// (HTTPS, client certificates from a fresh CA) and returns its address and a client
// authenticated as the apiserver's kubelet client.
func kubeletServer(t *testing.T, k *kubelet.Kubelet) (addr string, client *http.Client) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: server.APIServerUser},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Handler: k.Handler(), ClientCAFile: caFile, SelfSignedDir: filepath.Join(dir, "pki"),
		Hosts: []string{"127.0.0.1"}, Log: e2eLog()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	servingPEM, err := os.ReadFile(filepath.Join(dir, "pki", "kubelet.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingPEM)
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}}}
	return ln.Addr().String(), client
}
