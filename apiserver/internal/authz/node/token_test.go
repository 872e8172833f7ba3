package node

import (
	"context"
	"testing"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/request"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestCreateToken: a kubelet may create a token for a service account that a pod on its own
// node runs as, and do nothing else with service accounts.
func TestCreateToken(t *testing.T) {
	pods := []*corev1.Pod{
		{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: &corev1.PodSpec{NodeName: "n1", ServiceAccountName: "web-sa"}},
		{Metadata: &metav1.ObjectMeta{Name: "db", Namespace: "ns"}, Spec: &corev1.PodSpec{NodeName: "n2", ServiceAccountName: "db-sa"}},
	}
	a := &Authorizer{ListNodePods: listFrom(pods)}
	kubelet := &request.User{Name: "system:node:n1", Groups: []string{request.GroupNodes}}
	for _, tc := range []struct {
		verb, ns, name, sub string
		want                authz.Decision
		reason              string
	}{
		{"create", "ns", "web-sa", "token", authz.Allow, ""},
		{"create", "ns", "db-sa", "token", authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"create", "other", "web-sa", "token", authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"get", "ns", "web-sa", "", authz.NoOpinion, "can only create tokens for individual service accounts"},
		{"create", "ns", "", "", authz.NoOpinion, "can only create tokens for individual service accounts"},
		{"create", "ns", "web-sa", "status", authz.NoOpinion, "can only create token subresource of serviceaccount"},
	} {
		info := &request.Info{IsResourceRequest: true, Verb: tc.verb, APIVersion: "v1", Namespace: tc.ns, Resource: "serviceaccounts", Name: tc.name, Subresource: tc.sub}
		d, reason, err := a.Authorize(context.Background(), authz.Attributes{User: kubelet, Info: info})
		if err != nil || d != tc.want || reason != tc.reason {
			t.Errorf("%s %s/%s/%s = %v %q %v, want %v %q", tc.verb, tc.ns, tc.name, tc.sub, d, reason, err, tc.want, tc.reason)
		}
	}
}
