package binder

import (
	"cmp"

	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
)

// FindBestMatch picks the volume an unbound claim binds to, as upstream's
// findBestMatchForClaim, or nil:
//   - a volume pre-bound to the claim (claimRef names it: set by the user, the scheduler or
//     a provisioner) wins;
//   - else, unless binding is delayed for the scheduler, an Available volume with no
//     claimRef, of the claim's class, volumeMode and selector, offering the claim's access
//     modes: of those offering the fewest modes, the smallest that holds the request.
func FindBestMatch(pvc *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, delayBinding bool) *corev1.PersistentVolume {
	var candidates []*corev1.PersistentVolume
	for _, pv := range volumes {
		if pv.GetMetadata().GetDeletionTimestamp() != nil || volumeutil.VolumeModeMismatch(pvc, pv) || !volumeutil.HasAccessModes(pvc, pv) {
			continue
		}
		if volumeutil.IsVolumeBoundToClaim(pv, pvc) {
			return pv
		}
		candidates = append(candidates, pv)
	}
	if delayBinding {
		return nil
	}
	want, ok := volumeutil.RequestedStorage(pvc)
	if !ok {
		return nil
	}
	var selector labels.Selector
	if s := pvc.GetSpec().GetSelector(); s != nil {
		var err error
		if selector, err = labels.FromLabelSelector(s); err != nil {
			return nil
		}
	}
	class := corev1.ClaimStorageClass(pvc)
	var best *corev1.PersistentVolume
	for _, pv := range candidates {
		have, ok := volumeutil.VolumeStorage(pv)
		switch {
		case pv.GetSpec().GetClaimRef() != nil, pv.GetStatus().GetPhase() != corev1.VolumeAvailable,
			selector != nil && !selector.Matches(pv.GetMetadata().GetLabels()),
			corev1.VolumeStorageClass(pv) != class, !ok, have.Cmp(want) < 0:
			continue
		}
		if best == nil || better(pv, best) {
			best = pv
		}
	}
	return best
}

// better orders fitting volumes: fewer access modes (upstream's index tries the smallest
// mode sets first), then less capacity, then name, so the choice never depends on the
// cache's order.
func better(a, b *corev1.PersistentVolume) bool {
	if n, m := len(a.GetSpec().GetAccessModes()), len(b.GetSpec().GetAccessModes()); n != m {
		return n < m
	}
	qa, _ := volumeutil.VolumeStorage(a)
	qb, _ := volumeutil.VolumeStorage(b)
	if c := qa.Cmp(qb); c != 0 {
		return c < 0
	}
	return cmp.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName()) < 0
}
