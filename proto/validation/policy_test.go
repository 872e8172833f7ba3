package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/validation"
)

func TestPodDisruptionBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *policyv1.PodDisruptionBudgetSpec)
		want   want
	}{
		{"minAvailable int", func(*policyv1.PodDisruptionBudgetSpec) {}, want{}},
		{"maxUnavailable percent", func(s *policyv1.PodDisruptionBudgetSpec) {
			s.MinAvailable, s.MaxUnavailable = nil, str("25%")
		}, want{}},
		// policy/v1 accepts a budget with neither; it then wants no healthy pod.
		{"neither", func(s *policyv1.PodDisruptionBudgetSpec) { s.MinAvailable = nil }, want{}},
		{"both", func(s *policyv1.PodDisruptionBudgetSpec) { s.MaxUnavailable = num(1) },
			want{"spec", invalid, "MaxUnavailable:&intstr.IntOrString{1}, UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: minAvailable and maxUnavailable cannot be both set"}},
		{"negative", func(s *policyv1.PodDisruptionBudgetSpec) { s.MinAvailable = num(-1) },
			want{"spec.minAvailable", invalid, "must be greater than or equal to 0"}},
		{"bad percent", func(s *policyv1.PodDisruptionBudgetSpec) { s.MinAvailable = str("half") },
			want{"spec.minAvailable", invalid, "a valid percent string"}},
		{"over 100%", func(s *policyv1.PodDisruptionBudgetSpec) { s.MinAvailable, s.MaxUnavailable = nil, str("101%") },
			want{"spec.maxUnavailable", invalid, "must not be greater than 100%"}},
		{"bad selector", func(s *policyv1.PodDisruptionBudgetSpec) { s.Selector.MatchLabels["app"] = "-x-" },
			want{"spec.selector.matchLabels", invalid, "a valid label"}},
		{"policy", func(s *policyv1.PodDisruptionBudgetSpec) { s.UnhealthyPodEvictionPolicy = proto.String("Never") },
			want{"spec.unhealthyPodEvictionPolicy", notSupported, `supported values: "AlwaysAllow", "IfHealthyBudget"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Spec: &policyv1.PodDisruptionBudgetSpec{
				MinAvailable: num(2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			}}
			tc.mutate(pdb.Spec)
			expect(t, validation.ValidatePodDisruptionBudget(pdb), tc.want)
		})
	}
	bad := &policyv1.PodDisruptionBudget{Status: &policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: -1}}
	expect(t, validation.ValidatePodDisruptionBudget(bad), want{"status.disruptionsAllowed", invalid, "must be greater than or equal to 0"})
}
