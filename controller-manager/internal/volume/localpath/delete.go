package localpath

import (
	"context"
	"fmt"
	"path"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// syncVolume deletes a Released volume of ours whose reclaim policy is Delete: a helper
// pod removes its directory on its node, then the pod and the volume are deleted. Each
// call takes the next step the API state calls for.
func (c *Controller) syncVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	name := pv.GetMetadata().GetName()
	if pv.GetMetadata().GetAnnotations()[volumeutil.AnnDynamicallyProvisioned] != ProvisionerName ||
		pv.GetStatus().GetPhase() != corev1.VolumeReleased ||
		pv.GetSpec().GetPersistentVolumeReclaimPolicy() != corev1.PersistentVolumeReclaimDelete {
		return nil
	}
	node, dir := volumeNode(pv), pv.GetSpec().GetHostPath().GetPath()
	if node == "" || dir == "" || path.Dir(dir) == dir {
		// Not a volume we made as we make them: deleting blindly could remove the wrong
		// directory. Leave it to the administrator, as the binder leaves volumes no plugin
		// can delete.
		c.recorder.Eventf(pv, "Warning", EventVolumeFailedDelete, "volume has no node affinity to one node or no hostPath directory; not deleting it")
		return nil
	}
	podName := HelperPodName(name)
	pod, err := c.pods.Namespace(HelperNamespace).Get(podName)
	if apierrors.IsNotFound(err) {
		_, err := c.client.Pods(HelperNamespace).Create(ctx, c.helperPod(podName, name, node, dir))
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create helper pod for volume %s: %w", name, err)
		}
		c.log.Info("removing released volume's data", "name", name, "node", node, "path", dir, "pod", HelperNamespace+"/"+podName)
		return nil
	}
	if err != nil {
		return err
	}
	switch pod.GetStatus().GetPhase() {
	case controller.PodSucceeded:
		// The volume goes first and the pod only once the volume is gone (see
		// cleanupHelper): while the volume is still there, terminating behind its
		// pv-protection finalizer, the finished pod is what says its data is gone already,
		// so no second helper runs.
		if pv.GetMetadata().GetDeletionTimestamp() != nil {
			return nil
		}
		uid := pv.GetMetadata().GetUid()
		_, err := c.client.PersistentVolumes().Delete(ctx, name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete volume %s: %w", name, err)
		}
		c.log.Info("deleted released volume", "name", name, "node", node, "path", dir)
		return nil
	case controller.PodFailed:
		c.recorder.Eventf(pv, "Warning", EventVolumeFailedDelete, "helper pod %s/%s failed to remove %s on node %s", HelperNamespace, podName, dir, node)
		if err := c.deletePod(ctx, pod); err != nil {
			return err
		}
		// Retried with backoff: the next try makes a new pod.
		return fmt.Errorf("helper pod %s/%s for volume %s failed", HelperNamespace, podName, name)
	}
	// Still running: its next status update wakes us.
	return nil
}

// cleanupHelper deletes the helper pod of a volume that is gone, confirmed by the
// apiserver: the last step of a deletion, which a restart also finishes, since the pod's
// informer event queues its volume.
func (c *Controller) cleanupHelper(ctx context.Context, volume string) error {
	pod, err := c.pods.Namespace(HelperNamespace).Get(HelperPodName(volume))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := c.client.PersistentVolumes().Get(ctx, volume); !apierrors.IsNotFound(err) {
		// Still there (the cache lags), or unknown: not ours to judge yet.
		return err
	}
	if err := c.deletePod(ctx, pod); err != nil {
		return err
	}
	c.log.Info("deleted helper pod of deleted volume", "namespace", HelperNamespace, "name", pod.GetMetadata().GetName(), "volume", volume)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.GetMetadata().GetUid()
	_, err := c.client.Pods(HelperNamespace).Delete(ctx, pod.GetMetadata().GetName(), &metav1.DeleteOptions{
		GracePeriodSeconds: proto.Int64(0), Preconditions: &metav1.Preconditions{Uid: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete helper pod %s/%s: %w", HelperNamespace, pod.GetMetadata().GetName(), err)
	}
	return nil
}

// helperPod removes dir on node: it mounts dir's parent and removes dir's base name
// there with kubelab-tool rm (rm -rf; kubelab's nginx image has no shell or rm). It
// names its node itself, so no scheduler is involved, and tolerates every taint, so a
// cordoned or tainted node still gets its space back.
func (c *Controller) helperPod(podName, volume, node, dir string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: podName, Namespace: HelperNamespace, Labels: map[string]string{HelperLabel: volume}},
		Spec: &corev1.PodSpec{
			NodeName:                     node,
			RestartPolicy:                "Never",
			AutomountServiceAccountToken: proto.Bool(false),
			Tolerations:                  []*corev1.Toleration{{Operator: "Exists"}},
			Volumes: []*corev1.Volume{{Name: "data", HostPath: &corev1.HostPathVolumeSource{
				Path: path.Dir(dir), Type: proto.String("DirectoryOrCreate")}}},
			Containers: []*corev1.Container{{
				Name: "helper-pod", Image: c.helperImage,
				Command:      []string{HelperCommand, "rm", path.Join(helperMount, path.Base(dir))},
				VolumeMounts: []*corev1.VolumeMount{{Name: "data", MountPath: helperMount}},
			}},
		},
	}
}

// volumeNode is the one node pv's node affinity names by hostname, or "".
func volumeNode(pv *corev1.PersistentVolume) string {
	terms := pv.GetSpec().GetNodeAffinity().GetRequired().GetNodeSelectorTerms()
	if len(terms) != 1 {
		return ""
	}
	for _, r := range terms[0].GetMatchExpressions() {
		if r.GetKey() == hostnameLabel && r.GetOperator() == "In" && len(r.GetValues()) == 1 {
			return r.GetValues()[0]
		}
	}
	return ""
}
