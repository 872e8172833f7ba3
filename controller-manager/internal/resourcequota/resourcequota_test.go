package resourcequota

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var quotaGVK = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "ResourceQuota"}

// apiServer is the fake API: cachetest's store, with the apiserver's compare-and-swap on
// updates (a stale resourceVersion is a Conflict) and a record of what the controller did.
type apiServer struct {
	*cachetest.Transport

	mu sync.Mutex
	// actions are the calls the controller made: "list pods team", "update resourcequotas team/q/status".
	actions []string
	// afterPodList, if set, runs once just after the next pod list was read: a write
	// racing the sync between its pod list and its status write.
	afterPodList func()
}

func (a *apiServer) record(action string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions = append(a.actions, action)
}

func (a *apiServer) Actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.actions)
}

func (a *apiServer) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions = nil
}

func (a *apiServer) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	a.record("get " + ref.Mapping.Plural + " " + ref.Namespace + "/" + ref.Name)
	return a.Transport.Get(ctx, ref)
}

func (a *apiServer) List(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	if ref.Mapping.Plural == "persistentvolumeclaims" {
		a.record("list persistentvolumeclaims " + ref.Namespace)
	}
	if ref.Mapping.Plural != "pods" {
		return a.Transport.List(ctx, ref, opts)
	}
	a.record("list pods " + ref.Namespace)
	list, err := a.Transport.List(ctx, ref, opts)
	a.mu.Lock()
	hook := a.afterPodList
	a.afterPodList = nil
	a.mu.Unlock()
	if hook != nil {
		hook()
	}
	return list, err
}

func (a *apiServer) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, sub string) (runtime.Object, error) {
	action := "update " + ref.Mapping.Plural + " " + ref.Namespace + "/" + ref.Name
	if sub != "" {
		action += "/" + sub
	}
	a.record(action)
	cur, err := a.Transport.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if obj.GetMetadata().GetResourceVersion() != cur.GetMetadata().GetResourceVersion() {
		return nil, apierrors.NewConflict(apierrors.GroupResource{Resource: ref.Mapping.Plural}, ref.Name,
			errPlain("the object has been modified; please apply your changes to the latest version and try again"))
	}
	return a.Transport.Update(ctx, ref, obj, sub)
}

type errPlain string

func (e errPlain) Error() string { return string(e) }

func quantities(kv ...string) map[string]*metav1.Quantity {
	m := map[string]*metav1.Quantity{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &metav1.Quantity{String_: kv[i+1]}
	}
	return m
}

func resourceQuota(ns, name string, hard, used map[string]*metav1.Quantity) *corev1.ResourceQuota {
	q := &corev1.ResourceQuota{Kind: "ResourceQuota", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Uid: "uid-" + name},
		Spec:     &corev1.ResourceQuotaSpec{Hard: hard}}
	if used != nil {
		q.Status = &corev1.ResourceQuotaStatus{Hard: hard, Used: used}
	}
	return q
}

func pod(ns, name, phase, cpu string) *corev1.Pod {
	c := &corev1.Container{Name: "c", Image: "nginx"}
	if cpu != "" {
		c.Resources = &corev1.ResourceRequirements{Requests: quantities("cpu", cpu)}
	}
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Uid: "uid-" + name},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{c}},
		Status:   &corev1.PodStatus{Phase: phase}}
}

// fixture builds the controller on a synced cache of objs and returns it with the fake
// API, its queue emptied of the initial adds.
func fixture(t *testing.T, objs ...runtime.Object) (*Controller, *apiServer, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	api := &apiServer{Transport: cachetest.New()}
	for _, o := range objs {
		api.AddObject(o)
	}
	factory := informers.NewSharedInformerFactory(api, 0)
	c, err := NewController(Config{
		Client: kube.New(api),
		Quota:  factory.ResourceQuotas().Informer(),
		Pod:    factory.Pods().Informer(),
		Claim:  factory.PersistentVolumeClaims().Informer(),
		Log:    slog.New(slog.DiscardHandler),
		Queue:  workqueue.NewNamed[string]("resourcequota-test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	factory.Start(ctx)
	t.Cleanup(factory.Shutdown)
	if !cache.WaitForCacheSync(ctx, c.synced...) {
		t.Fatal("cache did not sync")
	}
	controllertest.DrainQueue(c.queue)
	api.Reset()
	return c, api, ctx
}

func stored(t *testing.T, api *apiServer, ns, name string) *corev1.ResourceQuota {
	t.Helper()
	for _, o := range api.Objects(quotaGVK) {
		if o.GetMetadata().GetNamespace() == ns && o.GetMetadata().GetName() == name {
			return o.(*corev1.ResourceQuota)
		}
	}
	t.Fatalf("quota %s/%s not stored", ns, name)
	return nil
}

// syncThenRead syncs the quota namespace/name and returns it as stored afterwards.
func syncThenRead(ctx context.Context, t *testing.T, c *Controller, api *apiServer, namespace, name string) *corev1.ResourceQuota {
	t.Helper()
	if err := c.sync(ctx, namespace+"/"+name); err != nil {
		t.Fatal(err)
	}
	return stored(t, api, namespace, name)
}

func used(q *corev1.ResourceQuota, name string) string {
	return q.GetStatus().GetUsed()[name].GetString_()
}

func TestSyncReturnsTheRoomOfGonePods(t *testing.T) {
	// Charged for 3 pods and 1.5 cpu; only one running pod is left.
	q := resourceQuota("team", "compute", quantities("pods", "5", "requests.cpu", "2"), quantities("pods", "3", "requests.cpu", "1500m"))
	c, api, ctx := fixture(t, q, pod("team", "web", "Running", "500m"), pod("team", "done", "Failed", "1"),
		pod("other", "elsewhere", "Running", "1"))
	got := syncThenRead(ctx, t, c, api, "team", "compute")
	if used(got, "pods") != "1" || used(got, "requests.cpu") != "500m" {
		t.Errorf("status.used = %v, want pods=1 requests.cpu=500m", got.GetStatus().GetUsed())
	}
	if len(got.GetStatus().GetHard()) != 2 || got.GetStatus().GetHard()["pods"].GetString_() != "5" {
		t.Errorf("status.hard = %v, want spec.hard", got.GetStatus().GetHard())
	}
	// The quota, then the pods, are read from the API (in that order: see sync), and the
	// status goes through the status subresource.
	want := []string{"get resourcequotas team/compute", "list pods team", "update resourcequotas team/compute/status"}
	if !slices.Equal(api.Actions(), want) {
		t.Errorf("actions = %q, want %q", api.Actions(), want)
	}
}

func TestSyncFillsTheStatusOfANewQuota(t *testing.T) {
	c, api, ctx := fixture(t, resourceQuota("team", "q", quantities("pods", "2", "limits.memory", "1Gi"), nil),
		pod("team", "a", "Pending", ""))
	got := syncThenRead(ctx, t, c, api, "team", "q")
	if used(got, "pods") != "1" || used(got, "limits.memory") != "0" {
		t.Errorf("status.used = %v, want pods=1 limits.memory=0", got.GetStatus().GetUsed())
	}
}

func TestSyncWritesOnlyWhenUsageChanged(t *testing.T) {
	hard := quantities("pods", "5")
	c, api, ctx := fixture(t, resourceQuota("team", "q", hard, quantities("pods", "1")), pod("team", "a", "Running", ""))
	if err := c.sync(ctx, "team/q"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"get resourcequotas team/q", "list pods team"}; !slices.Equal(api.Actions(), want) {
		t.Errorf("actions = %q, want %q (no write: the status is right)", api.Actions(), want)
	}
}

// A charge that lands between the sync's quota read and its pod list bumps the quota's
// resourceVersion: the write conflicts and the sync starts over on the fresh quota, so
// the recompute neither loses the charge nor the pod.
// A pod created after the sync listed the pods was charged to the quota, which bumped its
// resourceVersion: the status write conflicts and the sync starts over on the fresh quota.
// Written over the charge, the recompute would lose the pod and let a create overshoot.
func TestSyncStartsOverWhenAChargeRaces(t *testing.T) {
	// Charged for a, b and a pod that has since succeeded.
	c, api, ctx := fixture(t, resourceQuota("team", "q", quantities("pods", "5"), quantities("pods", "3")),
		pod("team", "a", "Running", ""), pod("team", "b", "Running", ""), pod("team", "done", "Succeeded", ""))
	api.afterPodList = func() {
		// Admission charges the quota for pod c, then the pod is stored.
		api.UpdateObject(resourceQuota("team", "q", quantities("pods", "5"), quantities("pods", "4")))
		api.AddObject(pod("team", "c", "Pending", ""))
	}
	if err := c.sync(ctx, "team/q"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"get resourcequotas team/q", "list pods team", "update resourcequotas team/q/status", // a Conflict: the quota moved on
		"get resourcequotas team/q", "list pods team", "update resourcequotas team/q/status", // all over again
	}
	if !slices.Equal(api.Actions(), want) {
		t.Errorf("actions = %q, want %q", api.Actions(), want)
	}
	if got := used(stored(t, api, "team", "q"), "pods"); got != "3" {
		t.Errorf("status.used.pods = %s, want 3 (a, b and the racing c)", got)
	}
}

func TestSyncOfADeletedQuotaDoesNothing(t *testing.T) {
	c, api, ctx := fixture(t, pod("team", "a", "Running", ""))
	if err := c.sync(ctx, "team/gone"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"get resourcequotas team/gone"}; !slices.Equal(api.Actions(), want) {
		t.Errorf("actions = %q, want %q", api.Actions(), want)
	}
}

func TestEventHandlersEnqueueWhatNeedsARecompute(t *testing.T) {
	c, _, _ := fixture(t,
		resourceQuota("team", "compute", quantities("pods", "5"), nil),
		resourceQuota("team", "objects", quantities("count/pods", "5"), nil),
		resourceQuota("other", "q", quantities("pods", "5"), nil))
	// podUpdate is the update event of pod team/a from (phase, cpu request) to another;
	// rv is the new resourceVersion ("1" as the old one is a resync).
	podUpdate := func(oldPhase, oldCPU, newPhase, newCPU, rv string) func() {
		return func() {
			oldPod, newPod := pod("team", "a", oldPhase, oldCPU), pod("team", "a", newPhase, newCPU)
			oldPod.Metadata.ResourceVersion, newPod.Metadata.ResourceVersion = "1", rv
			c.updatePod(oldPod, newPod)
		}
	}
	quotaRV := func(hard, used map[string]*metav1.Quantity, rv string) *corev1.ResourceQuota {
		q := resourceQuota("team", "compute", hard, used)
		q.Metadata.ResourceVersion = rv
		return q
	}
	both := []string{"team/compute", "team/objects"}
	for _, tc := range []struct {
		name  string
		event func()
		want  []string
	}{
		{"pod failed", podUpdate("Running", "", "Failed", "", "2"), both},
		{"pod succeeded", podUpdate("Running", "", "Succeeded", "", "2"), both},
		{"pod requests changed", podUpdate("Running", "100m", "Running", "200m", "2"), both},
		{"pod became Running: counts the same", podUpdate("Pending", "", "Running", "", "2"), nil},
		{"pod resync", podUpdate("Running", "", "Failed", "", "1"), nil},
		{"pod deleted", func() { c.deleteObject(pod("team", "a", "Running", "")) }, both},
		{"pod deleted, seen as a tombstone", func() {
			c.deleteObject(cache.DeletedFinalStateUnknown{Key: "team/a", Obj: pod("team", "a", "Running", "")})
		}, both},
		{"pod in a namespace without quotas", func() { c.deleteObject(pod("free", "a", "Running", "")) }, nil},
		{"quota spec.hard changed", func() {
			c.updateQuota(quotaRV(quantities("pods", "2"), quantities("pods", "1"), "1"), quotaRV(quantities("pods", "3"), quantities("pods", "1"), "2"))
		}, []string{"team/compute"}},
		// Every admission charge is such an update; recomputing on each would list the
		// namespace's pods once per pod created.
		{"quota status.used changed only", func() {
			c.updateQuota(quotaRV(quantities("pods", "2"), quantities("pods", "1"), "1"), quotaRV(quantities("pods", "2"), quantities("pods", "2"), "2"))
		}, nil},
		{"quota spec.hard written differently, same value", func() {
			c.updateQuota(quotaRV(quantities("memory", "1Gi"), nil, "1"), quotaRV(quantities("memory", "1024Mi"), quantities("memory", "0"), "2"))
		}, nil},
		{"quota status.hard does not mirror spec.hard", func() {
			c.updateQuota(quotaRV(quantities("pods", "2"), nil, "1"), quotaRV(quantities("pods", "2"), nil, "2"))
		}, []string{"team/compute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.event()
			if got := controllertest.DrainQueue(c.queue); !slices.Equal(got, tc.want) {
				t.Errorf("queued %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFullResyncEnqueuesEveryQuota(t *testing.T) {
	c, _, _ := fixture(t,
		resourceQuota("a", "q1", quantities("pods", "1"), nil),
		resourceQuota("a", "q2", quantities("pods", "1"), nil),
		resourceQuota("b", "q1", quantities("pods", "1"), nil))
	c.enqueueAll()
	if got, want := controllertest.DrainQueue(c.queue), []string{"a/q1", "a/q2", "b/q1"}; !slices.Equal(got, want) {
		t.Errorf("queued %q, want %q", got, want)
	}
}
