package deployment

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/replicaset"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/watch"
)

// startControllers runs the deployment and replicaset controllers on one informer factory
// against the test apiserver, and a fake kubelet that marks every pod Running and Ready.
func startControllers(t *testing.T, cs *kube.Clientset) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	factory := informers.NewSharedInformerFactory(cs.Transport(), 0)
	cc := &controllerctx.Context{
		Client: cs, Informers: factory, Log: log,
		Recorder: func(component string) *record.Recorder {
			r := record.New(record.Config{Client: cs.Transport(), Component: component, Log: log})
			go r.Run(ctx)
			return r
		},
	}
	rsc, err := replicaset.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { rsc.Run(ctx, 2) })
	wg.Go(func() { dc.Run(ctx, 2) })
	wg.Go(func() { fakeKubelet(ctx, cs) })
	t.Cleanup(func() { cancel(); wg.Wait(); factory.Shutdown() })
	return ctx
}

// fakeKubelet marks every pod Running with Ready=True, through the status subresource.
func fakeKubelet(ctx context.Context, cs *kube.Clientset) {
	for ctx.Err() == nil {
		w, err := cs.Pods("").Watch(ctx, transport.ListOptions{})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || controller.IsPodReady(pod) || pod.GetMetadata().GetDeletionTimestamp() != nil {
				continue
			}
			pod = proto.Clone(pod).(*corev1.Pod)
			if pod.Status == nil {
				pod.Status = &corev1.PodStatus{}
			}
			pod.Status.Phase = "Running"
			pod.Status.Conditions = append(pod.Status.Conditions, &corev1.PodCondition{
				Type: "Ready", Status: "True", LastTransitionTime: controller.NewTime(time.Now()),
			})
			_, _ = cs.Pods(pod.Metadata.Namespace).UpdateStatus(ctx, pod)
		}
		w.Stop()
	}
}

// podMonitor follows every pod watch event of one app and records the moments the
// rolling-update bounds were broken.
type podMonitor struct {
	mu         sync.Mutex
	pods       map[string]*corev1.Pod
	maxPods    int // existing (not terminating) pods allowed
	minReady   int // ready pods required
	violations []string
	events     int
}

func monitorPods(t *testing.T, ctx context.Context, cs *kube.Clientset, app string, maxPods, minReady int) *podMonitor {
	t.Helper()
	m := &podMonitor{pods: map[string]*corev1.Pod{}, maxPods: maxPods, minReady: minReady}
	list, err := cs.Pods("default").List(ctx, transport.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		m.pods[p.Metadata.Name] = p
	}
	w, err := cs.Pods("default").Watch(ctx, transport.ListOptions{LabelSelector: "app=" + app, ResourceVersion: list.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				m.observe(ev.Type, pod)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func (m *podMonitor) observe(typ watch.EventType, pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events++
	if typ == watch.Deleted || pod.GetMetadata().GetDeletionTimestamp() != nil {
		delete(m.pods, pod.Metadata.Name)
	} else {
		m.pods[pod.Metadata.Name] = pod
	}
	ready := 0
	for _, p := range m.pods {
		if controller.IsPodReady(p) {
			ready++
		}
	}
	if len(m.pods) > m.maxPods || ready < m.minReady {
		m.violations = append(m.violations, fmt.Sprintf("after %s %s: %d pods exist (max %d), %d ready (min %d)",
			typ, pod.Metadata.Name, len(m.pods), m.maxPods, ready, m.minReady))
	}
}

func (m *podMonitor) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == 0 {
		t.Errorf("the monitor saw no pod event")
	}
	for _, v := range m.violations {
		t.Errorf("bounds broken: %s", v)
	}
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

// converged waits until deployment name has rolled out completely with n replicas, and
// returns its replica sets (oldest first).
func converged(t *testing.T, ctx context.Context, cs *kube.Clientset, name, app string, n int32) []*appsv1.ReplicaSet {
	t.Helper()
	var rss []*appsv1.ReplicaSet
	waitFor(t, fmt.Sprintf("%s to converge on %d replicas", name, n), func() (bool, string) {
		d, err := cs.Deployments("default").Get(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		pods, err := cs.Pods("default").List(ctx, transport.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, err.Error()
		}
		rsList, err := cs.ReplicaSets("default").List(ctx, transport.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, err.Error()
		}
		rss = sortedByCreation(rsList.Items)
		s := d.GetStatus()
		state := fmt.Sprintf("status %v, %d pods", s, len(pods.Items))
		prog := GetCondition(s, ConditionProgressing)
		avail := GetCondition(s, ConditionAvailable)
		return s.GetObservedGeneration() == d.GetMetadata().GetGeneration() && DeploymentComplete(d, s) &&
			s.GetReadyReplicas() == n && s.GetUnavailableReplicas() == 0 && int32(len(pods.Items)) == n &&
			prog.GetReason() == ReasonNewReplicaSetAvailable && avail.GetStatus() == "True" &&
			avail.GetMessage() == MessageMinimumAvailable, state
	})
	return rss
}

// byRevision indexes replica sets by revision (creationTimestamps have whole seconds, so
// they do not order replica sets made in the same second).
func byRevision(rss []*appsv1.ReplicaSet) map[int64]*appsv1.ReplicaSet {
	m := map[int64]*appsv1.ReplicaSet{}
	for _, rs := range rss {
		m[Revision(rs)] = rs
	}
	return m
}

func editDeployment(t *testing.T, ctx context.Context, cs *kube.Clientset, name string, edit func(*appsv1.Deployment)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 1}, func() error {
		d, err := cs.Deployments("default").Get(ctx, name)
		if err != nil {
			return err
		}
		edit(d)
		_, err = cs.Deployments("default").Update(ctx, d)
		return err
	})
	if err != nil {
		t.Fatalf("update deployment %s: %v", name, err)
	}
}

func seedDeployment(name, app string, n int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		Kind: "Deployment", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": app}},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": app}},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
					Name: "nginx", Image: "nginx:1.14.2", Ports: []*corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
		},
	}
}

func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver")
	}
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx := startControllers(t, cs)

	if _, err := cs.Deployments("default").Create(ctx, seedDeployment("example", "example", 3)); err != nil {
		t.Fatal(err)
	}
	rss := converged(t, ctx, cs, "example", "example", 3)
	if len(rss) != 1 {
		t.Fatalf("got %d replica sets, want 1", len(rss))
	}
	first := rss[0]
	hash := first.Metadata.Labels[controller.DefaultPodTemplateHashLabel]
	if hash == "" || first.Metadata.Name != "example-"+hash || first.Spec.Selector.MatchLabels[controller.DefaultPodTemplateHashLabel] != hash {
		t.Errorf("replica set %s labels %v selector %v", first.Metadata.Name, first.Metadata.Labels, first.Spec.Selector)
	}
	pods, _ := cs.Pods("default").List(ctx, transport.ListOptions{LabelSelector: "app=example"})
	for _, p := range pods.Items {
		if !controller.IsControlledBy(p, first) || p.Metadata.Labels[controller.DefaultPodTemplateHashLabel] != hash {
			t.Errorf("pod %s: owner %v labels %v", p.Metadata.Name, p.Metadata.OwnerReferences, p.Metadata.Labels)
		}
	}
	d, _ := cs.Deployments("default").Get(ctx, "example")
	if !controller.IsControlledBy(first, d) || d.Metadata.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("replica set owner %v, deployment revision %q", first.Metadata.OwnerReferences, d.Metadata.Annotations[RevisionAnnotation])
	}

	t.Run("scale 3 to 10 to 2", func(t *testing.T) {
		for _, n := range []int32{10, 2} {
			editDeployment(t, ctx, cs, "example", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(n) })
			if rss := converged(t, ctx, cs, "example", "example", n); len(rss) != 1 || replicas(rss[0]) != n {
				t.Errorf("after scaling to %d: %d replica sets", n, len(rss))
			}
		}
	})

	t.Run("rolling update within bounds", func(t *testing.T) {
		editDeployment(t, ctx, cs, "example", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(4) })
		converged(t, ctx, cs, "example", "example", 4)
		mon := monitorPods(t, ctx, cs, "example", 4+1, 4-1)
		editDeployment(t, ctx, cs, "example", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: RollingUpdateStrategy, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: &metav1.IntOrString{IntVal: 1}, MaxUnavailable: &metav1.IntOrString{IntVal: 1},
			}}
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.16.1"
		})
		rss := converged(t, ctx, cs, "example", "example", 4)
		mon.check(t)
		byRev := byRevision(rss)
		if len(rss) != 2 || replicas(byRev[1]) != 0 || replicas(byRev[2]) != 4 ||
			byRev[2].GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() != "nginx:1.16.1" {
			t.Errorf("after the rollout: %v", rss)
		}
	})

	t.Run("rollout undo reuses the old replica set", func(t *testing.T) {
		editDeployment(t, ctx, cs, "example", func(d *appsv1.Deployment) {
			tmpl := proto.Clone(first.Spec.Template).(*corev1.PodTemplateSpec)
			delete(tmpl.Metadata.Labels, controller.DefaultPodTemplateHashLabel)
			d.Spec.Template = tmpl
		})
		rss := converged(t, ctx, cs, "example", "example", 4)
		byRev := byRevision(rss)
		if len(rss) != 2 || byRev[3].GetMetadata().GetName() != first.Metadata.Name || replicas(byRev[3]) != 4 ||
			byRev[3].Metadata.Annotations[RevisionHistoryAnnotation] != "1" || replicas(byRev[2]) != 0 {
			t.Fatalf("after undo: %v", rss)
		}
		d, _ := cs.Deployments("default").Get(ctx, "example")
		if d.Metadata.Annotations[RevisionAnnotation] != "3" {
			t.Errorf("deployment revision = %q", d.Metadata.Annotations[RevisionAnnotation])
		}
	})

	t.Run("paused stops the rollout", func(t *testing.T) {
		editDeployment(t, ctx, cs, "example", func(d *appsv1.Deployment) {
			d.Spec.Paused = true
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.17"
		})
		waitFor(t, "the paused condition", func() (bool, string) {
			d, err := cs.Deployments("default").Get(ctx, "example")
			if err != nil {
				return false, err.Error()
			}
			c := GetCondition(d.Status, ConditionProgressing)
			return d.Status.ObservedGeneration == d.Metadata.Generation && c.GetStatus() == "Unknown" &&
				c.GetReason() == ReasonDeploymentPaused && c.GetMessage() == MessagePaused, fmt.Sprint(d.Status)
		})
		rsList, _ := cs.ReplicaSets("default").List(ctx, transport.ListOptions{LabelSelector: "app=example"})
		if len(rsList.Items) != 2 {
			t.Errorf("a paused deployment got a new replica set: %d", len(rsList.Items))
		}
		editDeployment(t, ctx, cs, "example", func(d *appsv1.Deployment) { d.Spec.Paused = false })
		if rss := converged(t, ctx, cs, "example", "example", 4); len(rss) != 3 || replicas(byRevision(rss)[4]) != 4 {
			t.Errorf("after resume: %v", rss)
		}
	})

	t.Run("recreate", func(t *testing.T) {
		d := seedDeployment("recreate", "recreate", 3)
		d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: RecreateStrategy}
		if _, err := cs.Deployments("default").Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		old := converged(t, ctx, cs, "recreate", "recreate", 3)[0]
		oldHash := old.Metadata.Labels[controller.DefaultPodTemplateHashLabel]
		mon := monitorPods(t, ctx, cs, "recreate", 3, 0)
		var mixed []string
		var mu sync.Mutex
		w, err := cs.Pods("default").Watch(ctx, transport.ListOptions{LabelSelector: "app=recreate"})
		if err != nil {
			t.Fatal(err)
		}
		live := map[string]string{}
		go func() {
			for ev := range w.ResultChan() {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				mu.Lock()
				if ev.Type == watch.Deleted {
					delete(live, pod.Metadata.Name)
				} else {
					live[pod.Metadata.Name] = pod.Metadata.Labels[controller.DefaultPodTemplateHashLabel]
				}
				hashes := map[string]bool{}
				for _, h := range live {
					hashes[h] = true
				}
				if len(hashes) > 1 {
					mixed = append(mixed, fmt.Sprint(live))
				}
				mu.Unlock()
			}
		}()
		editDeployment(t, ctx, cs, "recreate", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.16.1" })
		rss := converged(t, ctx, cs, "recreate", "recreate", 3)
		w.Stop()
		mon.check(t)
		mu.Lock()
		defer mu.Unlock()
		if len(mixed) > 0 {
			t.Errorf("old (%s) and new pods coexisted: %v", oldHash, mixed[0])
		}
		byRev := byRevision(rss)
		if len(rss) != 2 || replicas(byRev[1]) != 0 || replicas(byRev[2]) != 3 {
			t.Errorf("after recreate: %v", rss)
		}
	})

	t.Run("events", func(t *testing.T) {
		waitFor(t, "the ScalingReplicaSet event", func() (bool, string) {
			evs, err := cs.Events("default").List(ctx, transport.ListOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err.Error()
			}
			want := "Scaled up replica set " + first.Metadata.Name + " from 0 to 3"
			for _, e := range evs.GetItems() {
				if e.Reason == "ScalingReplicaSet" && e.Message == want && e.InvolvedObject.GetName() == "example" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events", len(evs.GetItems()))
		})
	})
}
