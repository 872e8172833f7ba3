package binder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// syncPreboundClaim handles a claim that names its volume (by the user, or by an
// interrupted bind of ours).
func (c *Controller) syncPreboundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		// The volume may be created later; wait for it.
		c.log.Debug("claim's volume not found; waiting", "namespace", pvc.GetMetadata().GetNamespace(), "name", pvc.GetMetadata().GetName(), "volume", name)
		return c.updateClaimPhase(ctx, pvc, corev1.ClaimPending)
	}
	if err != nil {
		return err
	}
	switch {
	case pv.GetSpec().GetClaimRef() == nil:
		if reason := checkVolumeSatisfyClaim(pv, pvc); reason != "" {
			c.recorder.Eventf(pvc, "Warning", EventVolumeMismatch, "Cannot bind to requested volume %q: %s", name, reason)
			return c.updateClaimPhase(ctx, pvc, corev1.ClaimPending)
		}
		return c.bind(ctx, pv, pvc)
	case volumeutil.IsVolumeBoundToClaim(pv, pvc):
		return c.bind(ctx, pv, pvc)
	case pvc.GetMetadata().GetAnnotations()[volumeutil.AnnBoundByController] != "":
		// We set volumeName and the volume is now someone else's: that is a bug to surface,
		// not a state to paper over.
		return fmt.Errorf("invalid binding of claim %s to volume %s: volume already claimed by %s/%s", claimKey(pvc), name,
			pv.GetSpec().GetClaimRef().GetNamespace(), pv.GetSpec().GetClaimRef().GetName())
	default:
		c.recorder.Eventf(pvc, "Warning", EventFailedBinding, "volume %q already bound to a different claim.", name)
		return c.updateClaimPhase(ctx, pvc, corev1.ClaimPending)
	}
}

// checkVolumeSatisfyClaim says why pv cannot serve pvc, or "".
func checkVolumeSatisfyClaim(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) string {
	want, _ := volumeutil.RequestedStorage(pvc)
	have, ok := volumeutil.VolumeStorage(pv)
	switch {
	case !ok || have.Cmp(want) < 0:
		return "requested PV is too small"
	case corev1.VolumeStorageClass(pv) != corev1.ClaimStorageClass(pvc):
		return "storageClassName does not match"
	case volumeutil.VolumeModeMismatch(pvc, pv):
		return "incompatible volumeMode"
	case !volumeutil.HasAccessModes(pvc, pv):
		return "incompatible accessMode"
	}
	return ""
}

// syncBoundClaim keeps a bound claim's status in step with its volume, or marks it Lost.
func (c *Controller) syncBoundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	name := pvc.GetSpec().GetVolumeName()
	if name == "" {
		return c.claimLost(ctx, pvc, EventClaimLost, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
	}
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return c.claimLost(ctx, pvc, EventClaimLost, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
	}
	if err != nil {
		return err
	}
	if pv.GetSpec().GetClaimRef() == nil || volumeutil.IsVolumeBoundToClaim(pv, pvc) {
		// Unbound by someone, or bound: (re)bind, which writes only what differs.
		return c.bind(ctx, pv, pvc)
	}
	return c.claimLost(ctx, pvc, EventClaimMisbound, "Two claims are bound to the same volume, this one is bound incorrectly")
}

func (c *Controller) claimLost(ctx context.Context, pvc *corev1.PersistentVolumeClaim, reason, msg string) error {
	if pvc.GetStatus().GetPhase() == corev1.ClaimLost {
		return nil
	}
	c.recorder.Eventf(pvc, "Warning", reason, "%s", msg)
	c.log.Warn("claim lost", "namespace", pvc.GetMetadata().GetNamespace(), "name", pvc.GetMetadata().GetName(), "reason", reason)
	return c.updateClaimPhase(ctx, pvc, corev1.ClaimLost)
}

// bind binds pv and pvc both ways in upstream's order: the volume's claimRef, its phase,
// the claim's volumeName and annotations, its phase. Each step writes only if something
// differs, so bind also finishes a binding begun by a provisioner, the scheduler, or an
// earlier sync that was interrupted.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	pv, err := c.bindVolumeToClaim(ctx, pv, pvc)
	if err != nil {
		return err
	}
	if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
		return err
	}
	pvc, err = c.bindClaimToVolume(ctx, pvc, pv)
	if err != nil {
		return err
	}
	return c.updateClaimStatus(ctx, pvc, corev1.ClaimBound, pv)
}

func (c *Controller) bindVolumeToClaim(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	ref := pv.GetSpec().GetClaimRef()
	if ref.GetUid() == pvc.GetMetadata().GetUid() && volumeutil.IsVolumeBoundToClaim(pv, pvc) {
		return pv, nil
	}
	cp := volumeutil.CloneVolume(pv)
	if !volumeutil.IsVolumeBoundToClaim(pv, pvc) {
		// Not pre-bound to this claim by the user: the binding is ours to undo later.
		setAnnotation(&cp.Metadata.Annotations, volumeutil.AnnBoundByController)
	}
	cp.Spec.ClaimRef = volumeutil.ClaimRef(pvc)
	updated, err := c.client.PersistentVolumes().Update(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("bind volume %s to claim %s: %w", pv.GetMetadata().GetName(), claimKey(pvc), err)
	}
	c.log.Info("bound volume to claim", "name", pv.GetMetadata().GetName(), "claim", claimKey(pvc))
	return updated, nil
}

func (c *Controller) bindClaimToVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	name := pv.GetMetadata().GetName()
	ann := pvc.GetMetadata().GetAnnotations()
	if pvc.GetSpec().GetVolumeName() == name && ann[volumeutil.AnnBindCompleted] != "" {
		return pvc, nil
	}
	cp := volumeutil.CloneClaim(pvc)
	if cp.GetSpec().GetVolumeName() != name {
		cp.Spec.VolumeName = name
		setAnnotation(&cp.Metadata.Annotations, volumeutil.AnnBoundByController)
	}
	setAnnotation(&cp.Metadata.Annotations, volumeutil.AnnBindCompleted)
	updated, err := c.client.PersistentVolumeClaims(cp.GetMetadata().GetNamespace()).Update(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("bind claim %s to volume %s: %w", claimKey(pvc), name, err)
	}
	c.log.Info("bound claim to volume", "namespace", pvc.GetMetadata().GetNamespace(), "name", pvc.GetMetadata().GetName(), "volume", name)
	return updated, nil
}

func setAnnotation(m *map[string]string, key string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[key] = volumeutil.AnnValueYes
}

// updateClaimStatus sets the claim's phase and, from a bound volume, its access modes and
// capacity.
func (c *Controller) updateClaimStatus(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase string, pv *corev1.PersistentVolume) error {
	st := pvc.GetStatus()
	dirty := st.GetPhase() != phase
	if pv != nil {
		dirty = dirty || !slices.Equal(st.GetAccessModes(), pv.GetSpec().GetAccessModes()) ||
			!maps.EqualFunc(st.GetCapacity(), pv.GetSpec().GetCapacity(), func(a, b *metav1.Quantity) bool { return proto.Equal(a, b) })
	}
	if !dirty {
		return nil
	}
	cp := volumeutil.CloneClaim(pvc)
	if cp.Status == nil {
		cp.Status = &corev1.PersistentVolumeClaimStatus{}
	}
	cp.Status.Phase = phase
	if pv != nil {
		cp.Status.AccessModes = slices.Clone(pv.GetSpec().GetAccessModes())
		cp.Status.Capacity = volumeutil.CloneVolume(pv).GetSpec().GetCapacity()
	}
	if _, err := c.client.PersistentVolumeClaims(cp.GetMetadata().GetNamespace()).UpdateStatus(ctx, cp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("claim %s phase %s: %w", claimKey(pvc), phase, err)
	}
	c.log.Info("claim phase changed", "namespace", pvc.GetMetadata().GetNamespace(), "name", pvc.GetMetadata().GetName(), "phase", phase)
	return nil
}

func (c *Controller) updateClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase string) error {
	return c.updateClaimStatus(ctx, pvc, phase, nil)
}

// updateVolumePhase sets pv's phase and message; the apiserver stamps the transition time.
func (c *Controller) updateVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase, message string) (*corev1.PersistentVolume, error) {
	if pv.GetStatus().GetPhase() == phase && pv.GetStatus().GetMessage() == message {
		return pv, nil
	}
	cp := volumeutil.CloneVolume(pv)
	if cp.Status == nil {
		cp.Status = &corev1.PersistentVolumeStatus{}
	}
	cp.Status.Phase, cp.Status.Message = phase, message
	updated, err := c.client.PersistentVolumes().UpdateStatus(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("volume %s phase %s: %w", pv.GetMetadata().GetName(), phase, err)
	}
	c.log.Info("volume phase changed", "name", pv.GetMetadata().GetName(), "phase", phase)
	return updated, nil
}

func claimKey(pvc *corev1.PersistentVolumeClaim) string {
	return pvc.GetMetadata().GetNamespace() + "/" + pvc.GetMetadata().GetName()
}

var errNoDeleter = errors.New("no deletable volume plugin matched")
