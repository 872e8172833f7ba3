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

// TestClaimsAndVolumes: a kubelet may get the claims its pods mount (and their status) and
// the volumes bound to them; not a claim or volume of another node's pods, and no list or
// write beyond a claim's status.
func TestClaimsAndVolumes(t *testing.T) {
	mounts := func(name, ns, node, claim string) *corev1.Pod {
		return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: &corev1.PodSpec{NodeName: node,
			Volumes: []*corev1.Volume{{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}}
	}
	// An ephemeral volume mounts the claim <pod>-<volume>.
	scratch := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: &corev1.PodSpec{NodeName: "n1",
		Volumes: []*corev1.Volume{{Name: "scratch", Ephemeral: &corev1.EphemeralVolumeSource{}}}}}
	pods := []*corev1.Pod{mounts("db-0", "ns", "n1", "data-db-0"), mounts("db-1", "other", "n2", "data-db-1"), scratch}
	claims := map[string]string{"ns/data-db-0": "pv-a", "other/data-db-1": "pv-b", "ns/unused": "pv-c", "ns/web-scratch": "pv-d"}
	a := &Authorizer{
		ListNodePods: func(_ context.Context, ns, node string) ([]*corev1.Pod, error) {
			var out []*corev1.Pod
			for _, p := range pods {
				if (ns == "" || p.GetMetadata().GetNamespace() == ns) && p.GetSpec().GetNodeName() == node {
					out = append(out, p)
				}
			}
			return out, nil
		},
		GetClaim: func(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
			return &corev1.PersistentVolumeClaim{Spec: &corev1.PersistentVolumeClaimSpec{VolumeName: claims[ns+"/"+name]}}, nil
		},
	}
	kubelet := &request.User{Name: "system:node:n1", Groups: []string{request.GroupNodes}}
	const noRelation = "no relationship found between node 'n1' and this object"
	for _, tc := range []struct {
		verb, ns, resource, sub, name string
		want                          authz.Decision
		reason                        string
	}{
		{"get", "ns", "persistentvolumeclaims", "", "data-db-0", authz.Allow, ""},
		{"patch", "ns", "persistentvolumeclaims", "status", "data-db-0", authz.Allow, ""},
		{"get", "", "persistentvolumes", "", "pv-a", authz.Allow, ""},
		{"get", "ns", "persistentvolumeclaims", "", "web-scratch", authz.Allow, ""},
		{"get", "", "persistentvolumes", "", "pv-d", authz.Allow, ""},
		// Another node's pod's claim and volume; a claim no pod mounts.
		{"get", "other", "persistentvolumeclaims", "", "data-db-1", authz.NoOpinion, noRelation},
		{"get", "", "persistentvolumes", "", "pv-b", authz.NoOpinion, noRelation},
		{"get", "ns", "persistentvolumeclaims", "", "unused", authz.NoOpinion, noRelation},
		{"get", "", "persistentvolumes", "", "pv-c", authz.NoOpinion, noRelation},
		// Nothing but gets (and a claim's status).
		{"list", "ns", "persistentvolumeclaims", "", "", authz.NoOpinion, "can only get individual persistentvolumeclaims, or update their status"},
		{"update", "ns", "persistentvolumeclaims", "", "data-db-0", authz.NoOpinion, "can only get individual persistentvolumeclaims, or update their status"},
		{"delete", "", "persistentvolumes", "", "pv-a", authz.NoOpinion, "can only get individual persistentvolumes"},
		{"list", "", "persistentvolumes", "", "", authz.NoOpinion, "can only get individual persistentvolumes"},
	} {
		info := &request.Info{IsResourceRequest: true, Verb: tc.verb, APIVersion: "v1", Namespace: tc.ns,
			Resource: tc.resource, Subresource: tc.sub, Name: tc.name}
		d, reason, err := a.Authorize(context.Background(), authz.Attributes{User: kubelet, Info: info})
		if err != nil || d != tc.want || reason != tc.reason {
			t.Errorf("%s %s/%s %s/%s = %v %q %v, want %v %q", tc.verb, tc.resource, tc.sub, tc.ns, tc.name, d, reason, err, tc.want, tc.reason)
		}
	}
}
