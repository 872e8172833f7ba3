package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestServiceEndpoints runs the controller-manager with the endpointslice and endpoint
// controllers, as its own identity, against a real apiserver. Pods get their IPs and
// readiness through the status subresource, as a kubelet writes them, and the Service's
// EndpointSlice and Endpoints follow: readiness changes, a pod being deleted and then gone,
// a selector that changes, a slice deleted by hand, a restart of the controller-manager
// (which writes no duplicate), and a selector removed (the slices go, the Endpoints stay).
func TestServiceEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	ctx := context.Background()
	args := []string{"--kubeconfig", srv.UserKubeconfig("system:kube-controller-manager"), "--controllers", "endpointslice,endpoint", "--leader-elect=false"}
	in := startInstance(t, srv, "cm", args...)

	if _, err := admin.Nodes().Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "node-a",
		Labels: map[string]string{"topology.kubernetes.io/zone": "zone-a"}}}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"web-0", "web-1", "web-2"} {
		createRunningPod(t, admin, name, fmt.Sprintf("10.244.0.%d", i+1), name != "web-2")
	}
	svc, err := admin.Services("default").Create(ctx, &corev1.Service{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []*corev1.ServicePort{{Name: "http", Port: 80, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "http"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	slice := waitEndpoints(t, admin, "both controllers list the pods",
		[]string{"web-0 10.244.0.1:8080 ready", "web-1 10.244.0.2:8080 ready", "web-2 10.244.0.3:8080 not-ready"},
		"10.244.0.1,10.244.0.2 | 10.244.0.3 | http:8080")
	if refs := slice.GetMetadata().GetOwnerReferences(); len(refs) != 1 || refs[0].GetUid() != svc.GetMetadata().GetUid() || !refs[0].GetController() {
		t.Fatalf("slice owner references = %v", refs)
	}
	if ep := slice.GetEndpoints()[0]; ep.GetZone() != "zone-a" || ep.GetNodeName() != "node-a" {
		t.Fatalf("endpoint = %v", ep)
	}

	setReady(t, admin, "web-2", true)
	waitEndpoints(t, admin, "web-2 turned ready",
		[]string{"web-0 10.244.0.1:8080 ready", "web-1 10.244.0.2:8080 ready", "web-2 10.244.0.3:8080 ready"},
		"10.244.0.1,10.244.0.2,10.244.0.3 |  | http:8080")

	// No kubelet confirms the deletion: web-0 stays terminating, serving but not ready.
	if _, err := admin.Pods("default").Delete(ctx, "web-0", nil); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, admin, "web-0 terminating",
		[]string{"web-0 10.244.0.1:8080 terminating", "web-1 10.244.0.2:8080 ready", "web-2 10.244.0.3:8080 ready"},
		"10.244.0.2,10.244.0.3 |  | http:8080")
	zero := int64(0)
	if _, err := admin.Pods("default").Delete(ctx, "web-0", &metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, admin, "web-0 gone",
		[]string{"web-1 10.244.0.2:8080 ready", "web-2 10.244.0.3:8080 ready"}, "10.244.0.2,10.244.0.3 |  | http:8080")

	// The selector narrows to canary pods: none at first, then web-1 once labelled.
	svc, err = admin.Services("default").Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"app": "web", "track": "canary"}
	if _, err := admin.Services("default").Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, admin, "no canary pod", nil)
	web1, err := admin.Pods("default").Get(ctx, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	web1.Metadata.Labels["track"] = "canary"
	if _, err := admin.Pods("default").Update(ctx, web1); err != nil {
		t.Fatal(err)
	}
	slice = waitEndpoints(t, admin, "web-1 is the canary", []string{"web-1 10.244.0.2:8080 ready"}, "10.244.0.2 |  | http:8080")

	// A slice deleted by hand comes back.
	if _, err := admin.EndpointSlices("default").Delete(ctx, slice.GetMetadata().GetName(), nil); err != nil {
		t.Fatal(err)
	}
	slice = waitEndpoints(t, admin, "the deleted slice recreated", []string{"web-1 10.244.0.2:8080 ready"}, "10.244.0.2 |  | http:8080")

	// A new controller-manager starts from the API state: it rewrites nothing and creates no
	// duplicate, and goes on updating the same slice.
	in.cancel()
	<-in.done
	endpoints, err := admin.Endpoints("default").Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	startInstance(t, srv, "cm-2", args...)
	setReady(t, admin, "web-1", false)
	after := waitEndpoints(t, admin, "after the restart", []string{"web-1 10.244.0.2:8080 not-ready"}, " | 10.244.0.2 | http:8080")
	if after.GetMetadata().GetName() != slice.GetMetadata().GetName() {
		t.Fatalf("slice %s replaced by %s", slice.GetMetadata().GetName(), after.GetMetadata().GetName())
	}
	if got, err := admin.Endpoints("default").Get(ctx, "web"); err != nil || got.GetMetadata().GetUid() != endpoints.GetMetadata().GetUid() {
		t.Fatalf("Endpoints after the restart: %v, %v", got, err)
	}

	// Without a selector the service's endpoints are someone else's: this controller's
	// slices go, the Endpoints stay as they were.
	svc, err = admin.Services("default").Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = nil
	if _, err := admin.Services("default").Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "slices of a service without a selector deleted", func() (bool, string) {
		l := serviceSlices(t, admin)
		return len(l) == 0, fmt.Sprint(len(l), " slices")
	})
	if got := subsetsOf(t, admin); got != " | 10.244.0.2 | http:8080" {
		t.Fatalf("Endpoints of a service without a selector = %q", got)
	}
}

// createRunningPod creates a pod of app web on node-a serving "http" on 8080 and gives it
// ip and, if ready, the Ready condition through the status subresource.
func createRunningPod(t *testing.T, cs *kube.Clientset, name, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod, err := cs.Pods("default").Create(ctx, &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{NodeName: "node-a", Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2",
			Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = &corev1.PodStatus{Phase: "Running", PodIP: ip, PodIPs: []*corev1.PodIP{{Ip: ip}}}
	if _, err := cs.Pods("default").UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	setReady(t, cs, name, ready)
}

// setReady sets the pod's Ready condition, as a kubelet's status manager does.
func setReady(t *testing.T, cs *kube.Clientset, name string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod, err := cs.Pods("default").Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	status := "False"
	if ready {
		status = "True"
	}
	pod.Status.Conditions = []*corev1.PodCondition{{Type: "Ready", Status: status, LastTransitionTime: &metav1.Time{Seconds: 1}}}
	if _, err := cs.Pods("default").UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

func serviceSlices(t *testing.T, cs *kube.Clientset) []*discoveryv1.EndpointSlice {
	t.Helper()
	l, err := cs.EndpointSlices("default").List(context.Background(), transport.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	return l.GetItems()
}

// subsetsOf renders the Endpoints "web" as controllertest.Subsets does, joined by "; ".
func subsetsOf(t *testing.T, cs *kube.Clientset) string {
	t.Helper()
	ep, err := cs.Endpoints("default").Get(context.Background(), "web")
	if err != nil {
		return err.Error()
	}
	return strings.Join(controllertest.Subsets(ep), "; ")
}

// waitEndpoints waits until the service "web" has exactly one slice whose endpoints are
// want ("pod ip:port ready|not-ready|terminating", by pod) and, when subsets are given,
// Endpoints whose subsets render as them; it returns the slice.
func waitEndpoints(t *testing.T, cs *kube.Clientset, what string, want []string, subsets ...string) *discoveryv1.EndpointSlice {
	t.Helper()
	var slice *discoveryv1.EndpointSlice
	controllertest.Eventually(t, what, func() (bool, string) {
		l := serviceSlices(t, cs)
		if len(l) != 1 {
			return false, fmt.Sprintf("%d slices", len(l))
		}
		slice = l[0]
		var got []string
		for _, ep := range slice.GetEndpoints() {
			c := ep.GetConditions()
			state := "not-ready"
			switch {
			case c.GetTerminating():
				state = "terminating"
			case c.GetReady():
				state = "ready"
			}
			port := int32(0)
			if len(slice.GetPorts()) == 1 {
				port = slice.GetPorts()[0].GetPort()
			}
			got = append(got, fmt.Sprintf("%s %s:%d %s", ep.GetTargetRef().GetName(), strings.Join(ep.GetAddresses(), ","), port, state))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("endpoints %q", got)
		}
		if len(subsets) > 0 {
			if got := subsetsOf(t, cs); got != strings.Join(subsets, "; ") {
				return false, fmt.Sprintf("Endpoints subsets %q", got)
			}
		}
		return true, ""
	})
	return slice
}
