package objectcache

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// countingTransport is the fake apiserver, counting GETs: the manager must never send one.
type countingTransport struct {
	*cachetest.Transport
	gets atomic.Int32
}

func (c *countingTransport) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	c.gets.Add(1)
	return c.Transport.Get(ctx, ref)
}

var (
	configMapKind = configMapMapping.Kind
	secretKind    = secretMapping.Kind
)

// fixture runs a Manager over a fake apiserver until the test ends.
type fixture struct {
	t   *testing.T
	api *countingTransport
	m   *Manager
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	api := &countingTransport{Transport: cachetest.New()}
	for _, o := range objs {
		api.AddObject(o)
	}
	m, err := New(Config{Transport: api, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{t: t, api: api, m: m}
}

// eventually polls cond, which waits on the manager's watch goroutines.
func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) openWatches(kind runtime.GroupVersionKind, n int) {
	f.t.Helper()
	f.eventually("open watches", func() bool { return f.api.OpenWatches(kind) == n })
}

func (f *fixture) configMapData(ns, name, key string) string {
	f.t.Helper()
	cm, err := f.m.ConfigMap(context.Background(), ns, name)
	if err != nil {
		f.t.Fatalf("configmap %s/%s: %v", ns, name, err)
	}
	return cm.GetData()[key]
}

func configMap(ns, name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"k": v}}
}

func secret(ns, name, v string) *corev1.Secret {
	return &corev1.Secret{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"k": []byte(v)}}
}

// podUsing is a pod of ns that mounts the ConfigMaps named.
func podUsing(ns, uid string, configMaps ...string) *corev1.Pod {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: "pod-" + uid, Uid: uid}, Spec: &corev1.PodSpec{}}
	for _, n := range configMaps {
		p.Spec.Volumes = append(p.Spec.Volumes, &corev1.Volume{Name: n, ConfigMap: &corev1.ConfigMapVolumeSource{Name: n}})
	}
	return p
}

// Two pods sharing a ConfigMap share one watch, a single-object list and watch in the
// object's namespace; it ends only when the last of them is unregistered.
func TestSharedObjectHasOneWatch(t *testing.T) {
	f := newFixture(t, configMap("ns", "conf", "v1"), configMap("ns", "unrelated", "x"))
	f.m.RegisterPod(podUsing("ns", "a", "conf"))
	f.m.RegisterPod(podUsing("ns", "b", "conf"))
	f.openWatches(configMapKind, 1)
	if got := f.configMapData("ns", "conf", "k"); got != "v1" {
		t.Errorf("conf = %q, want v1", got)
	}
	lists, watches := f.api.ListCalls(configMapKind), f.api.WatchCalls(configMapKind)
	if len(lists) != 1 || len(watches) != 1 {
		t.Fatalf("%d lists and %d watches for one shared object, want 1 and 1", len(lists), len(watches))
	}
	for _, o := range append(lists, watches...) {
		if o.FieldSelector != "metadata.name=conf" {
			t.Errorf("field selector %q, want metadata.name=conf", o.FieldSelector)
		}
	}

	f.m.UnregisterPod(podUsing("ns", "a"))
	if got := f.configMapData("ns", "conf", "k"); got != "v1" {
		t.Errorf("after one pod left: conf = %q, want v1", got)
	}
	f.m.UnregisterPod(podUsing("ns", "b"))
	f.openWatches(configMapKind, 0)
	if _, err := f.m.ConfigMap(context.Background(), "ns", "conf"); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("read of an unreferenced object: %v, want a not registered error", err)
	}
	if n := f.api.gets.Load(); n != 0 {
		t.Errorf("%d GETs, want none", n)
	}
}

// An update reaches readers through the watch, without a GET; a deletion reads as
// NotFound, and a later creation is seen too.
func TestUpdatesArriveThroughTheWatch(t *testing.T) {
	f := newFixture(t, configMap("ns", "conf", "v1"))
	f.m.RegisterPod(podUsing("ns", "a", "conf"))
	if got := f.configMapData("ns", "conf", "k"); got != "v1" {
		t.Fatalf("conf = %q, want v1", got)
	}
	f.api.UpdateObject(configMap("ns", "conf", "v2"))
	f.eventually("the update", func() bool { return f.configMapData("ns", "conf", "k") == "v2" })

	f.api.DeleteObject(configMap("ns", "conf", ""))
	f.eventually("the deletion", func() bool {
		_, err := f.m.ConfigMap(context.Background(), "ns", "conf")
		return apierrors.IsNotFound(err) && strings.Contains(err.Error(), `configmap "conf" not found`)
	})
	f.api.AddObject(configMap("ns", "conf", "v3"))
	f.eventually("the re-creation", func() bool {
		cm, err := f.m.ConfigMap(context.Background(), "ns", "conf")
		return err == nil && cm.GetData()["k"] == "v3"
	})
	if n := f.api.gets.Load(); n != 0 {
		t.Errorf("%d GETs, want none", n)
	}
	if n := len(f.api.ListCalls(configMapKind)); n != 1 {
		t.Errorf("%d lists, want 1: the watch alone carried the changes", n)
	}
}

// Secrets are kept apart from ConfigMaps of the same name, and a pod's env references
// count as much as its volumes.
func TestSecretsAndEnvReferences(t *testing.T) {
	f := newFixture(t, configMap("ns", "shared", "cm"), secret("ns", "shared", "sec"))
	pod := podUsing("ns", "a")
	pod.Spec.Containers = []*corev1.Container{{Name: "c", Env: []*corev1.EnvVar{
		{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "shared", Key: "k"}}}},
		EnvFrom: []*corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "shared"}}}}}
	f.m.RegisterPod(pod)
	f.openWatches(secretKind, 1)
	f.openWatches(configMapKind, 1)
	s, err := f.m.Secret(context.Background(), "ns", "shared")
	if err != nil || string(s.GetData()["k"]) != "sec" {
		t.Fatalf("secret = %v, %v", s, err)
	}
	if got := f.configMapData("ns", "shared", "k"); got != "cm" {
		t.Errorf("configmap = %q, want cm", got)
	}
	f.m.UnregisterPod(pod)
	f.openWatches(secretKind, 0)
	f.openWatches(configMapKind, 0)
}

// Re-registering a pod (an update) takes its new references before it releases the old
// ones: an object it keeps is not watched again, one it dropped is unwatched.
func TestRegisterUpdateKeepsSharedWatches(t *testing.T) {
	f := newFixture(t, configMap("ns", "a", "1"), configMap("ns", "b", "2"), configMap("ns", "c", "3"))
	f.m.RegisterPod(podUsing("ns", "p", "a", "b"))
	f.openWatches(configMapKind, 2)
	f.m.RegisterPod(podUsing("ns", "p", "b", "c"))
	f.eventually("c watched and a not", func() bool {
		return len(f.api.WatchCalls(configMapKind)) == 3 && f.api.OpenWatches(configMapKind) == 2
	})
	if got := f.configMapData("ns", "c", "k"); got != "3" {
		t.Errorf("c = %q, want 3", got)
	}
	if n := len(f.api.WatchCalls(configMapKind)); n != 3 {
		t.Errorf("%d watches started, want 3 (a, b once, c)", n)
	}
	if _, err := f.m.ConfigMap(context.Background(), "ns", "a"); err == nil {
		t.Error("a is still served after the pod stopped referencing it")
	}
}

// An immutable object is not watched once it has been read: it cannot change.
func TestImmutableObjectIsNotWatched(t *testing.T) {
	cm := configMap("ns", "frozen", "v1")
	cm.Immutable = new(true)
	f := newFixture(t, cm, configMap("ns", "live", "v1"))
	f.m.RegisterPod(podUsing("ns", "a", "frozen", "live"))
	f.openWatches(configMapKind, 2)
	if got := f.configMapData("ns", "frozen", "k"); got != "v1" {
		t.Fatalf("frozen = %q, want v1", got)
	}
	f.openWatches(configMapKind, 1)
	// Still served, from what was seen, to every pod that references it.
	f.m.RegisterPod(podUsing("ns", "b", "frozen"))
	if got := f.configMapData("ns", "frozen", "k"); got != "v1" {
		t.Errorf("frozen after the watch stopped = %q, want v1", got)
	}
	if n := len(f.api.WatchCalls(configMapKind)); n != 2 {
		t.Errorf("%d watches started, want 2: a second pod does not watch an immutable object again", n)
	}
}

// blockingLists is a fake apiserver whose lists wait for release.
type blockingLists struct {
	*cachetest.Transport
	release chan struct{}
}

func (b *blockingLists) List(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.Transport.List(ctx, ref, opts)
}

// A read before the object's first list waits for it, at most SyncTimeout, and then fails
// as Kubernetes' kubelet does; once the list arrives, reads succeed.
func TestReadBeforeFirstSync(t *testing.T) {
	api := &blockingLists{Transport: cachetest.New(), release: make(chan struct{})}
	api.AddObject(configMap("ns", "conf", "v1"))
	clk := testingclock.NewFakeClock(time.Now())
	m, err := New(Config{Transport: api, Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	m.RegisterPod(podUsing("ns", "a", "conf"))

	read := func() <-chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := m.ConfigMap(context.Background(), "ns", "conf")
			ch <- err
		}()
		return ch
	}
	waiting := func() {
		deadline := time.Now().Add(5 * time.Second)
		for !clk.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("the read does not wait for the first list")
			}
			time.Sleep(time.Millisecond)
		}
	}

	first := read()
	waiting()
	clk.Step(DefaultSyncTimeout)
	if err := <-first; err == nil || err.Error() != "failed to sync configmap cache: timed out waiting for the condition" {
		t.Fatalf("read before sync: %v", err)
	}

	second := read()
	waiting()
	close(api.release)
	if err := <-second; err != nil {
		t.Fatalf("read once the list arrived: %v", err)
	}
}

// Objects registered before Run are watched when it starts; when it ends, every watch
// ends with it.
func TestRunStartsAndStopsWatches(t *testing.T) {
	api := cachetest.New()
	api.AddObject(configMap("ns", "conf", "v1"))
	m, err := New(Config{Transport: api, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m.RegisterPod(podUsing("ns", "a", "conf"))
	if n := len(api.WatchCalls(configMapKind)) + len(api.ListCalls(configMapKind)); n != 0 {
		t.Fatalf("%d calls before Run", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	f := &fixture{t: t, api: &countingTransport{Transport: api}, m: m}
	f.openWatches(configMapKind, 1)
	cancel()
	<-done
	if n := api.OpenWatches(configMapKind); n != 0 {
		t.Errorf("%d watches open after Run returned", n)
	}
}
