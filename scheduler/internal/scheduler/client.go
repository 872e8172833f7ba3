package scheduler

import (
	"context"

	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// NewClient adapts a clientset to Client: pods/binding, a merge patch of pods/status, and
// deleting pods (preemption's victims).
func NewClient(cs *kube.Clientset) Client { return apiClient{cs} }

type apiClient struct{ cs *kube.Clientset }

func (c apiClient) Bind(ctx context.Context, ns string, b *corev1.Binding) error {
	return c.cs.Bind(ctx, ns, b)
}

func (c apiClient) PatchPodStatus(ctx context.Context, ns, name string, patch []byte) error {
	_, err := c.cs.Pods(ns).Patch(ctx, name, transport.MergePatch, patch, "status")
	return err
}

// UpdatePersistentVolume and UpdatePersistentVolumeClaim are VolumeBinding's writes
// (a PV's claimRef, a claim's selected-node annotation).
func (c apiClient) UpdatePersistentVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	_, err := c.cs.PersistentVolumes().Update(ctx, pv)
	return err
}

func (c apiClient) UpdatePersistentVolumeClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	_, err := c.cs.PersistentVolumeClaims(pvc.GetMetadata().GetNamespace()).Update(ctx, pvc)
	return err
}

// DeletePod deletes with the pod's own grace period, and only the pod with uid: a pod
// recreated under the same name meanwhile is not the victim that was chosen.
func (c apiClient) DeletePod(ctx context.Context, ns, name, uid string) error {
	_, err := c.cs.Pods(ns).Delete(ctx, name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: &uid}})
	return err
}
