package endpointslice

import (
	"strconv"
	"sync"

	discoveryv1 "kubelab.io/proto/api/discovery/v1"
)

// deletionExpected marks a slice the controller deleted and has not yet seen go.
const deletionExpected = -1

// tracker is upstream's EndpointSliceTracker: per service, the slices this controller wrote
// and the version it wrote, so a sync never acts on a cache that has not caught up with
// the controller's own writes (it would create a second slice for endpoints a slice it just
// created already holds), and the controller's own writes coming back through the informer
// do not queue the service again.
//
// Upstream compares generations, which its apiserver bumps on every change of a slice's
// endpoints or ports. kubelab's apiserver bumps generation only for kinds with a spec, and
// an EndpointSlice has none, so this tracker compares resourceVersions instead: in kubelab
// they are etcd revisions (DESIGN.md, "Storage"), which only grow. A resourceVersion that
// is not a number counts as 0 (older than anything written).
//
// It is safe for concurrent use.
type tracker struct {
	mu sync.Mutex
	// byService maps a service key to its slices' uids and the resourceVersion this
	// controller last wrote (or deletionExpected).
	byService map[string]map[string]int64
}

func newTracker() *tracker { return &tracker{byService: map[string]map[string]int64{}} }

func version(s *discoveryv1.EndpointSlice) int64 {
	v, err := strconv.ParseInt(s.GetMetadata().GetResourceVersion(), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// serviceKey is the key of the service a slice belongs to, by its service-name label; ok is
// false for a slice without one.
func serviceKey(s *discoveryv1.EndpointSlice) (string, bool) {
	name := s.GetMetadata().GetLabels()[discoveryv1.LabelServiceName]
	return s.GetMetadata().GetNamespace() + "/" + name, name != ""
}

// written records s as this controller just wrote it (the object the API returned).
func (t *tracker) written(s *discoveryv1.EndpointSlice) {
	t.set(s, version(s))
}

// deleted records that this controller deleted s.
func (t *tracker) deleted(s *discoveryv1.EndpointSlice) {
	t.set(s, deletionExpected)
}

func (t *tracker) set(s *discoveryv1.EndpointSlice, v int64) {
	key, ok := serviceKey(s)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byService[key] == nil {
		t.byService[key] = map[string]int64{}
	}
	t.byService[key][s.GetMetadata().GetUid()] = v
}

// shouldSync reports whether an informer event about s is news to the controller: a slice
// it did not write, or one changed since (by someone else).
func (t *tracker) shouldSync(s *discoveryv1.EndpointSlice) bool {
	key, _ := serviceKey(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.byService[key][s.GetMetadata().GetUid()]
	return !ok || version(s) > v
}

// stale reports whether the cached slices of service key lag behind this controller's
// writes: one is older than what it wrote, one it deleted is still there, or one it wrote
// is missing.
func (t *tracker) stale(key string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	written := t.byService[key]
	if len(written) == 0 {
		return false
	}
	seen := make(map[string]bool, len(cached))
	for _, s := range cached {
		uid := s.GetMetadata().GetUid()
		seen[uid] = true
		if v, ok := written[uid]; ok && (v == deletionExpected || v > version(s)) {
			return true
		}
	}
	for uid, v := range written {
		if v != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// observeDeletion forgets s, which the informer saw deleted, and reports whether this
// controller deleted it. Unlike upstream (which ignores the deletion of a slice it does
// not track, such as one of the slices found after a restart), any other deletion of a
// managed slice is unexpected and queues its service, so a slice deleted by hand is
// recreated.
func (t *tracker) observeDeletion(s *discoveryv1.EndpointSlice) (expected bool) {
	key, _ := serviceKey(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.byService[key][s.GetMetadata().GetUid()]
	delete(t.byService[key], s.GetMetadata().GetUid())
	return ok && v == deletionExpected
}

// forget drops service key (the service is gone).
func (t *tracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byService, key)
}
