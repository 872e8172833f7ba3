package job

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		add         []int
		want        string
		total       int
	}{
		{"", 5, nil, "", 0},
		{"", 5, []int{0, 1, 2}, "0-2", 3},
		{"1,3-5,7", 10, nil, "1,3-5,7", 5},
		{"1,3-5,7", 10, []int{2, 6}, "1-7", 7},
		{"1,3-5,7", 5, nil, "1,3-4", 3},   // indexes past completions are dropped
		{"0,x,2-", 5, []int{4}, "0,4", 2}, // what cannot be read is skipped
		{"3", 5, []int{4, 4, 0}, "0,3-4", 3},
	} {
		got := parseIndexes(tc.in, tc.completions).with(tc.add)
		if got.String() != tc.want || got.total() != tc.total {
			t.Errorf("%q + %v = %q (%d), want %q (%d)", tc.in, tc.add, got.String(), got.total(), tc.want, tc.total)
		}
	}
}

// indexedPod is a pod of newIndexedJob's with completion index i.
func indexedPod(name, phase string, i int) *corev1.Pod {
	p := pod(name, phase)
	setCompletionIndex(p, newIndexedJob(3, 2), i)
	return p
}

func newIndexedJob(completions, parallelism int32) *batchv1.Job {
	j := newJob(completions, parallelism, 6)
	j.Spec.CompletionMode = proto.String(batchv1.IndexedCompletion)
	return j
}

func TestPendingIndexes(t *testing.T) {
	active := []*corev1.Pod{indexedPod("a", "Running", 1), indexedPod("b", "Running", 3)}
	if got := pendingIndexes(active, parseIndexes("0,2", 6), 3, 6); !slices.Equal(got, []int{4, 5}) {
		t.Errorf("pendingIndexes = %v, want [4 5]", got)
	}
	if got := pendingIndexes(nil, nil, 2, 6); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("pendingIndexes = %v, want [0 1]", got)
	}
}

// Of two active pods of one index the one that did least goes; so does a pod without an
// index or with one past completions.
func TestDuplicateIndexesDeleted(t *testing.T) {
	f := newFixture(t)
	j := newIndexedJob(3, 3)
	j.Status = &batchv1.JobStatus{StartTime: controller.NewTime(epoch), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	f.put(j)
	running := indexedPod("a", "Running", 0)
	running.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionTrue}}
	f.put(running)
	f.put(indexedPod("b", "Pending", 0))
	f.put(indexedPod("c", "Running", 1))
	f.put(indexedPod("d", "Running", 7))
	noIndex := pod("e", "Running")
	f.put(noIndex)
	f.sync()
	f.expect([]string{"delete pods default/b", "delete pods default/d", "delete pods default/e",
		"patch pods default/b", "patch pods default/d", "patch pods default/e", updateStatus},
		"Normal SuccessfulDelete Deleted pod: b", "Normal SuccessfulDelete Deleted pod: d", "Normal SuccessfulDelete Deleted pod: e")
	if st := f.stored().GetStatus(); st.GetActive() != 2 || st.GetTerminating() != 3 {
		t.Errorf("status = %v", st)
	}
}

// An Indexed job of completions 3 and parallelism 2 against a real apiserver: two pods, of
// indexes 0 and 1, annotated, labelled and named for them; index 0 fails and gets a new pod
// of the same index; the job completes with completedIndexes "0-2".
func TestIndexedJobCompletes(t *testing.T) {
	skipShort(t)
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)

	// Validation first: Indexed needs completions.
	_, err := admin.Jobs("default").Create(context.Background(), &batchv1.Job{
		Kind: "Job", ApiVersion: "batch/v1", Metadata: &metav1.ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: &batchv1.JobSpec{Parallelism: proto.Int32(2), CompletionMode: proto.String("Indexed"),
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "Never",
				Containers: []*corev1.Container{{Name: "pi", Image: "perl"}}}}},
	})
	if want := `Job.batch "pi" is invalid: spec.completions: Required value: when completion mode is Indexed`; err == nil || err.Error() != want {
		t.Fatalf("create = %v, want %s", err, want)
	}

	createJob(t, admin, 3, 2, 6, func(j *batchv1.Job) {
		j.Spec.CompletionMode = proto.String("Indexed")
		j.Spec.Template.Spec.Subdomain = "workers"
	})
	l := startLive(t, srv)
	l.c.backoff, l.c.maxBackoff = time.Nanosecond, time.Nanosecond // replace failed pods at once
	l.sees("job", func(*batchv1.Job, []*corev1.Pod) bool { return true })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	byIndex := func() map[string][]*corev1.Pod {
		m := map[string][]*corev1.Pod{}
		for _, p := range listPods(t, admin) {
			ix := p.GetMetadata().GetAnnotations()[batchv1.JobCompletionIndexAnnotation]
			m[ix] = append(m[ix], p)
		}
		return m
	}
	pods := byIndex()
	if len(pods) != 2 || len(pods["0"]) != 1 || len(pods["1"]) != 1 {
		t.Fatalf("pods by index = %v", pods)
	}
	for ix, ps := range pods {
		p := ps[0]
		m := p.GetMetadata()
		if m.GetLabels()[batchv1.JobCompletionIndexAnnotation] != ix || !strings.HasPrefix(m.GetName(), "pi-"+ix+"-") || len(m.GetName()) != len("pi-0-")+5 {
			t.Errorf("pod %s: labels %v", m.GetName(), m.GetLabels())
		}
		if p.GetSpec().GetHostname() != "pi-"+ix || p.GetSpec().GetSubdomain() != "workers" {
			t.Errorf("pod %s: hostname %q subdomain %q", m.GetName(), p.GetSpec().GetHostname(), p.GetSpec().GetSubdomain())
		}
		env := p.GetSpec().GetContainers()[0].GetEnv()
		if len(env) != 1 || env[0].GetName() != "JOB_COMPLETION_INDEX" ||
			env[0].GetValueFrom().GetFieldRef().GetFieldPath() != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s: env %v", m.GetName(), env)
		}
	}

	// Index 0 fails: counted, and a new pod of index 0 replaces it.
	setPhase(t, admin, pods["0"][0], "Failed")
	l.sees("index 0 failed", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Failed") == 1 })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	pods = byIndex()
	if len(pods["0"]) != 2 || len(pods["1"]) != 1 || len(pods["2"]) != 0 {
		t.Fatalf("after the failure: pods by index = %v", pods)
	}
	if st := getJob(t, admin).GetStatus(); st.GetFailed() != 1 || st.GetActive() != 2 {
		t.Fatalf("status = %v", st)
	}

	// Index 1 succeeds: index 2 starts.
	setPhase(t, admin, pods["1"][0], "Succeeded")
	l.sees("index 1 succeeded", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Succeeded") == 1 && len(ps) == 3 })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	if st := getJob(t, admin).GetStatus(); st.GetCompletedIndexes() != "1" || st.GetSucceeded() != 1 || len(st.GetUncountedTerminatedPods().GetSucceeded()) != 0 {
		t.Fatalf("status = %v", st)
	}
	pods = byIndex()
	if len(pods["2"]) != 1 {
		t.Fatalf("no pod of index 2: %v", pods)
	}

	for _, ps := range pods {
		for _, p := range ps {
			if p.GetStatus().GetPhase() == "" || p.GetStatus().GetPhase() == "Pending" {
				setPhase(t, admin, p, "Succeeded")
			}
		}
	}
	l.sees("all succeeded", func(_ *batchv1.Job, ps []*corev1.Pod) bool { return podsIn(ps, "Succeeded") == 3 })
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	st := getJob(t, admin).GetStatus()
	if st.GetCompletedIndexes() != "0-2" || st.GetSucceeded() != 3 || st.GetFailed() != 1 || !conditionTrue(st, batchv1.JobComplete) {
		t.Fatalf("status = %v", st)
	}
	for _, p := range listPods(t, admin) {
		if len(p.GetMetadata().GetFinalizers()) != 0 {
			t.Errorf("pod %s keeps %v", p.GetMetadata().GetName(), p.GetMetadata().GetFinalizers())
		}
	}
}
