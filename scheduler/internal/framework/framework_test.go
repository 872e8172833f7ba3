package framework

import (
	"context"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

type permitPlugin struct {
	status  *Status
	timeout time.Duration
}

func (permitPlugin) Name() string { return "Gate" }
func (p permitPlugin) Permit(context.Context, *CycleState, *corev1.Pod, string) (*Status, time.Duration) {
	return p.status, p.timeout
}

type binder struct{}

func (binder) Name() string                                                   { return "Bind" }
func (binder) Bind(context.Context, *CycleState, *corev1.Pod, string) *Status { return nil }

func newFramework(t *testing.T, permit permitPlugin) *Framework {
	t.Helper()
	reg := Registry{
		"Gate": func(Handle) (Plugin, error) { return permit, nil },
		"Bind": func(Handle) (Plugin, error) { return binder{}, nil },
	}
	f, err := New(Profile{Permit: []string{"Gate"}, Bind: []string{"Bind"}}, reg, Handle{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func pod() *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "u1"}, Spec: &corev1.PodSpec{}}
}

func TestPermit(t *testing.T) {
	ctx := context.Background()
	t.Run("allow", func(t *testing.T) {
		f := newFramework(t, permitPlugin{NewStatus(Wait), time.Minute})
		if s := f.RunPermitPlugins(ctx, NewCycleState(), pod(), "n"); s.Code() != Wait {
			t.Fatalf("got %v", s)
		}
		go f.Allow("u1", "Gate")
		if s := f.WaitOnPermit(ctx, pod()); !s.IsSuccess() {
			t.Fatalf("got %v", s)
		}
	})
	t.Run("reject", func(t *testing.T) {
		f := newFramework(t, permitPlugin{NewStatus(Wait), time.Minute})
		f.RunPermitPlugins(ctx, NewCycleState(), pod(), "n")
		f.Reject("u1", "Gate", "no room in the gang")
		if s := f.WaitOnPermit(ctx, pod()); !s.IsRejected() || s.Message() != "no room in the gang" {
			t.Fatalf("got %v", s)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFramework(t, permitPlugin{NewStatus(Wait), 10 * time.Millisecond})
		f.RunPermitPlugins(ctx, NewCycleState(), pod(), "n")
		if s := f.WaitOnPermit(ctx, pod()); !s.IsRejected() {
			t.Fatalf("got %v", s)
		}
	})
	t.Run("reject at once", func(t *testing.T) {
		f := newFramework(t, permitPlugin{NewStatus(Unschedulable, "no"), 0})
		if s := f.RunPermitPlugins(ctx, NewCycleState(), pod(), "n"); !s.IsRejected() || s.Plugin() != "Gate" {
			t.Fatalf("got %v", s)
		}
	})
	t.Run("not waiting", func(t *testing.T) {
		f := newFramework(t, permitPlugin{nil, 0})
		if s := f.WaitOnPermit(ctx, pod()); !s.IsSuccess() {
			t.Fatalf("got %v", s)
		}
	})
}

func TestFitErrorMessage(t *testing.T) {
	taint := NewStatus(UnschedulableAndUnresolvable, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
	cases := []struct {
		name string
		d    Diagnosis
		want string
	}{
		{"histogram sorted as strings", Diagnosis{NodeToStatus: map[string]*Status{
			"n1": NewStatus(Unschedulable, "Insufficient cpu"), "n2": taint, "n3": taint,
		}}, "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."},
		{"prefilter message wins", Diagnosis{PreFilterMsg: "pod has unbound PVCs", NodeToStatus: map[string]*Status{"n1": taint}},
			"0/3 nodes are available: pod has unbound PVCs."},
		{"postfilter appended", Diagnosis{NodeToStatus: map[string]*Status{"n1": NewStatus(Unschedulable, "Insufficient cpu")},
			PostFilterMsg: "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod"},
			"0/3 nodes are available: 1 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."},
	}
	for _, tc := range cases {
		if got := (&FitError{NumAllNodes: 3, Diagnosis: tc.d}).Error(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestPodInfoRequests(t *testing.T) {
	q := func(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }
	always := "Always"
	p := pod()
	p.Spec.Containers = []*corev1.Container{
		{Name: "a", Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("250m"), "memory": q("64Mi")}}},
		{Name: "b"},
	}
	p.Spec.InitContainers = []*corev1.Container{
		{Name: "sidecar", RestartPolicy: &always, Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("100m")}}},
		{Name: "init", Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("1"), "memory": q("10Mi")}}},
	}
	p.Spec.Overhead = map[string]*metav1.Quantity{"cpu": q("10m")}
	pi := NewPodInfo(p)
	// cpu: max(250+100 sidecar, 100 sidecar + 1000 init) + 10 overhead.
	if pi.Requests.MilliCPU != 1110 || pi.Requests.Memory != 64<<20 {
		t.Errorf("requests %+v", pi.Requests)
	}
	// non-zero: container b counts 100m/200Mi.
	if pi.NonZero.MilliCPU != 1110 || pi.NonZero.Memory != 64<<20+DefaultMemoryRequest+DefaultMemoryRequest {
		t.Errorf("non-zero %+v", pi.NonZero)
	}
}
