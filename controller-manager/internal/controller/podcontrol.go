package controller

import (
	"context"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// Event reasons of Kubernetes' pod control, recorded on the owner by every controller
// that deletes its pods.
const (
	EventSuccessfulDelete = "SuccessfulDelete"
	EventFailedDelete     = "FailedDelete"
)

// EventRecorder is the part of record.Recorder a controller uses.
type EventRecorder interface {
	Eventf(obj runtime.Object, eventType, reason, format string, args ...any)
}

// DeletePod deletes pod for owner, conditional on its uid, and records upstream's
// SuccessfulDelete or FailedDelete event on owner. A pod already gone, or replaced by a
// namesake, is not an error, but deleted is false then.
func DeletePod(ctx context.Context, client *kube.Clientset, recorder EventRecorder, owner runtime.Object, pod *corev1.Pod) (deleted bool, _ error) {
	m := pod.GetMetadata()
	opts := &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: proto.String(m.GetUid())}}
	_, err := client.Pods(m.GetNamespace()).Delete(ctx, m.GetName(), opts)
	switch {
	case err == nil:
		recorder.Eventf(owner, "Normal", EventSuccessfulDelete, "Deleted pod: %s", m.GetName())
		return true, nil
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return false, nil
	default:
		recorder.Eventf(owner, "Warning", EventFailedDelete, "Error deleting: %v", err)
		return false, err
	}
}

// ResolveControllerRef returns the object of kind gvk that ref names in namespace, from
// lister, if it is still the same object (same uid); the zero value (nil) otherwise.
func ResolveControllerRef[T runtime.Object](lister cache.Lister[T], gvk runtime.GroupVersionKind, namespace string, ref *metav1.OwnerReference) T {
	var none T
	if ref.GetKind() != gvk.Kind || ref.GetApiVersion() != gvk.APIVersion() {
		return none
	}
	obj, err := lister.Namespace(namespace).Get(ref.GetName())
	if err != nil || obj.GetMetadata().GetUid() != ref.GetUid() {
		return none
	}
	return obj
}

// Selecting lists the objects of lister in namespace whose selector (selectorOf) matches
// lbls: the owners that may adopt an orphan with those labels. A selector that does not
// parse or selects everything adopts nothing, as upstream.
func Selecting[T runtime.Object](lister cache.Lister[T], namespace string, lbls map[string]string, selectorOf func(T) *metav1.LabelSelector) []T {
	all, err := lister.Namespace(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []T
	for _, o := range all {
		sel, err := labels.FromLabelSelector(selectorOf(o))
		if err == nil && !sel.Empty() && sel.Matches(lbls) {
			out = append(out, o)
		}
	}
	return out
}
