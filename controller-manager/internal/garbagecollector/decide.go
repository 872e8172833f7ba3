package garbagecollector

import (
	"slices"

	"google.golang.org/protobuf/proto"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// Finalizers the apiserver sets from a delete's propagation policy.
const (
	FinalizerOrphan           = "orphan"
	FinalizerDeleteDependents = "foregroundDeletion"
)

// Propagation policies.
const (
	PolicyOrphan     = "Orphan"
	PolicyBackground = "Background"
	PolicyForeground = "Foreground"
)

// ownerState is what a live lookup says about one owner of an item.
type ownerState int

const (
	// ownerSolid exists and is not deleting its dependents.
	ownerSolid ownerState = iota
	// ownerDangling is absent: not found, or found with another uid.
	ownerDangling
	// ownerWaiting exists and is being deleted in the foreground, waiting for its
	// dependents to go.
	ownerWaiting
)

type actionKind int

const (
	actionNone actionKind = iota
	// actionRemoveRefs removes the owner references with uids removeUIDs from the item.
	actionRemoveRefs
	// actionDelete deletes the item with propagation policy.
	actionDelete
)

// action is the decision about one item.
type action struct {
	kind       actionKind
	removeUIDs []string
	policy     string
	// unblockOwners makes the item's owner references non-blocking before it is deleted:
	// it breaks a ring of objects each waiting for the next to go.
	unblockOwners bool
}

// decide is upstream's attemptToDeleteItem decision, without I/O. owners are the item's
// owner references and states what a live lookup found for each; hasDependents says
// whether the item owns anything itself, dependentWaiting whether one of those dependents is
// itself waiting for its own dependents (in foreground deletion); finalizers are the item's
// own.
//
//   - An item with a solid owner stays; it only loses references to absent owners and to
//     owners waiting for it (so they need not wait for an object they do not delete).
//   - An item whose owners are all gone or waiting is deleted: in the foreground when an
//     owner waits for it and it has dependents of its own (so the owner waits for the
//     whole subtree), else by the policy its own finalizers ask for, background by default.
//   - Deleted in the foreground while a dependent waits too, the item may be in an ownership
//     cycle (A owns B owns A): its owner would wait for it, it for its dependent, and that
//     dependent for the owner. As upstream, the item first makes its references
//     non-blocking, so its owners no longer wait for it. Like upstream's check this has
//     false positives (a waiting dependent outside any cycle); they only let an owner go
//     before this item, never leave anything undeleted.
func decide(owners []*metav1.OwnerReference, states []ownerState, hasDependents, dependentWaiting bool, finalizers []string) action {
	var solid, waiting int
	var remove []string
	for i, ref := range owners {
		switch states[i] {
		case ownerSolid:
			solid++
		case ownerWaiting:
			waiting++
			remove = append(remove, ref.GetUid())
		case ownerDangling:
			remove = append(remove, ref.GetUid())
		}
	}
	switch {
	case len(owners) == 0:
		return action{kind: actionNone}
	case solid > 0:
		if len(remove) == 0 {
			return action{kind: actionNone}
		}
		return action{kind: actionRemoveRefs, removeUIDs: remove}
	case waiting > 0 && hasDependents:
		return action{kind: actionDelete, policy: PolicyForeground, unblockOwners: dependentWaiting && blocksAny(owners)}
	case slices.Contains(finalizers, FinalizerOrphan):
		return action{kind: actionDelete, policy: PolicyOrphan}
	case slices.Contains(finalizers, FinalizerDeleteDependents):
		return action{kind: actionDelete, policy: PolicyForeground}
	default:
		return action{kind: actionDelete, policy: PolicyBackground}
	}
}

// blocksOwner reports whether refs hold a reference to ownerUID with blockOwnerDeletion:
// such a dependent keeps a foreground-deleted owner until it is gone.
func blocksOwner(refs []*metav1.OwnerReference, ownerUID string) bool {
	for _, r := range refs {
		if r.GetUid() == ownerUID && r.GetBlockOwnerDeletion() {
			return true
		}
	}
	return false
}

// blocksAny reports whether any of refs blocks its owner's deletion.
func blocksAny(refs []*metav1.OwnerReference) bool {
	return slices.ContainsFunc(refs, (*metav1.OwnerReference).GetBlockOwnerDeletion)
}

// unblocked returns refs with blockOwnerDeletion cleared, and whether any was set.
func unblocked(refs []*metav1.OwnerReference) ([]*metav1.OwnerReference, bool) {
	out := make([]*metav1.OwnerReference, len(refs))
	changed := false
	for i, r := range refs {
		if r.GetBlockOwnerDeletion() {
			r = proto.CloneOf(r)
			r.BlockOwnerDeletion = proto.Bool(false)
			changed = true
		}
		out[i] = r
	}
	return out, changed
}

// withoutOwners returns refs minus those whose uid is in uids, and whether any was removed.
func withoutOwners(refs []*metav1.OwnerReference, uids []string) ([]*metav1.OwnerReference, bool) {
	out := make([]*metav1.OwnerReference, 0, len(refs))
	for _, r := range refs {
		if !slices.Contains(uids, r.GetUid()) {
			out = append(out, r)
		}
	}
	return out, len(out) != len(refs)
}

// ownersDiff compares an object's owner references before and after an update: the uids
// added and removed, and the uids of references that stopped blocking their owner.
func ownersDiff(old, cur []*metav1.OwnerReference) (added, removed []*metav1.OwnerReference, unblocked []string) {
	oldByUID := map[string]*metav1.OwnerReference{}
	for _, r := range old {
		oldByUID[r.GetUid()] = r
	}
	curByUID := map[string]*metav1.OwnerReference{}
	for _, r := range cur {
		curByUID[r.GetUid()] = r
		o, ok := oldByUID[r.GetUid()]
		if !ok {
			added = append(added, r)
		} else if o.GetBlockOwnerDeletion() && !r.GetBlockOwnerDeletion() {
			unblocked = append(unblocked, r.GetUid())
		}
	}
	for _, r := range old {
		if _, ok := curByUID[r.GetUid()]; !ok {
			removed = append(removed, r)
		}
	}
	return added, removed, unblocked
}
