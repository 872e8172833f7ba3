package node

import (
	"context"
	"slices"
	"testing"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/request"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// TestReferencedObjects: a kubelet may get a ConfigMap or Secret its pods reference, and
// list or watch it alone (field selector metadata.name=X in its namespace), which is how
// its object manager watches it; never a namespace's or every namespace's objects.
func TestReferencedObjects(t *testing.T) {
	pods := []*corev1.Pod{
		{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: &corev1.PodSpec{NodeName: "n1",
			Volumes: []*corev1.Volume{{Name: "v", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "conf"}}}}},
		{Metadata: &metav1.ObjectMeta{Name: "db", Namespace: "ns"}, Spec: &corev1.PodSpec{NodeName: "n2",
			Volumes: []*corev1.Volume{{Name: "v", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "other"}}}}},
	}
	a := &Authorizer{ListNodePods: listFrom(pods)}
	kubelet := &request.User{Name: "system:node:n1", Groups: []string{request.GroupNodes}}
	const noRelation = "no relationship found between node 'n1' and this object"
	for _, tc := range []struct {
		verb, ns, resource, name, selector string
		want                               authz.Decision
		reason                             string
	}{
		{"get", "ns", "configmaps", "conf", "", authz.Allow, ""},
		{"list", "ns", "configmaps", "", "metadata.name=conf", authz.Allow, ""},
		{"watch", "ns", "configmaps", "", "metadata.name==conf", authz.Allow, ""},
		{"watch", "ns", "configmaps", "", "metadata.namespace=ns,metadata.name=conf", authz.Allow, ""},
		// The name is referenced, but by a ConfigMap volume: not a Secret.
		{"watch", "ns", "secrets", "", "metadata.name=conf", authz.NoOpinion, noRelation},
		// Referenced by a pod of another node.
		{"watch", "ns", "configmaps", "", "metadata.name=other", authz.NoOpinion, noRelation},
		{"get", "ns", "configmaps", "other", "", authz.NoOpinion, noRelation},
		// A whole namespace, or anything but a pinned name.
		{"list", "ns", "configmaps", "", "", authz.NoOpinion, "can only list/watch individual configmaps with a metadata.name field selector"},
		{"watch", "ns", "configmaps", "", "metadata.name!=conf", authz.NoOpinion, "can only list/watch individual configmaps with a metadata.name field selector"},
		// Every namespace: a pod's reference names an object of its own namespace only.
		{"list", "", "configmaps", "", "metadata.name=conf", authz.NoOpinion, noRelation},
		{"watch", "other", "configmaps", "", "metadata.name=conf", authz.NoOpinion, noRelation},
		{"update", "ns", "configmaps", "conf", "", authz.NoOpinion, noRelation},
		{"delete", "ns", "configmaps", "conf", "", authz.NoOpinion, noRelation},
	} {
		info := &request.Info{IsResourceRequest: true, Verb: tc.verb, APIVersion: "v1", Namespace: tc.ns,
			Resource: tc.resource, Name: tc.name, FieldSelector: tc.selector}
		d, reason, err := a.Authorize(context.Background(), authz.Attributes{User: kubelet, Info: info})
		if err != nil || d != tc.want || reason != tc.reason {
			t.Errorf("%s %s %s/%s ?%s = %v %q %v, want %v %q", tc.verb, tc.resource, tc.ns, tc.name, tc.selector, d, reason, err, tc.want, tc.reason)
		}
	}
}

func TestPinned(t *testing.T) {
	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{"metadata.name=a", []string{"a"}},
		{" metadata.name == a ", []string{"a"}},
		{"metadata.name=a,metadata.name=b", []string{"a", "b"}},
		{"metadata.name!=a", nil},
		{"metadata.namespace=a", nil},
		{"", nil},
	} {
		got := pinned(tc.selector, "metadata.name")
		if !slices.Equal(got, tc.want) {
			t.Errorf("pinned(%q) = %q, want %q", tc.selector, got, tc.want)
		}
	}
}
