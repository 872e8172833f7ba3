package corev1

import "fmt"

// EphemeralClaimName is the claim a pod's ephemeral volume stands for: <pod name>-<volume
// name>, in the pod's namespace (upstream's ephemeral.VolumeClaimName).
func EphemeralClaimName(pod *Pod, v *Volume) string {
	return pod.GetMetadata().GetName() + "-" + v.GetName()
}

// EphemeralClaimIsForPod returns an error unless pvc was created for pod, that is it sits
// in pod's namespace and pod (by uid) is its controller (upstream's
// ephemeral.VolumeIsForPod). A claim that only happens to have the expected name must not
// be used: it may hold someone else's data.
func EphemeralClaimIsForPod(pod *Pod, pvc *PersistentVolumeClaim) error {
	pm, cm := pod.GetMetadata(), pvc.GetMetadata()
	if cm.GetNamespace() == pm.GetNamespace() {
		for _, r := range cm.GetOwnerReferences() {
			if r.GetController() {
				if r.GetUid() == pm.GetUid() && pm.GetUid() != "" {
					return nil
				}
				break
			}
		}
	}
	return fmt.Errorf("PVC %s/%s was not created for pod %s/%s (pod is not owner)", cm.GetNamespace(), cm.GetName(), pm.GetNamespace(), pm.GetName())
}
