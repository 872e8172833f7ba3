// Package storage keeps API objects in etcd: protobuf values under /registry/…, the etcd
// revision as resourceVersion, transactions for create and compare-and-swap updates, and one
// etcd watch per resource fanned out to every client through a watch cache.
//
// It knows nothing of kinds, validation or HTTP: the registry above it decides what to write,
// and errors leave here as the classes below (IsNotFound, IsConflict, …) for the registry to
// turn into Status objects.
package storage

import (
	"context"
	"errors"

	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// Errors are classes: compare with errors.Is, never by string. Wrapped errors carry the key.
var (
	ErrNotFound = errors.New("key not found")
	ErrExists   = errors.New("key already exists")
	// ErrConflict: the object changed since the resourceVersion (or uid) the caller named.
	ErrConflict = errors.New("the object has been modified; please apply your changes to the latest version and try again")
	// ErrGone: the resourceVersion asked for is older than what etcd or the watch cache keeps.
	ErrGone = errors.New("too old resource version")
	// ErrBadRequest: the request itself is malformed (a resourceVersion that is not a
	// number, an invalid continue token, a continue token together with a resourceVersion).
	ErrBadRequest = errors.New("bad request")
)

// Predicate selects objects for List and Watch (label and field selectors). A nil Predicate
// matches everything.
type Predicate func(obj runtime.Object) bool

// Preconditions must hold on the stored object for an update or delete to proceed.
type Preconditions struct {
	UID             string
	ResourceVersion string
}

// ListOptions for List.
type ListOptions struct {
	// ResourceVersion "" reads the latest from etcd (a quorum read); "0" may be served from
	// the watch cache; any other value reads at exactly that revision (ErrGone if compacted).
	ResourceVersion string
	// Limit and Continue page through results in key order. Continue is the opaque token a
	// previous page returned; it pins the read to that page's revision.
	Limit     int64
	Continue  string
	Predicate Predicate
}

// ListResult is one page of a List.
type ListResult struct {
	Items []runtime.Object
	// ResourceVersion is the revision the page was read at.
	ResourceVersion string
	// Continue is set when more items remain; RemainingItemCount then estimates how many.
	Continue           string
	RemainingItemCount *int64
}

// UpdateFunc computes the next state from the current one (a private copy the func may
// mutate and return). Returning an error aborts the update with that error.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// Interface is the storage of one resource (one key prefix, one kind).
//
// Keys are full etcd keys ("/registry/pods/default/nginx"). Objects passed in are never
// retained, but by Create; objects returned are fresh copies the caller owns, but for
// Create's, which is the object it was given and now read-only. Every returned object has
// metadata.resourceVersion set to the etcd mod revision it was read or written at; stored
// values never contain a resourceVersion.
type Interface interface {
	// Create stores obj at key if nothing is there, else ErrExists. Create takes obj over
	// rather than copying it (a create's object is the request's own, and copying it was a
	// measurable share of a create's CPU): on success it sets obj's resourceVersion and
	// returns obj itself, which the watch cache may keep as the stored state, so from then
	// on obj is read-only for everyone; the caller must not use obj concurrently while
	// Create runs. On failure obj is as it was.
	Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error)
	// Get reads key, else ErrNotFound.
	Get(ctx context.Context, key string) (runtime.Object, error)
	// List reads every object under prefix (a key ending in "/").
	List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error)
	// GuaranteedUpdate reads key, checks preconditions, applies tryUpdate and writes the
	// result with a compare-and-swap on the mod revision, retrying tryUpdate on a lost race
	// (never when preconditions name a resourceVersion: that is ErrConflict). When tryUpdate
	// returns an object equal to the current one, nothing is written.
	GuaranteedUpdate(ctx context.Context, key string, pre *Preconditions, tryUpdate UpdateFunc) (runtime.Object, error)
	// Delete removes key if preconditions hold and returns the last state, with the
	// resourceVersion of the deletion.
	Delete(ctx context.Context, key string, pre *Preconditions) (runtime.Object, error)
	// Watch streams changes under prefix (or exactly key, when it does not end in "/")
	// after resourceVersion. "" or "0" first sends the current objects as ADDED events.
	// A too-old resourceVersion fails with ErrGone; one newer than the storage has seen waits
	// until it has (or ctx ends). Events whose object moves into or out of the predicate are
	// sent as ADDED or DELETED, as Kubernetes does. A watcher that falls too far behind is
	// closed: its client watches again from the last resourceVersion it got.
	Watch(ctx context.Context, key string, resourceVersion string, pred Predicate) (watch.Interface, error)
	// CurrentResourceVersion is the latest revision this storage has seen.
	CurrentResourceVersion(ctx context.Context) (string, error)
}
