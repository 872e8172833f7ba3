package scheduling

import (
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestRequiredNodeAffinityMatches(t *testing.T) {
	gpu := &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"accel": "gpu", "cores": "16"}}}
	req := func(terms ...*corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	expr := func(key, op string, values ...string) *corev1.NodeSelectorTerm {
		return &corev1.NodeSelectorTerm{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	field := func(op string, values ...string) *corev1.NodeSelectorTerm {
		return &corev1.NodeSelectorTerm{MatchFields: []*corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: op, Values: values}}}
	}
	for _, tc := range []struct {
		name         string
		nodeSelector map[string]string
		affinity     *corev1.Affinity
		want         bool
	}{
		{name: "nothing asked", want: true},
		{name: "nodeSelector", nodeSelector: map[string]string{"accel": "gpu"}, want: true},
		{name: "nodeSelector other value", nodeSelector: map[string]string{"accel": "tpu"}},
		{name: "nodeSelector missing label", nodeSelector: map[string]string{"zone": "a"}},
		{name: "In", affinity: req(expr("accel", "In", "tpu", "gpu")), want: true},
		{name: "NotIn", affinity: req(expr("accel", "NotIn", "gpu"))},
		{name: "Exists", affinity: req(expr("accel", "Exists")), want: true},
		{name: "DoesNotExist", affinity: req(expr("accel", "DoesNotExist"))},
		{name: "Gt", affinity: req(expr("cores", "Gt", "8")), want: true},
		{name: "Lt", affinity: req(expr("cores", "Lt", "8"))},
		{name: "terms are ORed", affinity: req(expr("accel", "In", "tpu"), expr("cores", "Exists")), want: true},
		{name: "an empty term matches nothing", affinity: req(&corev1.NodeSelectorTerm{})},
		{name: "no terms match nothing", affinity: req()},
		{name: "matchFields name In", affinity: req(field("In", "n2")), want: true},
		{name: "matchFields other name", affinity: req(field("In", "n1"))},
		{name: "matchFields NotIn", affinity: req(field("NotIn", "n1")), want: true},
		{name: "matchFields Exists is not allowed", affinity: req(field("Exists"))},
		{name: "selector and affinity both needed", nodeSelector: map[string]string{"accel": "tpu"}, affinity: req(expr("cores", "Exists"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: &corev1.PodSpec{NodeSelector: tc.nodeSelector, Affinity: tc.affinity}}
			if got := RequiredNodeAffinityMatches(pod, gpu); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTolerations(t *testing.T) {
	taint := &corev1.Taint{Key: "dedicated", Value: "infra", Effect: "NoSchedule"}
	for _, tc := range []struct {
		name string
		tol  *corev1.Toleration
		want bool
	}{
		{name: "Equal", tol: &corev1.Toleration{Key: "dedicated", Value: "infra", Effect: "NoSchedule"}, want: true},
		{name: "Equal other value", tol: &corev1.Toleration{Key: "dedicated", Value: "db", Effect: "NoSchedule"}},
		{name: "Exists on the key", tol: &corev1.Toleration{Key: "dedicated", Operator: "Exists"}, want: true},
		{name: "Exists everything", tol: &corev1.Toleration{Operator: "Exists"}, want: true},
		{name: "other effect", tol: &corev1.Toleration{Key: "dedicated", Operator: "Exists", Effect: "NoExecute"}},
		{name: "other key", tol: &corev1.Toleration{Key: "gpu", Operator: "Exists"}},
	} {
		if got := ToleratesTaint(tc.tol, taint); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	taints := []*corev1.Taint{{Key: "soft", Effect: "PreferNoSchedule"}, taint}
	hard := func(t *corev1.Taint) bool { return t.GetEffect() == "NoSchedule" || t.GetEffect() == "NoExecute" }
	if got, ok := FindUntoleratedTaint(taints, nil, hard); !ok || got != taint {
		t.Errorf("no tolerations: got %v, %v", got, ok)
	}
	if got, ok := FindUntoleratedTaint(taints, []*corev1.Toleration{{Key: "dedicated", Operator: "Exists"}}, hard); ok {
		t.Errorf("tolerated: got %v", got)
	}
}
