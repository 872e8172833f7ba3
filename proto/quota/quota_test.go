package quota

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

func quantities(kv ...string) map[string]*metav1.Quantity {
	m := map[string]*metav1.Quantity{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &metav1.Quantity{String_: kv[i+1]}
	}
	return m
}

func list(t *testing.T, kv ...string) resource.List {
	t.Helper()
	l, err := resource.ParseList(quantities(kv...))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func container(requests, limits map[string]*metav1.Quantity) *corev1.Container {
	return &corev1.Container{Name: "c", Image: "nginx", Resources: &corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func pod(phase string, containers ...*corev1.Container) *corev1.Pod {
	return &corev1.Pod{Spec: &corev1.PodSpec{Containers: containers}, Status: &corev1.PodStatus{Phase: phase}}
}

// render prints a List in name order, "name=value,…", so got/want read as text.
func render(l resource.List) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, name+"="+l[name].String())
	}
	return strings.Join(parts, ",")
}

// now is the instant every test computes usage at.
var now = time.Unix(1_800_000_000, 0)

func deleting(p *corev1.Pod, at time.Time, grace int64) *corev1.Pod {
	if p.Metadata == nil {
		p.Metadata = &metav1.ObjectMeta{}
	}
	p.Metadata.DeletionTimestamp = &metav1.Time{Seconds: at.Unix()}
	p.Metadata.DeletionGracePeriodSeconds = &grace
	return p
}

func withInit(p *corev1.Pod, c *corev1.Container) *corev1.Pod {
	p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	return p
}

func TestPodUsage(t *testing.T) {
	web := container(quantities("cpu", "250m", "memory", "64Mi"), quantities("cpu", "500m", "memory", "128Mi"))
	sidecar := container(quantities("cpu", "100m"), quantities("memory", "32Mi"))
	everything := []string{"pods", "1", "count/pods", "1", "cpu", "1", "requests.cpu", "1", "memory", "1Gi",
		"requests.memory", "1Gi", "limits.cpu", "1", "limits.memory", "1Gi"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		hard []string
		want string
	}{
		{"every resource, containers summed", pod("Running", web, sidecar), everything,
			"count/pods=1,cpu=350m,limits.cpu=500m,limits.memory=160Mi,memory=64Mi,pods=1,requests.cpu=350m,requests.memory=64Mi"},
		{"only what hard tracks", pod("Pending", web), []string{"pods", "10", "limits.cpu", "2"}, "limits.cpu=500m,pods=1"},
		{"no phase yet counts", pod("", web), []string{"pods", "10"}, "pods=1"},
		{"unstated resources are zero", pod("Running", container(nil, nil)), []string{"requests.cpu", "1", "pods", "3"}, "pods=1,requests.cpu=0"},
		{"untracked names count nothing", pod("Running", web), []string{"services", "3"}, ""},
		{"succeeded takes nothing", pod("Succeeded", web), everything, ""},
		{"failed takes nothing", pod("Failed", web), everything, ""},
		{"terminating within its grace period counts", deleting(pod("Running", web), now.Add(-10*time.Second), 30), []string{"pods", "10"}, "pods=1"},
		{"terminating past its grace period takes nothing", deleting(pod("Running", web), now.Add(-31*time.Second), 30), everything, ""},
		{"init containers and overhead count as Kubernetes counts them", withInit(pod("Pending", web), container(quantities("cpu", "1"), nil)),
			[]string{"requests.cpu", "4"}, "requests.cpu=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(PodUsage(tc.pod, list(t, tc.hard...), now)); got != tc.want {
				t.Errorf("PodUsage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUsageSumsAndListsEveryTrackedResource(t *testing.T) {
	hard := list(t, "pods", "10", "requests.cpu", "2", "limits.memory", "1Gi")
	pods := []*corev1.Pod{
		pod("Running", container(quantities("cpu", "200m"), nil)),
		pod("Pending", container(quantities("cpu", "300m"), nil)),
		pod("Failed", container(quantities("cpu", "1"), nil)),
	}
	if got, want := render(Usage(pods, hard, now)), "limits.memory=0,pods=2,requests.cpu=500m"; got != want {
		t.Errorf("Usage = %q, want %q", got, want)
	}
	if got, want := render(Usage(nil, hard, now)), "limits.memory=0,pods=0,requests.cpu=0"; got != want {
		t.Errorf("Usage of no pods = %q, want %q", got, want)
	}
}

func TestTracked(t *testing.T) {
	used := list(t, "pods", "3", "services", "1")
	hard := list(t, "pods", "5", "memory", "1Gi")
	if got, want := render(Tracked(used, hard)), "memory=0,pods=3"; got != want {
		t.Errorf("Tracked = %q, want %q", got, want)
	}
}

func TestRecompute(t *testing.T) {
	spec := &corev1.ResourceQuotaSpec{Hard: quantities("pods", "2", "requests.memory", "1024Mi")}
	pods := []*corev1.Pod{
		pod("Running", container(quantities("memory", "512Mi"), nil)),
		pod("Succeeded", container(quantities("memory", "512Mi"), nil)),
	}
	st, err := Recompute(spec, pods, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	// status.hard is spec.hard as written (1024Mi stays 1024Mi, not 1Gi): Kubernetes
	// copies it, and the controller compares statuses to skip needless writes.
	if got, want := st.GetHard()["requests.memory"].GetString_(), "1024Mi"; got != want {
		t.Errorf("status.hard[requests.memory] = %q, want %q", got, want)
	}
	if len(st.GetHard()) != 2 {
		t.Errorf("status.hard = %v, want spec.hard's 2 entries", st.GetHard())
	}
	used, err := resource.ParseList(st.GetUsed())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(used), "pods=1,requests.memory=512Mi"; got != want {
		t.Errorf("status.used = %q, want %q", got, want)
	}
	// The status must not share messages with the spec: callers write one and keep the other.
	st.Hard["pods"].String_ = "99"
	if spec.GetHard()["pods"].GetString_() != "2" {
		t.Error("Recompute's status.hard aliases spec.hard")
	}
}

func TestStatusRefusesUnparsableHard(t *testing.T) {
	spec := &corev1.ResourceQuotaSpec{Hard: quantities("pods", "two")}
	if _, err := Status(spec, nil); err == nil {
		t.Error("Status accepted spec.hard pods=two")
	}
	if _, err := Recompute(spec, nil, nil, now); err == nil {
		t.Error("Recompute accepted spec.hard pods=two")
	}
}
