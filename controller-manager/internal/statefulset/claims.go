package statefulset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// A StatefulSet's pod of ordinal i mounts, for each volumeClaimTemplate, the claim
// <template>-<set>-<i>. The controller makes those claims before the pod and never deletes
// them: with the retention policy (StatefulSetAutoDeletePVC, on in 1.32) it only gives them
// owner references, to the set (whenDeleted: Delete) or to a scaled-down pod (whenScaled:
// Delete), and the garbage collector deletes them with their owner. As upstream, a claim is
// looked up in the informer cache and nothing watches claims: a sync that finds one missing
// makes it, one that finds it out of step with the policy fixes it.

// podKind is the Pod's group/version/kind, as written in a claim's ownerReferences.
var podKind = runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}

func claimName(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template.GetMetadata().GetName(), set.GetMetadata().GetName(), ordinal)
}

// claimsFor is the claims the pod of ordinal mounts, in the order of set's templates: each a
// copy of its template named for the ordinal, in set's namespace, labelled with the
// template's labels and set's selector's matchLabels (upstream's getPersistentVolumeClaims).
func claimsFor(set *appsv1.StatefulSet, ordinal int) []*corev1.PersistentVolumeClaim {
	templates := set.GetSpec().GetVolumeClaimTemplates()
	out := make([]*corev1.PersistentVolumeClaim, 0, len(templates))
	for _, t := range templates {
		c := proto.Clone(t).(*corev1.PersistentVolumeClaim)
		if c.Metadata == nil {
			c.Metadata = &metav1.ObjectMeta{}
		}
		c.Metadata.Name = claimName(set, t, ordinal)
		c.Metadata.Namespace = set.GetMetadata().GetNamespace()
		if sel := set.GetSpec().GetSelector().GetMatchLabels(); len(sel) > 0 {
			if c.Metadata.Labels == nil {
				c.Metadata.Labels = map[string]string{}
			}
			maps.Copy(c.Metadata.Labels, sel)
		}
		c.Status = nil // the template's defaulted phase is the apiserver's to set
		out = append(out, c)
	}
	return out
}

// updateStorage gives pod (a new pod or a copy) a persistentVolumeClaim volume named after
// each template, pointing at its ordinal's claim, in place of any volume of that name the
// pod template has; the template's other volumes follow (upstream's updateStorage).
func updateStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	templates := set.GetSpec().GetVolumeClaimTemplates()
	if len(templates) == 0 {
		return
	}
	ordinal := ordinalOf(pod)
	names := map[string]bool{}
	var volumes []*corev1.Volume
	for _, t := range templates {
		name := t.GetMetadata().GetName()
		names[name] = true
		volumes = append(volumes, &corev1.Volume{Name: name,
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(set, t, ordinal)}})
	}
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	for _, v := range pod.Spec.Volumes {
		if !names[v.GetName()] {
			volumes = append(volumes, v)
		}
	}
	pod.Spec.Volumes = volumes
}

// storageMatches reports whether pod mounts its ordinal's claim of every template of set
// (upstream's storageMatches).
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ordinal := ordinalOf(pod)
	if ordinal < 0 {
		return false
	}
	volumes := map[string]*corev1.Volume{}
	for _, v := range pod.GetSpec().GetVolumes() {
		volumes[v.GetName()] = v
	}
	for _, t := range set.GetSpec().GetVolumeClaimTemplates() {
		v := volumes[t.GetMetadata().GetName()]
		if v.GetPersistentVolumeClaim().GetClaimName() != claimName(set, t, ordinal) {
			return false
		}
	}
	return true
}

// --- retention: the owner references the policy asks for ---

// retention is set's policy, Retain for anything unset or unknown (as upstream treats it).
func retention(set *appsv1.StatefulSet) (whenDeleted, whenScaled string) {
	p := set.GetSpec().GetPersistentVolumeClaimRetentionPolicy()
	norm := func(s string) string {
		if s == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			return s
		}
		return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	return norm(p.GetWhenDeleted()), norm(p.GetWhenScaled())
}

func deletes(policy string) bool {
	return policy == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

// matchesRef reports whether ref names owner (name, kind and apiVersion; not uid).
func matchesRef(ref *metav1.OwnerReference, owner runtime.Object, gvk runtime.GroupVersionKind) bool {
	return ref.GetName() == owner.GetMetadata().GetName() && ref.GetKind() == gvk.Kind && ref.GetApiVersion() == gvk.APIVersion()
}

// hasOwnerRef reports whether claim has a reference to owner's uid.
func hasOwnerRef(claim *corev1.PersistentVolumeClaim, owner runtime.Object) bool {
	uid := owner.GetMetadata().GetUid()
	return slices.ContainsFunc(claim.GetMetadata().GetOwnerReferences(), func(r *metav1.OwnerReference) bool { return r.GetUid() == uid })
}

// hasStaleOwnerRef reports whether claim refers to a namesake of owner with another uid: an
// owner since deleted (and perhaps made again), whose garbage collection is under way.
func hasStaleOwnerRef(claim *corev1.PersistentVolumeClaim, owner runtime.Object, gvk runtime.GroupVersionKind) bool {
	return slices.ContainsFunc(claim.GetMetadata().GetOwnerReferences(), func(r *metav1.OwnerReference) bool {
		return matchesRef(r, owner, gvk) && r.GetUid() != owner.GetMetadata().GetUid()
	})
}

// hasUnexpectedController reports, for a policy that deletes, whether claim has a controller
// other than set and pod, or a reference to a namesake of either with another uid. Such a
// claim is left to whoever controls it.
func hasUnexpectedController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	whenDeleted, whenScaled := retention(set)
	if !deletes(whenDeleted) && !deletes(whenScaled) {
		return false // with Retain, another controller is no concern of ours
	}
	for _, r := range claim.GetMetadata().GetOwnerReferences() {
		switch {
		case matchesRef(r, set, Kind):
			if r.GetUid() != set.GetMetadata().GetUid() {
				return true
			}
		case matchesRef(r, pod, podKind):
			if r.GetUid() != pod.GetMetadata().GetUid() {
				return true
			}
		case r.GetController():
			return true
		}
	}
	return false
}

// hasNonControllerOwner reports whether set or pod owns claim without being its controller
// (refs written by an older controller), which needs fixing.
func hasNonControllerOwner(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	return slices.ContainsFunc(claim.GetMetadata().GetOwnerReferences(), func(r *metav1.OwnerReference) bool {
		return (r.GetUid() == set.GetMetadata().GetUid() || r.GetUid() == pod.GetMetadata().GetUid()) && !r.GetController()
	})
}

// wantOwners is which of set and pod should own pod's claim under set's policy: the set
// while the pod is in range and whenDeleted is Delete; the pod once it is scaled down and
// whenScaled is Delete.
func wantOwners(set *appsv1.StatefulSet, pod *corev1.Pod) (bySet, byPod bool) {
	whenDeleted, whenScaled := retention(set)
	scaledDown := !inOrdinalRange(pod, set)
	switch {
	case deletes(whenScaled) && deletes(whenDeleted):
		return !scaledDown, scaledDown
	case deletes(whenScaled):
		return false, scaledDown
	case deletes(whenDeleted):
		return true, false
	}
	return false, false
}

// isClaimOwnerUpToDate reports whether claim's owner references are what set's policy asks
// for pod's claim (upstream's isClaimOwnerUpToDate). A claim with a stale reference to set or
// pod, or with another controller and no reference to either, counts as up to date: it is
// not ours to touch.
func isClaimOwnerUpToDate(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if hasStaleOwnerRef(claim, set, Kind) || hasStaleOwnerRef(claim, pod, podKind) {
		return true
	}
	if hasUnexpectedController(claim, set, pod) {
		return !hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod)
	}
	if hasNonControllerOwner(claim, set, pod) {
		return false
	}
	bySet, byPod := wantOwners(set, pod)
	return hasOwnerRef(claim, set) == bySet && hasOwnerRef(claim, pod) == byPod
}

// updateClaimOwnerRefs rewrites claim's (a copy's) references to set and pod to what set's
// policy asks, as controller references; with an unexpected controller it only drops ours
// (upstream's updateClaimOwnerRefForSetAndPod). References to anyone else are kept.
func updateClaimOwnerRefs(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) {
	unexpected := hasUnexpectedController(claim, set, pod)
	refs := slices.DeleteFunc(slices.Clone(claim.GetMetadata().GetOwnerReferences()), func(r *metav1.OwnerReference) bool {
		return matchesRef(r, set, Kind) || matchesRef(r, pod, podKind)
	})
	if !unexpected {
		bySet, byPod := wantOwners(set, pod)
		if bySet {
			refs = append(refs, controller.NewControllerRef(set, Kind))
		}
		if byPod {
			refs = append(refs, controller.NewControllerRef(pod, podKind))
		}
	}
	if claim.Metadata == nil {
		claim.Metadata = &metav1.ObjectMeta{}
	}
	claim.Metadata.OwnerReferences = refs
}

// --- claim writes, with upstream's events ---

// createClaims makes pod's missing claims (upstream's createPersistentVolumeClaims), already
// owned as set's policy asks. A claim that exists but is being deleted is an error: the pod
// must not start on a volume about to go, and a later sync makes the claim anew once it is
// gone.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	ns := set.GetMetadata().GetNamespace()
	for _, claim := range claimsFor(set, ordinalOf(pod)) {
		name := claim.GetMetadata().GetName()
		existing, err := c.pvcLister.Namespace(ns).Get(name)
		switch {
		case apierrors.IsNotFound(err):
			updateClaimOwnerRefs(claim, set, pod)
			_, err := c.client.PersistentVolumeClaims(ns).Create(ctx, claim)
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", name, err))
			}
			// AlreadyExists is a stale cache: the claim is there, and the next sync sees it.
			if !apierrors.IsAlreadyExists(err) {
				c.claimEvent(set, pod, claim, err)
			}
			if err == nil {
				c.log.Info("created claim", "namespace", ns, "statefulset", set.GetMetadata().GetName(), "claim", name)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("failed to retrieve PVC %s: %w", name, err))
			c.claimEvent(set, pod, claim, err)
		case existing.GetMetadata().GetDeletionTimestamp() != nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", name))
		}
	}
	return errors.Join(errs...)
}

// claimIsStale reports whether a claim of pod (a placeholder about to be created) still has
// a reference to an earlier pod of its name: with whenScaled Delete, that claim is waiting
// for the garbage collector, and the pod must wait for it to go rather than mount it
// (upstream's PodClaimIsStale).
func (c *Controller) claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	if _, whenScaled := retention(set); !deletes(whenScaled) {
		return false, nil // claims are meant to be reused
	}
	for _, claim := range claimsFor(set, ordinalOf(pod)) {
		existing, err := c.pvcLister.Namespace(claim.GetMetadata().GetNamespace()).Get(claim.GetMetadata().GetName())
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return false, err
		case hasStaleOwnerRef(existing, pod, podKind):
			return true, nil
		}
	}
	return false, nil
}

// claimsMatchRetention reports whether every existing claim of pod is owned as set's policy
// asks; a missing claim is made by a later sync and counts as matching.
func (c *Controller) claimsMatchRetention(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	for _, claim := range claimsFor(set, ordinalOf(pod)) {
		existing, err := c.pvcLister.Namespace(claim.GetMetadata().GetNamespace()).Get(claim.GetMetadata().GetName())
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return false, fmt.Errorf("could not retrieve claim %s for %s when checking PVC deletion policy: %w", claim.GetMetadata().GetName(), pod.GetMetadata().GetName(), err)
		case !isClaimOwnerUpToDate(existing, set, pod):
			return false, nil
		}
	}
	return true, nil
}

// updateClaimsForRetention gives pod's existing claims the owner references set's policy
// asks for (upstream's UpdatePodClaimForRetentionPolicy), warning of a claim another
// controller manages.
func (c *Controller) updateClaimsForRetention(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	ns := set.GetMetadata().GetNamespace()
	for _, claim := range claimsFor(set, ordinalOf(pod)) {
		name := claim.GetMetadata().GetName()
		existing, err := c.pvcLister.Namespace(ns).Get(name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("could not retrieve claim %s not found for %s when checking PVC deletion policy: %w", name, pod.GetMetadata().GetName(), err)
		}
		if hasUnexpectedController(existing, set, pod) {
			c.recorder.Eventf(set, "Warning", "ConflictingController",
				"PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim", name)
		}
		if isClaimOwnerUpToDate(existing, set, pod) {
			continue
		}
		next := proto.Clone(existing).(*corev1.PersistentVolumeClaim)
		updateClaimOwnerRefs(next, set, pod)
		if _, err := c.client.PersistentVolumeClaims(ns).Update(ctx, next); err != nil {
			return fmt.Errorf("could not update claim %s for delete policy ownerRefs: %w", name, err)
		}
		c.log.Info("updated claim owners for the retention policy", "namespace", ns, "statefulset", set.GetMetadata().GetName(),
			"claim", name, "owners", len(next.GetMetadata().GetOwnerReferences()))
	}
	return nil
}

// claimEvent records upstream's events for a claim made for pod: "create Claim data-web-0
// Pod web-0 in StatefulSet web success", or "create Claim … for Pod … failed error: …".
func (c *Controller) claimEvent(set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		c.recorder.Eventf(set, "Normal", SuccessfulCreate, "create Claim %s Pod %s in StatefulSet %s success",
			claim.GetMetadata().GetName(), pod.GetMetadata().GetName(), set.GetMetadata().GetName())
		return
	}
	c.recorder.Eventf(set, "Warning", FailedCreate, "create Claim %s for Pod %s in StatefulSet %s failed error: %s",
		claim.GetMetadata().GetName(), pod.GetMetadata().GetName(), set.GetMetadata().GetName(), err)
}
