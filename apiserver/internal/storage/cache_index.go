package storage

import (
	"slices"
	"strings"

	"kubelab.io/proto/runtime"
)

// The watch cache's state is indexed twice: every object by key (c.objects), and the same
// objects grouped by the key's parent (c.buckets: "/registry/limitranges/default/" → its
// objects; a cluster-scoped resource has the one bucket "/registry/…/"). A list of one
// namespace — what admission plugins do on every create (LimitRanges, ResourceQuotas) — then
// touches that namespace's objects only, not every object of the resource.

// parentOf is the bucket of key: key up to and including its last "/".
func parentOf(key string) string {
	return key[:strings.LastIndexByte(key, '/')+1]
}

// putLocked stores obj at key in both indexes.
func (c *cacher) putLocked(key string, obj runtime.Object) {
	c.objects[key] = obj
	parent := parentOf(key)
	b := c.buckets[parent]
	if b == nil {
		b = map[string]runtime.Object{}
		c.buckets[parent] = b
	}
	b[key] = obj
}

// deleteLocked removes key from both indexes.
func (c *cacher) deleteLocked(key string) {
	delete(c.objects, key)
	parent := parentOf(key)
	if b := c.buckets[parent]; b != nil {
		delete(b, key)
		if len(b) == 0 {
			delete(c.buckets, parent)
		}
	}
}

// resetLocked makes objects the whole state.
func (c *cacher) resetLocked(objects map[string]runtime.Object) {
	c.objects = map[string]runtime.Object{}
	c.buckets = map[string]map[string]runtime.Object{}
	for k, obj := range objects {
		c.putLocked(k, obj)
	}
}

// collectLocked returns the keys under pattern (a prefix ending in "/", or else one exact
// key), sorted, and their objects. Only buckets inside the prefix are visited: a key under a
// prefix ending in "/" has a parent that starts with that prefix.
func (c *cacher) collectLocked(pattern string) ([]string, []runtime.Object) {
	if !strings.HasSuffix(pattern, "/") {
		if obj, ok := c.objects[pattern]; ok {
			return []string{pattern}, []runtime.Object{obj}
		}
		return nil, nil
	}
	var keys []string
	if pattern == c.store.prefix {
		keys = make([]string, 0, len(c.objects))
		for k := range c.objects {
			keys = append(keys, k)
		}
		return c.sortedLocked(keys)
	}
	// There are as many buckets as namespaces: few, and cheap to compare.
	for parent, b := range c.buckets {
		if strings.HasPrefix(parent, pattern) {
			for k := range b {
				keys = append(keys, k)
			}
		}
	}
	return c.sortedLocked(keys)
}

func (c *cacher) sortedLocked(keys []string) ([]string, []runtime.Object) {
	slices.Sort(keys)
	objs := make([]runtime.Object, len(keys))
	for i, k := range keys {
		objs[i] = c.objects[k]
	}
	return keys, objs
}
