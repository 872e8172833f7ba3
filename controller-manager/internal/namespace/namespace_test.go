package namespace

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllerctx"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var (
	nsGVK  = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Namespace"}
	podGVK = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Pod"}
	depGVK = runtime.GroupVersionKind{Group: scheme.GroupApps, Version: "v1", Kind: "Deployment"}
)

func terminating(name string) *corev1.Namespace {
	return &corev1.Namespace{Kind: "Namespace", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name, DeletionTimestamp: &metav1.Time{Seconds: 1}},
		Spec:     &corev1.NamespaceSpec{Finalizers: []string{FinalizerKubernetes}},
		Status:   &corev1.NamespaceStatus{Phase: "Terminating"}}
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Uid: "uid-" + ns + "-" + name}, Spec: &corev1.PodSpec{}}
}

func deployment(ns, name string) *appsv1.Deployment {
	return &appsv1.Deployment{Kind: "Deployment", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Uid: "uid-" + ns + "-" + name}}
}

func newContext(t transport.Interface) *controllerctx.Context {
	return &controllerctx.Context{
		Client:    kube.New(t),
		Informers: informers.NewSharedInformerFactory(t, 0),
		Log:       slog.New(slog.DiscardHandler),
		Options:   controllerctx.DefaultOptions(),
	}
}

func fixture(t *testing.T, objs ...runtime.Object) (*Controller, *cachetest.Transport, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	tr := cachetest.New()
	for _, o := range objs {
		tr.AddObject(o)
	}
	cc := newContext(tr)
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	cc.Informers.Start(ctx)
	t.Cleanup(cc.Informers.Shutdown)
	if !cache.WaitForCacheSync(ctx, c.synced) {
		t.Fatal("cache did not sync")
	}
	return c, tr, ctx
}

func names(objs []runtime.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetMetadata().GetNamespace()+"/"+o.GetMetadata().GetName())
	}
	return out
}

func finalizers(t *testing.T, tr *cachetest.Transport, name string) []string {
	t.Helper()
	for _, o := range tr.Objects(nsGVK) {
		if o.GetMetadata().GetName() == name {
			return o.(*corev1.Namespace).GetSpec().GetFinalizers()
		}
	}
	t.Fatalf("namespace %s not stored", name)
	return nil
}

func TestSyncDeletesContentThenFinalizes(t *testing.T) {
	active := terminating("keep")
	active.Metadata.DeletionTimestamp = nil
	c, tr, ctx := fixture(t, terminating("gone"), active,
		pod("gone", "a"), pod("gone", "b"), deployment("gone", "web"), pod("keep", "a"), deployment("keep", "web"))
	if err := c.sync(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got, want := names(tr.Objects(podGVK)), []string{"keep/a"}; !slices.Equal(got, want) {
		t.Errorf("pods = %v, want %v", got, want)
	}
	if got, want := names(tr.Objects(depGVK)), []string{"keep/web"}; !slices.Equal(got, want) {
		t.Errorf("deployments = %v, want %v", got, want)
	}
	if fs := finalizers(t, tr, "gone"); len(fs) != 0 {
		t.Errorf("finalizers of gone = %v, want none", fs)
	}
	// An active namespace is left alone.
	if err := c.sync(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if fs := finalizers(t, tr, "keep"); !slices.Equal(fs, []string{FinalizerKubernetes}) {
		t.Errorf("finalizers of keep = %v", fs)
	}
}

func TestSyncWaitsForPendingDeletions(t *testing.T) {
	slow := pod("gone", "slow")
	slow.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 100}
	slow.Metadata.DeletionGracePeriodSeconds = proto.Int64(30)
	c, tr, ctx := fixture(t, terminating("gone"), slow)
	var remaining *contentRemainingError
	if err := c.sync(ctx, "gone"); !errors.As(err, &remaining) || remaining.count != 1 {
		t.Fatalf("sync = %v, want 1 object remaining", err)
	}
	if fs := finalizers(t, tr, "gone"); !slices.Equal(fs, []string{FinalizerKubernetes}) {
		t.Fatalf("finalized while a pod remained: finalizers = %v", fs)
	}
	tr.DeleteObject(slow) // the kubelet confirmed
	if err := c.sync(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if fs := finalizers(t, tr, "gone"); len(fs) != 0 {
		t.Fatalf("finalizers = %v after the pod went, want none", fs)
	}
}

func TestSyncIgnoresOthersFinalizers(t *testing.T) {
	ns := terminating("other")
	ns.Spec.Finalizers = []string{"example.com/custom"}
	c, tr, ctx := fixture(t, ns, pod("other", "a"))
	if err := c.sync(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if got := names(tr.Objects(podGVK)); len(got) != 1 {
		t.Fatalf("pods = %v: content deleted for a namespace without the kubernetes finalizer", got)
	}
}
