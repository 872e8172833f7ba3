package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// GetControllerOf returns obj's owner reference with controller=true, or nil.
func GetControllerOf(obj runtime.Object) *metav1.OwnerReference {
	for _, r := range obj.GetMetadata().GetOwnerReferences() {
		if r.GetController() {
			return r
		}
	}
	return nil
}

// IsControlledBy reports whether obj's controller reference names owner (by uid).
func IsControlledBy(obj, owner runtime.Object) bool {
	ref := GetControllerOf(obj)
	return ref != nil && ref.GetUid() == owner.GetMetadata().GetUid()
}

// NewControllerRef returns a controller reference to owner, of kind gvk, with controller
// and blockOwnerDeletion set, as dependents created by a controller carry.
func NewControllerRef(owner runtime.Object, gvk runtime.GroupVersionKind) *metav1.OwnerReference {
	m := owner.GetMetadata()
	return &metav1.OwnerReference{
		ApiVersion: gvk.APIVersion(), Kind: gvk.Kind, Name: m.GetName(), Uid: m.GetUid(),
		Controller: proto.Bool(true), BlockOwnerDeletion: proto.Bool(true),
	}
}

// PodFromTemplate builds the pod a controller creates from template: generateName
// "<owner>-", the template's labels, annotations and spec (copied), in the owner's
// namespace, with controllerRef when it is not nil.
func PodFromTemplate(template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference) *corev1.Pod {
	om := owner.GetMetadata()
	pod := &corev1.Pod{
		Kind: "Pod", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{
			GenerateName: om.GetName() + "-",
			Namespace:    om.GetNamespace(),
			Labels:       cloneMap(template.GetMetadata().GetLabels()),
			Annotations:  cloneMap(template.GetMetadata().GetAnnotations()),
			Finalizers:   append([]string(nil), template.GetMetadata().GetFinalizers()...),
		},
		Spec: proto.Clone(template.GetSpec()).(*corev1.PodSpec),
	}
	if template.GetSpec() == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	if controllerRef != nil {
		pod.Metadata.OwnerReferences = []*metav1.OwnerReference{proto.Clone(controllerRef).(*metav1.OwnerReference)}
	}
	return pod
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// RefManager is Kubernetes' ControllerRefManager for any owned kind T (pods of a
// ReplicaSet, ReplicaSets of a Deployment): for one controller, it decides which objects
// the controller owns, adopting matching orphans and releasing owned objects that no
// longer match, through the API. Use a new one per sync; it is not safe for concurrent use.
type RefManager[T runtime.Object] struct {
	// Patch applies a strategic merge patch to the owned object ns/name and returns it.
	Patch func(ctx context.Context, ns, name string, data []byte) (T, error)
	// Kind names the owned kind in errors ("pod", "replica set").
	Kind string
	// Controller is the owner (as read from the cache; never modified).
	Controller runtime.Object
	// ControllerKind is the owner's group/version/kind, for the references it writes.
	ControllerKind runtime.GroupVersionKind
	// Selector is the owner's selector.
	Selector labels.Selector
	// CanAdopt, when set, is called once before the first adoption; an error stops every
	// adoption of this sync. Controllers re-read the owner from the API (not the cache) and
	// refuse when it is gone, has another uid, or is being deleted — RecheckDeletionTimestamp.
	CanAdopt func(ctx context.Context) error
	// Finalizers are added to an object in the patch that adopts it and removed in the one
	// that releases it, as upstream's ControllerRefManager does for the job controller's
	// tracking finalizer: an adopted pod is then counted exactly once too.
	Finalizers []string

	canAdoptOnce sync.Once
	canAdoptErr  error
}

// Claim returns the objects the controller owns after adopting and releasing: objects it
// already controls that match the selector, plus matching orphans it adopted. Only objects
// that pass filters (all must hold) are considered; objects controlled by another owner are
// left alone. Orphans being deleted are never adopted, and nothing is adopted or released
// while the controller itself is being deleted. An object gone by the time it is patched is
// skipped; other errors are joined and returned with the objects claimed so far.
func (m *RefManager[T]) Claim(ctx context.Context, objs []T, filters ...func(T) bool) ([]T, error) {
	var claimed []T
	var errs []error
	ownerUID := m.Controller.GetMetadata().GetUid()
	ownerDeleting := m.Controller.GetMetadata().GetDeletionTimestamp() != nil
	match := func(o T) bool {
		if !m.Selector.Matches(o.GetMetadata().GetLabels()) {
			return false
		}
		for _, f := range filters {
			if !f(o) {
				return false
			}
		}
		return true
	}
	for _, obj := range objs {
		if ref := GetControllerOf(obj); ref != nil {
			if ref.GetUid() != ownerUID {
				continue // someone else's
			}
			if match(obj) {
				claimed = append(claimed, obj)
				continue
			}
			if ownerDeleting {
				continue // the garbage collector deals with the dependents of a deleted owner
			}
			if err := m.release(ctx, obj); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		// An orphan.
		if ownerDeleting || !match(obj) || obj.GetMetadata().GetDeletionTimestamp() != nil ||
			obj.GetMetadata().GetNamespace() != m.Controller.GetMetadata().GetNamespace() {
			continue
		}
		adopted, err := m.adopt(ctx, obj)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, err)
		default:
			claimed = append(claimed, adopted)
		}
	}
	return claimed, errors.Join(errs...)
}

// ownerRefPatch is a strategic merge patch of metadata.ownerReferences (merged by uid) that
// also sets metadata.uid, which the apiserver treats as a precondition: an object deleted
// and recreated under the same name is not touched.
type ownerRefPatch struct {
	Metadata struct {
		OwnerReferences []any `json:"ownerReferences"`
		// Finalizers merge into the object's (metadata.finalizers has patch strategy merge).
		Finalizers []string `json:"finalizers,omitempty"`
		// DeleteFinalizers are removed from the object's.
		DeleteFinalizers []string `json:"$deleteFromPrimitiveList/finalizers,omitempty"`
		UID              string   `json:"uid"`
	} `json:"metadata"`
}

func (m *RefManager[T]) adopt(ctx context.Context, obj T) (T, error) {
	m.canAdoptOnce.Do(func() {
		if m.CanAdopt != nil {
			m.canAdoptErr = m.CanAdopt(ctx)
		}
	})
	if m.canAdoptErr != nil {
		var zero T
		return zero, fmt.Errorf("can't adopt %s %s/%s: %w", m.Kind, obj.GetMetadata().GetNamespace(), obj.GetMetadata().GetName(), m.canAdoptErr)
	}
	ref := NewControllerRef(m.Controller, m.ControllerKind)
	var p ownerRefPatch
	p.Metadata.UID = obj.GetMetadata().GetUid()
	p.Metadata.OwnerReferences = []any{map[string]any{
		"apiVersion": ref.GetApiVersion(), "kind": ref.GetKind(), "name": ref.GetName(), "uid": ref.GetUid(),
		"controller": true, "blockOwnerDeletion": true,
	}}
	p.Metadata.Finalizers = m.Finalizers
	return m.patch(ctx, obj, p, "adopt")
}

func (m *RefManager[T]) release(ctx context.Context, obj T) error {
	var p ownerRefPatch
	p.Metadata.UID = obj.GetMetadata().GetUid()
	p.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": m.Controller.GetMetadata().GetUid()}}
	p.Metadata.DeleteFinalizers = m.Finalizers
	_, err := m.patch(ctx, obj, p, "release")
	if apierrors.IsNotFound(err) {
		return nil // gone: nothing to release
	}
	return err
}

func (m *RefManager[T]) patch(ctx context.Context, obj T, p ownerRefPatch, verb string) (T, error) {
	var zero T
	data, err := json.Marshal(p)
	if err != nil {
		return zero, err
	}
	ns, name := obj.GetMetadata().GetNamespace(), obj.GetMetadata().GetName()
	out, err := m.Patch(ctx, ns, name, data)
	if err != nil {
		return zero, fmt.Errorf("%s %s %s/%s: %w", verb, m.Kind, ns, name, err)
	}
	return out, nil
}

// PodControllerRefManager is RefManager for pods, patching them through Client.
type PodControllerRefManager struct {
	// Client writes the ownerReference patches.
	Client *kube.Clientset
	// Controller, ControllerKind, Selector, CanAdopt and Finalizers are as in RefManager.
	Controller     runtime.Object
	ControllerKind runtime.GroupVersionKind
	Selector       labels.Selector
	CanAdopt       func(ctx context.Context) error
	Finalizers     []string
}

// ClaimPods is RefManager.Claim for pods.
func (m *PodControllerRefManager) ClaimPods(ctx context.Context, pods []*corev1.Pod, filters ...func(*corev1.Pod) bool) ([]*corev1.Pod, error) {
	rm := &RefManager[*corev1.Pod]{
		Patch: func(ctx context.Context, ns, name string, data []byte) (*corev1.Pod, error) {
			return m.Client.Pods(ns).Patch(ctx, name, transport.StrategicMerge, data)
		},
		Kind: "pod", Controller: m.Controller, ControllerKind: m.ControllerKind, Selector: m.Selector, CanAdopt: m.CanAdopt,
		Finalizers: m.Finalizers,
	}
	return rm.Claim(ctx, pods, filters...)
}

// RecheckDeletionTimestamp returns a CanAdopt function that reads the owner fresh with get
// and refuses adoption when it is gone, has been replaced (another uid), or is being deleted.
func RecheckDeletionTimestamp(get func(ctx context.Context) (runtime.Object, error), uid string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		m := fresh.GetMetadata()
		if m.GetUid() != uid {
			return fmt.Errorf("original %s/%s is gone: got uid %s, wanted %s", m.GetNamespace(), m.GetName(), m.GetUid(), uid)
		}
		if m.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s/%s has just been deleted at %v", m.GetNamespace(), m.GetName(), TimeOf(m.GetDeletionTimestamp()))
		}
		return nil
	}
}
