package job

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func onExitCodes(action, op string, container *string, values ...int32) *batchv1.PodFailurePolicyRule {
	return &batchv1.PodFailurePolicyRule{Action: action,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{ContainerName: container, Operator: op, Values: values}}
}

func onDisruption(action string) *batchv1.PodFailurePolicyRule {
	return &batchv1.PodFailurePolicyRule{Action: action,
		OnPodConditions: []*batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget", Status: "True"}}}
}

// exited is a terminated container status.
func exited(name string, code int32) *corev1.ContainerStatus {
	return &corev1.ContainerStatus{Name: name, State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

var disruptionTarget = &corev1.PodCondition{Type: "DisruptionTarget", Status: "True", Reason: "EvictionByEvictionAPI"}

func TestMatchPodFailurePolicy(t *testing.T) {
	main := proto.String("main")
	running := &corev1.ContainerStatus{Name: "main", State: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	for _, tc := range []struct {
		name  string
		rules []*batchv1.PodFailurePolicyRule
		st    *corev1.PodStatus
		want  failureVerdict
	}{
		{"no rule matches: count", []*batchv1.PodFailurePolicyRule{onExitCodes("FailJob", "In", nil, 42)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("main", 1)}}, failureVerdict{countFailed: true}},
		{"FailJob on exit code, rule at index 1", []*batchv1.PodFailurePolicyRule{onDisruption("Ignore"), onExitCodes("FailJob", "In", nil, 1, 42)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("main", 42)}},
			failureVerdict{"FailJob", true, "Container main for pod default/x failed with exit code 42 matching FailJob rule at index 1"}},
		{"the first matching rule decides", []*batchv1.PodFailurePolicyRule{onExitCodes("Count", "NotIn", nil, 3), onExitCodes("FailJob", "In", nil, 42)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("main", 42)}}, failureVerdict{action: "Count", countFailed: true}},
		{"NotIn matches another code", []*batchv1.PodFailurePolicyRule{onExitCodes("FailJob", "NotIn", nil, 1, 2)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("main", 3)}},
			failureVerdict{"FailJob", true, "Container main for pod default/x failed with exit code 3 matching FailJob rule at index 0"}},
		{"NotIn never matches exit code 0", []*batchv1.PodFailurePolicyRule{onExitCodes("FailJob", "NotIn", nil, 1)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("main", 0), exited("side", 1)}}, failureVerdict{countFailed: true}},
		{"a running container has no exit code", []*batchv1.PodFailurePolicyRule{onExitCodes("FailJob", "NotIn", nil, 1)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{running}}, failureVerdict{countFailed: true}},
		{"containerName: another container's code does not match", []*batchv1.PodFailurePolicyRule{onExitCodes("FailJob", "In", main, 42)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("side", 42), exited("main", 1)}}, failureVerdict{countFailed: true}},
		{"containerName: its own code matches", []*batchv1.PodFailurePolicyRule{onExitCodes("FailJob", "In", main, 42)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("side", 1), exited("main", 42)}},
			failureVerdict{"FailJob", true, "Container main for pod default/x failed with exit code 42 matching FailJob rule at index 0"}},
		{"init containers are checked after app containers", []*batchv1.PodFailurePolicyRule{onExitCodes("Ignore", "In", nil, 7)},
			&corev1.PodStatus{InitContainerStatuses: []*corev1.ContainerStatus{exited("setup", 7)}}, failureVerdict{action: "Ignore"}},
		{"Ignore on DisruptionTarget", []*batchv1.PodFailurePolicyRule{onDisruption("Ignore")},
			&corev1.PodStatus{Conditions: []*corev1.PodCondition{disruptionTarget}}, failureVerdict{action: "Ignore"}},
		{"FailJob on a condition", []*batchv1.PodFailurePolicyRule{onDisruption("FailJob")},
			&corev1.PodStatus{Conditions: []*corev1.PodCondition{disruptionTarget}},
			failureVerdict{"FailJob", true, "Pod default/x has condition DisruptionTarget matching FailJob rule at index 0"}},
		{"a condition of another status does not match", []*batchv1.PodFailurePolicyRule{onDisruption("Ignore")},
			&corev1.PodStatus{Conditions: []*corev1.PodCondition{{Type: "DisruptionTarget", Status: "False"}}}, failureVerdict{countFailed: true}},
		// FailIndex needs backoffLimitPerIndex, which kubelab lacks: the rule is skipped.
		{"FailIndex is skipped", []*batchv1.PodFailurePolicyRule{onExitCodes("FailIndex", "In", nil, 42), onExitCodes("Ignore", "In", nil, 42)},
			&corev1.PodStatus{ContainerStatuses: []*corev1.ContainerStatus{exited("main", 42)}}, failureVerdict{action: "Ignore"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.st.Phase = "Failed"
			pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "x"}, Status: tc.st}
			if got := matchPodFailurePolicy(&batchv1.PodFailurePolicy{Rules: tc.rules}, pod); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// endPod reports pod ended in phase Failed with the given container statuses and
// conditions, as its kubelet (and, for DisruptionTarget, the eviction) would.
func endPod(t *testing.T, admin *kube.Clientset, name string, conds []*corev1.PodCondition, containers ...*corev1.ContainerStatus) {
	t.Helper()
	fresh, err := admin.Pods("default").Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	fresh.Status = &corev1.PodStatus{Phase: "Failed", Conditions: conds, ContainerStatuses: containers}
	if _, err := admin.Pods("default").UpdateStatus(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
}

// noBackoff replaces failed pods at once, so a test needs no clock.
func noBackoff(c *Config) {
	c.PodFailureBackoff, c.MaxPodFailureBackoff = time.Nanosecond, time.Nanosecond
}

func withPolicy(containers []string, rules ...*batchv1.PodFailurePolicyRule) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
		j.Spec.Template.Spec.Containers = nil
		for _, n := range containers {
			j.Spec.Template.Spec.Containers = append(j.Spec.Template.Spec.Containers, &corev1.Container{Name: n, Image: "busybox"})
		}
	}
}

func podNames(pods []*corev1.Pod) (names []string) {
	for _, p := range pods {
		names = append(names, p.GetMetadata().GetName())
	}
	return names
}

// A pod whose container main exits with 42 matches the FailJob rule at index 1: the job
// gets FailureTarget with upstream's reason and message at once (backoffLimit 6 is far),
// its other pod is deleted, and once that pod is gone the job is Failed with the same
// reason and message, both pods counted.
func TestPodFailurePolicyFailJob(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 2, 2, 6, withPolicy([]string{"main", "side"},
		onDisruption("Ignore"), onExitCodes("FailJob", "In", proto.String("main"), 42)))

	a := startLive(t, srv)
	a.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	pods := listPods(t, admin)
	if len(pods) != 2 {
		t.Fatalf("pods = %v", podNames(pods))
	}
	x := pods[0].GetMetadata().GetName()
	endPod(t, admin, x, nil, exited("side", 0), exited("main", 42))
	a.sees("pod failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 1 })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	wantMsg := "Container main for pod default/" + x + " failed with exit code 42 matching FailJob rule at index 1"
	j := getJob(t, admin)
	ft := findCondition(j.GetStatus(), batchv1.JobFailureTarget)
	if ft.GetStatus() != "True" || ft.GetReason() != "PodFailurePolicy" || ft.GetMessage() != wantMsg {
		t.Fatalf("FailureTarget = %v, want reason PodFailurePolicy, message %q", ft, wantMsg)
	}
	if FinishedCondition(j.GetStatus()) != nil {
		t.Fatalf("finished while a pod still terminates: %v", j.GetStatus())
	}

	// The other pod was deleted (unscheduled, it goes at once) and counted as failed, as
	// every pod of a failed job that did not succeed; the next sync sees none left.
	a.sees("other pod gone", func(_ *batchv1.Job, ps []*corev1.Pod) bool {
		return len(ps) == 1 && ps[0].GetMetadata().GetName() == x
	})
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	st := getJob(t, admin).GetStatus()
	f := findCondition(st, batchv1.JobFailed)
	if f.GetStatus() != "True" || f.GetReason() != "PodFailurePolicy" || f.GetMessage() != wantMsg || st.GetFailed() != 2 || st.GetActive() != 0 {
		t.Fatalf("status = %v", st)
	}
}

// An evicted pod (DisruptionTarget, deleted) matches an Ignore rule: with backoffLimit 0 the
// job goes on, the pod is not counted and is replaced once it has ended, not while it
// terminates. A later failure no rule matches counts, and fails the job.
func TestPodFailurePolicyIgnoreDisruption(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 1, 1, 0, withPolicy([]string{"main"}, onDisruption("Ignore")))

	a := startLive(t, srv, noBackoff)
	a.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	evicted := listPods(t, admin)[0].GetMetadata().GetName()
	// The eviction marks the pod and deletes it; its finalizer keeps it while it terminates.
	fresh, err := admin.Pods("default").Get(context.Background(), evicted)
	if err != nil {
		t.Fatal(err)
	}
	fresh.Status = &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{disruptionTarget}}
	if _, err := admin.Pods("default").UpdateStatus(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Pods("default").Delete(context.Background(), evicted, nil); err != nil {
		t.Fatal(err)
	}
	a.sees("pod terminating", func(_ *batchv1.Job, ps []*corev1.Pod) bool {
		return len(ps) == 1 && ps[0].GetMetadata().GetDeletionTimestamp() != nil
	})
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	st := getJob(t, admin).GetStatus()
	if n := len(listPods(t, admin)); n != 1 || st.GetFailed() != 0 || st.GetTerminating() != 1 || findCondition(st, batchv1.JobFailureTarget) != nil {
		t.Fatalf("while the evicted pod terminates: %d pods, status = %v", n, st)
	}

	endPod(t, admin, evicted, []*corev1.PodCondition{disruptionTarget}, exited("main", 143))
	a.sees("evicted pod failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 1 })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	st = getJob(t, admin).GetStatus()
	pods := listPods(t, admin)
	if st.GetFailed() != 0 || len(st.GetUncountedTerminatedPods().GetFailed()) != 0 || findCondition(st, batchv1.JobFailureTarget) != nil || len(pods) != 1 ||
		pods[0].GetMetadata().GetName() == evicted {
		t.Fatalf("after the ignored failure: pods %v, status = %v", podNames(pods), st)
	}

	// The replacement fails on its own: no rule matches, it counts, backoffLimit 0 is passed.
	endPod(t, admin, pods[0].GetMetadata().GetName(), nil, exited("main", 1))
	a.sees("replacement failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 1 && len(ps) == 1 })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	st = getJob(t, admin).GetStatus()
	if f := findCondition(st, batchv1.JobFailed); f.GetReason() != batchv1.JobReasonBackoffLimitExceeded || st.GetFailed() != 1 {
		t.Fatalf("status = %v", st)
	}
}

// A NotIn rule for container main: main exiting with an expected code (1) is counted as
// usual, whatever the other container did; main exiting with any other code fails the job.
func TestPodFailurePolicyNotInForOneContainer(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 1, 1, 6, withPolicy([]string{"main", "side"},
		onExitCodes("FailJob", "NotIn", proto.String("main"), 1, 2)))

	a := startLive(t, srv, noBackoff)
	a.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	first := listPods(t, admin)[0].GetMetadata().GetName()
	endPod(t, admin, first, nil, exited("side", 9), exited("main", 1))
	a.sees("first failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 1 })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	st := getJob(t, admin).GetStatus()
	if st.GetFailed() != 1 || findCondition(st, batchv1.JobFailureTarget) != nil {
		t.Fatalf("after exit code 1: status = %v", st)
	}
	var second string
	for _, p := range listPods(t, admin) {
		if n := p.GetMetadata().GetName(); n != first {
			second = n
		}
	}
	if second == "" {
		t.Fatal("the failed pod was not replaced")
	}
	endPod(t, admin, second, nil, exited("main", 3))
	a.sees("second failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 2 })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	st = getJob(t, admin).GetStatus()
	want := "Container main for pod default/" + second + " failed with exit code 3 matching FailJob rule at index 0"
	if f := findCondition(st, batchv1.JobFailed); f.GetReason() != "PodFailurePolicy" || f.GetMessage() != want || st.GetFailed() != 2 {
		t.Fatalf("status = %v, want Failed %q", st, want)
	}
}

// The controller dies in the middle of counting: once after recording a FailJob pod's uid
// and the FailureTarget condition (its finalizer is not removed), once after removing an
// ignored pod's finalizer. Restarted controllers count the first pod once, never the
// second, and fail the job with the condition written before the crash.
func TestPodFailurePolicyCountedOnceAcrossRestarts(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	createJob(t, admin, 2, 2, 6, withPolicy([]string{"main"},
		onDisruption("Ignore"), onExitCodes("FailJob", "In", nil, 42)))

	a := startLive(t, srv)
	a.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
	pods := listPods(t, admin)
	ignored, fatal := pods[0].GetMetadata().GetName(), pods[1].GetMetadata().GetName()

	// The ignored pod: its finalizer goes (no status write is needed first), then the crash.
	endPod(t, admin, ignored, []*corev1.PodCondition{disruptionTarget}, exited("main", 143))
	a.tr.failStatusNth = 1
	a.sees("ignored pod failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 1 })
	if err := a.sync(); err != nil && !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	for _, p := range listPods(t, admin) {
		if p.GetMetadata().GetName() == ignored && len(p.GetMetadata().GetFinalizers()) != 0 {
			t.Fatalf("ignored pod keeps %v", p.GetMetadata().GetFinalizers())
		}
	}

	// The FailJob pod: FailureTarget and the uid are written, the finalizer removal dies.
	endPod(t, admin, fatal, nil, exited("main", 42))
	b := startLive(t, srv)
	b.tr.failPodPatch.Store(true)
	b.sees("fatal pod failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 2 })
	if err := b.sync(); !errors.Is(err, errCrash) {
		t.Fatalf("sync = %v, want the crash", err)
	}
	st := getJob(t, admin).GetStatus()
	uid := pods[1].GetMetadata().GetUid()
	if !slices.Equal(st.GetUncountedTerminatedPods().GetFailed(), []string{uid}) || st.GetFailed() != 0 ||
		findCondition(st, batchv1.JobFailureTarget).GetReason() != "PodFailurePolicy" {
		t.Fatalf("after the crash: status = %v", st)
	}

	// A new controller finishes the count: one failure, the ignored pod never.
	c := startLive(t, srv)
	c.sees("uncounted uid", func(j *batchv1.Job, _ []*corev1.Pod) bool {
		return len(j.GetStatus().GetUncountedTerminatedPods().GetFailed()) == 1
	})
	for i := 0; i < 2 && FinishedCondition(getJob(t, admin).GetStatus()) == nil; i++ {
		if err := c.sync(); err != nil {
			t.Fatal(err)
		}
		c.sees("job as written", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	}
	st = getJob(t, admin).GetStatus()
	f := findCondition(st, batchv1.JobFailed)
	want := "Container main for pod default/" + fatal + " failed with exit code 42 matching FailJob rule at index 1"
	if f.GetReason() != "PodFailurePolicy" || f.GetMessage() != want || st.GetFailed() != 1 || len(st.GetUncountedTerminatedPods().GetFailed()) != 0 {
		t.Fatalf("finished: status = %v", st)
	}
}
