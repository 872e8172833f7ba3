package scheduler

import (
	"context"

	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
)

// NewClient adapts a clientset to Client: pods/binding and a merge patch of pods/status.
func NewClient(cs *kube.Clientset) Client { return apiClient{cs} }

type apiClient struct{ cs *kube.Clientset }

func (c apiClient) Bind(ctx context.Context, ns string, b *corev1.Binding) error {
	return c.cs.Bind(ctx, ns, b)
}

func (c apiClient) PatchPodStatus(ctx context.Context, ns, name string, patch []byte) error {
	_, err := c.cs.Pods(ns).Patch(ctx, name, transport.MergePatch, patch, "status")
	return err
}
