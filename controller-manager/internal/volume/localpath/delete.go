package localpath

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// syncVolume keeps Finalizer on a volume of ours as its reclaim policy asks and deletes
// one that is to go: a helper pod removes its directory on its node, then the finalizer
// is removed, the volume deleted and, once it is gone, the pod. Each call takes the next
// step the API state calls for.
func (c *Controller) syncVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	name := pv.GetMetadata().GetName()
	if pv.GetMetadata().GetAnnotations()[volumeutil.AnnDynamicallyProvisioned] != ProvisionerName {
		return nil
	}
	pv, err := c.syncFinalizer(ctx, pv)
	if err != nil {
		return err
	}
	if !shouldDelete(pv) {
		c.forgetDeleteFailures(name)
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
		// The last helper pod failed: the next waits out its backoff, whatever woke us
		// (the failed pod's deletion does, at once).
		if wait := c.deleteRetryWait(name); wait > 0 {
			c.queue.AddAfter(volumePrefix+name, wait)
			return nil
		}
		// Removing data cannot be undone: decide on the volume as the apiserver holds it,
		// not as the cache does (external-provisioner reads it again too). A copy a moment
		// old may still say Released of a volume bound again since.
		live, err := c.client.PersistentVolumes().Get(ctx, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read volume %s before deleting it: %w", name, err)
		}
		if live.GetMetadata().GetUid() != pv.GetMetadata().GetUid() || !shouldDelete(live) ||
			live.GetSpec().GetHostPath().GetPath() != dir || volumeNode(live) != node {
			c.log.Debug("volume changed since the cache saw it; not deleting", "name", name)
			return nil
		}
		_, err = c.client.Pods(HelperNamespace).Create(ctx, c.helperPod(podName, name, node, dir))
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
		c.forgetDeleteFailures(name)
		// The volume goes first and the pod only once the volume is gone (see
		// cleanupHelper): while the volume is still there, terminating behind a
		// finalizer, the finished pod is what says its data is gone already, so no second
		// helper runs. Our finalizer goes only now, the data being gone, and before the
		// delete, as external-provisioner's: a crash between the two leaves a Released
		// volume the next sync deletes.
		if slices.Contains(pv.GetMetadata().GetFinalizers(), Finalizer) {
			cp := volumeutil.CloneVolume(pv)
			cp.Metadata.Finalizers = slices.DeleteFunc(cp.Metadata.Finalizers, func(f string) bool { return f == Finalizer })
			if pv, err = c.client.PersistentVolumes().Update(ctx, cp); err != nil {
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("remove finalizer of volume %s: %w", name, err)
			}
			c.log.Info("removed the finalizer of a volume whose data is removed", "name", name, "node", node, "path", dir)
		}
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
		if c.deleteRetryWait(name) > 0 {
			// Counted already: the cache still holds the pod we deleted.
			return c.deletePod(ctx, pod)
		}
		c.recorder.Eventf(pv, "Warning", EventVolumeFailedDelete, "helper pod %s/%s failed to remove %s on node %s", HelperNamespace, podName, dir, node)
		if err := c.deletePod(ctx, pod); err != nil {
			return err
		}
		// Retried with backoff, as external-provisioner retries a failed delete: the next
		// try, once it has passed, makes a new pod.
		wait := c.deleteFailed(name)
		c.queue.AddAfter(volumePrefix+name, wait)
		c.log.Warn("helper pod failed; will retry", "name", name, "pod", HelperNamespace+"/"+podName, "retryIn", wait)
		return nil
	}
	// Still running: its next status update wakes us.
	return nil
}

// shouldDelete reports whether pv's directory is to be removed: its reclaim policy is
// Delete and it is Released, or it is being deleted and no claim holds it (Available).
// A deleted Bound volume waits, as pv-protection holds it, until its claim goes and the
// binder releases it.
func shouldDelete(pv *corev1.PersistentVolume) bool {
	if pv.GetSpec().GetPersistentVolumeReclaimPolicy() != corev1.PersistentVolumeReclaimDelete {
		return false
	}
	switch pv.GetStatus().GetPhase() {
	case corev1.VolumeReleased:
		return true
	case corev1.VolumeAvailable:
		return pv.GetMetadata().GetDeletionTimestamp() != nil
	}
	return false
}

// syncFinalizer gives a live volume of policy Delete our Finalizer (a volume provisioned
// before the finalizer was) and takes it from a volume of another policy (changed to
// Retain: its data must outlive the object), as external-provisioner's
// handleProtectionFinalizer. It returns the volume as it now is.
func (c *Controller) syncFinalizer(ctx context.Context, pv *corev1.PersistentVolume) (*corev1.PersistentVolume, error) {
	m := pv.GetMetadata()
	has := slices.Contains(m.GetFinalizers(), Finalizer)
	var want bool
	switch {
	case pv.GetSpec().GetPersistentVolumeReclaimPolicy() != corev1.PersistentVolumeReclaimDelete:
		want = false
	case m.GetDeletionTimestamp() != nil:
		// A deleted object takes no new finalizers; one it has stays until its data is gone.
		return pv, nil
	default:
		want = true
	}
	if has == want {
		return pv, nil
	}
	cp := volumeutil.CloneVolume(pv)
	if want {
		cp.Metadata.Finalizers = append(cp.Metadata.Finalizers, Finalizer)
	} else {
		cp.Metadata.Finalizers = slices.DeleteFunc(cp.Metadata.Finalizers, func(f string) bool { return f == Finalizer })
	}
	updated, err := c.client.PersistentVolumes().Update(ctx, cp)
	if apierrors.IsNotFound(err) {
		return nil, nil // gone: nothing is left to do
	}
	if err != nil {
		return nil, fmt.Errorf("finalizer of volume %s: %w", m.GetName(), err)
	}
	c.log.Info("updated the finalizer of a volume for its reclaim policy", "name", m.GetName(), "finalizer", want)
	return updated, nil
}

// cleanupHelper deletes the helper pod of a volume that is gone, confirmed by the
// apiserver: the last step of a deletion, which a restart also finishes, since the pod's
// informer event queues its volume.
func (c *Controller) cleanupHelper(ctx context.Context, volume string) error {
	pod, err := c.pods.Namespace(HelperNamespace).Get(HelperPodName(volume))
	if apierrors.IsNotFound(err) {
		c.forgetDeleteFailures(volume)
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
	c.forgetDeleteFailures(volume)
	c.log.Info("deleted helper pod of deleted volume", "namespace", HelperNamespace, "name", pod.GetMetadata().GetName(), "volume", volume)
	return nil
}

// deleteFailed records a failed helper pod of volume and returns how long the next waits.
func (c *Controller) deleteFailed(volume string) time.Duration {
	wait := c.deleteBackoff.When(volume)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retryAt[volume] = c.clock.Now().Add(wait)
	return wait
}

// deleteRetryWait is how long volume's next helper pod must still wait after a failure.
func (c *Controller) deleteRetryWait(volume string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.retryAt[volume]
	if !ok {
		return 0
	}
	return at.Sub(c.clock.Now())
}

// forgetDeleteFailures ends volume's backoff: its data is gone, or it is not to be
// deleted (any more).
func (c *Controller) forgetDeleteFailures(volume string) {
	c.deleteBackoff.Forget(volume)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.retryAt, volume)
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
