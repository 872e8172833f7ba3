package defaulttolerationseconds

import (
	"context"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
)

func tol(key, op, effect string, seconds *int64) *corev1.Toleration {
	return &corev1.Toleration{Key: key, Operator: op, Effect: effect, TolerationSeconds: seconds}
}

func TestAdmit(t *testing.T) {
	notReady := tol("node.kubernetes.io/not-ready", "Exists", "NoExecute", proto.Int64(30))
	unreachable := tol("node.kubernetes.io/unreachable", "Exists", "NoExecute", proto.Int64(40))
	for _, c := range []struct {
		name string
		have []*corev1.Toleration
		want []*corev1.Toleration
	}{
		{"none", nil, []*corev1.Toleration{notReady, unreachable}},
		{"unrelated kept first", []*corev1.Toleration{tol("dedicated", "Equal", "NoSchedule", nil)},
			[]*corev1.Toleration{tol("dedicated", "Equal", "NoSchedule", nil), notReady, unreachable}},
		{"own not-ready seconds", []*corev1.Toleration{tol("node.kubernetes.io/not-ready", "Exists", "NoExecute", proto.Int64(5))},
			[]*corev1.Toleration{tol("node.kubernetes.io/not-ready", "Exists", "NoExecute", proto.Int64(5)), unreachable}},
		{"not-ready forever, any effect", []*corev1.Toleration{tol("node.kubernetes.io/not-ready", "Exists", "", nil)},
			[]*corev1.Toleration{tol("node.kubernetes.io/not-ready", "Exists", "", nil), unreachable}},
		// Only NoSchedule: the NoExecute taint is still not tolerated.
		{"unreachable NoSchedule only", []*corev1.Toleration{tol("node.kubernetes.io/unreachable", "Exists", "NoSchedule", nil)},
			[]*corev1.Toleration{tol("node.kubernetes.io/unreachable", "Exists", "NoSchedule", nil), notReady, unreachable}},
		// An empty key with Exists tolerates every taint (a DaemonSet's catch-all).
		{"everything", []*corev1.Toleration{tol("", "Exists", "", nil)}, []*corev1.Toleration{tol("", "Exists", "", nil)}},
		{"every NoExecute", []*corev1.Toleration{tol("", "Exists", "NoExecute", nil)}, []*corev1.Toleration{tol("", "Exists", "NoExecute", nil)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: &corev1.PodSpec{Tolerations: c.have}}
			a := &admission.Attributes{Operation: admission.Create, Resource: "pods", Object: pod}
			if err := New(30, 40).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			want := &corev1.PodSpec{Tolerations: c.want}
			if !proto.Equal(pod.Spec, want) {
				t.Errorf("tolerations:\n got %v\nwant %v", prototext.Format(pod.Spec), prototext.Format(want))
			}
		})
	}
}

// Subresources (a binding, a status update) and other resources are left alone.
func TestAdmitSkips(t *testing.T) {
	p := New(DefaultSeconds, DefaultSeconds)
	pod := &corev1.Pod{Spec: &corev1.PodSpec{}}
	if err := p.Admit(context.Background(), &admission.Attributes{Operation: admission.Update, Resource: "pods", Subresource: "status", Object: pod}); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Tolerations) != 0 {
		t.Errorf("status update got tolerations: %v", pod.Spec.Tolerations)
	}
	if err := p.Admit(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: "pods", ResourceGroup: "example.com", Object: pod}); err != nil || len(pod.Spec.Tolerations) != 0 {
		t.Errorf("other group: %v %v", err, pod.Spec.Tolerations)
	}
}
