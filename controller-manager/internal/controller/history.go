package controller

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// A workload controller's history is its ControllerRevisions (Kubernetes'
// pkg/controller/history, shared by the DaemonSet and StatefulSet controllers): one per pod
// template the owner has had, named <owner>-<hash>, labelled controller-revision-hash=<hash>,
// controlled by the owner, numbered in the order the templates were current. Its data is the
// strategic merge patch that puts the template back, which is what `kubectl rollout undo`
// sends. The hash is ComputeHash of the template and the owner's collisionCount.

// TemplatePatch is the revision data of obj's pod template (obj is a DaemonSet or a
// StatefulSet, whose spec.template it reads): {"spec":{"template":{…,"$patch":"replace"}}},
// keys sorted at every level as upstream's map round trip writes them, so equal templates
// give equal bytes.
func TemplatePatch(obj runtime.Object) ([]byte, error) {
	raw, err := runtime.MarshalJSON(obj)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	spec, _ := doc["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	if template == nil {
		template = map[string]any{}
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// RevisionHolds reports whether revision's data is patch (compared as compact JSON, so a
// revision written by another client with other spacing still matches).
func RevisionHolds(revision *appsv1.ControllerRevision, patch []byte) bool {
	var stored bytes.Buffer
	if err := json.Compact(&stored, revision.GetData().GetRaw()); err != nil {
		return false // not JSON: not a template of ours
	}
	return bytes.Equal(patch, stored.Bytes())
}

// ControllerRevisionName is <prefix>-<hash>, the prefix cut so that the name fits in 253
// characters (ControllerRevisionName).
func ControllerRevisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// NewControllerRevision is the revision number revision of parent's template, whose data is
// patch and whose hash is hash: named ControllerRevisionName(parent, hash), labelled with
// the template's labels plus controller-revision-hash, annotated with parent's annotations
// (as both upstream controllers do), controlled by parent (of kind gvk).
func NewControllerRevision(parent runtime.Object, gvk runtime.GroupVersionKind, templateLabels map[string]string, patch []byte, revision int64, hash string) *appsv1.ControllerRevision {
	m := parent.GetMetadata()
	lbls := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		lbls[k] = v
	}
	lbls[appsv1.ControllerRevisionHashLabelKey] = hash
	return &appsv1.ControllerRevision{
		Kind: "ControllerRevision", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{
			Name: ControllerRevisionName(m.GetName(), hash), Namespace: m.GetNamespace(),
			Labels: lbls, Annotations: cloneMap(m.GetAnnotations()),
			OwnerReferences: []*metav1.OwnerReference{NewControllerRef(parent, gvk)},
		},
		Data:     &metav1.RawExtension{Raw: patch},
		Revision: revision,
	}
}

// SortControllerRevisions orders revisions in place, oldest first: by revision number, then
// creationTimestamp, then name (SortControllerRevisions).
func SortControllerRevisions(revisions []*appsv1.ControllerRevision) {
	slices.SortStableFunc(revisions, func(a, b *appsv1.ControllerRevision) int {
		return cmp.Or(cmp.Compare(a.GetRevision(), b.GetRevision()),
			TimeOf(a.GetMetadata().GetCreationTimestamp()).Compare(TimeOf(b.GetMetadata().GetCreationTimestamp())),
			cmp.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName()))
	})
}

// MaxRevision is the highest revision number of revisions, 0 for none; the next revision is
// numbered one more.
func MaxRevision(revisions []*appsv1.ControllerRevision) int64 {
	var n int64
	for _, r := range revisions {
		n = max(n, r.GetRevision())
	}
	return n
}

// RevisionControllerRefManager is RefManager for ControllerRevisions, patching them through
// Client: the history a DaemonSet or StatefulSet claims (adoptOrphanRevisions).
type RevisionControllerRefManager struct {
	// Client writes the ownerReference patches.
	Client *kube.Clientset
	// Controller, ControllerKind, Selector and CanAdopt are as in RefManager.
	Controller     runtime.Object
	ControllerKind runtime.GroupVersionKind
	Selector       labels.Selector
	CanAdopt       func(ctx context.Context) error
}

// ClaimControllerRevisions is RefManager.Claim for ControllerRevisions.
func (m *RevisionControllerRefManager) ClaimControllerRevisions(ctx context.Context, revisions []*appsv1.ControllerRevision) ([]*appsv1.ControllerRevision, error) {
	rm := &RefManager[*appsv1.ControllerRevision]{
		Patch: func(ctx context.Context, ns, name string, data []byte) (*appsv1.ControllerRevision, error) {
			return m.Client.ControllerRevisions(ns).Patch(ctx, name, transport.StrategicMerge, data)
		},
		Kind: "controller revision", Controller: m.Controller, ControllerKind: m.ControllerKind, Selector: m.Selector, CanAdopt: m.CanAdopt,
	}
	return rm.Claim(ctx, revisions)
}
