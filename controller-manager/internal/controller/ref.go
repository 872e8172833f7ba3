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

// PodControllerRefManager is Kubernetes' PodControllerRefManager: for one controller, it
// decides which pods the controller owns, adopting matching orphans and releasing owned
// pods that no longer match, through the API. Use a new one per sync; it is not safe for
// concurrent use.
type PodControllerRefManager struct {
	// Client writes the ownerReference patches.
	Client *kube.Clientset
	// Controller is the owner (as read from the cache; never modified).
	Controller runtime.Object
	// ControllerKind is the owner's group/version/kind, for the references it writes.
	ControllerKind runtime.GroupVersionKind
	// Selector is the owner's pod selector.
	Selector labels.Selector
	// CanAdopt, when set, is called once before the first adoption; an error stops every
	// adoption of this sync. Controllers re-read the owner from the API (not the cache) and
	// refuse when it is gone, has another uid, or is being deleted — RecheckDeletionTimestamp.
	CanAdopt func(ctx context.Context) error

	canAdoptOnce sync.Once
	canAdoptErr  error
}

// ClaimPods returns the pods the controller owns after adopting and releasing: pods it
// already controls that match the selector, plus matching orphans it adopted. Pods that
// match filters (all must hold) are the only ones considered; pods controlled by another
// owner are left alone. Orphans being deleted are never adopted, and nothing is adopted or
// released while the controller itself is being deleted. A pod gone by the time it is
// patched is skipped; other errors are joined and returned with the pods claimed so far.
func (m *PodControllerRefManager) ClaimPods(ctx context.Context, pods []*corev1.Pod, filters ...func(*corev1.Pod) bool) ([]*corev1.Pod, error) {
	var claimed []*corev1.Pod
	var errs []error
	ownerUID := m.Controller.GetMetadata().GetUid()
	ownerDeleting := m.Controller.GetMetadata().GetDeletionTimestamp() != nil
	match := func(p *corev1.Pod) bool {
		if !m.Selector.Matches(p.GetMetadata().GetLabels()) {
			return false
		}
		for _, f := range filters {
			if !f(p) {
				return false
			}
		}
		return true
	}
	for _, pod := range pods {
		if ref := GetControllerOf(pod); ref != nil {
			if ref.GetUid() != ownerUID {
				continue // someone else's
			}
			if match(pod) {
				claimed = append(claimed, pod)
				continue
			}
			if ownerDeleting {
				continue // the garbage collector deals with the dependents of a deleted owner
			}
			if err := m.release(ctx, pod); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		// An orphan.
		if ownerDeleting || !match(pod) || pod.GetMetadata().GetDeletionTimestamp() != nil ||
			pod.GetMetadata().GetNamespace() != m.Controller.GetMetadata().GetNamespace() {
			continue
		}
		adopted, err := m.adopt(ctx, pod)
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
// also sets metadata.uid, which the apiserver treats as a precondition: a pod deleted and
// recreated under the same name is not touched.
type ownerRefPatch struct {
	Metadata struct {
		OwnerReferences []any  `json:"ownerReferences"`
		UID             string `json:"uid"`
	} `json:"metadata"`
}

func (m *PodControllerRefManager) adopt(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	m.canAdoptOnce.Do(func() {
		if m.CanAdopt != nil {
			m.canAdoptErr = m.CanAdopt(ctx)
		}
	})
	if m.canAdoptErr != nil {
		return nil, fmt.Errorf("can't adopt pod %s/%s: %w", pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName(), m.canAdoptErr)
	}
	ref := NewControllerRef(m.Controller, m.ControllerKind)
	var p ownerRefPatch
	p.Metadata.UID = pod.GetMetadata().GetUid()
	p.Metadata.OwnerReferences = []any{map[string]any{
		"apiVersion": ref.GetApiVersion(), "kind": ref.GetKind(), "name": ref.GetName(), "uid": ref.GetUid(),
		"controller": true, "blockOwnerDeletion": true,
	}}
	return m.patch(ctx, pod, p, "adopt")
}

func (m *PodControllerRefManager) release(ctx context.Context, pod *corev1.Pod) error {
	var p ownerRefPatch
	p.Metadata.UID = pod.GetMetadata().GetUid()
	p.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": m.Controller.GetMetadata().GetUid()}}
	_, err := m.patch(ctx, pod, p, "release")
	if apierrors.IsNotFound(err) {
		return nil // gone: nothing to release
	}
	return err
}

func (m *PodControllerRefManager) patch(ctx context.Context, pod *corev1.Pod, p ownerRefPatch, verb string) (*corev1.Pod, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	ns, name := pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName()
	out, err := m.Client.Pods(ns).Patch(ctx, name, transport.StrategicMerge, data)
	if err != nil {
		return nil, fmt.Errorf("%s pod %s/%s: %w", verb, ns, name, err)
	}
	return out, nil
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
