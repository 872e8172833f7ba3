package rbac

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"kubelab.io/apiserver/internal/registry"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// Cache holds every Role, ClusterRole, RoleBinding and ClusterRoleBinding in memory, kept
// current by watching the four registry stores (list from the watch cache, then watch from
// the list's resourceVersion; on any break, list again). Authorization reads it and never
// etcd, so an RBAC decision costs map lookups. Like every informer it lags the writes it
// reflects by a moment: a binding just created may take a few milliseconds to take effect,
// as in Kubernetes.
type Cache struct {
	mu                  sync.RWMutex
	roles               map[string]*rbacv1.Role                   // namespace/name
	clusterRoles        map[string]*rbacv1.ClusterRole            // name
	roleBindings        map[string]map[string]*rbacv1.RoleBinding // namespace → name
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding     // name

	synced  sync.WaitGroup
	log     *slog.Logger
	stopped chan struct{}
}

// Stores are the registry stores the cache reflects.
type Stores struct {
	Roles, ClusterRoles, RoleBindings, ClusterRoleBindings *registry.Store
}

// NewCache starts reflecting the stores until ctx ends. WaitForSync tells when the first
// list of every kind is in.
func NewCache(ctx context.Context, st Stores, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{
		roles: map[string]*rbacv1.Role{}, clusterRoles: map[string]*rbacv1.ClusterRole{},
		roleBindings: map[string]map[string]*rbacv1.RoleBinding{}, clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
		log: log, stopped: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for _, s := range []*registry.Store{st.Roles, st.ClusterRoles, st.RoleBindings, st.ClusterRoleBindings} {
		c.synced.Add(1)
		wg.Add(1)
		go func(s *registry.Store) {
			defer wg.Done()
			c.reflect(ctx, s)
		}(s)
	}
	go func() {
		wg.Wait()
		close(c.stopped)
	}()
	return c
}

// WaitForSync blocks until every kind has been listed once, or ctx ends.
func (c *Cache) WaitForSync(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		c.synced.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reflect keeps one kind current until ctx ends.
func (c *Cache) reflect(ctx context.Context, s *registry.Store) {
	first := true
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		list, err := s.List(ctx, "", registry.ListOptions{ResourceVersion: "0"})
		if err != nil {
			c.log.Warn("rbac cache: list failed", "resource", s.Resource.Plural, "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		c.replace(s.Resource.Plural, runtime.Items(list))
		if first {
			first = false
			c.synced.Done()
		}
		w, err := s.Watch(ctx, "", registry.ListOptions{ResourceVersion: runtime.ListMeta(list).ResourceVersion})
		if err != nil {
			sleep(ctx, backoff) // then list again
			continue
		}
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified:
				c.put(ev.Object)
			case watch.Deleted:
				c.remove(ev.Object)
			}
		}
		w.Stop()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// replace swaps one kind's contents for a fresh list.
func (c *Cache) replace(plural string, items []runtime.Object) {
	c.mu.Lock()
	switch plural {
	case "roles":
		c.roles = map[string]*rbacv1.Role{}
	case "clusterroles":
		c.clusterRoles = map[string]*rbacv1.ClusterRole{}
	case "rolebindings":
		c.roleBindings = map[string]map[string]*rbacv1.RoleBinding{}
	case "clusterrolebindings":
		c.clusterRoleBindings = map[string]*rbacv1.ClusterRoleBinding{}
	}
	c.mu.Unlock()
	for _, obj := range items {
		c.put(obj)
	}
}

func (c *Cache) put(obj runtime.Object) {
	m := obj.GetMetadata()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o := obj.(type) {
	case *rbacv1.Role:
		c.roles[m.GetNamespace()+"/"+m.GetName()] = o
	case *rbacv1.ClusterRole:
		c.clusterRoles[m.GetName()] = o
	case *rbacv1.RoleBinding:
		ns := c.roleBindings[m.GetNamespace()]
		if ns == nil {
			ns = map[string]*rbacv1.RoleBinding{}
			c.roleBindings[m.GetNamespace()] = ns
		}
		ns[m.GetName()] = o
	case *rbacv1.ClusterRoleBinding:
		c.clusterRoleBindings[m.GetName()] = o
	}
}

func (c *Cache) remove(obj runtime.Object) {
	m := obj.GetMetadata()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch obj.(type) {
	case *rbacv1.Role:
		delete(c.roles, m.GetNamespace()+"/"+m.GetName())
	case *rbacv1.ClusterRole:
		delete(c.clusterRoles, m.GetName())
	case *rbacv1.RoleBinding:
		delete(c.roleBindings[m.GetNamespace()], m.GetName())
	case *rbacv1.ClusterRoleBinding:
		delete(c.clusterRoleBindings, m.GetName())
	}
}

// visit calls fn with the rules of every binding that applies in namespace ("" for
// cluster-wide requests: only ClusterRoleBindings apply), until fn returns false. Objects
// passed to fn are the cache's: read-only.
func (c *Cache) visit(namespace string, fn func(source string, subjects []*rbacv1.Subject, bindingNamespace string, rules []*rbacv1.PolicyRule) bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, b := range c.clusterRoleBindings {
		ref := b.GetRoleRef()
		if ref.GetKind() != "ClusterRole" {
			continue
		}
		role, ok := c.clusterRoles[ref.GetName()]
		if !ok {
			continue
		}
		src := `ClusterRoleBinding "` + b.GetMetadata().GetName() + `" of ClusterRole "` + ref.GetName() + `"`
		if !fn(src, b.GetSubjects(), "", role.GetRules()) {
			return
		}
	}
	if namespace == "" {
		return
	}
	for _, b := range c.roleBindings[namespace] {
		ref := b.GetRoleRef()
		var rules []*rbacv1.PolicyRule
		switch ref.GetKind() {
		case "ClusterRole":
			role, ok := c.clusterRoles[ref.GetName()]
			if !ok {
				continue
			}
			rules = role.GetRules()
		case "Role":
			role, ok := c.roles[namespace+"/"+ref.GetName()]
			if !ok {
				continue
			}
			rules = role.GetRules()
		default:
			continue
		}
		src := `RoleBinding "` + b.GetMetadata().GetName() + `" of ` + ref.GetKind() + ` "` + ref.GetName() + `"`
		if !fn(src, b.GetSubjects(), namespace, rules) {
			return
		}
	}
}
