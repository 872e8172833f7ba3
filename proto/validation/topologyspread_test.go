package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/validation"
)

func spread(key, when string) *corev1.TopologySpreadConstraint {
	return &corev1.TopologySpreadConstraint{
		MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
	}
}

func TestTopologySpreadConstraints(t *testing.T) {
	const p = "spec.topologySpreadConstraints"
	for _, tc := range []struct {
		name   string
		mutate func(c *corev1.TopologySpreadConstraint, pod *corev1.Pod)
		want   want
	}{
		{"valid", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) {
			c.MinDomains = proto.Int32(2)
			c.NodeAffinityPolicy, c.NodeTaintsPolicy = proto.String("Honor"), proto.String("Ignore")
			c.MatchLabelKeys = []string{"pod-template-hash"}
		}, want{}},
		{"maxSkew zero", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.MaxSkew = 0 },
			want{p + "[0].maxSkew", invalid, p + "[0].maxSkew: Invalid value: 0: must be greater than zero"}},
		{"topologyKey empty", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.TopologyKey = "" },
			want{p + "[0].topologyKey", required, "can not be empty"}},
		{"whenUnsatisfiable unknown", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.WhenUnsatisfiable = "Never" },
			want{p + "[0].whenUnsatisfiable", notSupported, `Unsupported value: "Never": supported values: "DoNotSchedule", "ScheduleAnyway"`}},
		{"duplicate key and action", func(_ *corev1.TopologySpreadConstraint, pod *corev1.Pod) {
			pod.Spec.TopologySpreadConstraints = append(pod.Spec.TopologySpreadConstraints,
				spread("kubernetes.io/hostname", "ScheduleAnyway"), spread("topology.kubernetes.io/zone", "DoNotSchedule"))
		}, want{p + "[0].{topologyKey, whenUnsatisfiable}", duplicate, `Duplicate value: "{topology.kubernetes.io/zone, DoNotSchedule}"`}},
		{"minDomains zero", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.MinDomains = proto.Int32(0) },
			want{p + "[0].minDomains", invalid, "must be greater than zero"}},
		{"minDomains with ScheduleAnyway", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) {
			c.MinDomains, c.WhenUnsatisfiable = proto.Int32(3), "ScheduleAnyway"
		}, want{p + "[0].minDomains", invalid, "Invalid value: 3: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"}},
		{"nodeTaintsPolicy unknown", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.NodeTaintsPolicy = proto.String("Always") },
			want{p + "[0].nodeTaintsPolicy", notSupported, `supported values: "Honor", "Ignore"`}},
		{"matchLabelKeys without labelSelector", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) {
			c.LabelSelector, c.MatchLabelKeys = nil, []string{"pod-template-hash"}
		}, want{p + "[0].matchLabelKeys", forbidden, "must not be specified when labelSelector is not set"}},
		{"matchLabelKeys key in labelSelector", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.MatchLabelKeys = []string{"app"} },
			want{p + "[0].matchLabelKeys[0]", invalid, "exists in both matchLabelKeys and labelSelector"}},
		{"matchLabelKeys not a label key", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.MatchLabelKeys = []string{"a b"} },
			want{p + "[0].matchLabelKeys[0]", invalid, "name part must consist of"}},
		{"labelSelector bad value", func(c *corev1.TopologySpreadConstraint, _ *corev1.Pod) { c.LabelSelector.MatchLabels["app"] = "a b" },
			want{p + "[0].labelSelector.matchLabels", invalid, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := validPod()
			c := spread("topology.kubernetes.io/zone", "DoNotSchedule")
			pod.Spec.TopologySpreadConstraints = []*corev1.TopologySpreadConstraint{c}
			tc.mutate(c, pod)
			expect(t, validation.Validate(pod), tc.want)
		})
	}
}
