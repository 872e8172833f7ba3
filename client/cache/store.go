package cache

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
)

// ErrNoMetadata is returned for objects without metadata, which have no key.
var ErrNoMetadata = errors.New("object has no metadata")

// KeyFunc returns the store key of an object.
type KeyFunc func(obj any) (string, error)

// MetaNamespaceKeyFunc is the default key: "namespace/name", or "name" for cluster-scoped
// objects. It also accepts a DeletedFinalStateUnknown (returning its key) so handlers can
// key deletions without unwrapping them first.
func MetaNamespaceKeyFunc(obj any) (string, error) {
	switch o := obj.(type) {
	case DeletedFinalStateUnknown:
		return o.Key, nil
	case *DeletedFinalStateUnknown:
		return o.Key, nil
	case runtime.Object:
		m := o.GetMetadata()
		if m == nil {
			return "", fmt.Errorf("key of %s: %w", o.GetKind(), ErrNoMetadata)
		}
		if m.GetNamespace() == "" {
			return m.GetName(), nil
		}
		return m.GetNamespace() + "/" + m.GetName(), nil
	default:
		return "", fmt.Errorf("key of %T: not an API object", obj)
	}
}

// DeletionHandlingMetaNamespaceKeyFunc is MetaNamespaceKeyFunc; kept under client-go's name
// for handlers ported from it.
var DeletionHandlingMetaNamespaceKeyFunc = MetaNamespaceKeyFunc

// SplitMetaNamespaceKey splits a key made by MetaNamespaceKeyFunc.
func SplitMetaNamespaceKey(key string) (namespace, name string, err error) {
	parts := strings.Split(key, "/")
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("unexpected key format: %q", key)
}

// DeletedFinalStateUnknown is what a DeleteFunc gets instead of the object when the deletion
// was not observed as a watch event but inferred on a re-list: Obj is the last state the
// cache knew, which may be stale.
type DeletedFinalStateUnknown struct {
	Key string
	Obj runtime.Object
}

// IndexFunc computes the values an object is indexed under. It must be a pure function of
// the object and must not modify it.
type IndexFunc func(obj runtime.Object) ([]string, error)

// Indexers names index functions.
type Indexers map[string]IndexFunc

// Built-in indexes.
const (
	NamespaceIndex   = "namespace"
	OwnerUIDIndex    = "ownerUID"
	PodNodeNameIndex = "spec.nodeName"
)

// MetaNamespaceIndexFunc indexes by namespace.
func MetaNamespaceIndexFunc(obj runtime.Object) ([]string, error) {
	return []string{obj.GetMetadata().GetNamespace()}, nil
}

// OwnerUIDIndexFunc indexes by the uid of every owner reference.
func OwnerUIDIndexFunc(obj runtime.Object) ([]string, error) {
	refs := obj.GetMetadata().GetOwnerReferences()
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.GetUid())
	}
	return out, nil
}

// PodNodeNameIndexFunc indexes pods by spec.nodeName (unscheduled pods under ""); other
// kinds are not indexed.
func PodNodeNameIndexFunc(obj runtime.Object) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	return []string{pod.GetSpec().GetNodeName()}, nil
}

// Store is a thread-safe map of objects by key.
type Store interface {
	Add(obj runtime.Object) error
	Update(obj runtime.Object) error
	Delete(obj runtime.Object) error
	List() []runtime.Object
	ListKeys() []string
	Get(obj runtime.Object) (item runtime.Object, exists bool, err error)
	GetByKey(key string) (item runtime.Object, exists bool, err error)
	// Replace atomically swaps the whole content for objs.
	Replace(objs []runtime.Object) error
}

// Indexer is a Store with secondary indexes.
type Indexer interface {
	Store
	// Index lists the objects sharing an indexed value with obj.
	Index(indexName string, obj runtime.Object) ([]runtime.Object, error)
	// IndexKeys lists the keys of objects indexed under indexedValue.
	IndexKeys(indexName, indexedValue string) ([]string, error)
	// ListIndexFuncValues lists the values present in an index.
	ListIndexFuncValues(indexName string) []string
	// ByIndex lists the objects indexed under indexedValue.
	ByIndex(indexName, indexedValue string) ([]runtime.Object, error)
	GetIndexers() Indexers
	// AddIndexers adds indexes; only before the store holds objects.
	AddIndexers(newIndexers Indexers) error
}

// NewIndexer returns an empty Indexer keyed by keyFunc.
func NewIndexer(keyFunc KeyFunc, indexers Indexers) Indexer {
	s := &threadSafeStore{keyFunc: keyFunc, items: map[string]runtime.Object{}, indexers: Indexers{}, indices: map[string]index{}}
	for name, f := range indexers {
		s.indexers[name] = f
		s.indices[name] = index{}
	}
	return s
}

// NewStore returns an Indexer without indexes.
func NewStore(keyFunc KeyFunc) Store { return NewIndexer(keyFunc, nil) }

// index maps an indexed value to the set of keys under it.
type index map[string]map[string]struct{}

type threadSafeStore struct {
	keyFunc  KeyFunc
	mu       sync.RWMutex
	items    map[string]runtime.Object
	indexers Indexers
	indices  map[string]index
}

func (s *threadSafeStore) Add(obj runtime.Object) error { return s.Update(obj) }

func (s *threadSafeStore) Update(obj runtime.Object) error {
	key, err := s.keyFunc(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putLocked(key, obj)
}

func (s *threadSafeStore) putLocked(key string, obj runtime.Object) error {
	// Compute the new index values first so a failing index func leaves the store as it was.
	values, err := s.indexValues(obj)
	if err != nil {
		return fmt.Errorf("index %s: %w", key, err)
	}
	if old, ok := s.items[key]; ok {
		s.unindexLocked(key, old)
	}
	s.items[key] = obj
	for name, vals := range values {
		idx := s.indices[name]
		for _, v := range vals {
			set := idx[v]
			if set == nil {
				set = map[string]struct{}{}
				idx[v] = set
			}
			set[key] = struct{}{}
		}
	}
	return nil
}

func (s *threadSafeStore) indexValues(obj runtime.Object) (map[string][]string, error) {
	out := make(map[string][]string, len(s.indexers))
	for name, f := range s.indexers {
		vals, err := f(obj)
		if err != nil {
			return nil, fmt.Errorf("index func %q: %w", name, err)
		}
		out[name] = vals
	}
	return out, nil
}

func (s *threadSafeStore) unindexLocked(key string, obj runtime.Object) {
	for name, f := range s.indexers {
		vals, err := f(obj)
		if err != nil {
			// It indexed fine when stored; fall back to scanning so nothing dangles.
			for _, set := range s.indices[name] {
				delete(set, key)
			}
			continue
		}
		idx := s.indices[name]
		for _, v := range vals {
			if set := idx[v]; set != nil {
				delete(set, key)
				if len(set) == 0 {
					delete(idx, v)
				}
			}
		}
	}
}

func (s *threadSafeStore) Delete(obj runtime.Object) error {
	key, err := s.keyFunc(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(key)
	return nil
}

func (s *threadSafeStore) deleteLocked(key string) {
	if old, ok := s.items[key]; ok {
		s.unindexLocked(key, old)
		delete(s.items, key)
	}
}

func (s *threadSafeStore) List() []runtime.Object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]runtime.Object, 0, len(s.items))
	for _, o := range s.items {
		out = append(out, o)
	}
	return out
}

func (s *threadSafeStore) ListKeys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.items))
	for k := range s.items {
		out = append(out, k)
	}
	return out
}

func (s *threadSafeStore) Get(obj runtime.Object) (runtime.Object, bool, error) {
	key, err := s.keyFunc(obj)
	if err != nil {
		return nil, false, err
	}
	return s.GetByKey(key)
}

func (s *threadSafeStore) GetByKey(key string) (runtime.Object, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.items[key]
	return o, ok, nil
}

func (s *threadSafeStore) Replace(objs []runtime.Object) error {
	items := make(map[string]runtime.Object, len(objs))
	for _, o := range objs {
		key, err := s.keyFunc(o)
		if err != nil {
			return err
		}
		items[key] = o
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, oldIndices := s.items, s.indices
	s.items = map[string]runtime.Object{}
	s.indices = make(map[string]index, len(s.indexers))
	for name := range s.indexers {
		s.indices[name] = index{}
	}
	for key, o := range items {
		if err := s.putLocked(key, o); err != nil {
			s.items, s.indices = old, oldIndices
			return err
		}
	}
	return nil
}

func (s *threadSafeStore) Index(indexName string, obj runtime.Object) ([]runtime.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.indexers[indexName]
	if !ok {
		return nil, fmt.Errorf("index %q does not exist", indexName)
	}
	vals, err := f(obj)
	if err != nil {
		return nil, fmt.Errorf("index func %q: %w", indexName, err)
	}
	keys := map[string]struct{}{}
	for _, v := range vals {
		for k := range s.indices[indexName][v] {
			keys[k] = struct{}{}
		}
	}
	out := make([]runtime.Object, 0, len(keys))
	for k := range keys {
		out = append(out, s.items[k])
	}
	return out, nil
}

func (s *threadSafeStore) IndexKeys(indexName, indexedValue string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx, ok := s.indices[indexName]
	if !ok {
		return nil, fmt.Errorf("index %q does not exist", indexName)
	}
	out := make([]string, 0, len(idx[indexedValue]))
	for k := range idx[indexedValue] {
		out = append(out, k)
	}
	return out, nil
}

func (s *threadSafeStore) ByIndex(indexName, indexedValue string) ([]runtime.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx, ok := s.indices[indexName]
	if !ok {
		return nil, fmt.Errorf("index %q does not exist", indexName)
	}
	out := make([]runtime.Object, 0, len(idx[indexedValue]))
	for k := range idx[indexedValue] {
		out = append(out, s.items[k])
	}
	return out, nil
}

func (s *threadSafeStore) ListIndexFuncValues(indexName string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.indices[indexName]))
	for v := range s.indices[indexName] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func (s *threadSafeStore) GetIndexers() Indexers {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(Indexers, len(s.indexers))
	for k, v := range s.indexers {
		out[k] = v
	}
	return out
}

func (s *threadSafeStore) AddIndexers(newIndexers Indexers) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) > 0 {
		return errors.New("cannot add indexers to a store that holds objects")
	}
	for name := range newIndexers {
		if _, ok := s.indexers[name]; ok {
			return fmt.Errorf("indexer %q already exists", name)
		}
	}
	for name, f := range newIndexers {
		s.indexers[name] = f
		s.indices[name] = index{}
	}
	return nil
}
