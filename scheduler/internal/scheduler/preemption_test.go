package scheduler

import (
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestWithCondition(t *testing.T) {
	ready := &corev1.PodCondition{Type: "Ready", Status: "True"}
	at := func(s int64) *metav1.Time { return &metav1.Time{Seconds: s} }
	victim := &corev1.PodCondition{Type: "DisruptionTarget", Status: "True", Reason: "PreemptionByScheduler", Message: "m", LastTransitionTime: at(200)}
	for _, tt := range []struct {
		name        string
		conds       []*corev1.PodCondition
		wantChanged bool
		want        []*corev1.PodCondition
	}{
		{"appended", []*corev1.PodCondition{ready}, true, []*corev1.PodCondition{ready, victim}},
		{"already there", []*corev1.PodCondition{{Type: "DisruptionTarget", Status: "True", Reason: "PreemptionByScheduler", Message: "m", LastTransitionTime: at(100)}, ready},
			false, nil},
		{"another reason: replaced, same status keeps its time",
			[]*corev1.PodCondition{{Type: "DisruptionTarget", Status: "True", Reason: "DeletionByTaintManager", LastTransitionTime: at(100)}, ready}, true,
			[]*corev1.PodCondition{{Type: "DisruptionTarget", Status: "True", Reason: "PreemptionByScheduler", Message: "m", LastTransitionTime: at(100)}, ready}},
		{"another status: replaced", []*corev1.PodCondition{{Type: "DisruptionTarget", Status: "False", LastTransitionTime: at(100)}}, true,
			[]*corev1.PodCondition{victim}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := withCondition(tt.conds, victim)
			if changed != tt.wantChanged {
				t.Fatalf("changed %v, want %v", changed, tt.wantChanged)
			}
			if !changed {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.GetType() != w.GetType() || g.GetStatus() != w.GetStatus() || g.GetReason() != w.GetReason() || g.GetLastTransitionTime().GetSeconds() != w.GetLastTransitionTime().GetSeconds() {
					t.Errorf("condition %d: got %v, want %v", i, g, w)
				}
			}
		})
	}
}
