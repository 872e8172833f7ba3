package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/proto/runtime"
)

// etcdStore is the etcd half of a resource's storage: every call is one or more etcd
// requests. The cacher in front of it serves Watch and List at resourceVersion "0".
type etcdStore struct {
	client *clientv3.Client
	prefix string
	codec  codec
	log    *slog.Logger
}

func newEtcdStore(client *clientv3.Client, cfg ResourceConfig) *etcdStore {
	return &etcdStore{
		client: client,
		prefix: cfg.Prefix,
		codec:  codec{newFunc: cfg.NewFunc},
		log:    cfg.Logger.With("prefix", cfg.Prefix),
	}
}

func (s *etcdStore) checkKey(op, key string) error {
	if !strings.HasPrefix(key, s.prefix) || len(key) == len(s.prefix) {
		return fmt.Errorf("%s %s: %w: key is outside %s", op, key, ErrBadRequest, s.prefix)
	}
	return nil
}

// Create implements Interface.Create. A resourceVersion set on obj is ignored.
func (s *etcdStore) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	return s.create(ctx, key, obj, Claims{})
}

func (s *etcdStore) create(ctx context.Context, key string, obj runtime.Object, claims Claims) (runtime.Object, error) {
	if err := s.checkKey("create", key); err != nil {
		return nil, err
	}
	// No copy: obj is the caller's, and comes back as the created object.
	data, err := s.codec.marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, err)
	}
	cmps, ops, elses := claims.txn()
	resp, err := s.client.Txn(ctx).
		If(append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, cmps...)...).
		Then(append([]clientv3.Op{clientv3.OpPut(key, string(data))}, ops...)...).
		Else(append([]clientv3.Op{clientv3.OpGet(key, clientv3.WithCountOnly())}, elses...)...).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, mapEtcdErr(err))
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().GetCount() > 0 {
			return nil, fmt.Errorf("create %s: %w", key, ErrExists)
		}
		return nil, fmt.Errorf("create %s: %w", key, claims.taken(resp.Responses[1:]))
	}
	return setRV(obj, resp.Header.Revision), nil
}

// Get implements Interface.Get.
func (s *etcdStore) Get(ctx context.Context, key string) (runtime.Object, error) {
	if err := s.checkKey("get", key); err != nil {
		return nil, err
	}
	kv, err := s.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	obj, err := s.codec.decode(kv.Value, kv.ModRevision)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return obj, nil
}

func (s *etcdStore) get(ctx context.Context, key string) (*mvccpb.KeyValue, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, mapEtcdErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	return resp.Kvs[0], nil
}

// GuaranteedUpdate implements Interface.GuaranteedUpdate.
func (s *etcdStore) GuaranteedUpdate(ctx context.Context, key string, pre *Preconditions, tryUpdate UpdateFunc) (runtime.Object, error) {
	return s.guaranteedUpdate(ctx, key, pre, func(cur runtime.Object) (runtime.Object, Claims, error) {
		next, err := tryUpdate(cur)
		return next, Claims{}, err
	})
}

func (s *etcdStore) guaranteedUpdate(ctx context.Context, key string, pre *Preconditions, tryUpdate UpdateClaimsFunc) (runtime.Object, error) {
	if err := s.checkKey("update", key); err != nil {
		return nil, err
	}
	kv, err := s.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", key, err)
	}
	claimRaces := 0
	for attempt := 0; ; attempt++ {
		cur, err := s.codec.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		if err := checkPreconditions(pre, cur); err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		next, claims, err := tryUpdate(clone(cur))
		if err != nil {
			return nil, err
		}
		data, out, err := s.codec.encode(next)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		if bytes.Equal(data, kv.Value) && claims.empty() {
			return cur, nil
		}
		cmps, ops, elses := claims.txn()
		resp, err := s.client.Txn(ctx).
			If(append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)}, cmps...)...).
			Then(append([]clientv3.Op{clientv3.OpPut(key, string(data))}, ops...)...).
			Else(append([]clientv3.Op{clientv3.OpGet(key)}, elses...)...).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, mapEtcdErr(err))
		}
		if resp.Succeeded {
			return setRV(out, resp.Header.Revision), nil
		}
		newKV, err := elseKV(resp)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		if newKV.ModRevision == kv.ModRevision {
			// The object is as it was: a claim was taken meanwhile. tryUpdate chooses
			// again (a taken value the client asked for is its error to give).
			if claimRaces++; claimRaces > maxClaimRaces {
				return nil, fmt.Errorf("update %s: %w", key, claims.taken(resp.Responses[1:]))
			}
			continue
		}
		if pre != nil && pre.ResourceVersion != "" {
			return nil, fmt.Errorf("update %s: %w", key, ErrConflict)
		}
		kv = newKV
		s.log.Debug("update lost a race, retrying", "key", key, "attempt", attempt+1)
	}
}

// Delete implements Interface.Delete.
func (s *etcdStore) Delete(ctx context.Context, key string, pre *Preconditions) (runtime.Object, error) {
	return s.delete(ctx, key, pre, nil)
}

func (s *etcdStore) delete(ctx context.Context, key string, pre *Preconditions, claimsOf func(last runtime.Object) Claims) (runtime.Object, error) {
	if err := s.checkKey("delete", key); err != nil {
		return nil, err
	}
	kv, err := s.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("delete %s: %w", key, err)
	}
	for {
		cur, err := s.codec.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, err)
		}
		if err := checkPreconditions(pre, cur); err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, err)
		}
		var ops []clientv3.Op
		if claimsOf != nil {
			c := claimsOf(cur)
			c.Take = nil // a delete only gives up
			_, ops, _ = c.txn()
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(append([]clientv3.Op{clientv3.OpDelete(key)}, ops...)...).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, mapEtcdErr(err))
		}
		if resp.Succeeded {
			return setRV(cur, resp.Header.Revision), nil
		}
		if kv, err = elseKV(resp); err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, err)
		}
	}
}

// elseKV is the key read by the Else branch of a failed compare-and-swap.
func elseKV(resp *clientv3.TxnResponse) (*mvccpb.KeyValue, error) {
	if len(resp.Responses) == 0 {
		return nil, ErrNotFound
	}
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
		return r.Kvs[0], nil
	}
	return nil, ErrNotFound
}

func checkPreconditions(pre *Preconditions, cur runtime.Object) error {
	if pre == nil {
		return nil
	}
	m := cur.GetMetadata()
	if pre.UID != "" && pre.UID != m.GetUid() {
		return fmt.Errorf("%w: precondition failed: UID in precondition: %s, UID in object meta: %s",
			ErrConflict, pre.UID, m.GetUid())
	}
	if pre.ResourceVersion != "" && pre.ResourceVersion != m.GetResourceVersion() {
		return fmt.Errorf("%w: precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
			ErrConflict, pre.ResourceVersion, m.GetResourceVersion())
	}
	return nil
}

// mapEtcdErr turns etcd's compaction error into ErrGone; other errors pass unchanged.
func mapEtcdErr(err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("%w: %w", ErrGone, err)
	}
	return err
}
