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
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestRolloutDaemonSet: status, history and undo of a DaemonSet against a real apiserver,
// its history as the daemonset controller keeps it (no controller runs here: the revisions
// and the status are written by the test). Where the stock kubectl is installed, it must
// print the same.
func TestRolloutDaemonSet(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	s := apiservertest.Start(t)
	cs := s.Clientset(true)
	ctx := context.Background()
	template := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "agent", Image: image}}},
		}
	}
	ds, err := cs.DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		Metadata: &metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec:     &appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: template("nginx:1.16")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for rev, image := range map[int64]string{1: "nginx:1.14.2", 2: "nginx:1.16"} {
		data := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"image":"` + image +
			`","imagePullPolicy":"IfNotPresent","name":"agent","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],` +
			`"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`
		if _, err := cs.ControllerRevisions("default").Create(ctx, &appsv1.ControllerRevision{
			Metadata: &metav1.ObjectMeta{Name: "agent-rev" + itoa(rev), Namespace: "default", Labels: map[string]string{"app": "agent", "controller-revision-hash": "rev" + itoa(rev)},
				OwnerReferences: []*metav1.OwnerReference{{ApiVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Uid: ds.GetMetadata().GetUid(), Controller: proto.Bool(true)}}},
			Data: &metav1.RawExtension{Raw: []byte(data)}, Revision: rev,
		}); err != nil {
			t.Fatal(err)
		}
	}
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
	run := func(args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runKubectl(ctx, t, s.Kubeconfig(), "", args...)
		return out.String() + errOut.String(), err
	}
	expect := func(want string, args ...string) {
		t.Helper()
		got, err := run(args...)
		if err != nil || got != want {
			t.Errorf("kubectl %s: %v\n got %q\nwant %q", strings.Join(args, " "), err, got, want)
		}
		if _, err := os.Stat("/usr/bin/kubectl"); err == nil && args[0] == "rollout" && args[1] != "undo" {
			if stock := stockKubectl(t, s, args...); stock != want {
				t.Errorf("stock kubectl %s:\n got %q\nwant %q", strings.Join(args, " "), stock, want)
			}
		}
	}

	expect("Waiting for daemon set spec update to be observed...\n", "rollout", "status", "ds/agent", "--watch=false")
	setStatus(&appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3, NumberReady: 3})
	expect(`Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...`+"\n", "rollout", "status", "daemonset/agent", "--watch=false")
	setStatus(&appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberReady: 2})
	expect(`Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...`+"\n", "rollout", "status", "ds/agent", "--watch=false")
	setStatus(&appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3, NumberReady: 3})
	expect(`daemon set "agent" successfully rolled out`+"\n", "rollout", "status", "ds/agent")

	expect("daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n", "rollout", "history", "ds/agent")
	got, err := run("rollout", "history", "ds/agent", "--revision=1")
	if err != nil || !strings.HasPrefix(got, "daemonset.apps/agent with revision #1\nPod Template:\n") || !strings.Contains(got, "nginx:1.14.2") {
		t.Errorf("history --revision=1: %v\n%s", err, got)
	}
	if _, err := os.Stat("/usr/bin/kubectl"); err == nil {
		if stock := stockKubectl(t, s, "rollout", "history", "ds/agent", "--revision=1"); stock != got {
			t.Errorf("history --revision=1:\n ours  %q\n stock %q", got, stock)
		}
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
	if got, err := run("rollout", "pause", "ds/agent"); err == nil || !strings.Contains(got, "no rollout support for daemonsets.apps") {
		t.Errorf("pause: %v %q", err, got)
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
