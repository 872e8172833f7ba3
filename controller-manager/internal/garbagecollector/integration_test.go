package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/controller-manager/internal/controllerctx"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

func startGC(t *testing.T, cs *kube.Clientset) *Controller {
	t.Helper()
	return startGCLogging(t, cs, slog.New(slog.DiscardHandler))
}

// startGCLogging runs a garbage collector that logs to log.
func startGCLogging(t *testing.T, cs *kube.Clientset, log *slog.Logger) *Controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cc := &controllerctx.Context{
		Client: cs, Informers: informers.NewSharedInformerFactory(cs.Transport(), 0),
		Log: log, Options: controllerctx.DefaultOptions(),
	}
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 4); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cc.Informers.Shutdown() })
	return c
}

// waitObserved waits until the collector's graph holds owner with dependents dependents:
// what it orphans or deletes is what its graph holds, so a test deleting an owner before
// the collector saw its dependents would race the collector's informers (as a client of
// Kubernetes' collector would).
func waitObserved(t *testing.T, c *Controller, owner runtime.Object, dependents int) {
	t.Helper()
	waitFor(t, "the collector to observe the dependents", func() bool {
		v, ok := c.graph.view(owner.GetMetadata().GetUid())
		return ok && !v.virtual && len(v.dependents) == dependents
	})
}

func controllerRef(obj runtime.Object) *metav1.OwnerReference {
	m := obj.GetMetadata()
	return &metav1.OwnerReference{ApiVersion: obj.GetApiVersion(), Kind: obj.GetKind(), Name: m.GetName(), Uid: m.GetUid(),
		Controller: proto.Bool(true), BlockOwnerDeletion: proto.Bool(true)}
}

var podSpec = &corev1.PodSpec{Containers: []*corev1.Container{{Name: "web", Image: "nginx"}}}

// tree creates a Deployment owning a ReplicaSet owning two pods, as the deployment and
// replicaset controllers would.
func tree(t *testing.T, ctx context.Context, cs *kube.Clientset, ns, name string) (*appsv1.Deployment, *appsv1.ReplicaSet) {
	t.Helper()
	labels := map[string]string{"app": name}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	tmpl := &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: labels}, Spec: podSpec}
	d, err := cs.Deployments(ns).Create(ctx, &appsv1.Deployment{Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &appsv1.DeploymentSpec{Replicas: proto.Int32(2), Selector: sel, Template: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cs.ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: name + "-rs", Labels: labels, OwnerReferences: []*metav1.OwnerReference{controllerRef(d)}},
		Spec:     &appsv1.ReplicaSetSpec{Replicas: proto.Int32(2), Selector: sel, Template: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := cs.Pods(ns).Create(ctx, &corev1.Pod{
			Metadata: &metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i), Labels: labels, OwnerReferences: []*metav1.OwnerReference{controllerRef(rs)}},
			Spec:     podSpec}); err != nil {
			t.Fatal(err)
		}
	}
	return d, rs
}

func exists(t *testing.T, err error) bool {
	t.Helper()
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestIntegrationPropagation(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gc := startGC(t, cs)
	const ns = "default"

	live := func(name string) (d, rs bool, pods int) {
		_, err := cs.Deployments(ns).Get(ctx, name)
		d = exists(t, err)
		_, err = cs.ReplicaSets(ns).Get(ctx, name+"-rs")
		rs = exists(t, err)
		for i := range 2 {
			if _, err := cs.Pods(ns).Get(ctx, fmt.Sprintf("%s-%d", name, i)); exists(t, err) {
				pods++
			}
		}
		return d, rs, pods
	}
	del := func(name, policy string) {
		if _, err := cs.Deployments(ns).Delete(ctx, name, &metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("background", func(t *testing.T) {
		tree(t, ctx, cs, ns, "bg")
		del("bg", PolicyBackground)
		waitFor(t, "the replicaset and pods to go", func() bool {
			d, rs, pods := live("bg")
			return !d && !rs && pods == 0
		})
	})

	t.Run("foreground", func(t *testing.T) {
		d, rs := tree(t, ctx, cs, ns, "fg")
		waitObserved(t, gc, d, 1)
		waitObserved(t, gc, rs, 2)
		del("fg", PolicyForeground)
		waitFor(t, "the deployment to go last", func() bool {
			d, rs, pods := live("fg")
			if !d && (rs || pods > 0) {
				t.Fatalf("deployment gone while dependents remain (rs=%v, pods=%d)", rs, pods)
			}
			return !d
		})
	})

	t.Run("orphan", func(t *testing.T) {
		d, rs := tree(t, ctx, cs, ns, "or")
		waitObserved(t, gc, d, 1)
		waitObserved(t, gc, rs, 2)
		del("or", PolicyOrphan)
		waitFor(t, "the deployment to go", func() bool { d, _, _ := live("or"); return !d })
		got, err := cs.ReplicaSets(ns).Get(ctx, "or-rs")
		if err != nil {
			t.Fatalf("orphaned replicaset: %v", err)
		}
		if refs := got.GetMetadata().GetOwnerReferences(); len(refs) != 0 {
			t.Fatalf("orphaned replicaset still has owner references %v", refs)
		}
		for i := range 2 {
			p, err := cs.Pods(ns).Get(ctx, fmt.Sprintf("or-%d", i))
			if err != nil {
				t.Fatalf("pod of the orphaned replicaset: %v", err)
			}
			if refs := p.GetMetadata().GetOwnerReferences(); len(refs) != 1 || refs[0].GetUid() != rs.GetMetadata().GetUid() {
				t.Fatalf("pod owner references = %v, want the replicaset's", refs)
			}
		}
	})

	t.Run("dangling", func(t *testing.T) {
		keeper, err := cs.ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{Metadata: &metav1.ObjectMeta{Name: "keeper"},
			Spec: &appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
				Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: podSpec}}})
		if err != nil {
			t.Fatal(err)
		}
		ghost := &metav1.OwnerReference{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "ghost", Uid: "never-existed"}
		for _, p := range []*corev1.Pod{
			{Metadata: &metav1.ObjectMeta{Name: "lonely", OwnerReferences: []*metav1.OwnerReference{ghost}}, Spec: podSpec},
			{Metadata: &metav1.ObjectMeta{Name: "shared", OwnerReferences: []*metav1.OwnerReference{ghost, controllerRef(keeper)}}, Spec: podSpec},
		} {
			if _, err := cs.Pods(ns).Create(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the pod owned only by a ghost to go", func() bool {
			_, err := cs.Pods(ns).Get(ctx, "lonely")
			return !exists(t, err)
		})
		waitFor(t, "the shared pod to lose its ghost reference", func() bool {
			p, err := cs.Pods(ns).Get(ctx, "shared")
			if err != nil {
				t.Fatalf("shared pod: %v", err)
			}
			refs := p.GetMetadata().GetOwnerReferences()
			return len(refs) == 1 && refs[0].GetUid() == keeper.GetMetadata().GetUid()
		})
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
