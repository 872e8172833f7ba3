package informers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

var podGVK = runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: &corev1.PodSpec{}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(ctx, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestFactorySharesOneWatchPerKind(t *testing.T) {
	f := cachetest.New()
	for i := range 3 {
		f.AddObject(pod("ns", fmt.Sprintf("p%d", i)))
	}
	factory := NewSharedInformerFactory(f, 0)
	var adds1, adds2 atomic.Int32
	// Two controllers ask for pods independently.
	for _, n := range []*atomic.Int32{&adds1, &adds2} {
		if _, err := factory.Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(runtime.Object) { n.Add(1) },
		}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := factory.Nodes()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	factory.Start(ctx)
	synced := factory.WaitForCacheSync(ctx)
	if len(synced) != 2 || !synced[podGVK] || !synced[runtime.GroupVersionKind{Version: "v1", Kind: "Node"}] {
		t.Fatalf("WaitForCacheSync = %v", synced)
	}
	f.AddObject(pod("ns", "p3"))
	waitFor(t, "4 adds in each handler", func() bool { return adds1.Load() == 4 && adds2.Load() == 4 })
	if n := len(f.ListCalls(podGVK)); n != 1 {
		t.Fatalf("%d pod lists, want 1", n)
	}
	if n := f.OpenWatches(podGVK); n != 1 {
		t.Fatalf("%d pod watches, want 1", n)
	}

	ps, err := factory.Pods().Lister().Namespace("ns").List(labels.Everything())
	if err != nil || len(ps) != 4 {
		t.Fatalf("lister: %d pods, %v", len(ps), err)
	}
	if _, err := nodes.Lister().Get("none"); err == nil {
		t.Fatal("node lister: missing node found")
	}
	if _, ok := factory.Pods().Informer().GetIndexer().GetIndexers()[cache.PodNodeNameIndex]; !ok {
		t.Fatal("pod informer lacks the spec.nodeName index")
	}

	factory.Shutdown()
	if n := f.OpenWatches(podGVK); n != 0 {
		t.Fatalf("%d pod watches open after Shutdown", n)
	}
	if !factory.Pods().Informer().IsStopped() {
		t.Fatal("pod informer still running after Shutdown")
	}
}

func TestFactoryOptions(t *testing.T) {
	f := cachetest.New()
	f.AddObject(pod("a", "p1"))
	f.AddObject(pod("b", "p2"))
	factory := NewSharedInformerFactory(f, time.Minute,
		WithNamespace("a"),
		WithTweakListOptions(func(o *transport.ListOptions) {
			o.LabelSelector = "" // the fake filters labels; this one matches everything
			o.FieldSelector = "spec.nodeName=node-1"
			o.ResourceVersion = "tampered" // the reflector's own fields are kept
		}))
	pods := factory.Pods()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	factory.Start(ctx)
	defer factory.Shutdown()
	factory.WaitForCacheSync(ctx)
	waitFor(t, "watch", func() bool { return f.OpenWatches(podGVK) == 1 })

	lists, watches := f.ListCalls(podGVK), f.WatchCalls(podGVK)
	if lists[0].FieldSelector != "spec.nodeName=node-1" || watches[0].FieldSelector != "spec.nodeName=node-1" {
		t.Fatalf("tweak not applied: list %+v, watch %+v", lists[0], watches[0])
	}
	if lists[0].ResourceVersion != "" || watches[0].ResourceVersion != "2" {
		t.Fatalf("tweak overrode resourceVersion: list %+v, watch %+v", lists[0], watches[0])
	}
	all, _ := pods.Lister().List(nil)
	if len(all) != 1 || all[0].GetMetadata().GetNamespace() != "a" {
		t.Fatalf("namespace option: cached %d pods", len(all))
	}
}
