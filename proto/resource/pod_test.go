package resource

import (
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func requests(kv ...string) *corev1.ResourceRequirements {
	m := map[string]*metav1.Quantity{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &metav1.Quantity{String_: kv[i+1]}
	}
	return &corev1.ResourceRequirements{Requests: m, Limits: m}
}

func TestPodRequests(t *testing.T) {
	app := []*corev1.Container{
		{Name: "a", Resources: requests("cpu", "100m", "memory", "64Mi")},
		{Name: "b", Resources: requests("cpu", "200m")},
	}
	for _, tc := range []struct {
		name     string
		init     []*corev1.Container
		overhead string
		cpu, mem string
	}{
		{"app containers add up", nil, "", "300m", "64Mi"},
		{"a small init container does not count", []*corev1.Container{{Resources: requests("cpu", "250m")}}, "", "300m", "64Mi"},
		{"the largest init container wins when bigger", []*corev1.Container{
			{Resources: requests("cpu", "250m")}, {Resources: requests("cpu", "1", "memory", "1Gi")}}, "", "1", "1Gi"},
		{"a sidecar adds to the app and to the init containers after it", []*corev1.Container{
			{Resources: requests("cpu", "50m"), RestartPolicy: ptr("Always")}, {Resources: requests("cpu", "500m")}}, "", "550m", "64Mi"},
		{"overhead adds on top", nil, "10m", "310m", "64Mi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: &corev1.PodSpec{Containers: app, InitContainers: tc.init}}
			if tc.overhead != "" {
				pod.Spec.Overhead = map[string]*metav1.Quantity{"cpu": {String_: tc.overhead}}
			}
			for name, got := range map[string]List{"requests": PodRequests(pod), "limits": PodLimits(pod)} {
				if c := got["cpu"]; c.Cmp(MustParse(tc.cpu)) != 0 {
					t.Errorf("%s cpu = %v, want %s", name, c.String(), tc.cpu)
				}
				if m := got["memory"]; m.Cmp(MustParse(tc.mem)) != 0 {
					t.Errorf("%s memory = %v, want %s", name, m.String(), tc.mem)
				}
			}
		})
	}
}
func ptr(s string) *string { return &s }
