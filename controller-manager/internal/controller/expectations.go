package controller

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long expectations wait for the informer events that fulfil
// them before the controller syncs anyway (a watch event may have been lost).
const ExpectationsTimeout = 5 * time.Minute

// Expectations is Kubernetes' ControllerExpectations and UIDTrackingExpectations in one:
// per controller key, how many creations and deletions the controller has made and not yet
// seen in its informer. A controller acts on a key only when its expectations are satisfied,
// so a cache that lags behind the controller's own writes never makes it create or delete
// twice.
//
// The protocol: before creating n pods call ExpectCreations(key, n); the pod informer's add
// handler calls CreationObserved(key) for each; a creation that failed also calls
// CreationObserved (it will never be seen). Deletions likewise, by pod key, so a deletion
// seen twice (a deletionTimestamp update, then the delete) counts once.
type Expectations struct {
	mu  sync.Mutex
	now func() time.Time
	ttl time.Duration
	m   map[string]*expectee
}

type expectee struct {
	add, del  int
	timestamp time.Time
	// deleting holds the keys of the pods whose deletion is expected.
	deleting map[string]struct{}
}

// NewExpectations returns empty expectations on clock now (nil: time.Now), expiring after
// ExpectationsTimeout.
func NewExpectations(now func() time.Time) *Expectations {
	if now == nil {
		now = time.Now
	}
	return &Expectations{now: now, ttl: ExpectationsTimeout, m: map[string]*expectee{}}
}

// Satisfied reports whether the controller of key may sync: no expectations recorded, all
// fulfilled, or recorded more than ExpectationsTimeout ago.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.add <= 0 && x.del <= 0 {
		return true
	}
	return e.now().Sub(x.timestamp) > e.ttl
}

// ExpectCreations records that the controller of key is about to create adds objects. It
// replaces whatever was expected before (the controller only sets expectations when the
// previous ones were satisfied or expired).
func (e *Expectations) ExpectCreations(key string, adds int) { e.Expect(key, adds, nil) }

// ExpectDeletions records that the controller of key is about to delete the objects with
// keys podKeys, replacing what was expected before.
func (e *Expectations) ExpectDeletions(key string, podKeys []string) { e.Expect(key, 0, podKeys) }

// Expect records both at once, for a controller that creates and deletes in one pass (the
// daemonset controller: pods for new nodes, failed and misplaced pods gone), replacing what
// was expected before.
func (e *Expectations) Expect(key string, adds int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectee{add: adds, timestamp: e.now(), deleting: make(map[string]struct{}, len(podKeys))}
	for _, k := range podKeys {
		x.deleting[k] = struct{}{}
	}
	x.del = len(x.deleting)
	e.m[key] = x
}

// CreationObserved lowers the expected creations of key by one.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.add > 0 {
		x.add--
	}
}

// DeletionObserved lowers the expected deletions of key by one if podKey is one of them;
// later observations of the same podKey do nothing.
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return
	}
	if _, ok := x.deleting[podKey]; ok {
		delete(x.deleting, podKey)
		x.del--
	}
}

// Pending returns the creations and deletions key still expects (for logs and tests).
func (e *Expectations) Pending(key string) (adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		return x.add, x.del
	}
	return 0, 0
}

// Delete forgets key (its controller object is gone).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
