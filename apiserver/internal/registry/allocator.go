package registry

import (
	"context"
	"slices"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/proto/runtime"
)

// Allocator hands out values from pools objects of a kind share (a Service's cluster IP
// and node ports). It only chooses: what an object holds is a set of storage claims, taken
// and released in the same etcd transaction as the object's own write (storage.Claims), so
// a value is never held twice nor held by nothing. The Store calls Allocate again when a
// value it chose was claimed by a concurrent write before its own landed.
type Allocator interface {
	// Allocate fills in what obj needs from the pools, given old (nil on create): values
	// the client asked for are checked (a StatusError when they are taken or out of range),
	// values it left out are chosen among those nobody claims. Nothing is reserved.
	Allocate(ctx context.Context, obj, old runtime.Object) error
	// Claims are the claim keys obj holds, all with one owner value.
	Claims(obj runtime.Object) storage.Claims
}

// claimsDiff is what a write from cur (nil on create) to next (nil on delete) takes and
// releases.
func claimsDiff(a Allocator, next, cur runtime.Object) storage.Claims {
	var want, held storage.Claims
	if next != nil {
		want = a.Claims(next)
	}
	if cur != nil {
		held = a.Claims(cur)
	}
	out := storage.Claims{Owner: want.Owner}
	if out.Owner == "" {
		out.Owner = held.Owner
	}
	for _, k := range want.Take {
		if !slices.Contains(held.Take, k) {
			out.Take = append(out.Take, k)
		}
	}
	for _, k := range held.Take {
		if !slices.Contains(want.Take, k) {
			out.Release = append(out.Release, k)
		}
	}
	return out
}
