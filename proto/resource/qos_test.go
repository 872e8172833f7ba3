package resource

import (
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestQOSClass(t *testing.T) {
	q := func(kv ...string) map[string]*metav1.Quantity {
		m := map[string]*metav1.Quantity{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = &metav1.Quantity{String_: kv[i+1]}
		}
		return m
	}
	res := func(req, lim map[string]*metav1.Quantity) *corev1.ResourceRequirements {
		return &corev1.ResourceRequirements{Requests: req, Limits: lim}
	}
	for _, tc := range []struct {
		name       string
		containers []*corev1.Container
		init       []*corev1.Container
		want       string
	}{
		{"nothing stated", []*corev1.Container{{Name: "a"}}, nil, "BestEffort"},
		{"zero requests are no requests", []*corev1.Container{{Resources: res(q("cpu", "0", "memory", "0"), nil)}}, nil, "BestEffort"},
		{"other resources do not count", []*corev1.Container{{Resources: res(q("ephemeral-storage", "1Gi"), q("ephemeral-storage", "1Gi"))}}, nil, "BestEffort"},
		{"an init container's request", []*corev1.Container{{Name: "a"}}, []*corev1.Container{{Resources: res(q("memory", "64Mi"), nil)}}, "Burstable"},
		{"a request only", []*corev1.Container{{Resources: res(q("cpu", "1"), nil)}}, nil, "Burstable"},
		{"limits equal requests", []*corev1.Container{{Resources: res(q("cpu", "1", "memory", "1Gi"), q("cpu", "1", "memory", "1Gi"))}}, nil, "Guaranteed"},
		{"limits alone", []*corev1.Container{{Resources: res(nil, q("cpu", "1", "memory", "1Gi"))}}, nil, "Guaranteed"},
		{"a request below its limit", []*corev1.Container{{Resources: res(q("cpu", "500m", "memory", "1Gi"), q("cpu", "1", "memory", "1Gi"))}}, nil, "Burstable"},
		{"one container without limits", []*corev1.Container{
			{Resources: res(nil, q("cpu", "1", "memory", "1Gi"))}, {Name: "b"}}, nil, "Burstable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: &corev1.PodSpec{Containers: tc.containers, InitContainers: tc.init}}
			if got := QOSClass(pod); got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}
