package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	krt "kubelab.io/kubelet/runtime"
	"kubelab.io/proto/resource"
)

func TestNodeStatusWhilePreloading(t *testing.T) {
	in := &nodeStatusInput{Host: testHost, MaxPods: 110, RuntimeVer: "containerd://1.6.20", Now: time.Unix(9000, 0),
		Runtime: runtimeStatus(true, true), Preloading: true}
	r := nodeStatus(in).Conditions[3]
	if r.GetStatus() != "False" || r.GetMessage() != "preloading images (--preload-images) has not finished" {
		t.Errorf("preloading: %v", r)
	}
	in.Preloading = false
	if r := nodeStatus(in).Conditions[3]; r.GetStatus() != "True" {
		t.Errorf("preloaded: %v", r)
	}
}

// TestIntegrationPreloadGatesReadiness: until Preload succeeds (it fails once, then
// waits for the test), the node is NotReady and a pod bound to it does not start.
func TestIntegrationPreloadGatesReadiness(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	release := make(chan struct{})
	var calls atomic.Int32
	k, err := New(Config{
		NodeName: "node-1", Client: cs, Runtime: fake, Log: testLog(), Host: &testHost, NodeIP: "192.168.1.10",
		RegisterNode: true, Reserved: resource.List{"cpu": resource.MustParse("100m")},
		PodLogDir: t.TempDir(), ResolvConf: "/nonexistent",
		NodeStatusUpdateFrequency: 200 * time.Millisecond, RelistPeriod: 200 * time.Millisecond,
		Preload: func(ctx context.Context) error {
			if calls.Add(1) == 1 {
				return errors.New("containerd not up yet")
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	readyCond := func() (string, string) {
		n, err := cs.Nodes().Get(ctx, "node-1")
		if err != nil {
			return "", err.Error()
		}
		for _, c := range n.GetStatus().GetConditions() {
			if c.GetType() == "Ready" {
				return c.GetStatus(), c.GetMessage()
			}
		}
		return "", "no Ready condition"
	}
	eventually(t, 10*time.Second, "node NotReady while preloading (after a retry)", func() (bool, string) {
		st, msg := readyCond()
		return st == "False" && msg == "preloading images (--preload-images) has not finished" && calls.Load() >= 2, fmt.Sprint(st, msg, calls.Load())
	})
	if _, err := cs.Pods("default").Create(ctx, nginxPod("web", "node-1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := fake.CountCalls("RunPodSandbox"); n != 0 {
		t.Fatalf("a pod started while preloading (%d RunPodSandbox)", n)
	}
	if st, _ := readyCond(); st != "False" {
		t.Fatalf("node %s while preloading", st)
	}
	close(release)
	eventually(t, 10*time.Second, "node Ready after preloading", func() (bool, string) {
		st, msg := readyCond()
		return st == "True", msg
	})
	waitRunningReady(t, cs, "web")
}
