package disruption

import (
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
)

func TestCovers(t *testing.T) {
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "a", Labels: map[string]string{"app": "web"}}}
	budget := func(ns string, sel *metav1.LabelSelector) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{Metadata: &metav1.ObjectMeta{Namespace: ns}, Spec: &policyv1.PodDisruptionBudgetSpec{Selector: sel}}
	}
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	for _, tc := range []struct {
		name string
		pdb  *policyv1.PodDisruptionBudget
		want bool
	}{
		{"match", budget("a", web), true},
		{"other namespace", budget("b", web), false},
		{"empty selector covers nothing", budget("a", &metav1.LabelSelector{}), false},
		{"null selector", budget("a", nil), false},
		{"no match", budget("a", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}), false},
	} {
		if got := Covers(tc.pdb, pod); got != tc.want {
			t.Errorf("%s: Covers = %v", tc.name, got)
		}
	}
}

func TestDisruptionAllowedCondition(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pdb := &policyv1.PodDisruptionBudget{Status: &policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, ObservedGeneration: 2}}
	UpdateDisruptionAllowedCondition(pdb, t0)
	c := pdb.Status.Conditions[0]
	if c.Status != "True" || c.Reason != ReasonSufficientPods || c.ObservedGeneration != 2 || c.LastTransitionTime.Seconds != 1000 {
		t.Fatalf("condition = %v", c)
	}
	// Same status later: the transition time stays; a change moves it.
	UpdateDisruptionAllowedCondition(pdb, t0.Add(time.Minute))
	if got := pdb.Status.Conditions[0].LastTransitionTime.Seconds; got != 1000 || len(pdb.Status.Conditions) != 1 {
		t.Errorf("unchanged status moved the transition time to %d", got)
	}
	pdb.Status.DisruptionsAllowed = 0
	UpdateDisruptionAllowedCondition(pdb, t0.Add(time.Minute))
	if c := pdb.Status.Conditions[0]; c.Status != "False" || c.Reason != ReasonInsufficientPods || c.LastTransitionTime.Seconds != 1060 {
		t.Errorf("condition = %v", c)
	}
}
