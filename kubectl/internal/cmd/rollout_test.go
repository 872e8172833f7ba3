package cmd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// rolloutHarness is a real apiserver, with no controller, for the rollout tests: the
// objects' histories and statuses are written by the test, as the controllers would.
type rolloutHarness struct {
	t   *testing.T
	s   *apiservertest.Server
	cs  *kube.Clientset
	ctx context.Context
}

func newRolloutHarness(t *testing.T) *rolloutHarness {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	s := apiservertest.Start(t)
	return &rolloutHarness{t: t, s: s, cs: s.Clientset(true), ctx: context.Background()}
}

// run is our kubectl's output, stderr included.
func (h *rolloutHarness) run(args ...string) (string, error) {
	h.t.Helper()
	out, errOut, err := runKubectl(h.ctx, h.t, h.s.Kubeconfig(), "", args...)
	return out.String() + errOut.String(), err
}

// expect checks our kubectl prints want, and so does the stock one where it is installed,
// except for undo, which writes: the stock kubectl compares the revision with the template
// as its typed structs encode it, byte for byte, so it "rolls back" to a template it
// already has.
func (h *rolloutHarness) expect(want string, args ...string) {
	h.t.Helper()
	got, err := h.run(args...)
	if err != nil && !strings.HasPrefix(want, "error: ") || got != want {
		h.t.Errorf("kubectl %s: %v\n got %q\nwant %q", strings.Join(args, " "), err, got, want)
	}
	if hasStockKubectl() && (args[0] != "rollout" || args[1] != "undo") {
		if stock := stockKubectl(h.t, h.s, args...); stock != want {
			h.t.Errorf("stock kubectl %s:\n got %q\nwant %q", strings.Join(args, " "), stock, want)
		}
	}
}

// sameAsStock checks our kubectl prints what the stock one does, where it is installed,
// and returns ours.
func (h *rolloutHarness) sameAsStock(args ...string) string {
	h.t.Helper()
	got, err := h.run(args...)
	if err != nil {
		h.t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, got)
	}
	if hasStockKubectl() {
		if stock := stockKubectl(h.t, h.s, args...); stock != got {
			h.t.Errorf("kubectl %s:\n ours  %q\n stock %q", strings.Join(args, " "), got, stock)
		}
	}
	return got
}

func hasStockKubectl() bool {
	_, err := os.Stat("/usr/bin/kubectl")
	return err == nil
}

// revisions writes the ControllerRevisions owner (a DaemonSet or StatefulSet named name)
// has had, one per image, numbered from 1, holding the patch its controller would: the
// template of a container named name, whole.
func (h *rolloutHarness) revisions(kind, name, uid string, images ...string) {
	h.t.Helper()
	for i, image := range images {
		rev := int64(i + 1)
		data := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"` + name + `"}},"spec":{"containers":[{"image":"` + image +
			`","imagePullPolicy":"IfNotPresent","name":"` + name + `","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],` +
			`"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`
		if _, err := h.cs.ControllerRevisions("default").Create(h.ctx, &appsv1.ControllerRevision{
			Metadata: &metav1.ObjectMeta{Name: name + "-rev" + itoa(rev), Namespace: "default", Labels: map[string]string{"app": name, "controller-revision-hash": "rev" + itoa(rev)},
				OwnerReferences: []*metav1.OwnerReference{{ApiVersion: "apps/v1", Kind: kind, Name: name, Uid: uid, Controller: proto.Bool(true)}}},
			Data: &metav1.RawExtension{Raw: []byte(data)}, Revision: rev,
		}); err != nil {
			h.t.Fatal(err)
		}
	}
}

func podTemplate(app, image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: app, Image: image}}},
	}
}

// TestRolloutDaemonSet: status, history and undo of a DaemonSet against a real apiserver,
// its history as the daemonset controller keeps it. Where the stock kubectl is installed, it
// must print the same.
func TestRolloutDaemonSet(t *testing.T) {
	h := newRolloutHarness(t)
	cs, ctx := h.cs, h.ctx
	ds, err := cs.DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		Metadata: &metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec:     &appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: podTemplate("agent", "nginx:1.16")},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.revisions("DaemonSet", "agent", ds.GetMetadata().GetUid(), "nginx:1.14.2", "nginx:1.16")
	setStatus := func(st *appsv1.DaemonSetStatus) {
		t.Helper()
		cur, err := cs.DaemonSets("default").Get(ctx, "agent")
		if err != nil {
			t.Fatal(err)
		}
		st.ObservedGeneration = cur.GetMetadata().GetGeneration()
		cur.Status = st
		if _, err := cs.DaemonSets("default").UpdateStatus(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
	run, expect := h.run, h.expect
	expect("Waiting for daemon set spec update to be observed...\n", "rollout", "status", "ds/agent", "--watch=false")
	setStatus(&appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3, NumberReady: 3})
	expect(`Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...`+"\n", "rollout", "status", "daemonset/agent", "--watch=false")
	setStatus(&appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberReady: 2})
	expect(`Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...`+"\n", "rollout", "status", "ds/agent", "--watch=false")
	setStatus(&appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3, NumberReady: 3})
	expect(`daemon set "agent" successfully rolled out`+"\n", "rollout", "status", "ds/agent")

	expect("daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n", "rollout", "history", "ds/agent")
	got := h.sameAsStock("rollout", "history", "ds/agent", "--revision=1")
	if !strings.HasPrefix(got, "daemonset.apps/agent with revision #1\nPod Template:\n") || !strings.Contains(got, "nginx:1.14.2") {
		t.Errorf("history --revision=1:\n%s", got)
	}
	if got, err := run("rollout", "history", "ds/agent", "--revision=9"); err == nil || !strings.Contains(got, "unable to find the specified revision") {
		t.Errorf("history --revision=9: %v %q", err, got)
	}

	// Undo patches the DaemonSet with the revision before the newest: the template is
	// revision 1's again, whole.
	expect("daemonset.apps/agent rolled back\n", "rollout", "undo", "ds/agent")
	cur, err := cs.DaemonSets("default").Get(ctx, "agent")
	if err != nil || cur.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() != "nginx:1.14.2" || cur.GetMetadata().GetGeneration() != 2 {
		t.Fatalf("after undo: %v %v", cur.GetSpec().GetTemplate(), err)
	}
	expect("daemonset.apps/agent skipped rollback (current template already matches revision 1)\n", "rollout", "undo", "ds/agent", "--to-revision=1")
	if got, err := run("rollout", "undo", "ds/agent", "--to-revision=7"); err == nil || !strings.Contains(got, "unable to find specified revision 7 in history") {
		t.Errorf("undo --to-revision=7: %v %q", err, got)
	}
	expect("error: daemonsets.apps \"agent\" pausing is not supported\n", "rollout", "pause", "ds/agent")
}

// TestRolloutStatefulSet: status, history, undo and restart of a StatefulSet, on the
// ControllerRevision code the DaemonSet path uses, and describe of the set with the pods it
// controls; where the stock kubectl is installed, it must print the same.
func TestRolloutStatefulSet(t *testing.T) {
	h := newRolloutHarness(t)
	cs, ctx := h.cs, h.ctx
	sts, err := cs.StatefulSets("default").Create(ctx, &appsv1.StatefulSet{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: &appsv1.StatefulSetSpec{Replicas: proto.Int32(3), ServiceName: "nginx",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web", "nginx:1.16")},
	})
	if err != nil {
		t.Fatal(err)
	}
	uid := sts.GetMetadata().GetUid()
	setStatus := func(st *appsv1.StatefulSetStatus) {
		t.Helper()
		cur, err := cs.StatefulSets("default").Get(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		st.ObservedGeneration = cur.GetMetadata().GetGeneration()
		cur.Status = st
		if _, err := cs.StatefulSets("default").UpdateStatus(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}

	h.expect("Waiting for statefulset spec update to be observed...\n", "rollout", "status", "sts/web", "--watch=false")
	setStatus(&appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "web-rev1", UpdateRevision: "web-rev2"})
	h.expect("Waiting for 2 pods to be ready...\n", "rollout", "status", "statefulset/web", "--watch=false")
	setStatus(&appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-rev1", UpdateRevision: "web-rev2"})
	// The apiserver defaults rollingUpdate.partition to 0: the roll out is a partitioned one.
	h.expect("Waiting for partitioned roll out to finish: 1 out of 3 new pods have been updated...\n", "rollout", "status", "sts/web", "--watch=false")
	setStatus(&appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentReplicas: 3, CurrentRevision: "web-rev2", UpdateRevision: "web-rev2"})
	h.expect("partitioned roll out complete: 3 new pods have been updated...\n", "rollout", "status", "sts/web")

	h.expect("statefulset.apps/web \nNo rollout history found.\n", "rollout", "history", "sts/web")
	h.expect("error: no last revision to roll back to\n", "rollout", "undo", "sts/web")
	h.revisions("StatefulSet", "web", uid, "nginx:1.14.2", "nginx:1.16")
	h.expect("statefulset.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n", "rollout", "history", "sts/web")
	if got := h.sameAsStock("rollout", "history", "sts/web", "--revision=1"); !strings.HasPrefix(got, "statefulset.apps/web with revision #1\nPod Template:\n") || !strings.Contains(got, "nginx:1.14.2") {
		t.Errorf("history --revision=1:\n%s", got)
	}
	h.expect("error: unable to find the specified revision\n", "rollout", "history", "sts/web", "--revision=9")
	h.expect("statefulset.apps/web rolled back\n", "rollout", "undo", "sts/web")
	cur, err := cs.StatefulSets("default").Get(ctx, "web")
	if err != nil || cur.GetSpec().GetTemplate().GetSpec().GetContainers()[0].GetImage() != "nginx:1.14.2" || cur.GetMetadata().GetGeneration() != 2 {
		t.Fatalf("after undo: %v %v", cur.GetSpec().GetTemplate(), err)
	}
	h.expect("statefulset.apps/web skipped rollback (current template already matches revision 1)\n", "rollout", "undo", "sts/web", "--to-revision=1")
	h.expect("error: unable to find specified revision 7 in history\n", "rollout", "undo", "sts/web", "--to-revision=7")

	// The restart annotation is a time: ours is pinned, and the template is read back.
	defer func(prev func() string) { nowRFC3339 = prev }(nowRFC3339)
	nowRFC3339 = func() string { return "2026-01-01T00:00:00Z" }
	if got, err := h.run("rollout", "restart", "sts/web"); err != nil || got != "statefulset.apps/web restarted\n" {
		t.Errorf("restart: %v %q", err, got)
	}
	cur, err = cs.StatefulSets("default").Get(ctx, "web")
	if err != nil || cur.GetSpec().GetTemplate().GetMetadata().GetAnnotations()["kubectl.kubernetes.io/restartedAt"] != "2026-01-01T00:00:00Z" {
		t.Errorf("after restart: %v %v", cur.GetSpec().GetTemplate().GetMetadata(), err)
	}
	h.expect("error: statefulsets.apps \"web\" pausing is not supported\n", "rollout", "pause", "sts/web")

	// describe counts the pods the set controls by phase (not web-other, which it does not
	// own), and shows its events.
	for name, phase := range map[string]string{"web-0": "Running", "web-1": "Pending", "web-2": "Failed", "web-other": "Running"} {
		pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "web", Image: "nginx"}}}}
		if name != "web-other" {
			pod.Metadata.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Uid: uid, Controller: proto.Bool(true)}}
		}
		created, err := cs.Pods("default").Create(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		created.Status = &corev1.PodStatus{Phase: phase}
		if _, err := cs.Pods("default").UpdateStatus(ctx, created); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.Events("default").Create(ctx, &corev1.Event{
		Metadata:       &metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject: &corev1.ObjectReference{ApiVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Namespace: "default", Uid: uid},
		Reason:         "SuccessfulCreate", Message: "create Pod web-0 in StatefulSet web successful", Type: "Normal",
		Source: &corev1.EventSource{Component: "statefulset-controller"}, Count: 1,
		FirstTimestamp: &metav1.Time{Seconds: time.Now().Add(-time.Hour).Unix()}, LastTimestamp: &metav1.Time{Seconds: time.Now().Add(-time.Hour).Unix()},
	}); err != nil {
		t.Fatal(err)
	}
	got := h.sameAsStock("describe", "sts", "web")
	for _, want := range []string{"\nReplicas:           3 desired | 3 total\n", "\nUpdate Strategy:    RollingUpdate\n  Partition:        0\n",
		"\nPods Status:        1 Running / 1 Waiting / 0 Succeeded / 1 Failed\n", "\nVolume Claims:     <none>\n",
		"kubectl.kubernetes.io/restartedAt: 2026-01-01T00:00:00Z", "Normal  SuccessfulCreate  60m   statefulset-controller  create Pod web-0"} {
		if !strings.Contains(got, want) {
			t.Errorf("describe sts: no %q in\n%s", want, got)
		}
	}
}

// stockKubectl runs /usr/bin/kubectl against s as the admin; its output, stderr included.
func stockKubectl(t *testing.T, s *apiservertest.Server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/kubectl", append([]string{"--kubeconfig", s.Kubeconfig(), "--cache-dir", filepath.Join(t.TempDir(), "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	return string(out)
}
