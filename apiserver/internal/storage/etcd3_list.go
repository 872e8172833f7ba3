package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/proto/runtime"
)

// maxListBatch caps how many keys one etcd range reads while a filtered List looks for
// enough matches (Kubernetes' storage uses the same cap).
const maxListBatch = 10000

// continueToken is the decoded form of ListResult.Continue, as Kubernetes writes it: the
// revision the list is pinned to and the next key, relative to the list's prefix.
type continueToken struct {
	APIVersion string `json:"v"`
	RV         int64  `json:"rv"`
	Start      string `json:"start"`
}

const continueTokenVersion = "meta.k8s.io/v1"

func encodeContinue(prefix, nextKey string, rev int64) (string, error) {
	b, err := json.Marshal(continueToken{APIVersion: continueTokenVersion, RV: rev, Start: strings.TrimPrefix(nextKey, prefix)})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeContinue returns the key to resume at and the revision to read at.
func decodeContinue(prefix, token string) (string, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("%w: continue token is not valid base64: %v", ErrBadRequest, err)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return "", 0, fmt.Errorf("%w: continue token is not valid JSON: %v", ErrBadRequest, err)
	}
	if t.APIVersion != continueTokenVersion || t.RV <= 0 || t.Start == "" {
		return "", 0, fmt.Errorf("%w: continue token is not valid", ErrBadRequest)
	}
	return prefix + t.Start, t.RV, nil
}

// List implements Interface.List on etcd. ResourceVersion "" and "0" read the latest
// revision; a continue token reads at the revision of the first page.
func (s *etcdStore) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	if !strings.HasPrefix(prefix, s.prefix) || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("list %s: %w: prefix must end in \"/\" and be inside %s", prefix, ErrBadRequest, s.prefix)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("list %s: %w: negative limit %d", prefix, ErrBadRequest, opts.Limit)
	}
	start, rev, err := s.listStart(prefix, opts)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	res := &ListResult{Items: []runtime.Object{}}
	batch := opts.Limit
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(batch)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, start, ops...)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, listErr(err, opts.Continue != "", rev))
		}
		if rev == 0 {
			rev = resp.Header.Revision // later batches and pages read the same revision
		}
		for i, kv := range resp.Kvs {
			obj, err := s.codec.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, fmt.Errorf("list %s: %s: %w", prefix, kv.Key, err)
			}
			if opts.Predicate != nil && !opts.Predicate(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				if i == len(resp.Kvs)-1 && !resp.More {
					break // the last key: nothing remains
				}
				if res.Continue, err = encodeContinue(prefix, string(kv.Key)+"\x00", rev); err != nil {
					return nil, fmt.Errorf("list %s: %w", prefix, err)
				}
				if opts.Predicate == nil {
					remaining := resp.Count - int64(i+1)
					res.RemainingItemCount = &remaining
				}
				break
			}
		}
		if res.Continue != "" || !resp.More || len(resp.Kvs) == 0 {
			break
		}
		// Too few matches in this batch: read on, in growing batches.
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		batch = min(2*batch, maxListBatch)
	}
	res.ResourceVersion = fmt.Sprint(rev)
	return res, nil
}

// listStart is the first key and the revision (0: latest) a List reads.
func (s *etcdStore) listStart(prefix string, opts ListOptions) (string, int64, error) {
	if opts.Continue == "" {
		rev, err := parseRV(opts.ResourceVersion)
		return prefix, rev, err
	}
	if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return "", 0, fmt.Errorf("%w: specifying resource version is not allowed when using continue", ErrBadRequest)
	}
	return decodeContinue(prefix, opts.Continue)
}

// listErr explains a failed range read at rev.
func listErr(err error, continuing bool, rev int64) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted) && continuing:
		return fmt.Errorf("%w: the continue token's revision %d has been compacted; "+
			"the list cannot be continued consistently, start a new list without continue: %w", ErrGone, rev, err)
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: revision %d has been compacted: %w", ErrGone, rev, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: too large resource version %d: %w", ErrBadRequest, rev, err)
	}
	return err
}
