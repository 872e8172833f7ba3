// End-to-end test of the kubelet on a real containerd of this machine (a private
// instance, see privateContainerd): an nginx pod bound to the node runs, answers HTTP 200
// on its pod IP, logs the request, and leaves no sandbox behind once deleted. It skips,
// saying why, where the node runtime is not available (not root, no containerd, no
// images).
package kubelet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
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
	e2eNode    = "kubelab-e2e"
	e2eBridge  = "kle2e0"
	e2ePodCIDR = "10.244.250.0/24"
)

func TestE2ENginxOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short")
	}
	pc := privateContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rt, err := krt.NewRemote("unix://"+pc.Socket, 30*time.Second)
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
		CNIConfDir: pc.CNIConfDir, CNIBridge: e2eBridge, PodLogDir: "/var/log/pods",
		NodeStatusUpdateFrequency: 2 * time.Second, Preload: pc.Preload,
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

	// The kubelet server (HTTPS, the apiserver's client certificate) reads the access-log
	// line back from the CRI log file.
	addr, kc := kubeletServer(t, k)
	wait(t, 10*time.Second, "the request in the container's log", func() (bool, string) {
		r, err := kc.Get("https://" + addr + "/containerLogs/default/web-e2e/nginx?tailLines=50")
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
