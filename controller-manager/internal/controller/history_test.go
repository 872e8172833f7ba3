package controller

import (
	"slices"
	"strings"
	"testing"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

func TestTemplatePatchAndRevision(t *testing.T) {
	ss := &appsv1.StatefulSet{Kind: "StatefulSet", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Uid: "u1", Annotations: map[string]string{"note": "x"}},
		Spec: &appsv1.StatefulSetSpec{ServiceName: "web", Template: &corev1.PodTemplateSpec{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx"}}},
		}}}
	patch, err := TemplatePatch(ss)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx","name":"nginx"}]}}}}`; string(patch) != want {
		t.Errorf("patch = %s\nwant    %s", patch, want)
	}
	gvk := runtime.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	cr := NewControllerRevision(ss, gvk, ss.Spec.Template.Metadata.Labels, patch, 3, "abc")
	if cr.GetMetadata().GetName() != "web-abc" || cr.GetMetadata().GetLabels()["controller-revision-hash"] != "abc" ||
		cr.GetMetadata().GetLabels()["app"] != "web" || cr.GetMetadata().GetAnnotations()["note"] != "x" ||
		!IsControlledBy(cr, ss) || cr.GetRevision() != 3 {
		t.Errorf("revision = %v", cr)
	}
	spaced := &appsv1.ControllerRevision{Data: &metav1.RawExtension{Raw: []byte(strings.ReplaceAll(string(patch), ":", ": "))}}
	if !RevisionHolds(cr, patch) || !RevisionHolds(spaced, patch) {
		t.Error("a revision does not hold its own patch")
	}
	ss.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	if other, _ := TemplatePatch(ss); RevisionHolds(cr, other) {
		t.Error("a revision holds another template")
	}
	if n := ControllerRevisionName(strings.Repeat("a", 300), "h"); len(n) != 225 {
		t.Errorf("long name has %d characters", len(n))
	}
}

func TestSortControllerRevisions(t *testing.T) {
	rev := func(name string, n int64, created int64) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{Metadata: &metav1.ObjectMeta{Name: name, CreationTimestamp: &metav1.Time{Seconds: created}}, Revision: n}
	}
	revs := []*appsv1.ControllerRevision{rev("c", 2, 1), rev("b", 1, 5), rev("a", 1, 5), rev("d", 1, 2)}
	SortControllerRevisions(revs)
	var names []string
	for _, r := range revs {
		names = append(names, r.GetMetadata().GetName())
	}
	if want := []string{"d", "a", "b", "c"}; !slices.Equal(names, want) {
		t.Errorf("order = %v, want %v", names, want)
	}
	if MaxRevision(revs) != 2 || MaxRevision(nil) != 0 {
		t.Errorf("MaxRevision = %d", MaxRevision(revs))
	}
}
