package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/proto/runtime"
)

// Claims are keys outside an object's own that a write takes or gives up in the same etcd
// transaction as the object: a Service's cluster IP and node ports, each a key of its own
// (/registry/ranges/serviceips/10.96.0.10) whose value names the owner. Because the object
// and its claims change together or not at all, a claim is held exactly as long as a stored
// object says it is: two writes can never take one key (the second transaction's "key
// absent" compare fails), and no crash, at any instant, can leave a claim without its
// object or an object without its claims.
type Claims struct {
	// Owner is the value written to each taken key; a release deletes a key only while it
	// still holds Owner, so a write can never free what another object holds.
	Owner string
	// Take lists keys that must not exist; the write fails with a *ClaimTakenError (and
	// writes nothing) when one does.
	Take []string
	// Release lists keys deleted with the write.
	Release []string
}

// ErrClaimTaken: a key a write meant to take is held by someone else.
var ErrClaimTaken = errors.New("claim is taken")

// ClaimTakenError names the taken key; errors.Is(err, ErrClaimTaken) holds.
type ClaimTakenError struct{ Key string }

func (e *ClaimTakenError) Error() string        { return e.Key + ": " + ErrClaimTaken.Error() }
func (e *ClaimTakenError) Is(target error) bool { return target == ErrClaimTaken }

// UpdateClaimsFunc is an UpdateFunc that also says which claims the next state takes and
// releases. It is called again when a claim it took was taken meanwhile.
type UpdateClaimsFunc func(current runtime.Object) (runtime.Object, Claims, error)

// maxClaimRaces bounds how often an update chooses again after losing a claim to a
// concurrent writer.
const maxClaimRaces = 16

// Claimer writes objects together with their claims. Storages from NewResource implement
// it; the registry type-asserts a storage.Interface to it for kinds that hold claims.
type Claimer interface {
	// CreateWithClaims is Create that also takes claims.Take; ErrExists wins over a taken
	// claim when both fail.
	CreateWithClaims(ctx context.Context, key string, obj runtime.Object, claims Claims) (runtime.Object, error)
	// GuaranteedUpdateWithClaims is GuaranteedUpdate whose tryUpdate also names claims to
	// take and release; when only a claim was lost it runs tryUpdate again (a bounded number
	// of times, then a *ClaimTakenError).
	GuaranteedUpdateWithClaims(ctx context.Context, key string, pre *Preconditions, tryUpdate UpdateClaimsFunc) (runtime.Object, error)
	// DeleteWithClaims is Delete that also releases claimsOf(the deleted state).Release.
	DeleteWithClaims(ctx context.Context, key string, pre *Preconditions, claimsOf func(last runtime.Object) Claims) (runtime.Object, error)
	// Claimed returns every key under prefix with its value (its owner), at one revision.
	Claimed(ctx context.Context, prefix string) (map[string]string, error)
}

var _ Claimer = (*resource)(nil)

func (c Claims) empty() bool { return len(c.Take) == 0 && len(c.Release) == 0 }

// txn returns what the claims add to a write's transaction: compares (each taken key is
// absent), operations (put each taken key; delete each released key still held by Owner,
// in a nested transaction so a key held by another owner fails nothing), and the reads of
// the Else branch that tell which taken key was not free.
func (c Claims) txn() (cmps []clientv3.Cmp, ops, elses []clientv3.Op) {
	for _, k := range c.Take {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		ops = append(ops, clientv3.OpPut(k, c.Owner))
		elses = append(elses, clientv3.OpGet(k, clientv3.WithCountOnly()))
	}
	for _, k := range c.Release {
		if slices.Contains(c.Take, k) {
			continue
		}
		ops = append(ops, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value(k), "=", c.Owner)},
			[]clientv3.Op{clientv3.OpDelete(k)}, nil))
	}
	return cmps, ops, elses
}

// taken names the first taken key from the Else reads txn asked for.
func (c Claims) taken(resps []*etcdserverpb.ResponseOp) error {
	for i, r := range resps {
		if i < len(c.Take) && r.GetResponseRange().GetCount() > 0 {
			return &ClaimTakenError{Key: c.Take[i]}
		}
	}
	return ErrClaimTaken
}

// CreateWithClaims implements Claimer.
func (r *resource) CreateWithClaims(ctx context.Context, key string, obj runtime.Object, claims Claims) (runtime.Object, error) {
	out, err := r.create(ctx, key, obj, claims)
	if err == nil {
		r.noteWrite(out)
		r.cache.adoptCreated(key, out)
	}
	return out, err
}

// GuaranteedUpdateWithClaims implements Claimer.
func (r *resource) GuaranteedUpdateWithClaims(ctx context.Context, key string, pre *Preconditions, tryUpdate UpdateClaimsFunc) (runtime.Object, error) {
	out, err := r.guaranteedUpdate(ctx, key, pre, tryUpdate)
	if err == nil {
		r.noteWrite(out)
	}
	return out, err
}

// DeleteWithClaims implements Claimer.
func (r *resource) DeleteWithClaims(ctx context.Context, key string, pre *Preconditions, claimsOf func(last runtime.Object) Claims) (runtime.Object, error) {
	out, err := r.delete(ctx, key, pre, claimsOf)
	if err == nil {
		r.noteWrite(out)
	}
	return out, err
}

// Claimed implements Claimer.
func (r *resource) Claimed(ctx context.Context, prefix string) (map[string]string, error) {
	resp, err := r.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read claims %s: %w", prefix, mapEtcdErr(err))
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out, nil
}
