// End-to-end test of the kubelet on the real containerd of this machine (hack/node): an
// nginx pod bound to the node runs, answers HTTP 200 on its pod IP, logs the request,
// and leaves no sandbox behind once deleted. It skips, saying why, where the node
// runtime is not available (not root, no containerd, no images).
package kubelet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/kubelet/internal/kubelet"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

const (
	criSocket  = "/run/kubelab/containerd/containerd.sock"
	e2eNode    = "kubelab-e2e"
	e2eBridge  = "kle2e0"
	e2ePodCIDR = "10.244.250.0/24"
	cniDir     = "/etc/cni/net.d"
)

// nodeRuntime makes sure containerd (and the local registry it pulls from) run, starting
// what is down with hack/node's scripts and stopping it again when the test ends.
func nodeRuntime(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("e2e: needs root to run containerd pods")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	script := func(name string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(repo, "hack/node", name), args...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if _, err := os.Stat(filepath.Join(repo, "hack/node/containerd.sh")); err != nil {
		t.Skip("e2e: hack/node/containerd.sh is missing")
	}
	if _, err := script("registry.sh", "status"); err != nil {
		if out, err := script("registry.sh", "start"); err != nil {
			t.Skipf("e2e: the local registry does not start: %v\n%s", err, out)
		}
		t.Cleanup(func() { _, _ = script("registry.sh", "stop") })
	}
	if out, err := script("registry.sh", "push"); err != nil {
		t.Skipf("e2e: pushing the offline images failed (make images?): %v\n%s", err, out)
	}
	if _, err := os.Stat(criSocket); err != nil {
		if out, err := script("containerd.sh", "start"); err != nil {
			t.Skipf("e2e: %s is missing and hack/node/containerd.sh start failed: %v\n%s", criSocket, err, out)
		}
		t.Cleanup(func() { _, _ = script("containerd.sh", "stop") })
	} else if _, err := script("containerd.sh", "status"); err != nil {
		if out, err := script("containerd.sh", "start"); err != nil {
			t.Skipf("e2e: containerd does not answer on %s and does not start: %v\n%s", criSocket, err, out)
		}
		t.Cleanup(func() { _, _ = script("containerd.sh", "stop") })
	}
}

// keepCNIConfig restores the node's CNI configuration file as it was before the test.
func keepCNIConfig(t *testing.T) {
	path := filepath.Join(cniDir, "10-kubelab.conflist")
	old, err := os.ReadFile(path)
	existed := err == nil
	t.Cleanup(func() {
		if existed {
			_ = os.WriteFile(path, old, 0o644)
		} else {
			_ = os.Remove(path)
		}
	})
}

func TestE2ENginxOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short")
	}
	nodeRuntime(t)
	keepCNIConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rt, err := krt.NewRemote("unix://"+criSocket, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.Version(ctx); err != nil {
		t.Skipf("e2e: containerd does not answer CRI Version: %v", err)
	}

	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	level := slog.LevelInfo
	if os.Getenv("KUBELAB_TEST_LOG") == "" {
		level = slog.LevelWarn
	}
	k, err := kubelet.New(kubelet.Config{
		NodeName: e2eNode, Client: cs, Runtime: rt, RegisterNode: true,
		Log:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		CNIConfDir: cniDir, CNIBridge: e2eBridge, PodLogDir: "/var/log/pods",
		NodeStatusUpdateFrequency: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	kctx, kcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(kctx) }()
	defer func() {
		kcancel()
		if err := <-done; err != nil {
			t.Errorf("kubelet: %v", err)
		}
	}()

	// The node IPAM controller's part: give the node its podCIDR.
	wait(t, 20*time.Second, "node registered with a podCIDR", func() (bool, string) {
		n, err := cs.Nodes().Get(ctx, e2eNode)
		if err != nil {
			return false, err.Error()
		}
		if n.GetSpec().GetPodCIDR() != "" {
			return true, ""
		}
		upd := proto.Clone(n).(*corev1.Node)
		upd.Spec.PodCIDR, upd.Spec.PodCIDRs = e2ePodCIDR, []string{e2ePodCIDR}
		_, err = cs.Nodes().Update(ctx, upd)
		return err == nil, fmt.Sprint(err)
	})
	wait(t, 30*time.Second, "node Ready", func() (bool, string) {
		n, err := cs.Nodes().Get(ctx, e2eNode)
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

	pod := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: "web-e2e", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{
			TerminationGracePeriodSeconds: proto.Int64(5),
			Containers: []*corev1.Container{{
				Name: "nginx", Image: "nginx:1.14.2", ImagePullPolicy: "IfNotPresent",
				Ports: []*corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}},
				ReadinessProbe: &corev1.Probe{
					HttpGet:       &corev1.HTTPGetAction{Path: "/", Port: &metav1.IntOrString{IntVal: 80}},
					PeriodSeconds: 1,
				},
				Resources: &corev1.ResourceRequirements{
					Requests: map[string]*metav1.Quantity{"cpu": {String_: "100m"}, "memory": {String_: "32Mi"}},
					Limits:   map[string]*metav1.Quantity{"cpu": {String_: "500m"}, "memory": {String_: "64Mi"}},
				},
			}},
		},
	}
	created, err := cs.Pods("default").Create(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	uid := created.GetMetadata().GetUid()
	// The scheduler's part: bind it to the node.
	if err := cs.Bind(ctx, "default", &corev1.Binding{
		Metadata: &metav1.ObjectMeta{Name: "web-e2e", Namespace: "default", Uid: uid},
		Target:   &corev1.ObjectReference{Kind: "Node", Name: e2eNode},
	}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	var podIP string
	start := time.Now()
	wait(t, 90*time.Second, "pod Running and Ready", func() (bool, string) {
		p, err := cs.Pods("default").Get(ctx, "web-e2e")
		if err != nil {
			return false, err.Error()
		}
		podIP = p.GetStatus().GetPodIP()
		ready := false
		for _, c := range p.GetStatus().GetConditions() {
			if c.GetType() == "Ready" && c.GetStatus() == "True" {
				ready = true
			}
		}
		return p.GetStatus().GetPhase() == "Running" && ready && podIP != "", fmt.Sprint(p.GetStatus())
	})
	t.Logf("pod Running and Ready in %v on %s", time.Since(start).Round(time.Millisecond), podIP)

	resp, err := http.Get("http://" + podIP + "/")
	if err != nil {
		t.Fatalf("GET pod IP: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET http://%s/: %d %s", podIP, resp.StatusCode, body)
	}

	// The kubelet server reads the access-log line back from the CRI log file.
	ks := httptest.NewServer(k.Handler())
	defer ks.Close()
	wait(t, 10*time.Second, "the request in the container's log", func() (bool, string) {
		r, err := http.Get(ks.URL + "/containerLogs/default/web-e2e/nginx?tailLines=50")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r.StatusCode == 200 && strings.Contains(string(b), "GET / HTTP/1.1"), string(b)
	})

	if _, err := cs.Pods("default").Delete(ctx, "web-e2e", nil); err != nil {
		t.Fatal(err)
	}
	wait(t, 60*time.Second, "pod deleted", func() (bool, string) {
		_, err := cs.Pods("default").Get(ctx, "web-e2e")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	sel := map[string]string{krt.LabelPodUID: uid}
	sbs, err := rt.ListPodSandboxes(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(sbs) != 0 || len(ctrs) != 0 {
		t.Errorf("after delete: %d sandboxes and %d containers left", len(sbs), len(ctrs))
	}
}

func wait(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := f()
		if ok {
			return
		}
		last = msg
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
}
