package replicaset

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
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// startController runs the ReplicaSet controller against a real apiserver over gRPC.
func startController(t *testing.T) *kube.Clientset {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: "replicaset-controller", Log: log})
	cc := &controllerctx.Context{
		Client: cs, Informers: factory, Log: log, Options: controllerctx.DefaultOptions(),
		Recorder: func(string) *record.Recorder { return rec },
	}
	c, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 5); close(done) }()
	go rec.Run(ctx)
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
	return cs
}

func listPods(t *testing.T, cs *kube.Clientset, selector string) []*corev1.Pod {
	t.Helper()
	l, err := cs.Pods("default").List(context.Background(), transport.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, p := range l.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			out = append(out, p)
		}
	}
	return out
}

func scale(t *testing.T, cs *kube.Clientset, name string, n int32) {
	t.Helper()
	ctx := context.Background()
	rs, err := cs.ReplicaSets("default").Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	rs.Spec.Replicas = proto.Int32(n)
	if _, err := cs.ReplicaSets("default").Update(ctx, rs); err != nil {
		t.Fatal(err)
	}
}

func markReady(t *testing.T, cs *kube.Clientset, pod *corev1.Pod) {
	t.Helper()
	p := proto.Clone(pod).(*corev1.Pod)
	p.Status = &corev1.PodStatus{Phase: controller.PodRunning, Conditions: []*corev1.PodCondition{{
		Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(time.Now().Add(-time.Minute)),
	}}}
	if _, err := cs.Pods("default").UpdateStatus(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func rsStatus(t *testing.T, cs *kube.Clientset, name string) *appsv1.ReplicaSetStatus {
	t.Helper()
	rs, err := cs.ReplicaSets("default").Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return rs.GetStatus()
}

func integrationRS(name string, replicas int32) *appsv1.ReplicaSet {
	rs := newRS(name, replicas)
	rs.Metadata = &metav1.ObjectMeta{Name: name, Namespace: "default"}
	return rs
}

func TestIntegrationCreateAndScale(t *testing.T) {
	cs := startController(t)
	ctx := context.Background()
	rs, err := cs.ReplicaSets("default").Create(ctx, integrationRS("web", 3))
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "3 pods", func() (bool, string) {
		pods := listPods(t, cs, "app=web")
		return len(pods) == 3, fmt.Sprintf("%d pods", len(pods))
	})
	for _, p := range listPods(t, cs, "app=web") {
		refs := p.GetMetadata().GetOwnerReferences()
		if len(refs) != 1 || refs[0].GetUid() != rs.GetMetadata().GetUid() || refs[0].GetName() != "web" ||
			refs[0].GetKind() != "ReplicaSet" || refs[0].GetApiVersion() != "apps/v1" || !refs[0].GetController() || !refs[0].GetBlockOwnerDeletion() {
			t.Fatalf("pod %s ownerReferences = %v", p.GetMetadata().GetName(), refs)
		}
		if p.GetMetadata().GetLabels()["tier"] != "web" || p.GetMetadata().GetGenerateName() != "web-" {
			t.Fatalf("pod %s metadata = %v", p.GetMetadata().GetName(), p.GetMetadata())
		}
	}
	controllertest.Eventually(t, "status of 3", func() (bool, string) {
		st := rsStatus(t, cs, "web")
		return st.GetReplicas() == 3 && st.GetFullyLabeledReplicas() == 3 && st.GetObservedGeneration() == 1, st.String()
	})

	scale(t, cs, "web", 10)
	controllertest.Eventually(t, "10 pods", func() (bool, string) {
		pods := listPods(t, cs, "app=web")
		return len(pods) == 10, fmt.Sprintf("%d pods", len(pods))
	})
	// Two ready pods must survive the scale-down: not-ready ones go first.
	pods := listPods(t, cs, "app=web")
	keep := map[string]bool{}
	for _, p := range pods[:2] {
		markReady(t, cs, p)
		keep[p.GetMetadata().GetName()] = true
	}
	controllertest.Eventually(t, "2 ready of 10", func() (bool, string) {
		st := rsStatus(t, cs, "web")
		return st.GetReadyReplicas() == 2 && st.GetReplicas() == 10, st.String()
	})
	scale(t, cs, "web", 2)
	controllertest.Eventually(t, "2 pods", func() (bool, string) {
		pods := listPods(t, cs, "app=web")
		return len(pods) == 2, fmt.Sprintf("%d pods", len(pods))
	})
	for _, p := range listPods(t, cs, "app=web") {
		if !keep[p.GetMetadata().GetName()] {
			t.Fatalf("a ready pod was deleted before a not-ready one: %s survived, want %v", p.GetMetadata().GetName(), keep)
		}
	}
	controllertest.Eventually(t, "final status", func() (bool, string) {
		st := rsStatus(t, cs, "web")
		return st.GetReplicas() == 2 && st.GetReadyReplicas() == 2 && st.GetAvailableReplicas() == 2 &&
			st.GetFullyLabeledReplicas() == 2 && st.GetObservedGeneration() == 3, st.String()
	})
	// Events name the pods, in Kubernetes' words.
	controllertest.Eventually(t, "events", func() (bool, string) {
		evs, err := cs.Events("default").List(ctx, transport.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var created, deleted int
		for _, e := range evs.GetItems() {
			switch e.GetReason() {
			case SuccessfulCreate:
				created++
			case SuccessfulDelete:
				deleted++
			}
		}
		return created == 10 && deleted == 8, fmt.Sprintf("%d created, %d deleted", created, deleted)
	})
}

func TestIntegrationAdoptAndRelease(t *testing.T) {
	cs := startController(t)
	ctx := context.Background()
	orphan := newPod("orphan", labelled("app", "adopt", "tier", "web"))
	orphan.Metadata = &metav1.ObjectMeta{Name: "orphan", Namespace: "default", Labels: orphan.Metadata.Labels}
	orphan.Spec = &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "nginx"}}}
	orphan.Status = nil
	if _, err := cs.Pods("default").Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	rs, err := cs.ReplicaSets("default").Create(ctx, integrationRS("adopt", 1))
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "orphan adopted", func() (bool, string) {
		p, err := cs.Pods("default").Get(ctx, "orphan")
		if err != nil {
			return false, err.Error()
		}
		ref := controller.GetControllerOf(p)
		return ref.GetUid() == rs.GetMetadata().GetUid() && ref.GetBlockOwnerDeletion(), fmt.Sprint(p.GetMetadata().GetOwnerReferences())
	})
	if pods := listPods(t, cs, "app=adopt"); len(pods) != 1 {
		t.Fatalf("%d pods after adoption, want the orphan only", len(pods))
	}
	// Relabel the pod out of the selector: released, and replaced.
	p, err := cs.Pods("default").Get(ctx, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	p.Metadata.Labels = map[string]string{"app": "elsewhere"}
	if _, err := cs.Pods("default").Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "pod released", func() (bool, string) {
		p, err := cs.Pods("default").Get(ctx, "orphan")
		if err != nil {
			return false, err.Error()
		}
		return len(p.GetMetadata().GetOwnerReferences()) == 0, fmt.Sprint(p.GetMetadata().GetOwnerReferences())
	})
	controllertest.Eventually(t, "replacement", func() (bool, string) {
		pods := listPods(t, cs, "app=adopt")
		return len(pods) == 1 && pods[0].GetMetadata().GetName() != "orphan", fmt.Sprintf("%d pods", len(pods))
	})
}
