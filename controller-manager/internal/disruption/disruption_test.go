package disruption

import (
	"fmt"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/disruption"
)

var now = time.Unix(1_000_000, 0)

func at(t time.Time) *metav1.Time { return &metav1.Time{Seconds: t.Unix()} }

type podOpt func(*corev1.Pod)

var (
	unready  podOpt = func(p *corev1.Pod) { p.Status.Conditions[0].Status = "False" }
	deleting podOpt = func(p *corev1.Pod) { p.Metadata.DeletionTimestamp = at(now) }
	orphan   podOpt = func(p *corev1.Pod) { p.Metadata.OwnerReferences = nil }
)

// pods makes n Ready pods p0..p(n-1), owned by the ReplicaSet "rs".
func pods(n int, opts map[int][]podOpt) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		ctrl := true
		p := &corev1.Pod{
			Metadata: &metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default",
				OwnerReferences: []*metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Uid: "rs-uid", Controller: &ctrl}}},
			Status: &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}}},
		}
		for _, o := range opts[i] {
			o(p)
		}
		out = append(out, p)
	}
	return out
}

func num(n int32) *metav1.IntOrString  { return &metav1.IntOrString{IntVal: n} }
func pct(s string) *metav1.IntOrString { return &metav1.IntOrString{Type: 1, StrVal: s} }
func scaleOf(replicas int32) scaleFunc {
	return func(pod *corev1.Pod) (string, int32, bool, error) {
		if len(pod.GetMetadata().GetOwnerReferences()) == 0 {
			return "", 0, false, nil
		}
		return "rs-uid", replicas, true, nil
	}
}

// TestComputeStatus is the controller's arithmetic, case by case as upstream computes it.
func TestComputeStatus(t *testing.T) {
	type want struct{ expected, desired, current, allowed int32 }
	for _, tc := range []struct {
		name      string
		spec      *policyv1.PodDisruptionBudgetSpec
		pods      []*corev1.Pod
		disrupted map[string]*metav1.Time
		replicas  int32
		want      want
		kept      []string // names left in disruptedPods
	}{
		{"minAvailable int counts matched pods", &policyv1.PodDisruptionBudgetSpec{MinAvailable: num(2)}, pods(3, nil), nil, 5,
			want{expected: 3, desired: 2, current: 3, allowed: 1}, nil},
		{"minAvailable percent of the controller's scale, rounded up", &policyv1.PodDisruptionBudgetSpec{MinAvailable: pct("50%")}, pods(3, nil), nil, 5,
			want{expected: 5, desired: 3, current: 3, allowed: 0}, nil},
		{"maxUnavailable int", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(1)}, pods(3, nil), nil, 3,
			want{expected: 3, desired: 2, current: 3, allowed: 1}, nil},
		{"maxUnavailable percent rounds up", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: pct("10%")}, pods(4, nil), nil, 4,
			want{expected: 4, desired: 3, current: 4, allowed: 1}, nil},
		{"maxUnavailable above scale floors at 0", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(9)}, pods(2, nil), nil, 2,
			want{expected: 2, desired: 0, current: 2, allowed: 2}, nil},
		{"not-ready pods are not healthy", &policyv1.PodDisruptionBudgetSpec{MinAvailable: num(2)}, pods(3, map[int][]podOpt{0: {unready}}), nil, 3,
			want{expected: 3, desired: 2, current: 2, allowed: 0}, nil},
		{"pods being deleted are not healthy", &policyv1.PodDisruptionBudgetSpec{MinAvailable: num(1)}, pods(3, map[int][]podOpt{1: {deleting}}), nil, 3,
			want{expected: 3, desired: 1, current: 2, allowed: 1}, nil},
		{"a recent disruption is not healthy; an expired or deleted one is dropped", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(2)},
			pods(4, map[int][]podOpt{2: {deleting}}),
			map[string]*metav1.Time{"p0": at(now.Add(-time.Minute)), "p1": at(now.Add(-3 * time.Minute)), "p2": at(now), "gone": at(now)}, 4,
			want{expected: 4, desired: 2, current: 2, allowed: 0}, []string{"p0"}},
		{"nothing expected allows nothing", &policyv1.PodDisruptionBudgetSpec{MinAvailable: num(0)}, nil, nil, 0,
			want{}, nil},
		{"pods without a controller are left out of the scale", &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(1)},
			pods(3, map[int][]podOpt{2: {orphan}}), nil, 2, want{expected: 2, desired: 1, current: 3, allowed: 2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Metadata: &metav1.ObjectMeta{Name: "b", Generation: 4}, Spec: tc.spec,
				Status: &policyv1.PodDisruptionBudgetStatus{DisruptedPods: tc.disrupted}}
			res, err := computeStatus(pdb, tc.pods, scaleOf(tc.replicas), now)
			if err != nil {
				t.Fatal(err)
			}
			st, recheck := res.status, res.recheck
			got := want{st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy, st.DisruptionsAllowed}
			if got != tc.want {
				t.Errorf("expected/desired/current/allowed = %v, want %v", got, tc.want)
			}
			if len(st.DisruptedPods) != len(tc.kept) {
				t.Errorf("disruptedPods = %v, want %v", st.DisruptedPods, tc.kept)
			}
			for _, name := range tc.kept {
				if st.DisruptedPods[name] == nil {
					t.Errorf("disruptedPods lacks %s: %v", name, st.DisruptedPods)
				}
			}
			if (recheck != nil) != (len(tc.kept) > 0) {
				t.Errorf("recheck = %v", recheck)
			}
			cond := st.Conditions[0]
			wantReason := disruption.ReasonInsufficientPods
			if tc.want.allowed > 0 {
				wantReason = disruption.ReasonSufficientPods
			}
			if st.ObservedGeneration != 4 || cond.Reason != wantReason || cond.ObservedGeneration != 4 {
				t.Errorf("observedGeneration %d, condition %v", st.ObservedGeneration, cond)
			}
		})
	}
	// A pod whose controller cannot be found fails the sync (and the budget fails safe).
	bad := func(*corev1.Pod) (string, int32, bool, error) {
		return "", 0, true, fmt.Errorf("found no controllers for pod %q", "p0")
	}
	pdb := &policyv1.PodDisruptionBudget{Spec: &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(1)}}
	if _, err := computeStatus(pdb, pods(1, nil), bad, now); err == nil {
		t.Error("an unknown controller did not fail the sync")
	}
}
