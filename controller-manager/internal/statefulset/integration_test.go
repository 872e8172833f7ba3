package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// cluster is a real apiserver with the controller running as the controller-manager's RBAC
// identity; restart stops the controller and starts a new one with fresh caches, as a
// controller-manager killed and started again.
type cluster struct {
	t     *testing.T
	srv   *apiservertest.Server
	admin *kube.Clientset
	stop  func()
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	c := &cluster{t: t, srv: srv, admin: srv.Clientset(true)}
	c.start()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *cluster) start() {
	c.t.Helper()
	cs := controllertest.ControllerManagerClient(c.t, c.srv, "statefulset-controller")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0, informers.WithLogger(log))
	rec := record.New(record.Config{Client: cs.Transport(), Component: "statefulset-controller", Log: log})
	ctrl, err := NewController(Config{Client: cs, StatefulSet: factory.StatefulSets().Informer(), Pod: factory.Pods().Informer(),
		Revision: factory.ControllerRevisions().Informer(), Claim: factory.PersistentVolumeClaims().Informer(), Recorder: rec, Log: log})
	if err != nil {
		c.t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { ctrl.Run(ctx, 5); close(done) }()
	go rec.Run(ctx)
	c.stop = func() { cancel(); <-done; factory.Shutdown() }
}

func (c *cluster) restart() {
	c.stop()
	c.start()
}

// pods is "name@revision" of every pod of the set not being deleted, sorted.
func (c *cluster) pods() []string {
	c.t.Helper()
	l, err := c.admin.Pods("default").List(context.Background(), transport.ListOptions{LabelSelector: "app=nginx"})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, p := range l.GetItems() {
		if p.GetMetadata().GetDeletionTimestamp() == nil {
			out = append(out, p.GetMetadata().GetName()+"@"+revisionOf(p))
		}
	}
	slices.Sort(out)
	return out
}

func (c *cluster) waitPods(what string, want func(names []string) bool) []string {
	c.t.Helper()
	var got []string
	controllertest.Eventually(c.t, what, func() (bool, string) {
		got = c.pods()
		return want(got), fmt.Sprint(got)
	})
	return got
}

// ready reports pod Running and Ready through pods/status, as its kubelet would.
func (c *cluster) ready(name string) {
	c.t.Helper()
	ctx := context.Background()
	p, err := c.admin.Pods("default").Get(ctx, name)
	if err != nil {
		c.t.Fatal(err)
	}
	p.Status = &corev1.PodStatus{Phase: controller.PodRunning, Conditions: []*corev1.PodCondition{{
		Type: controller.PodReady, Status: controller.ConditionTrue, LastTransitionTime: controller.NewTime(time.Now().Add(-time.Minute)),
	}}}
	if _, err := c.admin.Pods("default").UpdateStatus(ctx, p); err != nil {
		c.t.Fatal(err)
	}
}

// edit updates the StatefulSet, reading it again when the controller's status write got in
// first.
func (c *cluster) edit(mutate func(*appsv1.StatefulSet)) {
	c.t.Helper()
	ctx := context.Background()
	controllertest.Eventually(c.t, "update the statefulset", func() (bool, string) {
		set, err := c.admin.StatefulSets("default").Get(ctx, "web")
		if err != nil {
			c.t.Fatal(err)
		}
		mutate(set)
		_, err = c.admin.StatefulSets("default").Update(ctx, set)
		if apierrors.IsConflict(err) {
			return false, err.Error()
		}
		if err != nil {
			c.t.Fatal(err)
		}
		return true, ""
	})
}

func (c *cluster) status() *appsv1.StatefulSetStatus {
	c.t.Helper()
	set, err := c.admin.StatefulSets("default").Get(context.Background(), "web")
	if err != nil {
		c.t.Fatal(err)
	}
	return set.GetStatus()
}

func names(pods []string) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p[:len("web-0")])
	}
	return out
}

func exactly(want ...string) func([]string) bool {
	return func(got []string) bool { return slices.Equal(names(got), want) }
}

// TestIntegrationOrderedRollout drives a StatefulSet through its life against a real
// apiserver: pods made one at a time in ordinal order, each only once the one before is
// Running and Ready; a scale-down from the highest ordinal, one at a time; a rolling update
// with a partition, from the top down, that leaves the pods below the partition alone; and a
// controller restarted in the middle of that rollout, which goes on without making or
// deleting anything twice.
func TestIntegrationOrderedRollout(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	set := newSet(3)
	set.Metadata = &metav1.ObjectMeta{Name: "web", Namespace: "default"}
	created, err := c.admin.StatefulSets("default").Create(ctx, set)
	if err != nil {
		t.Fatal(err)
	}

	c.waitPods("web-0 alone", exactly("web-0"))
	p, err := c.admin.Pods("default").Get(ctx, "web-0")
	if err != nil {
		t.Fatal(err)
	}
	if p.GetSpec().GetHostname() != "web-0" || p.GetSpec().GetSubdomain() != "nginx" || !controller.IsControlledBy(p, created) ||
		p.GetMetadata().GetLabels()[appsv1.PodIndexLabel] != "0" || p.GetMetadata().GetLabels()[appsv1.StatefulSetPodNameLabel] != "web-0" {
		t.Fatalf("web-0 = %v", p)
	}
	c.ready("web-0")
	c.waitPods("web-1 after web-0 is ready", exactly("web-0", "web-1"))
	if got := c.pods(); len(got) != 2 {
		t.Fatalf("web-2 made before web-1 was ready: %v", got)
	}
	c.ready("web-1")
	c.waitPods("web-2", exactly("web-0", "web-1", "web-2"))
	c.ready("web-2")
	controllertest.Eventually(t, "status of 3 ready", func() (bool, string) {
		st := c.status()
		return st.GetReadyReplicas() == 3 && st.GetCurrentReplicas() == 3 && st.GetAvailableReplicas() == 3, st.String()
	})

	// Scale down: web-2 goes first; web-1 only once web-2 is gone.
	c.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(1) })
	c.waitPods("scaled down to web-0", exactly("web-0"))
	controllertest.Eventually(t, "scale-down events in order", func() (bool, string) {
		evs, err := c.admin.Events("default").List(ctx, transport.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seq []string
		items := evs.GetItems()
		slices.SortFunc(items, func(a, b *corev1.Event) int {
			return controller.TimeOf(a.GetFirstTimestamp()).Compare(controller.TimeOf(b.GetFirstTimestamp()))
		})
		for _, e := range items {
			if e.GetReason() == SuccessfulDelete || e.GetReason() == SuccessfulCreate {
				seq = append(seq, e.GetMessage())
			}
		}
		want := []string{
			"create Pod web-0 in StatefulSet web successful", "create Pod web-1 in StatefulSet web successful",
			"create Pod web-2 in StatefulSet web successful", "delete Pod web-2 in StatefulSet web successful",
			"delete Pod web-1 in StatefulSet web successful",
		}
		return slices.Equal(seq, want), fmt.Sprintf("%q", seq)
	})

	c.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(3) })
	c.waitPods("web-1 again", exactly("web-0", "web-1"))
	c.ready("web-1")
	c.waitPods("web-2 again", exactly("web-0", "web-1", "web-2"))
	c.ready("web-2")
	controllertest.Eventually(t, "3 ready again", func() (bool, string) {
		st := c.status()
		return st.GetReadyReplicas() == 3 && st.GetReplicas() == 3, st.String()
	})
	oldRev := c.status().GetCurrentRevision()
	web0, err := c.admin.Pods("default").Get(ctx, "web-0")
	if err != nil {
		t.Fatal(err)
	}

	// A rolling update with partition 1: web-2, then web-1; web-0 keeps the old revision.
	c.edit(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "nginx:1.16"
		s.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(1)
	})
	var newRev string
	controllertest.Eventually(t, "update revision", func() (bool, string) {
		st := c.status()
		newRev = st.GetUpdateRevision()
		return newRev != "" && newRev != oldRev, st.String()
	})
	c.waitPods("web-2 updated", func(got []string) bool { return slices.Contains(got, "web-2@"+newRev) })
	if got := c.pods(); !slices.Contains(got, "web-1@"+oldRev) {
		t.Fatalf("web-1 touched before web-2 was ready: %v", got)
	}

	// The controller dies mid-rollout and comes back with empty caches.
	c.restart()
	c.ready("web-2")
	c.waitPods("web-1 updated", func(got []string) bool { return slices.Contains(got, "web-1@"+newRev) })
	c.ready("web-1")
	controllertest.Eventually(t, "partition reached", func() (bool, string) {
		st := c.status()
		return st.GetUpdatedReplicas() == 2 && st.GetCurrentReplicas() == 1 && st.GetReadyReplicas() == 3 && st.GetCurrentRevision() == oldRev, st.String()
	})
	if got, want := c.pods(), []string{"web-0@" + oldRev, "web-1@" + newRev, "web-2@" + newRev}; !slices.Equal(got, want) {
		t.Fatalf("pods = %v, want %v", got, want)
	}
	if p, err := c.admin.Pods("default").Get(ctx, "web-0"); err != nil || p.GetMetadata().GetUid() != web0.GetMetadata().GetUid() {
		t.Fatalf("web-0 below the partition was replaced: %v %v", p.GetMetadata(), err)
	}
	// Each updated pod was deleted and created once: the restart repeated nothing.
	evs, err := c.admin.Events("default").List(ctx, transport.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int32{}
	for _, e := range evs.GetItems() {
		counts[e.GetMessage()] += max(e.GetCount(), 1)
	}
	// Before the update web-1 and web-2 were made twice and deleted once (the scale down and
	// back up); the update deleted and made each once more.
	for msg, want := range map[string]int32{
		"delete Pod web-2 in StatefulSet web successful": 2, "delete Pod web-1 in StatefulSet web successful": 2,
		"create Pod web-2 in StatefulSet web successful": 3, "create Pod web-1 in StatefulSet web successful": 3,
		"create Pod web-0 in StatefulSet web successful": 1,
	} {
		if counts[msg] != want {
			t.Errorf("%q recorded %d times, want %d", msg, counts[msg], want)
		}
	}
}

// TestIntegrationClaims: against a real apiserver, as the controller-manager's RBAC
// identity, each pod's claims are made before it, labelled, and mounted by it; a restarted
// controller makes none twice; and a scale-down with whenScaled Delete hands the condemned
// pod's claim to that pod (for the garbage collector to delete with it).
func TestIntegrationClaims(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	set := newSet(2, parallel, withData(retain, del))
	set.Metadata = &metav1.ObjectMeta{Name: "web", Namespace: "default"}
	if _, err := c.admin.StatefulSets("default").Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	c.waitPods("web-0 and web-1", exactly("web-0", "web-1"))
	claims := func() map[string]*corev1.PersistentVolumeClaim {
		l, err := c.admin.PersistentVolumeClaims("default").List(ctx, transport.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*corev1.PersistentVolumeClaim{}
		for _, pvc := range l.GetItems() {
			out[pvc.GetMetadata().GetName()] = pvc
		}
		return out
	}
	got := claims()
	if len(got) != 2 {
		t.Fatalf("claims = %v", got)
	}
	for _, name := range []string{"web-0", "web-1"} {
		pod, err := c.admin.Pods("default").Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		claim := got["data-"+name]
		if claim == nil || claim.GetMetadata().GetLabels()["tier"] != "db" || claim.GetMetadata().GetLabels()["app"] != "nginx" {
			t.Fatalf("claim of %s = %v", name, claim)
		}
		// The claim was written before its pod: a smaller resourceVersion.
		if cr, pr := atoi(t, claim.GetMetadata().GetResourceVersion()), atoi(t, pod.GetMetadata().GetResourceVersion()); cr >= pr {
			t.Errorf("claim %s (rv %d) not made before pod %s (rv %d)", claim.GetMetadata().GetName(), cr, name, pr)
		}
		if v := pod.GetSpec().GetVolumes()[0]; v.GetName() != "data" || v.GetPersistentVolumeClaim().GetClaimName() != "data-"+name {
			t.Errorf("%s volumes = %v", name, pod.GetSpec().GetVolumes())
		}
	}

	c.restart()
	c.ready("web-0")
	c.ready("web-1")
	web1, err := c.admin.Pods("default").Get(ctx, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	c.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(1) })
	c.waitPods("scaled down to web-0", exactly("web-0"))
	controllertest.Eventually(t, "data-web-1 owned by web-1", func() (bool, string) {
		got := claims()
		refs := got["data-web-1"].GetMetadata().GetOwnerReferences()
		return len(got) == 2 && len(refs) == 1 && refs[0].GetKind() == "Pod" && refs[0].GetUid() == web1.GetMetadata().GetUid() &&
			len(got["data-web-0"].GetMetadata().GetOwnerReferences()) == 0, fmt.Sprint(got)
	})
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}
