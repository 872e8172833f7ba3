package endpoint

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture is a controller over a fake client whose caches the test fills directly (the
// informers never run), so a sync sees exactly what the test put there.
type fixture struct {
	t     *testing.T
	fake  *controllertest.Transport
	rec   *controllertest.Recorder
	inf   *informers.SharedInformerFactory
	queue workqueue.Interface[string]
	c     *Controller
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, fake: controllertest.NewTransport(), rec: &controllertest.Recorder{}, queue: workqueue.NewNamed[string]("test")}
	t.Cleanup(f.queue.ShutDown)
	f.inf = informers.NewSharedInformerFactory(f.fake, 0)
	c, err := NewController(Config{
		Client: kube.New(f.fake), Service: f.inf.Services().Informer(), Pod: f.inf.Pods().Informer(), Endpoints: f.inf.Endpoints().Informer(),
		Recorder: f.rec, Queue: f.queue, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func (f *fixture) put(objs ...runtime.Object) {
	f.t.Helper()
	controllertest.Put(f.t, f.fake, f.inf, objs...)
}

func (f *fixture) sync() error { return f.c.sync(context.Background(), "default/web") }

// stored is the Endpoints "web" on the server, nil when there is none.
func (f *fixture) stored() *corev1.Endpoints {
	f.t.Helper()
	ep, err := kube.New(f.fake).Endpoints("default").Get(context.Background(), "web")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return ep
}

// observe puts the stored Endpoints in the cache, as the informer would once it caught up.
func (f *fixture) observe() {
	f.t.Helper()
	if err := f.inf.Endpoints().Informer().GetIndexer().Update(f.stored()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) expectActions(want ...string) {
	f.t.Helper()
	if got := f.fake.TakeActions(); !slices.Equal(got, want) {
		f.t.Errorf("actions:\n  got  %q\n  want %q", got, want)
	}
}

const (
	createEP = "create endpoints default/"
	updateEP = "update endpoints default/web"
	deleteEP = "delete endpoints default/web"
)

func newService(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		Kind: "Service", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Uid: "svc-uid", Labels: map[string]string{"team": "a"},
			CreationTimestamp: controller.NewTime(epoch)},
		Spec: &corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10", IpFamilies: []string{corev1.IPv4Protocol},
			Ports: []*corev1.ServicePort{
				{Name: "http", Protocol: "TCP", Port: 80, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "http"}},
				{Name: "metrics", Protocol: "TCP", Port: 9100, TargetPort: &metav1.IntOrString{IntVal: 9100}},
			},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

type podOpt func(*corev1.Pod)

func ready(p *corev1.Pod) {
	p.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(epoch)}}
}
func deleting(p *corev1.Pod) { p.Metadata.DeletionTimestamp = controller.NewTime(epoch) }
func httpPort(n int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}

// newPod is a running pod of the service on node-a with IP 10.244.<i/256>.<i%256>.
func newPod(name string, i int, opts ...podOpt) *corev1.Pod {
	ip := fmt.Sprintf("10.244.%d.%d", i/256, i%256)
	p := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name, Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{NodeName: "node-a", Containers: []*corev1.Container{{Name: "nginx",
			Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}}}}},
		Status: &corev1.PodStatus{Phase: controller.PodRunning, PodIP: ip, PodIPs: []*corev1.PodIP{{Ip: ip}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// TestEndpointsOfAService: the Endpoints named like the service list its ready pods as
// addresses and the others as notReadyAddresses, with the ports each resolves, repacked so
// that ports served by the same addresses share a subset (a pod resolving "http" to
// another port makes three); a terminating pod is left out; a second sync writes nothing.
func TestEndpointsOfAService(t *testing.T) {
	f := newFixture(t)
	f.put(newService(),
		newPod("web-a", 1, ready), newPod("web-b", 2), newPod("web-c", 3, ready, deleting),
		newPod("web-alt", 4, ready, httpPort(9090)),
		newPod("web-noip", 5, func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "", nil }),
		newPod("other", 6, func(p *corev1.Pod) { p.Metadata.Labels = nil }))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(createEP)
	ep := f.stored()
	want := []string{"10.244.0.1 | 10.244.0.2 | http:8080", "10.244.0.1,10.244.0.4 | 10.244.0.2 | metrics:9100", "10.244.0.4 |  | http:9090"}
	if got := controllertest.Subsets(ep); !slices.Equal(got, want) {
		t.Fatalf("subsets:\n  got  %q\n  want %q", got, want)
	}
	m := ep.GetMetadata()
	if !maps.Equal(m.GetLabels(), map[string]string{"team": "a"}) || m.GetAnnotations()[controller.AnnotationLastChangeTriggerTime] != "2026-01-01T00:00:00Z" {
		t.Errorf("labels %v, annotations %v", m.GetLabels(), m.GetAnnotations())
	}
	a := ep.GetSubsets()[0].GetAddresses()[0]
	if a.GetNodeName() != "node-a" || a.GetTargetRef().GetName() != "web-a" || a.GetTargetRef().GetUid() != "uid-web-a" || a.GetTargetRef().GetKind() != "Pod" {
		t.Errorf("address = %v", a)
	}
	f.observe()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions()
}

// TestUpdatesAndStaleCache: a pod turning ready updates the Endpoints; until the cache shows
// that update, a sync fails rather than writing over it from stale data.
func TestUpdatesAndStaleCache(t *testing.T) {
	f := newFixture(t)
	f.put(newService(), newPod("web-a", 1), newPod("web-b", 2, ready))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.observe()
	f.fake.TakeActions()
	f.put(newPod("web-a", 1, ready))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updateEP)
	if got := controllertest.Subsets(f.stored()); !slices.Equal(got, []string{"10.244.0.1,10.244.0.2 |  | http:8080,metrics:9100"}) {
		t.Fatalf("subsets = %q", got)
	}
	controllertest.Remove(t, f.fake, f.inf, newPod("web-b", 2))
	if err := f.sync(); err == nil {
		t.Fatal("sync over a cache holding the replaced Endpoints: no error")
	}
	f.expectActions()
	f.observe()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updateEP)
}

// TestServicesLeftAlone: a service without a selector keeps the Endpoints someone wrote for
// it; a deleted service's Endpoints are deleted.
func TestServicesLeftAlone(t *testing.T) {
	f := newFixture(t)
	manual := &corev1.Endpoints{Kind: "Endpoints", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []*corev1.EndpointSubset{{Addresses: []*corev1.EndpointAddress{{Ip: "192.0.2.1"}}}}}
	f.put(newService(func(s *corev1.Service) { s.Spec.Selector = nil }), manual, newPod("web-a", 1, ready))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.put(newService(func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
	}))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions()
	controllertest.Remove(t, f.fake, f.inf, newService())
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(deleteEP)
	if f.stored() != nil {
		t.Fatal("Endpoints of a deleted service kept")
	}
}

// TestHeadlessAndPublishNotReady: a headless service without ports lists bare addresses
// and is labelled headless; publishNotReadyAddresses lists every pod, terminating ones too,
// as ready.
func TestHeadlessAndPublishNotReady(t *testing.T) {
	f := newFixture(t)
	f.put(newService(func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.Ports, s.Spec.PublishNotReadyAddresses = corev1.ClusterIPNone, nil, true
	}), newPod("web-a", 1, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a", "web" }), newPod("web-b", 2, ready, deleting))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	ep := f.stored()
	if got := controllertest.Subsets(ep); !slices.Equal(got, []string{"10.244.0.1,10.244.0.2 |  | "}) {
		t.Fatalf("subsets = %q", got)
	}
	if h := ep.GetSubsets()[0].GetAddresses()[0].GetHostname(); h != "a" {
		t.Errorf("hostname = %q", h)
	}
	if l, ok := ep.GetMetadata().GetLabels()[controller.LabelHeadlessService]; !ok || l != "" {
		t.Errorf("labels = %v", ep.GetMetadata().GetLabels())
	}
}

// TestOverCapacity: past 1000 addresses the Endpoints are truncated and annotated; back
// under, the annotation goes.
func TestOverCapacity(t *testing.T) {
	f := newFixture(t)
	f.put(newService())
	for i := range maxCapacity + 1 {
		f.put(newPod(fmt.Sprintf("web-%04d", i), i+1, ready))
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	ep := f.stored()
	if r, nr := countAddresses(ep.GetSubsets()); r != maxCapacity || nr != 0 || ep.GetMetadata().GetAnnotations()[AnnotationOverCapacity] != "truncated" {
		t.Fatalf("%d ready, %d not ready, annotations %v", r, nr, ep.GetMetadata().GetAnnotations())
	}
	f.observe()
	f.fake.TakeActions()
	controllertest.Remove(t, f.fake, f.inf, newPod("web-0000", 1))
	controllertest.Remove(t, f.fake, f.inf, newPod("web-0001", 2))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updateEP)
	ep = f.stored()
	if r, _ := countAddresses(ep.GetSubsets()); r != maxCapacity-1 {
		t.Fatalf("%d ready", r)
	}
	if _, ok := ep.GetMetadata().GetAnnotations()[AnnotationOverCapacity]; ok {
		t.Fatal("over-capacity annotation kept")
	}
}

// TestTruncateKeepsShares: with too many addresses, ready ones are kept first and each
// subset keeps its share of the rest.
func TestTruncateKeepsShares(t *testing.T) {
	addrs := func(n int) []*corev1.EndpointAddress {
		out := make([]*corev1.EndpointAddress, n)
		for i := range out {
			out[i] = &corev1.EndpointAddress{Ip: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}
		}
		return out
	}
	subs := []*corev1.EndpointSubset{
		{Addresses: addrs(600), NotReadyAddresses: addrs(300)},
		{Addresses: addrs(200), NotReadyAddresses: addrs(100)},
	}
	if !truncate(subs) {
		t.Fatal("not truncated")
	}
	// 800 ready stay; the 200 left go to not-ready addresses by share: 150 and 50.
	got := []int{len(subs[0].Addresses), len(subs[0].NotReadyAddresses), len(subs[1].Addresses), len(subs[1].NotReadyAddresses)}
	if !slices.Equal(got, []int{600, 150, 200, 50}) {
		t.Fatalf("kept %v", got)
	}
}

// TestLeftovers: at start every Endpoints object but a leader-election lock is queued, so
// those whose service is gone are deleted.
func TestLeftovers(t *testing.T) {
	f := newFixture(t)
	f.put(&corev1.Endpoints{Kind: "Endpoints", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: "gone", Namespace: "default"}},
		&corev1.Endpoints{Kind: "Endpoints", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: "lock", Namespace: "kube-system",
			Annotations: map[string]string{leaderAnnotation: "{}"}}})
	f.c.queueLeftovers()
	if got := controllertest.DrainQueue(f.queue); !slices.Equal(got, []string{"default/gone"}) {
		t.Fatalf("queued %q", got)
	}
}
