package validation_test

import (
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/validation"
)

// TestResourceQuotaScopes compares every error with upstream's validateResourceQuotaScopes,
// message for message: all on spec.scopes, the whole list as the value, one per scope and
// misfit standard resource.
func TestResourceQuotaScopes(t *testing.T) {
	prefix := "spec.scopes: Invalid value: "
	for _, tc := range []struct {
		name   string
		hard   []string
		scopes []string
		want   []string
	}{
		{"BestEffort counts pods", []string{"pods", "10"}, []string{"BestEffort"}, nil},
		{"count/pods is not a standard name, so not checked", []string{"count/pods", "10"}, []string{"BestEffort"}, nil},
		{"BestEffort may not cap cpu", []string{"pods", "10", "requests.cpu", "1"}, []string{"BestEffort"},
			[]string{prefix + `[]core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource`}},
		{"NotBestEffort caps compute", []string{"cpu", "1", "limits.memory", "1Gi", "pods", "3", "requests.memory", "1Gi"}, []string{"NotBestEffort"}, nil},
		{"Terminating and NotTerminating cap compute", []string{"limits.cpu", "2"}, []string{"Terminating"}, nil},
		{"a pod scope may not cap services", []string{"services", "2"}, []string{"NotTerminating"},
			[]string{prefix + `[]core.ResourceQuotaScope{"NotTerminating"}: unsupported scope applied to resource`}},
		{"PriorityClass caps compute, not storage", []string{"memory", "1Gi", "requests.storage", "1Gi"}, []string{"PriorityClass"},
			[]string{prefix + `[]core.ResourceQuotaScope{"PriorityClass"}: unsupported scope applied to resource`}},
		{"one error per scope and resource", []string{"configmaps", "1", "secrets", "1"}, []string{"BestEffort", "Terminating"},
			slices.Repeat([]string{prefix + `[]core.ResourceQuotaScope{"BestEffort", "Terminating"}: unsupported scope applied to resource`}, 4)},
		{"conflicting BestEffort", []string{"pods", "1"}, []string{"BestEffort", "NotBestEffort"},
			[]string{prefix + `[]core.ResourceQuotaScope{"BestEffort", "NotBestEffort"}: conflicting scopes`}},
		{"conflicting Terminating", []string{"pods", "1"}, []string{"NotTerminating", "Terminating"},
			[]string{prefix + `[]core.ResourceQuotaScope{"NotTerminating", "Terminating"}: conflicting scopes`}},
		{"unknown scope", []string{"pods", "1"}, []string{"Sometimes"},
			[]string{prefix + `[]core.ResourceQuotaScope{"Sometimes"}: unsupported scope`}},
		{"a repeated scope is allowed", []string{"pods", "1"}, []string{"BestEffort", "BestEffort"}, nil},
		{"a claim scope allows any resource", []string{"requests.storage", "1Gi"}, []string{"VolumeAttributesClass"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rq := &corev1.ResourceQuota{Metadata: &metav1.ObjectMeta{Name: "quota", Namespace: "default"}, Spec: &corev1.ResourceQuotaSpec{Hard: quantities(tc.hard...), Scopes: tc.scopes}}
			var got []string
			for _, e := range validation.Validate(rq) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n  %q\nwant:\n  %q", got, tc.want)
			}
		})
	}
}
