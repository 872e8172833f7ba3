package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
)

// TestControllerComputesStatus runs the controller against a real apiserver over gRPC, as
// the controller-manager's identity (so the bootstrap RBAC role is what lets it work): a
// budget over the pods of a ReplicaSet of 4 gets its status from them, follows a pod that
// stops being Ready, and an eviction's entry in disruptedPods is dropped once the pod goes;
// a budget over no pod gets a NoPods Event, written with the controller-manager's rights.
func TestControllerComputesStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	cs := controllertest.ControllerManagerClient(t, srv, "kube-controller-manager/disruption")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: Component, Log: log})
	c, err := NewController(Config{Client: cs, PDB: factory.PodDisruptionBudgets().Informer(), Pod: factory.Pods().Informer(),
		ReplicaSet: factory.ReplicaSets().Informer(), Deployment: factory.Deployments().Informer(), Recorder: rec, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{}, 2)
	go func() { c.Run(ctx, 1); done <- struct{}{} }()
	go func() { rec.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; factory.Shutdown() })

	bg := context.Background()
	labels := map[string]string{"app": "web"}
	rs, err := admin.ReplicaSets("default").Create(bg, &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: "web"},
		Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(4), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: labels},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	setReady := func(pod *corev1.Pod, ready string) {
		t.Helper()
		pod, err := admin.Pods("default").Get(bg, pod.GetMetadata().GetName())
		if err != nil {
			t.Fatal(err)
		}
		pod.Status = &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{{Type: "Ready", Status: ready}}}
		if _, err := admin.Pods("default").UpdateStatus(bg, pod); err != nil {
			t.Fatal(err)
		}
	}
	// Three of the four pods exist: maxUnavailable counts against the ReplicaSet's 4.
	var pods []*corev1.Pod
	for i := range 3 {
		pod, err := admin.Pods("default").Create(bg, &corev1.Pod{
			Metadata: &metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: labels, OwnerReferences: []*metav1.OwnerReference{{
				ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", Uid: rs.GetMetadata().GetUid(), Controller: proto.Bool(true)}}},
			Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		setReady(pod, "True")
		pods = append(pods, pod)
	}
	if _, err := admin.PodDisruptionBudgets("default").Create(bg, &policyv1.PodDisruptionBudget{
		Metadata: &metav1.ObjectMeta{Name: "web"},
		Spec:     &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &metav1.IntOrString{Type: 1, StrVal: "25%"}, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}); err != nil {
		t.Fatal(err)
	}
	status := func(want string) func() (bool, string) {
		return func() (bool, string) {
			pdb, err := admin.PodDisruptionBudgets("default").Get(bg, "web")
			if err != nil {
				return false, err.Error()
			}
			st := pdb.GetStatus()
			got := fmt.Sprintf("gen=%d expected=%d desired=%d current=%d allowed=%d disrupted=%d", st.GetObservedGeneration(),
				st.GetExpectedPods(), st.GetDesiredHealthy(), st.GetCurrentHealthy(), st.GetDisruptionsAllowed(), len(st.GetDisruptedPods()))
			return got == want, got
		}
	}
	controllertest.Eventually(t, "the budget's first status", status("gen=1 expected=4 desired=3 current=3 allowed=0 disrupted=0"))

	pods[2].Metadata.Name = "web-3"
	pods[2].Metadata.ResourceVersion = ""
	fourth, err := admin.Pods("default").Create(bg, pods[2])
	if err != nil {
		t.Fatal(err)
	}
	setReady(fourth, "True")
	controllertest.Eventually(t, "one disruption allowed with four ready", status("gen=1 expected=4 desired=3 current=4 allowed=1 disrupted=0"))

	// An eviction spends it as the apiserver does (the eviction subresource has no typed
	// client): web-0 noted in disruptedPods. The controller no longer counts web-0 healthy
	// while it is there, and drops the entry once the pod is gone.
	pdb, err := admin.PodDisruptionBudgets("default").Get(bg, "web")
	if err != nil {
		t.Fatal(err)
	}
	pdb.Status.DisruptionsAllowed = 0
	pdb.Status.DisruptedPods = map[string]*metav1.Time{"web-0": {Seconds: time.Now().Unix()}}
	if _, err := admin.PodDisruptionBudgets("default").UpdateStatus(bg, pdb); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the eviction under way kept", status("gen=1 expected=4 desired=3 current=3 allowed=0 disrupted=1"))
	if _, err := admin.Pods("default").Delete(bg, "web-0", nil); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the evicted pod gone from disruptedPods", status("gen=1 expected=4 desired=3 current=3 allowed=0 disrupted=0"))

	setReady(fourth, "False")
	controllertest.Eventually(t, "a pod no longer ready", status("gen=1 expected=4 desired=3 current=2 allowed=0 disrupted=0"))

	if _, err := admin.PodDisruptionBudgets("default").Create(bg, &policyv1.PodDisruptionBudget{
		Metadata: &metav1.ObjectMeta{Name: "typo"},
		Spec:     &policyv1.PodDisruptionBudgetSpec{MinAvailable: &metav1.IntOrString{IntVal: 1}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "wbe"}}},
	}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a NoPods event on the budget over no pod", func() (bool, string) {
		list, err := admin.Events("default").List(bg, transport.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range list.GetItems() {
			if e.GetInvolvedObject().GetName() == "typo" && e.GetInvolvedObject().GetKind() == "PodDisruptionBudget" {
				got := e.GetType() + " " + e.GetReason() + " " + e.GetMessage() + " from " + e.GetSource().GetComponent()
				return got == "Normal NoPods No matching pods found from controllermanager", got
			}
		}
		return false, fmt.Sprintf("%d events, none about typo", len(list.GetItems()))
	})
}
