package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	"kubelab.io/proto/apierrors"
)

// stockKubectl is the upstream client whose `rollout status ds` must work against kubelab.
const stockKubectl = "/usr/bin/kubectl"

// startIntegration runs the DaemonSet controller, as the controller-manager's identity,
// against a real apiserver over gRPC; stop ends it (a crash, for the restart test).
func startIntegration(t *testing.T, srv *apiservertest.Server) (stop func()) {
	t.Helper()
	cs := controllertest.ControllerManagerClient(t, srv, "daemonset-test")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: "daemonset-controller", Log: log})
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
	go func() { c.Run(ctx, 2); close(done) }()
	go rec.Run(ctx)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			factory.Shutdown()
		}
	}
	t.Cleanup(stop)
	return stop
}

// cluster plays the scheduler and the kubelets for the test: it binds each unbound pod to the
// node its affinity names (what the default scheduler does with a daemon pod), reports
// bound pods Running and, if ready says so for their node, Ready; and it confirms the
// deletion of terminating pods, as a kubelet does once the containers stopped.
type cluster struct {
	t     *testing.T
	admin *kube.Clientset
	// ready lists the nodes whose kubelet reports pods Ready.
	ready map[string]bool
}

func (c *cluster) step() {
	c.t.Helper()
	ctx := context.Background()
	pods, err := c.admin.Pods("default").List(ctx, transport.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	zero := int64(0)
	for _, p := range pods.GetItems() {
		name := p.GetMetadata().GetName()
		switch {
		case p.GetMetadata().GetDeletionTimestamp() != nil:
			if _, err := c.admin.Pods("default").Delete(ctx, name, &metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !isGone(err) {
				c.t.Fatal(err)
			}
		case p.GetSpec().GetNodeName() == "":
			node, err := targetNodeName(p)
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.admin.Bind(ctx, "default", &corev1.Binding{Metadata: &metav1.ObjectMeta{Name: name}, Target: &corev1.ObjectReference{Kind: "Node", Name: node}}); err != nil && !isGone(err) {
				c.t.Fatal(err)
			}
		case c.ready[p.GetSpec().GetNodeName()] && !controller.IsPodReady(p):
			next := proto.Clone(p).(*corev1.Pod)
			next.Status = &corev1.PodStatus{Phase: controller.PodRunning, Conditions: []*corev1.PodCondition{{
				Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(time.Now()),
			}}}
			if _, err := c.admin.Pods("default").UpdateStatus(ctx, next); err != nil && !isGone(err) {
				c.t.Fatal(err)
			}
		}
	}
}

// isGone: the pod went (or changed) under the step; the next one sees it as it is.
func isGone(err error) bool { return apierrors.IsNotFound(err) || apierrors.IsConflict(err) }

// pods lists the daemon pods not being deleted.
func (c *cluster) pods() []*corev1.Pod {
	c.t.Helper()
	l, err := c.admin.Pods("default").List(context.Background(), transport.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, p := range l.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			out = append(out, p)
		}
	}
	return out
}

// placement renders the pods as "node=image", sorted.
func (c *cluster) placement() []string {
	var out []string
	for _, p := range c.pods() {
		node, _ := targetNodeName(p)
		out = append(out, node+"="+p.GetSpec().GetContainers()[0].GetImage())
	}
	slices.Sort(out)
	return out
}

func (c *cluster) status() *appsv1.DaemonSet {
	c.t.Helper()
	ds, err := c.admin.DaemonSets("default").Get(context.Background(), "agent")
	if err != nil {
		c.t.Fatal(err)
	}
	return ds
}

// waitFor steps the cluster until the pods not being deleted are placement and the
// DaemonSet's status satisfies ok.
func (c *cluster) waitFor(what string, placement []string, ok func(*appsv1.DaemonSetStatus) bool) {
	c.t.Helper()
	controllertest.Eventually(c.t, what, func() (bool, string) {
		c.step()
		got := c.placement()
		ds := c.status()
		st := ds.GetStatus()
		return slices.Equal(got, placement) && st.GetObservedGeneration() == ds.GetMetadata().GetGeneration() && ok(st),
			fmt.Sprintf("pods %v, status %v", got, st)
	})
}

// corev1Template is the part of a revision's template the test reads.
type corev1Template struct {
	Spec struct {
		Containers []struct {
			Image string `json:"image"`
		} `json:"containers"`
	} `json:"spec"`
}

// revisionNumbers renders the ControllerRevisions as "image=revision", sorted.
func revisionNumbers(t *testing.T, admin *kube.Clientset) []string {
	t.Helper()
	revs, err := admin.ControllerRevisions("default").List(context.Background(), transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range revs.GetItems() {
		var data struct {
			Spec struct {
				Template corev1Template `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(r.GetData().GetRaw(), &data); err != nil || len(data.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("revision %s data %s: %v", r.GetMetadata().GetName(), r.GetData().GetRaw(), err)
		}
		out = append(out, fmt.Sprintf("%s=%d", data.Spec.Template.Spec.Containers[0].Image, r.GetRevision()))
	}
	slices.Sort(out)
	return out
}

func kubectlStock(t *testing.T, srv *apiservertest.Server, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, stockKubectl, append([]string{"--kubeconfig", srv.Kubeconfig(), "--cache-dir", filepath.Join(t.TempDir(), "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestIntegration: against a real apiserver with three nodes — one whose taint the daemon
// does not tolerate, one its nodeSelector does not match — the daemon runs on the third
// only; a node added gets its pod; a template change rolls node by node within
// maxUnavailable 1, which the stock kubectl's `rollout status ds` follows; and a restarted
// controller creates no duplicate.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	ctx := context.Background()
	c := &cluster{t: t, admin: admin, ready: map[string]bool{"n1": true, "n4": true, "n5": true}}
	for _, n := range []*corev1.Node{
		{Metadata: &metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"role": "agent"}}},
		{Metadata: &metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"role": "agent"}}, Spec: &corev1.NodeSpec{Taints: []*corev1.Taint{{Key: "dedicated", Value: "db", Effect: "NoSchedule"}}}},
		{Metadata: &metav1.ObjectMeta{Name: "n3", Labels: map[string]string{"role": "other"}}},
	} {
		if _, err := admin.Nodes().Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	stop := startIntegration(t, srv)
	ds := newDS()
	ds.Metadata = &metav1.ObjectMeta{Name: "agent", Namespace: "default"}
	ds.Status = nil
	created, err := admin.DaemonSets("default").Create(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor("one pod, on n1", []string{"n1=nginx:1.14.2"}, func(st *appsv1.DaemonSetStatus) bool {
		return st.GetDesiredNumberScheduled() == 1 && st.GetNumberAvailable() == 1 && st.GetUpdatedNumberScheduled() == 1
	})
	pod := c.pods()[0]
	if ref := controller.GetControllerOf(pod); ref.GetUid() != created.GetMetadata().GetUid() || pod.GetMetadata().GetLabels()[appsv1.ControllerRevisionHashLabelKey] == "" {
		t.Fatalf("pod %v", pod.GetMetadata())
	}
	revs, err := admin.ControllerRevisions("default").List(ctx, transport.ListOptions{})
	if err != nil || len(revs.GetItems()) != 1 || revs.GetItems()[0].GetRevision() != 1 || controller.GetControllerOf(revs.GetItems()[0]).GetUid() != created.GetMetadata().GetUid() {
		t.Fatalf("revisions %v, %v", revs, err)
	}

	// A node added gets its pod.
	if _, err := admin.Nodes().Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n4", Labels: map[string]string{"role": "agent"}}}); err != nil {
		t.Fatal(err)
	}
	c.waitFor("a pod on n4 too", []string{"n1=nginx:1.14.2", "n4=nginx:1.14.2"}, func(st *appsv1.DaemonSetStatus) bool {
		return st.GetDesiredNumberScheduled() == 2 && st.GetNumberAvailable() == 2
	})

	// A template change, maxUnavailable 1: one node at a time. n4's kubelet reports nothing
	// ready for now, so whichever node is replaced first, its new pod stays unavailable and
	// the other keeps its old pod.
	c.ready["n1"], c.ready["n4"] = false, false
	cur := c.status()
	cur.Spec.Template.Spec.Containers[0].Image = "nginx:1.16"
	if _, err := admin.DaemonSets("default").Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "one node replaced", func() (bool, string) {
		c.step()
		p := c.placement()
		ds := c.status()
		return len(p) == 2 && slices.Contains(p, "n1=nginx:1.16") != slices.Contains(p, "n4=nginx:1.16") &&
			ds.GetStatus().GetUpdatedNumberScheduled() == 1 && ds.GetStatus().GetObservedGeneration() == 2, fmt.Sprintf("%v %v", p, ds.GetStatus())
	})
	for range 5 { // more passes change nothing while the new pod is unavailable
		c.step()
		if p := c.placement(); len(p) != 2 || slices.Contains(p, "n1=nginx:1.16") == slices.Contains(p, "n4=nginx:1.16") {
			t.Fatalf("beyond maxUnavailable: %v", p)
		}
	}
	if _, err := os.Stat(stockKubectl); err == nil {
		out, err := kubectlStock(t, srv, "rollout", "status", "ds/agent", "--watch=false")
		if want := `Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...`; err != nil || !strings.Contains(out, want) {
			t.Errorf("stock kubectl rollout status: %v\n%s\nwant %s", err, out, want)
		}
	}
	c.ready["n1"], c.ready["n4"] = true, true
	c.waitFor("rolled out", []string{"n1=nginx:1.16", "n4=nginx:1.16"}, func(st *appsv1.DaemonSetStatus) bool {
		return st.GetUpdatedNumberScheduled() == 2 && st.GetNumberAvailable() == 2 && st.GetNumberUnavailable() == 0
	})
	if _, err := os.Stat(stockKubectl); err == nil {
		out, err := kubectlStock(t, srv, "rollout", "status", "ds/agent", "--timeout=20s")
		if want := `daemon set "agent" successfully rolled out`; err != nil || !strings.Contains(out, want) {
			t.Errorf("stock kubectl rollout status: %v\n%s\nwant %s", err, out, want)
		}
	} else {
		t.Logf("stock kubectl not installed at %s: rollout status not checked", stockKubectl)
	}
	if got := revisionNumbers(t, admin); !slices.Equal(got, []string{"nginx:1.14.2=1", "nginx:1.16=2"}) {
		t.Fatalf("revisions %v", got)
	}
	image := "nginx:1.16"

	// The stock kubectl's undo patches the DaemonSet with revision 1's data: the pods roll
	// back, and revision 1 becomes revision 3.
	if _, err := os.Stat(stockKubectl); err == nil {
		out, err := kubectlStock(t, srv, "rollout", "undo", "ds/agent")
		if err != nil || !strings.Contains(out, "daemonset.apps/agent rolled back") {
			t.Fatalf("stock kubectl rollout undo: %v\n%s", err, out)
		}
		image = "nginx:1.14.2"
		c.waitFor("rolled back", []string{"n1=" + image, "n4=" + image}, func(st *appsv1.DaemonSetStatus) bool {
			return st.GetUpdatedNumberScheduled() == 2 && st.GetNumberAvailable() == 2
		})
		if got := revisionNumbers(t, admin); !slices.Equal(got, []string{"nginx:1.14.2=3", "nginx:1.16=2"}) {
			t.Fatalf("revisions after the undo %v", got)
		}
	}

	// A restarted controller starts from the API: the pods it finds are its own, so the one
	// new node gets a pod and no other node a second one.
	stop()
	before := map[string]bool{}
	for _, p := range c.pods() {
		before[p.GetMetadata().GetUid()] = true
	}
	startIntegration(t, srv)
	if _, err := admin.Nodes().Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n5", Labels: map[string]string{"role": "agent"}}}); err != nil {
		t.Fatal(err)
	}
	c.waitFor("n5 added after the restart", []string{"n1=" + image, "n4=" + image, "n5=" + image}, func(st *appsv1.DaemonSetStatus) bool {
		return st.GetDesiredNumberScheduled() == 3 && st.GetNumberAvailable() == 3
	})
	for _, p := range c.pods() {
		if node, _ := targetNodeName(p); node != "n5" && !before[p.GetMetadata().GetUid()] {
			t.Fatalf("pod %s on %s replaced after the restart", p.GetMetadata().GetName(), node)
		}
	}
	if revs, err := admin.ControllerRevisions("default").List(ctx, transport.ListOptions{}); err != nil || len(revs.GetItems()) != 2 {
		t.Fatalf("revisions after the restart %v, %v", revs, err)
	}
}
