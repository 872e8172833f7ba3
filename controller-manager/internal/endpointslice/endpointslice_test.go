package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
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
	queue *recordingQueue
	c     *Controller
}

// recordingQueue is a work queue that also records what was queued and with what delay.
type recordingQueue struct {
	*workqueue.Queue[string]
	mu    sync.Mutex
	added []string
}

func (q *recordingQueue) Add(key string) { q.record(key, 0); q.Queue.Add(key) }
func (q *recordingQueue) AddAfter(key string, d time.Duration) {
	q.record(key, d)
	q.Queue.AddAfter(key, d)
}

func (q *recordingQueue) record(key string, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.added = append(q.added, fmt.Sprintf("%s after %v", key, d))
}

// take returns what was queued since the last call.
func (q *recordingQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.added
	q.added = nil
	return out
}

func newFixture(t *testing.T, maxEndpoints int) *fixture {
	f := &fixture{t: t, fake: controllertest.NewTransport(), rec: &controllertest.Recorder{}}
	f.inf = informers.NewSharedInformerFactory(f.fake, 0)
	f.queue = &recordingQueue{Queue: workqueue.NewNamed[string]("test")}
	t.Cleanup(f.queue.ShutDown)
	c, err := NewController(Config{
		Client: kube.New(f.fake), Service: f.inf.Services().Informer(), Pod: f.inf.Pods().Informer(),
		Node: f.inf.Nodes().Informer(), EndpointSlice: f.inf.EndpointSlices().Informer(),
		Recorder: f.rec, Queue: f.queue, Log: slog.New(slog.DiscardHandler), MaxEndpointsPerSlice: maxEndpoints,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.put(&corev1.Node{Kind: "Node", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{controller.LabelTopologyZone: "zone-a"}}})
	return f
}

// put stores objs in the fake server and the caches, as synced informers would hold them.
func (f *fixture) put(objs ...runtime.Object) {
	f.t.Helper()
	controllertest.Put(f.t, f.fake, f.inf, objs...)
}

// remove deletes obj from the server and the cache.
func (f *fixture) remove(obj runtime.Object) {
	f.t.Helper()
	controllertest.Remove(f.t, f.fake, f.inf, obj)
}

func (f *fixture) sync() error { return f.c.sync(context.Background(), "default/web") }

// observe copies the server's slices into the cache, as the informer would once it caught
// up, dropping from the cache those the server no longer has.
func (f *fixture) observe() {
	f.t.Helper()
	idx := f.inf.EndpointSlices().Informer().GetIndexer()
	for _, o := range idx.List() {
		_ = idx.Delete(o)
	}
	for _, s := range f.stored() {
		if err := idx.Update(s); err != nil {
			f.t.Fatal(err)
		}
	}
}

// stored lists the slices on the server, by name.
func (f *fixture) stored() []*discoveryv1.EndpointSlice {
	f.t.Helper()
	l, err := kube.New(f.fake).EndpointSlices("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := l.GetItems()
	controller.SortByName(out)
	return out
}

func (f *fixture) expectActions(want ...string) {
	f.t.Helper()
	if got := f.fake.TakeActions(); !slices.Equal(got, want) {
		f.t.Errorf("actions:\n  got  %q\n  want %q", got, want)
	}
}

const (
	createSlice = "create endpointslices default/"
	updatePfx   = "update endpointslices default/"
	deletePfx   = "delete endpointslices default/"
)

type svcOpt func(*corev1.Service)

func newService(opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		Kind: "Service", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Uid: "svc-uid", Labels: map[string]string{"team": "a"},
			CreationTimestamp: controller.NewTime(epoch)},
		Spec: &corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10", IpFamilies: []string{corev1.IPv4Protocol},
			Ports: []*corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "http"}}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

type podOpt func(*corev1.Pod)

func ready(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(at)}}
	}
}
func notReady(p *corev1.Pod) {
	p.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionFalse, LastTransitionTime: controller.NewTime(epoch)}}
}
func deleting(p *corev1.Pod) { p.Metadata.DeletionTimestamp = controller.NewTime(epoch) }
func phase(ph string) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func containerPort(n int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}

// newPod is a running pod of the service on node-a with IP 10.244.0.<i>.
func newPod(name string, i int, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name, Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{NodeName: "node-a", Containers: []*corev1.Container{{Name: "nginx",
			Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}}}}},
		Status: &corev1.PodStatus{Phase: controller.PodRunning, PodIP: fmt.Sprintf("10.244.0.%d", i),
			PodIPs: []*corev1.PodIP{{Ip: fmt.Sprintf("10.244.0.%d", i)}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// endpoints renders a slice's endpoints as "pod ip ready/serving/terminating".
func endpoints(s *discoveryv1.EndpointSlice) []string {
	var out []string
	for _, ep := range s.GetEndpoints() {
		c := ep.GetConditions()
		out = append(out, fmt.Sprintf("%s %s %v/%v/%v", ep.GetTargetRef().GetName(), strings.Join(ep.GetAddresses(), ","), c.GetReady(), c.GetServing(), c.GetTerminating()))
	}
	return out
}

func ports(s *discoveryv1.EndpointSlice) string {
	var out []string
	for _, p := range s.GetPorts() {
		out = append(out, fmt.Sprintf("%s:%d/%s", p.GetName(), p.GetPort(), p.GetProtocol()))
	}
	return strings.Join(out, ",")
}

// TestSliceOfAService: one slice, owned by the service and labelled as upstream's, holds
// every pod with an IP that has not finished, with its conditions, node, zone and the
// port its named targetPort resolves to; a second sync over the written slice writes
// nothing.
func TestSliceOfAService(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(),
		newPod("web-a", 1, ready(epoch.Add(time.Minute))),
		newPod("web-b", 2, notReady),
		newPod("web-c", 3, ready(epoch), deleting),
		newPod("web-noip", 4, func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "", nil }),
		newPod("web-done", 5, phase(controller.PodSucceeded)),
		newPod("other", 6, func(p *corev1.Pod) { p.Metadata.Labels = map[string]string{"app": "other"} }))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(createSlice)
	got := f.stored()
	if len(got) != 1 {
		t.Fatalf("%d slices", len(got))
	}
	s := got[0]
	m := s.GetMetadata()
	if m.GetGenerateName() != "web-" || s.GetAddressType() != discoveryv1.AddressTypeIPv4 {
		t.Errorf("generateName %q, addressType %q", m.GetGenerateName(), s.GetAddressType())
	}
	wantLabels := map[string]string{"team": "a", discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: discoveryv1.ControllerName}
	if !maps.Equal(m.GetLabels(), wantLabels) {
		t.Errorf("labels = %v", m.GetLabels())
	}
	if refs := m.GetOwnerReferences(); len(refs) != 1 || refs[0].GetUid() != "svc-uid" || refs[0].GetKind() != "Service" ||
		refs[0].GetApiVersion() != "v1" || !refs[0].GetController() || !refs[0].GetBlockOwnerDeletion() {
		t.Errorf("owner references = %v", refs)
	}
	// The service's creation is the earliest change this first sync saw.
	if at := m.GetAnnotations()[controller.AnnotationLastChangeTriggerTime]; at != "2026-01-01T00:00:00Z" {
		t.Errorf("trigger time = %q", at)
	}
	if p := ports(s); p != "http:8080/TCP" {
		t.Errorf("ports = %s", p)
	}
	want := []string{"web-a 10.244.0.1 true/true/false", "web-b 10.244.0.2 false/false/false", "web-c 10.244.0.3 false/true/true"}
	if got := endpoints(s); !slices.Equal(got, want) {
		t.Errorf("endpoints:\n  got  %q\n  want %q", got, want)
	}
	ep := s.GetEndpoints()[0]
	if ep.GetNodeName() != "node-a" || ep.GetZone() != "zone-a" || ep.GetTargetRef().GetUid() != "uid-web-a" || ep.GetTargetRef().GetKind() != "Pod" ||
		ep.Hostname != nil || ep.Hints != nil {
		t.Errorf("endpoint = %v", ep)
	}

	f.observe()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions()
}

// TestReadinessUpdatesInPlace: a pod turning ready, and one being deleted, change the
// existing slice; the trigger time is the earliest change since the last sync.
func TestReadinessUpdatesInPlace(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(), newPod("web-a", 1, notReady), newPod("web-b", 2, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.observe()
	name := f.stored()[0].GetMetadata().GetName()
	f.fake.TakeActions()

	f.put(newPod("web-a", 1, ready(epoch.Add(time.Hour))), newPod("web-b", 2, ready(epoch), deleting))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updatePfx + name)
	s := f.stored()[0]
	want := []string{"web-a 10.244.0.1 true/true/false", "web-b 10.244.0.2 false/true/true"}
	if got := endpoints(s); !slices.Equal(got, want) {
		t.Errorf("endpoints:\n  got  %q\n  want %q", got, want)
	}
	if at := s.GetMetadata().GetAnnotations()[controller.AnnotationLastChangeTriggerTime]; at != "2026-01-01T01:00:00Z" {
		t.Errorf("trigger time = %q", at)
	}

	// The pod is gone: its endpoint leaves the slice.
	f.observe()
	f.remove(newPod("web-b", 2))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updatePfx + name)
	if got := endpoints(f.stored()[0]); !slices.Equal(got, want[:1]) {
		t.Errorf("endpoints = %q", got)
	}
}

// TestStaleCacheWaits: until the informer shows the slice a sync created, the next sync
// fails (to be retried) instead of creating a second one.
func TestStaleCacheWaits(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(), newPod("web-a", 1, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(createSlice)
	f.put(newPod("web-b", 2, ready(epoch)))
	if err := f.sync(); err == nil {
		t.Fatal("sync over a cache without the created slice: no error")
	}
	f.expectActions()
	f.observe()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updatePfx + f.stored()[0].GetMetadata().GetName())
	if n := len(f.stored()); n != 1 {
		t.Fatalf("%d slices", n)
	}
}

// TestPortsAndCapacity: pods whose named targetPort resolves to different ports go into
// different slices, and no slice holds more than --max-endpoints-per-slice endpoints; a pod
// leaving updates one slice rather than repacking.
func TestPortsAndCapacity(t *testing.T) {
	f := newFixture(t, 2)
	f.put(newService())
	for i := range 5 {
		f.put(newPod(fmt.Sprintf("web-%d", i), i+1, ready(epoch)))
	}
	f.put(newPod("web-alt", 9, ready(epoch), containerPort(9090)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(createSlice, createSlice, createSlice, createSlice)
	var got []string
	for _, s := range f.stored() {
		got = append(got, fmt.Sprintf("%s %d", ports(s), len(s.GetEndpoints())))
	}
	slices.Sort(got)
	want := []string{"http:8080/TCP 1", "http:8080/TCP 2", "http:8080/TCP 2", "http:9090/TCP 1"}
	if !slices.Equal(got, want) {
		t.Fatalf("slices:\n  got  %q\n  want %q", got, want)
	}
	f.observe()
	f.remove(newPod("web-0", 1))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if a := f.fake.TakeActions(); len(a) != 1 || !strings.HasPrefix(a[0], updatePfx) {
		t.Fatalf("actions = %q", a)
	}
	// A new pod fits the slice that has room; nothing is created.
	f.observe()
	f.put(newPod("web-new", 7, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if a := f.fake.TakeActions(); len(a) != 1 || !strings.HasPrefix(a[0], updatePfx) {
		t.Fatalf("actions = %q", a)
	}
}

// TestPlaceholder: a service without endpoints has one empty slice, kept as long as it has
// none, and reused for the first endpoint.
func TestPlaceholder(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService())
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(createSlice)
	s := f.stored()[0]
	if len(s.GetEndpoints()) != 0 || len(s.GetPorts()) != 0 {
		t.Fatalf("placeholder = %v", s)
	}
	f.observe()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions()
	f.put(newPod("web-a", 1, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(updatePfx + s.GetMetadata().GetName())
	if got := f.stored(); len(got) != 1 || ports(got[0]) != "http:8080/TCP" || len(got[0].GetEndpoints()) != 1 {
		t.Fatalf("slices = %v", got)
	}
}

// TestSelectorRemoved: a service that no longer selects pods loses the slices this
// controller made for it, and only those.
func TestSelectorRemoved(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(), newPod("web-a", 1, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.observe()
	name := f.stored()[0].GetMetadata().GetName()
	f.fake.TakeActions()
	hand := &discoveryv1.EndpointSlice{Kind: "EndpointSlice", ApiVersion: "discovery.k8s.io/v1", AddressType: "IPv4",
		Metadata: &metav1.ObjectMeta{Name: "web-by-hand", Namespace: "default", Uid: "hand-uid",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "someone-else"}}}
	f.put(hand, newService(func(s *corev1.Service) { s.Spec.Selector = nil }))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(deletePfx + name)
	if got := f.stored(); len(got) != 1 || got[0].GetMetadata().GetName() != "web-by-hand" {
		t.Fatalf("slices = %v", got)
	}
	f.observe()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions()
}

// TestRecreatedService: slices left by an earlier service of the same name (another uid)
// are replaced by the new service's, by updating them in place.
func TestRecreatedService(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(func(s *corev1.Service) { s.Metadata.Uid = "old-uid" }), newPod("web-a", 1, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.observe()
	old := f.stored()[0]
	f.fake.TakeActions()
	f.c.tracker.forget("default/web") // the old service's deletion was seen
	f.put(newService())
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.expectActions(createSlice, deletePfx+old.GetMetadata().GetName())
	got := f.stored()
	if len(got) != 1 || got[0].GetMetadata().GetOwnerReferences()[0].GetUid() != "svc-uid" {
		t.Fatalf("slices = %v", got)
	}
}

// TestHostnameAndPublishNotReady: a pod naming the service as its subdomain has its hostname
// on its endpoint; publishNotReadyAddresses makes every endpoint ready; a pod whose node is
// unknown is then kept (otherwise it is left out and the sync retried).
func TestHostnameAndPublishNotReady(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(func(s *corev1.Service) {
		s.Spec.PublishNotReadyAddresses = true
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}),
		newPod("web-a", 1, notReady, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a", "web" }),
		newPod("web-b", 2, ready(epoch), func(p *corev1.Pod) { p.Spec.NodeName = "node-gone" }))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	s := f.stored()[0]
	want := []string{"web-a 10.244.0.1 true/false/false", "web-b 10.244.0.2 true/true/false"}
	if got := endpoints(s); !slices.Equal(got, want) {
		t.Fatalf("endpoints:\n  got  %q\n  want %q", got, want)
	}
	if h := s.GetEndpoints()[0].GetHostname(); h != "a" {
		t.Errorf("hostname = %q", h)
	}
	if _, ok := s.GetMetadata().GetLabels()[controller.LabelHeadlessService]; !ok {
		t.Errorf("headless service's slice labels = %v", s.GetMetadata().GetLabels())
	}

	f = newFixture(t, 0)
	f.put(newService(), newPod("web-a", 1, ready(epoch)), newPod("web-b", 2, ready(epoch), func(p *corev1.Pod) { p.Spec.NodeName = "node-gone" }))
	if err := f.sync(); err == nil || !strings.Contains(err.Error(), "node-gone") {
		t.Fatalf("sync with a pod on an unknown node: %v", err)
	}
	if got := endpoints(f.stored()[0]); len(got) != 1 {
		t.Fatalf("endpoints = %q", got)
	}
}

// TestSliceEvents: the controller's own writes coming back do not queue the service; a
// slice changed or deleted by someone else does, after a second so that several changes
// make one sync.
func TestSliceEvents(t *testing.T) {
	f := newFixture(t, 0)
	f.put(newService(), newPod("web-a", 1, ready(epoch)))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	own := f.stored()[0]
	f.c.addSlice(own)
	if got := f.queue.take(); len(got) != 0 {
		t.Fatalf("own create queued %q", got)
	}
	edited := proto.Clone(own).(*discoveryv1.EndpointSlice)
	edited.Endpoints = nil
	edited = f.fake.UpdateObject(edited).(*discoveryv1.EndpointSlice)
	f.c.updateSlice(own, edited)
	f.c.deleteSlice(edited)
	if got, want := f.queue.take(), []string{"default/web after 1s", "default/web after 1s"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q, want %q", got, want)
	}
	// A slice this controller deleted going away is no news.
	f.c.tracker.deleted(edited)
	f.c.deleteSlice(edited)
	if got := f.queue.take(); len(got) != 0 {
		t.Fatalf("own delete queued %q", got)
	}
}
