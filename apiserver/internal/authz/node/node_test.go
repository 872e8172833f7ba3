package node

import (
	"context"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
)

// listFrom is a NodePodLister over pods, as the watch cache answers it.
func listFrom(pods []*corev1.Pod) NodePodLister {
	return func(_ context.Context, ns, node string) ([]*corev1.Pod, error) {
		var out []*corev1.Pod
		for _, p := range pods {
			if p.GetMetadata().GetNamespace() == ns && p.GetSpec().GetNodeName() == node {
				out = append(out, p)
			}
		}
		return out, nil
	}
}

func TestSelectsNode(t *testing.T) {
	for sel, want := range map[string]bool{
		"spec.nodeName=n1":                      true,
		"spec.nodeName==n1":                     true,
		"status.phase=Running,spec.nodeName=n1": true,
		"spec.nodeName=n2":                      false,
		"spec.nodeName!=n1":                     false,
		"":                                      false,
		"metadata.name=n1":                      false,
	} {
		if got := selectsNode(sel, "n1"); got != want {
			t.Errorf("selectsNode(%q) = %v, want %v", sel, got, want)
		}
	}
}
