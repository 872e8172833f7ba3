package namespace

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/transport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

func TestIntegrationDeleteNamespace(t *testing.T) {
	srv := apiservertest.Start(t)
	// The finalize subresource is served over REST only: the gRPC service has no
	// finalize call.
	cs := srv.Clientset(false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cc := newContext(cs.Transport())
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(ctx)
	defer cc.Informers.Shutdown()
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	defer func() { cancel(); <-done }()

	if _, err := cs.Namespaces().Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{Metadata: &metav1.ObjectMeta{Name: "web"}, Spec: &appsv1.DeploymentSpec{
		Replicas: proto.Int32(1), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: labels},
			Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "web", Image: "nginx"}}}},
	}}
	if _, err := cs.Deployments("team").Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, node string }{{"free", ""}, {"bound", "node-1"}} {
		pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: p.name, Labels: labels},
			Spec: &corev1.PodSpec{NodeName: p.node, Containers: []*corev1.Container{{Name: "web", Image: "nginx"}}}}
		if _, err := cs.Pods("team").Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := cs.Namespaces().Delete(ctx, "team", nil); err != nil {
		t.Fatal(err)
	}
	// The deployment and the unbound pod go at once; the bound pod waits for its kubelet.
	waitFor(t, "the deployment and the unbound pod to go", func() bool {
		_, derr := cs.Deployments("team").Get(ctx, "web")
		_, perr := cs.Pods("team").Get(ctx, "free")
		return apierrors.IsNotFound(derr) && apierrors.IsNotFound(perr)
	})
	bound, err := cs.Pods("team").Get(ctx, "bound")
	if err != nil || bound.GetMetadata().GetDeletionTimestamp() == nil {
		t.Fatalf("bound pod = %v, %v; want it terminating", bound.GetMetadata(), err)
	}
	ns, err := cs.Namespaces().Get(ctx, "team")
	if err != nil || ns.GetStatus().GetPhase() != "Terminating" {
		t.Fatalf("namespace = %v, %v; want it Terminating while a pod remains", ns, err)
	}

	// The kubelet confirms the pod stopped; the namespace then goes.
	if _, err := cs.Pods("team").Delete(ctx, "bound", &metav1.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the namespace to go", func() bool {
		_, err := cs.Namespaces().Get(ctx, "team")
		return apierrors.IsNotFound(err)
	})
	pods, err := cs.Pods("team").List(ctx, transport.ListOptions{})
	if err != nil || len(pods.GetItems()) != 0 {
		t.Fatalf("pods left in the deleted namespace: %v, %v", pods.GetItems(), err)
	}
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
