package controller

import (
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{Kind: "Service", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, CreationTimestamp: NewTime(epoch)},
		Spec:     &corev1.ServiceSpec{Selector: selector}}
}

func labelled(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Metadata.Labels = l } }
func withIP(ip string) podOpt {
	return func(p *corev1.Pod) { p.Status.PodIPs = []*corev1.PodIP{{Ip: ip}} }
}

func TestServicesToUpdateOnPodChange(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range []*corev1.Service{
		service("web", map[string]string{"app": "web"}),
		service("canary", map[string]string{"app": "web", "track": "canary"}),
		service("db", map[string]string{"app": "db"}),
		service("manual", nil), // no selector: selects nothing
		func() *corev1.Service {
			s := service("external", map[string]string{"app": "web"})
			s.Spec.Type = corev1.ServiceTypeExternalName
			return s
		}(),
	} {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	services := cache.NewLister[*corev1.Service](idx, CoreMapping("Service"))
	web := map[string]string{"app": "web"}
	base := newPod("p", labelled(web), withIP("10.0.0.1"), func(p *corev1.Pod) { p.Metadata.ResourceVersion = "1" })
	for _, tc := range []struct {
		name string
		cur  *corev1.Pod
		want []string
	}{
		{"resync", proto.Clone(base).(*corev1.Pod), nil},
		{"annotation only", newPod("p", labelled(web), withIP("10.0.0.1"), func(p *corev1.Pod) { p.Metadata.Annotations = map[string]string{"a": "b"} }), nil},
		{"ready", newPod("p", labelled(web), withIP("10.0.0.1"), ready()), []string{"default/web"}},
		{"new IP", newPod("p", labelled(web), withIP("10.0.0.2")), []string{"default/web"}},
		{"finished", newPod("p", labelled(web), withIP("10.0.0.1"), phase(PodSucceeded)), []string{"default/web"}},
		{"joined canary", newPod("p", labelled(map[string]string{"app": "web", "track": "canary"}), withIP("10.0.0.1")), []string{"default/canary"}},
		{"moved to db", newPod("p", labelled(map[string]string{"app": "db"}), withIP("10.0.0.1")), []string{"default/db", "default/web"}},
		{"moved to db and ready", newPod("p", labelled(map[string]string{"app": "db"}), withIP("10.0.0.1"), ready()), []string{"default/db", "default/web"}},
		{"joined canary and ready", newPod("p", labelled(map[string]string{"app": "web", "track": "canary"}), withIP("10.0.0.1"), ready()),
			[]string{"default/canary", "default/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cur.Metadata.ResourceVersion == "" {
				tc.cur.Metadata.ResourceVersion = "2"
			}
			keys, err := ServicesToUpdateOnPodChange(services, base, tc.cur)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, tc.want) {
				t.Fatalf("services = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEndpointPredicates(t *testing.T) {
	pod := newPod("p", withIP("10.0.0.1"), func(p *corev1.Pod) {
		p.Spec.Containers = []*corev1.Container{{Name: "app", Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}, {Name: "dns", ContainerPort: 53, Protocol: "UDP"}}}}
		p.Spec.InitContainers = []*corev1.Container{
			{Name: "sidecar", RestartPolicy: proto.String("Always"), Ports: []*corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}},
			{Name: "init", Ports: []*corev1.ContainerPort{{Name: "setup", ContainerPort: 7070}}},
		}
	})
	for _, tc := range []struct {
		name string
		sp   *corev1.ServicePort
		want int32 // 0: not found
	}{
		{"number", &corev1.ServicePort{Port: 80, TargetPort: &metav1.IntOrString{IntVal: 8081}}, 8081},
		{"no targetPort", &corev1.ServicePort{Port: 80}, 80},
		{"name", &corev1.ServicePort{Protocol: "TCP", TargetPort: &metav1.IntOrString{Type: 1, StrVal: "http"}}, 8080},
		{"name of another protocol", &corev1.ServicePort{Protocol: "TCP", TargetPort: &metav1.IntOrString{Type: 1, StrVal: "dns"}}, 0},
		{"name, UDP", &corev1.ServicePort{Protocol: "UDP", TargetPort: &metav1.IntOrString{Type: 1, StrVal: "dns"}}, 53},
		{"sidecar's port", &corev1.ServicePort{Protocol: "TCP", TargetPort: &metav1.IntOrString{Type: 1, StrVal: "metrics"}}, 9090},
		{"init container's port", &corev1.ServicePort{Protocol: "TCP", TargetPort: &metav1.IntOrString{Type: 1, StrVal: "setup"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindPort(pod, tc.sp)
			if (err != nil) != (tc.want == 0) || got != tc.want {
				t.Fatalf("FindPort = %d, %v; want %d", got, err, tc.want)
			}
		})
	}

	if !ShouldPodBeInEndpoints(pod, false) || ShouldPodBeInEndpoints(newPod("noip"), true) ||
		ShouldPodBeInEndpoints(newPod("done", withIP("10.0.0.1"), phase(PodFailed)), true) {
		t.Error("ShouldPodBeInEndpoints: IPs and phases")
	}
	gone := newPod("gone", withIP("10.0.0.1"), func(p *corev1.Pod) { p.Metadata.DeletionTimestamp = NewTime(epoch) })
	if ShouldPodBeInEndpoints(gone, false) || !ShouldPodBeInEndpoints(gone, true) {
		t.Error("ShouldPodBeInEndpoints: terminating pods")
	}
	legacy := newPod("legacy", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.9" })
	if got := PodIPs(legacy); !slices.Equal(got, []string{"10.0.0.9"}) {
		t.Errorf("PodIPs of a pod with podIP only = %q", got)
	}
	svc := service("web", map[string]string{"app": "web"})
	named := newPod("n", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "n", "web" })
	if !ShouldSetHostname(named, svc) || ShouldSetHostname(named, service("other", nil)) || ShouldSetHostname(newPod("x"), svc) {
		t.Error("ShouldSetHostname")
	}
	if _, ok := ServiceSelector(service("empty", map[string]string{})); ok {
		t.Error("an empty selector selects")
	}
}

func TestTriggerTimeTracker(t *testing.T) {
	tr := NewTriggerTimeTracker()
	svc := service("web", map[string]string{"app": "web"})
	a := newPod("a", readySince(epoch.Add(time.Minute)))
	b := newPod("b", readySince(epoch.Add(2*time.Minute)))
	if got := tr.Compute(svc, []*corev1.Pod{a, b}); !got.Equal(epoch) {
		t.Fatalf("first sync: %v, want the service's creation", got)
	}
	if got := tr.Compute(svc, []*corev1.Pod{a, b}); !got.IsZero() {
		t.Fatalf("nothing changed: %v", got)
	}
	b2 := newPod("b", readySince(epoch.Add(5*time.Minute)))
	c := newPod("c", readySince(epoch.Add(4*time.Minute)))
	if got := tr.Compute(svc, []*corev1.Pod{a, b2, c}); !got.Equal(epoch.Add(4 * time.Minute)) {
		t.Fatalf("b and c changed: %v, want the earlier", got)
	}
	tr.Delete("default/web")
	if got := tr.Compute(svc, []*corev1.Pod{a}); !got.Equal(epoch) {
		t.Fatalf("after Delete: %v", got)
	}
	if FormatTriggerTime(epoch.Add(1500*time.Millisecond)) != "2026-01-01T00:00:01.5Z" {
		t.Error("FormatTriggerTime")
	}
}
