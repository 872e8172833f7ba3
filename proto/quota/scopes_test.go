package quota

import (
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

func withDeadline(p *corev1.Pod, seconds int64) *corev1.Pod {
	p.Spec.ActiveDeadlineSeconds = &seconds
	return p
}

func TestMatchesScope(t *testing.T) {
	bestEffort := func() *corev1.Pod { return pod("Running", container(nil, nil)) }
	burstable := func() *corev1.Pod { return pod("Running", container(quantities("cpu", "100m"), nil)) }
	crossNS := bestEffort()
	crossNS.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []*corev1.WeightedPodAffinityTerm{
			{Weight: 1, PodAffinityTerm: &corev1.PodAffinityTerm{Namespaces: []string{"other"}, TopologyKey: "zone"}}}}}
	sameNS := bestEffort()
	sameNS.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{TopologyKey: "zone"}}}}
	classed := burstable()
	classed.Spec.PriorityClassName = "high"
	// The kubelet's status.qosClass is what Kubernetes trusts once it is set.
	reported := burstable()
	reported.Status.QosClass = "BestEffort"

	for _, tc := range []struct {
		name  string
		scope string
		pod   *corev1.Pod
		want  bool
	}{
		{"a deadline is terminating", ScopeTerminating, withDeadline(bestEffort(), 30), true},
		{"a zero deadline is terminating", ScopeTerminating, withDeadline(bestEffort(), 0), true},
		{"no deadline is not terminating", ScopeTerminating, bestEffort(), false},
		{"a negative deadline is not terminating", ScopeTerminating, withDeadline(bestEffort(), -1), false},
		{"NotTerminating without a deadline", ScopeNotTerminating, bestEffort(), true},
		{"NotTerminating with a deadline", ScopeNotTerminating, withDeadline(burstable(), 10), false},
		{"no requests or limits is best effort", ScopeBestEffort, bestEffort(), true},
		{"a request is not best effort", ScopeBestEffort, burstable(), false},
		{"a limit alone is not best effort", ScopeBestEffort, pod("", container(nil, quantities("memory", "64Mi"))), false},
		{"an init container's request is not best effort", ScopeBestEffort, withInit(bestEffort(), container(quantities("memory", "1Mi"), nil)), false},
		{"status.qosClass wins", ScopeBestEffort, reported, true},
		{"NotBestEffort with a request", ScopeNotBestEffort, burstable(), true},
		{"NotBestEffort without", ScopeNotBestEffort, bestEffort(), false},
		{"a priority class", ScopePriorityClass, classed, true},
		{"no priority class", ScopePriorityClass, burstable(), false},
		{"affinity to other namespaces", ScopeCrossNamespacePodAffinity, crossNS, true},
		{"affinity in its own namespace", ScopeCrossNamespacePodAffinity, sameNS, false},
		{"no pod matches a claim scope", ScopeVolumeAttributesClass, bestEffort(), false},
		{"an unknown scope matches nothing", "Everything", bestEffort(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchesScope(tc.scope, tc.pod); got != tc.want {
				t.Errorf("MatchesScope(%s) = %v, want %v", tc.scope, got, tc.want)
			}
		})
	}
}

func TestMatchesNeedsEveryScope(t *testing.T) {
	p := withDeadline(pod("Running", container(nil, nil)), 60)
	for _, tc := range []struct {
		scopes []string
		want   bool
	}{
		{nil, true},
		{[]string{ScopeBestEffort}, true},
		{[]string{ScopeBestEffort, ScopeTerminating}, true},
		{[]string{ScopeBestEffort, ScopeNotTerminating}, false},
		{[]string{ScopeNotBestEffort, ScopeTerminating}, false},
	} {
		if got := Matches(tc.scopes, p); got != tc.want {
			t.Errorf("Matches(%v) = %v, want %v", tc.scopes, got, tc.want)
		}
	}
}

func TestTracks(t *testing.T) {
	be := pod("Running", container(nil, nil))
	for _, tc := range []struct {
		name string
		spec *corev1.ResourceQuotaSpec
		want bool
	}{
		{"unscoped pods quota", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "1")}, true},
		{"matching scope", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "1"), Scopes: []string{ScopeBestEffort}}, true},
		{"other scope", &corev1.ResourceQuotaSpec{Hard: quantities("cpu", "1"), Scopes: []string{ScopeNotBestEffort}}, false},
		{"no pod resource", &corev1.ResourceQuotaSpec{Hard: quantities("services", "1")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tracks(tc.spec, be); got != tc.want {
				t.Errorf("Tracks = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecomputeCountsOnlyMatchingPods(t *testing.T) {
	pods := []*corev1.Pod{
		pod("Running", container(nil, nil)),
		pod("Pending", container(nil, nil)),
		pod("Running", container(quantities("cpu", "250m"), nil)),
		pod("Running", container(quantities("cpu", "500m"), quantities("cpu", "1"))),
		pod("Succeeded", container(quantities("cpu", "2"), nil)), // finished: counts for no scope
		pod("Failed", container(nil, nil)),
	}
	for _, tc := range []struct {
		name string
		spec *corev1.ResourceQuotaSpec
		want string
	}{
		{"BestEffort pods", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "5"), Scopes: []string{ScopeBestEffort}}, "pods=2"},
		{"NotBestEffort cpu", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "5", "requests.cpu", "4"), Scopes: []string{ScopeNotBestEffort}}, "pods=2,requests.cpu=750m"},
		{"Terminating: none has a deadline", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "5"), Scopes: []string{ScopeTerminating}}, "pods=0"},
		{"unscoped", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "5")}, "pods=4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Recompute(tc.spec, pods, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			used, err := resource.ParseList(st.GetUsed())
			if err != nil {
				t.Fatal(err)
			}
			if got := render(used); got != tc.want {
				t.Errorf("status.used = %q, want %q", got, tc.want)
			}
		})
	}
}
