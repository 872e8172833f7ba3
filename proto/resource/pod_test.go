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

func TestPodRequestsWith(t *testing.T) {
	opts := PodResourcesOptions{NonMissingContainerRequests: List{"cpu": MustParse("100m"), "memory": MustParse("200Mi")}}
	c := func(kv ...string) *corev1.Container { return &corev1.Container{Resources: requests(kv...)} }
	sidecar := func(kv ...string) *corev1.Container {
		return &corev1.Container{Resources: requests(kv...), RestartPolicy: ptr("Always")}
	}
	for _, tc := range []struct {
		name       string
		containers []*corev1.Container
		init       []*corev1.Container
		overhead   map[string]*metav1.Quantity
		cpu, mem   string
	}{
		{"missing cpu only", []*corev1.Container{c("memory", "64Mi")}, nil, nil, "100m", "64Mi"},
		{"missing memory only", []*corev1.Container{c("cpu", "250m")}, nil, nil, "250m", "200Mi"},
		{"defaults are per container", []*corev1.Container{c(), {}}, nil, nil, "200m", "400Mi"},
		{"an explicit zero request is honoured", []*corev1.Container{c("cpu", "0", "memory", "0")}, nil, nil, "0", "0"},
		{"an init container is defaulted before the largest is taken",
			[]*corev1.Container{c("cpu", "250m")}, []*corev1.Container{c("memory", "1Gi")}, nil, "250m", "1Gi"},
		{"a sidecar is defaulted and adds to the app and to the init containers after it",
			[]*corev1.Container{c("cpu", "250m", "memory", "64Mi")}, []*corev1.Container{sidecar(), c("cpu", "1")}, nil,
			"1100m", "400Mi"},
		{"overhead is not defaulted", []*corev1.Container{c("cpu", "250m", "memory", "64Mi")}, nil,
			map[string]*metav1.Quantity{"cpu": {String_: "10m"}}, "260m", "64Mi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: &corev1.PodSpec{Containers: tc.containers, InitContainers: tc.init, Overhead: tc.overhead}}
			got := PodRequestsWith(pod, opts)
			if q := got["cpu"]; q.Cmp(MustParse(tc.cpu)) != 0 {
				t.Errorf("cpu = %v, want %s", q.String(), tc.cpu)
			}
			if q := got["memory"]; q.Cmp(MustParse(tc.mem)) != 0 {
				t.Errorf("memory = %v, want %s", q.String(), tc.mem)
			}
			if len(got) != 2 {
				t.Errorf("resources = %v, want cpu and memory only", got)
			}
		})
	}
	// Without defaults, a container that requests nothing adds nothing.
	pod := &corev1.Pod{Spec: &corev1.PodSpec{Containers: []*corev1.Container{c("cpu", "250m"), {}}}}
	if got := PodRequestsWith(pod, PodResourcesOptions{}); len(got) != 1 || got["cpu"].Cmp(MustParse("250m")) != 0 {
		t.Errorf("no options: %v", got)
	}
}

// TestPodRequestsSidecars: sidecars (init containers with restartPolicy Always) run from
// their start to the pod's end, so they add to the app containers, and to each regular
// init container declared after them, never to one before.
func TestPodRequestsSidecars(t *testing.T) {
	c := func(cpu string) *corev1.Container { return &corev1.Container{Resources: requests("cpu", cpu)} }
	sidecar := func(cpu string) *corev1.Container {
		return &corev1.Container{Resources: requests("cpu", cpu), RestartPolicy: ptr("Always")}
	}
	app := []*corev1.Container{c("1")}
	for _, tc := range []struct {
		name string
		init []*corev1.Container
		want string
	}{
		{"one sidecar adds to the app", []*corev1.Container{sidecar("1")}, "2"},
		{"two sidecars add to the app", []*corev1.Container{sidecar("1"), sidecar("2")}, "4"},
		{"a big init container after two sidecars runs beside both", []*corev1.Container{sidecar("1"), sidecar("1"), c("5")}, "7"},
		{"a big init container before the sidecars runs alone", []*corev1.Container{c("5"), sidecar("1"), sidecar("1")}, "5"},
		{"between two init containers, the sidecar adds to the second only", []*corev1.Container{c("3"), sidecar("1"), c("3")}, "4"},
		{"small init containers: the running sum wins", []*corev1.Container{c("500m"), sidecar("2"), c("1")}, "3"},
		{"a sidecar declared after every init container counts only while running", []*corev1.Container{c("2500m"), sidecar("1")}, "2500m"},
		{"an init container with an empty restartPolicy is no sidecar", []*corev1.Container{{Resources: requests("cpu", "1"), RestartPolicy: ptr("")}}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: &corev1.PodSpec{Containers: app, InitContainers: tc.init}}
			for name, got := range map[string]List{"requests": PodRequests(pod), "limits": PodLimits(pod)} {
				if q := got["cpu"]; q.Cmp(MustParse(tc.want)) != 0 {
					t.Errorf("%s cpu = %v, want %s", name, q.String(), tc.want)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }
