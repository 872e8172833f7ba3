package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"kubelab.io/client/kube"
	corev1 "kubelab.io/proto/api/core/v1"
)

// Claims. A persistentVolumeClaim volume is the PersistentVolume its claim is bound to,
// mounted as that PV's source says: a hostPath PV is its path (checked or created as its
// type says, as a hostPath volume), a local PV its path, which must exist. The container
// runtime bind-mounts the path, as it does for a hostPath volume. A claim that is missing
// or not Bound, or a PV missing or bound to another claim, is an error the kubelet retries
// (the pod waits, ContainerCreating, with a FailedMount event), worded as Kubernetes'
// kubelet words it when its volume manager cannot process the pod's claim.
//
// An ephemeral volume is the claim <pod>-<volume> the ephemeral-volume controller made for
// the pod, mounted the same way once the kubelet has checked the pod controls it: a claim
// that merely has that name may be someone else's data.

// claimPlugin is where the kubelet records, per claim volume of a pod, the host path it
// resolved to when the pod first mounted it:
//
//	<root>/pods/<uid>/volumes/kubernetes.io~pvc/<volume>   (a small JSON file)
//
// Later set-ups of the same pod (a crashed container restarted, the kubelet restarted) use
// the record instead of the apiserver, as Kubernetes' kubelet keeps a mounted volume
// mounted: a running pod's volume must not depend on the apiserver answering, or on its
// claim not being deleted meanwhile (its finalizer holds it while the pod runs). The
// record goes with the pod's directory.
const claimPlugin = "kubernetes.io~pvc"

// claimRecord is what a pod's claim volume resolved to.
type claimRecord struct {
	PV   string `json:"pv"`
	Path string `json:"path"`
}

// recordedClaim returns the host volume recorded for pod uid's claim volume v, if any.
func recordedClaim(root, uid string, v *corev1.Volume) (hostVolume, bool) {
	b, err := os.ReadFile(volumePath(root, uid, claimPlugin, v.GetName()))
	if err != nil {
		return hostVolume{}, false
	}
	var r claimRecord
	if json.Unmarshal(b, &r) != nil || r.Path == "" {
		return hostVolume{}, false
	}
	return hostVolume{Path: r.Path, ReadOnly: v.GetPersistentVolumeClaim().GetReadOnly()}, true
}

// recordClaim writes the record of pod uid's claim volume v (atomically: a kubelet killed
// mid-write leaves no half record).
func recordClaim(root, uid string, v *corev1.Volume, pv string, hv hostVolume) error {
	path := volumePath(root, uid, claimPlugin, v.GetName())
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	b, err := json.Marshal(claimRecord{PV: pv, Path: hv.Path})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// claimGetter reads a pod's claims and their PVs when its volumes are set up. The
// kubelet's gets them from the apiserver (the Node authorizer lets it get the claims of
// its pods and their PVs); a set-up is rare enough that a get per mount is cheap. A
// missing object is an apierrors NotFound error.
type claimGetter interface {
	PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// clientClaims is the claimGetter of a clientset.
type clientClaims struct{ c *kube.Clientset }

func (g clientClaims) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return g.c.PersistentVolumeClaims(ns).Get(ctx, name)
}

func (g clientClaims) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return g.c.PersistentVolumes().Get(ctx, name)
}

// volumeClaim is the claim volume v of pod stands for, and whether it is an ephemeral
// volume's (which the pod must control).
func volumeClaim(pod *corev1.Pod, v *corev1.Volume) (name string, ephemeral bool) {
	if v.GetEphemeral() != nil {
		return corev1.EphemeralClaimName(pod, v), true
	}
	return v.GetPersistentVolumeClaim().GetClaimName(), false
}

// claimPV is the PV bound to pod's claim of volume v, or the error Kubernetes' volume
// manager gives for the claim ("error processing PVC ns/name: ...", or for an ephemeral
// volume's claim not made for the pod "PVC ns/name was not created for pod ...").
func claimPV(ctx context.Context, g claimGetter, pod *corev1.Pod, v *corev1.Volume) (*corev1.PersistentVolume, error) {
	ns := pod.GetMetadata().GetNamespace()
	name, ephemeral := volumeClaim(pod, v)
	wrap := func(err error) error { return fmt.Errorf("error processing PVC %s/%s: %w", ns, name, err) }
	if g == nil {
		return nil, wrap(errors.New("failed to fetch PVC from API server: no client"))
	}
	pvc, err := g.PersistentVolumeClaim(ctx, ns, name)
	if err != nil {
		return nil, wrap(fmt.Errorf("failed to fetch PVC from API server: %w", err))
	}
	if pvc.GetMetadata().GetDeletionTimestamp() != nil {
		// As Kubernetes: a claim being deleted is not mounted by a pod starting now (pods
		// already running keep it, the StorageObjectInUseProtection finalizer holds it).
		return nil, wrap(errors.New("can't start pod because PVC is being deleted"))
	}
	pvName := pvc.GetSpec().GetVolumeName()
	if pvc.GetStatus().GetPhase() != "Bound" || pvName == "" {
		return nil, wrap(errors.New("PVC is not bound"))
	}
	if ephemeral {
		if err := corev1.EphemeralClaimIsForPod(pod, pvc); err != nil {
			return nil, err
		}
	}
	pv, err := g.PersistentVolume(ctx, pvName)
	if err != nil {
		return nil, wrap(fmt.Errorf("failed to fetch PV %s from API server: %w", pvName, err))
	}
	// The uid too, as Kubernetes' kubelet checks it: a claimRef by name alone is a PV
	// pre-bound the binder has not bound yet, and a claim recreated under the same name is
	// not the one the PV holds.
	if ref := pv.GetSpec().GetClaimRef(); ref.GetName() != name || ref.GetNamespace() != ns || ref.GetUid() != pvc.GetMetadata().GetUid() {
		return nil, wrap(fmt.Errorf("PV %s is not bound to this PVC (claimRef %s/%s)", pvName, ref.GetNamespace(), ref.GetName()))
	}
	return pv, nil
}

// claimVolume resolves pod's claim volume v to the host path its PV names: from the
// record of an earlier set-up of the pod when there is one, else from the apiserver, and
// then records it.
func claimVolume(ctx context.Context, g claimGetter, root string, pod *corev1.Pod, v *corev1.Volume) (hostVolume, error) {
	uid := pod.GetMetadata().GetUid()
	if hv, ok := recordedClaim(root, uid, v); ok {
		return hv, nil
	}
	hv, pv, err := resolveClaim(ctx, g, pod, v)
	if err != nil {
		return hv, err
	}
	if err := recordClaim(root, uid, v, pv, hv); err != nil {
		return hv, fmt.Errorf("MountVolume.SetUp failed for volume %q : record the claim's volume: %w", pv, err)
	}
	return hv, nil
}

// resolveClaim resolves pod's claim volume v to the host path its PV names, and that PV's
// name.
func resolveClaim(ctx context.Context, g claimGetter, pod *corev1.Pod, v *corev1.Volume) (hostVolume, string, error) {
	hv := hostVolume{ReadOnly: v.GetPersistentVolumeClaim().GetReadOnly()}
	pv, err := claimPV(ctx, g, pod, v)
	if err != nil {
		// Kubernetes' kubelet words it so in its FailedMount event (its volume manager
		// never got as far as mounting).
		return hv, "", fmt.Errorf("Unable to attach or mount volumes: unmounted volumes=[%s], unattached volumes=[], failed to process volumes=[%s]: %w", v.GetName(), v.GetName(), err)
	}
	spec := pv.GetSpec()
	switch {
	case spec.GetHostPath() != nil:
		hv.Path = spec.GetHostPath().GetPath()
		err = checkHostPath(hv.Path, spec.GetHostPath().GetType())
	case spec.GetLocal() != nil:
		hv.Path = spec.GetLocal().GetPath()
		if _, statErr := os.Stat(hv.Path); statErr != nil {
			err = fmt.Errorf("path %q does not exist", hv.Path)
		}
	default:
		// Retried, as Kubernetes' kubelet finds no plugin for it: nothing in the pod can
		// change it, but the claim may be bound again.
		err = errors.New("no volume plugin matched: this kubelet mounts hostPath and local PersistentVolumes")
	}
	if err != nil {
		// Kubernetes names the volume by its PV here.
		return hv, "", fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", pv.GetMetadata().GetName(), err)
	}
	return hv, pv.GetMetadata().GetName(), nil
}
