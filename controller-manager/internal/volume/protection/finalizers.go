package protection

import (
	"slices"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// needToAdd: a live object without the finalizer gets it (objects made before the
// admission plugin was on, or with it off).
func needToAdd(m *metav1.ObjectMeta, finalizer string) bool {
	return m.GetDeletionTimestamp() == nil && !slices.Contains(m.GetFinalizers(), finalizer)
}

// needToRemove: a deleted object still held by the finalizer.
func needToRemove(m *metav1.ObjectMeta, finalizer string) bool {
	return m.GetDeletionTimestamp() != nil && slices.Contains(m.GetFinalizers(), finalizer)
}

func without(finalizers []string, f string) []string {
	return slices.DeleteFunc(slices.Clone(finalizers), func(s string) bool { return s == f })
}

// ignoreNotFound: an object gone meanwhile needs nothing more.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
