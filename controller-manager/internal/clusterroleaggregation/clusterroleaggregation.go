// Package clusterroleaggregation is the ClusterRole aggregation controller, Kubernetes'
// pkg/controller/clusterroleaggregation: a ClusterRole with an aggregationRule has, as its
// rules, those of every other ClusterRole one of its clusterRoleSelectors matches. That is
// how the default admin, edit and view roles grow when a ClusterRole labelled
// rbac.authorization.k8s.io/aggregate-to-edit: "true" (say) is created, without anyone
// editing them. The rules of an aggregated role belong to this controller: a hand edit is
// overwritten on the next sync.
//
// Any ClusterRole change can change the union of any aggregated role (a label added, a rule
// removed, a role deleted, one aggregated role feeding another as edit feeds admin), and
// the dependency graph is not tracked, so every event queues every aggregated role, as
// upstream does: ClusterRoles are few. A change that feeds a second level (view → edit →
// admin) arrives as edit's own update event and converges on the next round.
package clusterroleaggregation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client       *kube.Clientset
	ClusterRoles cache.SharedIndexInformer
	// Log is the controller's logger (the controller-manager labels it
	// controller=clusterrole-aggregation).
	Log *slog.Logger
	// Queue defaults to a rate-limited work queue named "ClusterRoleAggregator", as upstream
	// names it.
	Queue workqueue.Interface[string]
}

// Controller writes the rules of aggregated ClusterRoles.
type Controller struct {
	client *kube.Clientset
	roles  cache.Lister[*rbacv1.ClusterRole]
	synced []func() bool
	queue  workqueue.Interface[string]
	log    *slog.Logger
}

// New builds the controller on the shared informers of cc.
func New(_ context.Context, cc *controllerctx.Context) (*Controller, error) {
	return NewController(Config{Client: cc.Client, ClusterRoles: cc.Informers.ClusterRoles().Informer(), Log: cc.Log})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.ClusterRoles == nil {
		return nil, errors.New("clusterroleaggregation: Client and the ClusterRole informer are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("ClusterRoleAggregator")
	}
	m, _ := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupRBAC, Version: "v1", Kind: "ClusterRole"})
	c := &Controller{
		client: cfg.Client,
		roles:  cache.NewLister[*rbacv1.ClusterRole](cfg.ClusterRoles.GetIndexer(), m),
		queue:  cfg.Queue,
		log:    cfg.Log,
	}
	reg, err := cfg.ClusterRoles.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(runtime.Object) { c.enqueueAggregated() },
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			if !controller.IsResync(oldObj, newObj) {
				c.enqueueAggregated()
			}
		},
		DeleteFunc: func(any) { c.enqueueAggregated() },
	})
	if err != nil {
		return nil, fmt.Errorf("clusterroleaggregation: %w", err)
	}
	c.synced = []func() bool{cfg.ClusterRoles.HasSynced, reg.HasSynced}
	return c, nil
}

// enqueueAggregated queues every ClusterRole that has an aggregationRule. It reads the
// cache, which already holds the change that triggered it.
func (c *Controller) enqueueAggregated() {
	roles, err := c.roles.List(labels.Everything())
	if err != nil {
		c.log.Error("list cluster roles", "err", err)
		return
	}
	for _, r := range roles {
		if r.GetAggregationRule() != nil {
			c.queue.Add(r.GetMetadata().GetName())
		}
	}
}

// Run waits for the cache, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// sync sets the rules of the aggregated ClusterRole name to the union its selectors gather
// from the cache, with an update of the cached object whose rules alone differ; nothing is
// written when they are already equal. A role gone, or no longer aggregated, needs nothing.
// A conflict (the role changed since the cache saw it) is returned, to retry once the cache
// caught up.
func (c *Controller) sync(ctx context.Context, name string) error {
	role, err := c.roles.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if role.GetAggregationRule() == nil {
		return nil
	}
	all, err := c.roles.List(labels.Everything())
	if err != nil {
		return err
	}
	rules, err := Aggregate(role, all)
	if err != nil {
		// The apiserver validates selectors, so this is a role stored before that check or
		// by another writer; retrying cannot fix it, and its next change queues it again.
		c.log.Error("cannot aggregate cluster role", "name", name, "err", err)
		return nil
	}
	if rulesEqual(rules, role.GetRules()) {
		return nil
	}
	next := proto.Clone(role).(*rbacv1.ClusterRole)
	next.Rules = rules
	if _, err := c.client.ClusterRoles().Update(ctx, next); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update clusterrole %s: %w", name, err)
	}
	c.log.Info("aggregated cluster role rules", "name", name, "rules", len(rules), "before", len(role.GetRules()))
	return nil
}

// Aggregate is the rules the aggregated ClusterRole role gathers from roles, in upstream's
// order: selector by selector, the matching roles (role itself excepted) by name, each one's
// rules in its order, a rule equal to one already gathered left out. An empty selector
// matches every role. The order matters only for stability: a different order would be
// written as a change, and two controllers (or restarts) would rewrite each other's result.
func Aggregate(role *rbacv1.ClusterRole, roles []*rbacv1.ClusterRole) ([]*rbacv1.PolicyRule, error) {
	byName := slices.Clone(roles)
	slices.SortFunc(byName, func(a, b *rbacv1.ClusterRole) int {
		return strings.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName())
	})
	self := role.GetMetadata().GetName()
	var out []*rbacv1.PolicyRule
	for i, ps := range role.GetAggregationRule().GetClusterRoleSelectors() {
		sel, err := labels.FromLabelSelector(ps)
		if err != nil {
			return nil, fmt.Errorf("clusterRoleSelectors[%d]: %w", i, err)
		}
		for _, r := range byName {
			if r.GetMetadata().GetName() == self || !sel.Matches(r.GetMetadata().GetLabels()) {
				continue
			}
			for _, rule := range r.GetRules() {
				if !slices.ContainsFunc(out, func(have *rbacv1.PolicyRule) bool { return proto.Equal(have, rule) }) {
					out = append(out, proto.Clone(rule).(*rbacv1.PolicyRule))
				}
			}
		}
	}
	return out, nil
}

// rulesEqual compares rule lists in order; proto.Equal treats an empty list as a missing
// one, as upstream's semantic equality does.
func rulesEqual(a, b []*rbacv1.PolicyRule) bool {
	return slices.EqualFunc(a, b, func(x, y *rbacv1.PolicyRule) bool { return proto.Equal(x, y) })
}
