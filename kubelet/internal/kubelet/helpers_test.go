package kubelet

import (
	"context"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	krt "kubelab.io/kubelet/runtime"
)

func newFakeClock(t time.Time) *clocktesting.FakeClock { return clocktesting.NewFakeClock(t) }

func runtimeStatus(runtimeReady, networkReady bool) *runtimeapi.RuntimeStatus {
	return &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: runtimeReady},
		{Type: runtimeapi.NetworkReady, Status: networkReady, Reason: "NetworkPluginNotReady", Message: "cni plugin not initialized"},
	}}
}

// execRuntime is a fake runtime whose container c1 runs and whose ExecSync exits with
// what code returns.
func execRuntime(code func() int32) krt.Runtime {
	f := krt.NewFake()
	f.Exec = func(string, []string) (string, int32) { return "", code() }
	ctx := context.Background()
	sb, _ := f.RunPodSandbox(ctx, &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p"}})
	f.AddImage("img")
	id, _ := f.CreateContainer(ctx, sb, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "web"}, Image: &runtimeapi.ImageSpec{Image: "img"}}, nil)
	_ = f.StartContainer(ctx, id)
	return &renamed{Runtime: f, from: "c1", to: id}
}

// renamed maps a test's container id to the fake's.
type renamed struct {
	krt.Runtime
	from, to string
}

func (r *renamed) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	if id == r.from {
		id = r.to
	}
	return r.Runtime.ExecSync(ctx, id, cmd, timeout)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
