package binder

import (
	"context"
	"fmt"
	"strings"

	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// syncVolume keeps a volume's phase in step with its claim, and releases and reclaims it
// once the claim is gone.
func (c *Controller) syncVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	ref := pv.GetSpec().GetClaimRef()
	name := pv.GetMetadata().GetName()
	if ref == nil || ref.GetUid() == "" {
		// Unused, or pre-bound by the user to a claim not bound yet: either way free for
		// that claim's sync to take.
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return ignoreNotFound(err)
	}
	pvc, err := c.claimOf(ctx, pv)
	if err != nil {
		return err
	}
	switch {
	case pvc == nil:
		// The claim is gone: release the volume (once) and reclaim it.
		if phase := pv.GetStatus().GetPhase(); phase != corev1.VolumeReleased && phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return ignoreNotFound(err)
			}
		}
		return c.reclaimVolume(ctx, pv)
	case pvc.GetSpec().GetVolumeName() == "":
		// The binding is half done (by us, a provisioner or the scheduler) or was undone
		// on the claim's side: the claim's sync finishes it.
		c.queue.Add(claimPrefix + claimKey(pvc))
		return nil
	case pvc.GetSpec().GetVolumeName() == name:
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeBound, "")
		return ignoreNotFound(err)
	}
	// The claim is bound to another volume.
	if pv.GetSpec().GetPersistentVolumeReclaimPolicy() == corev1.PersistentVolumeReclaimDelete &&
		pv.GetMetadata().GetAnnotations()[volumeutil.AnnDynamicallyProvisioned] != "" {
		// Provisioned for this claim, which took another volume: not needed any more.
		// Released (once) for its deleter; a volume already Failed stays Failed, as
		// upstream, or a volume nothing can delete would flip back and fail anew, with
		// an event, at every resync.
		if phase := pv.GetStatus().GetPhase(); phase != corev1.VolumeReleased && phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return ignoreNotFound(err)
			}
		}
		return c.reclaimVolume(ctx, pv)
	}
	cp := volumeutil.CloneVolume(pv)
	if pv.GetMetadata().GetAnnotations()[volumeutil.AnnBoundByController] != "" {
		// Our binding: undo it whole.
		cp.Spec.ClaimRef = nil
		delete(cp.Metadata.Annotations, volumeutil.AnnBoundByController)
	} else {
		// The user's pre-binding by name stays; only the uid of the old claim goes.
		cp.Spec.ClaimRef.Uid = ""
	}
	updated, err := c.client.PersistentVolumes().Update(ctx, cp)
	if err != nil {
		return ignoreNotFound(err)
	}
	c.log.Info("unbound volume whose claim is bound elsewhere", "name", name, "claim", claimKey(pvc))
	_, err = c.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return ignoreNotFound(err)
}

// claimOf returns the claim pv is bound to, or nil if it is gone (or replaced by a
// namesake). A claim missing from the cache is looked up in the apiserver before the
// volume is released, as upstream: a claim a provisioner or the scheduler bound a moment
// ago may not have reached the cache, and releasing cannot be undone.
func (c *Controller) claimOf(ctx context.Context, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := pv.GetSpec().GetClaimRef()
	pvc, err := c.claims.Namespace(ref.GetNamespace()).Get(ref.GetName())
	if apierrors.IsNotFound(err) {
		if phase := pv.GetStatus().GetPhase(); phase == corev1.VolumeReleased || phase == corev1.VolumeFailed {
			return nil, nil
		}
		pvc, err = c.client.PersistentVolumeClaims(ref.GetNamespace()).Get(ctx, ref.GetName())
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if pvc.GetMetadata().GetUid() != ref.GetUid() {
		return nil, nil
	}
	return pvc, nil
}

// reclaimVolume carries out a released volume's reclaim policy. Delete of a volume an
// external provisioner made is that provisioner's job (the annotation names it); kubelab
// has no in-tree plugin to delete any other, so such a volume fails, as upstream's does
// when no plugin matches.
func (c *Controller) reclaimVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	name := pv.GetMetadata().GetName()
	switch pv.GetSpec().GetPersistentVolumeReclaimPolicy() {
	case corev1.PersistentVolumeReclaimRetain, "":
		c.log.Debug("released volume is retained", "name", name)
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		if pv.GetStatus().GetPhase() == corev1.VolumeFailed {
			return nil
		}
		c.recorder.Eventf(pv, "Warning", EventVolumeFailedRecycle, "No recycler plugin found for the volume!")
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeFailed, "No recycler plugin found for the volume!")
		return ignoreNotFound(err)
	case corev1.PersistentVolumeReclaimDelete:
		if p := pv.GetMetadata().GetAnnotations()[volumeutil.AnnDynamicallyProvisioned]; p != "" && !strings.HasPrefix(p, "kubernetes.io/") {
			c.log.Debug("released volume waits for its external provisioner to delete it", "name", name, "provisioner", p)
			return nil
		}
		if pv.GetStatus().GetPhase() == corev1.VolumeFailed {
			return nil
		}
		c.recorder.Eventf(pv, "Warning", EventVolumeFailedDelete, "%v", errNoDeleter)
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeFailed, errNoDeleter.Error())
		return ignoreNotFound(err)
	}
	return fmt.Errorf("volume %s: unknown reclaim policy %q", name, pv.GetSpec().GetPersistentVolumeReclaimPolicy())
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
