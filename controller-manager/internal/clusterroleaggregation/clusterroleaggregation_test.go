package clusterroleaggregation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllertest"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var roleGVK = runtime.GroupVersionKind{Group: scheme.GroupRBAC, Version: "v1", Kind: "ClusterRole"}

const toEdit = "rbac.authorization.k8s.io/aggregate-to-edit"

func rule(verb, resource string) *rbacv1.PolicyRule {
	return &rbacv1.PolicyRule{Verbs: []string{verb}, ApiGroups: []string{""}, Resources: []string{resource}}
}

// role is a ClusterRole with labels given as "key=value" pairs.
func role(name string, lbls []string, rules ...*rbacv1.PolicyRule) *rbacv1.ClusterRole {
	m := map[string]string{}
	for _, l := range lbls {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return &rbacv1.ClusterRole{Metadata: &metav1.ObjectMeta{Name: name, Labels: m}, Rules: rules}
}

// aggregated is a ClusterRole whose aggregationRule has one matchLabels selector per map.
func aggregated(name string, lbls []string, selectors ...map[string]string) *rbacv1.ClusterRole {
	r := role(name, lbls)
	r.AggregationRule = &rbacv1.AggregationRule{}
	for _, s := range selectors {
		r.AggregationRule.ClusterRoleSelectors = append(r.AggregationRule.ClusterRoleSelectors, &metav1.LabelSelector{MatchLabels: s})
	}
	return r
}

// show prints rules as "verb resource" lines, for messages and comparisons.
func show(rules []*rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, strings.Join(r.GetVerbs(), ",")+" "+strings.Join(r.GetResources(), ","))
	}
	return out
}

func TestAggregate(t *testing.T) {
	edit := map[string]string{toEdit: "true"}
	for _, tc := range []struct {
		name    string
		role    *rbacv1.ClusterRole
		others  []*rbacv1.ClusterRole
		want    []string
		wantErr bool
	}{
		{
			name: "union of matching roles by name, others left out",
			role: aggregated("edit", nil, edit),
			others: []*rbacv1.ClusterRole{
				role("zz-pods", []string{toEdit + "=true"}, rule("get", "pods")),
				role("aa-secrets", []string{toEdit + "=true"}, rule("get", "secrets"), rule("list", "secrets")),
				role("unlabelled", nil, rule("delete", "nodes")),
				role("false", []string{toEdit + "=false"}, rule("delete", "namespaces")),
			},
			want: []string{"get secrets", "list secrets", "get pods"},
		},
		{
			name: "a rule equal to one gathered is left out, a different one is kept",
			role: aggregated("edit", nil, edit),
			others: []*rbacv1.ClusterRole{
				role("a", []string{toEdit + "=true"}, rule("get", "pods"), rule("get", "pods")),
				role("b", []string{toEdit + "=true"}, rule("get", "pods"), &rbacv1.PolicyRule{Verbs: []string{"get"}, Resources: []string{"pods"}}),
			},
			want: []string{"get pods", "get pods"}, // the second has no apiGroups
		},
		{
			name: "selector order first, then names",
			role: aggregated("admin", nil, map[string]string{"second": "x"}, map[string]string{"first": "x"}),
			others: []*rbacv1.ClusterRole{
				role("a", []string{"first=x"}, rule("get", "a")),
				role("b", []string{"second=x"}, rule("get", "b")),
				role("c", []string{"first=x", "second=x"}, rule("get", "c")),
			},
			want: []string{"get b", "get c", "get a"},
		},
		{
			name:   "the role itself is excluded, even when its selector matches it",
			role:   aggregated("self", []string{"team=x"}, map[string]string{"team": "x"}),
			others: []*rbacv1.ClusterRole{role("other", []string{"team=x"}, rule("get", "pods"))},
			want:   []string{"get pods"},
		},
		{
			name:   "an empty selector matches every other role",
			role:   aggregated("all", nil, map[string]string{}),
			others: []*rbacv1.ClusterRole{role("b", nil, rule("get", "b")), role("a", []string{"x=y"}, rule("get", "a"))},
			want:   []string{"get a", "get b"},
		},
		{
			name:   "no selector gathers nothing",
			role:   aggregated("none", nil),
			others: []*rbacv1.ClusterRole{role("a", nil, rule("get", "a"))},
			want:   nil,
		},
		{
			name:    "an invalid selector is an error",
			role:    aggregated("bad", nil, map[string]string{"bad key!": "x"}),
			others:  []*rbacv1.ClusterRole{role("a", nil, rule("get", "a"))},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Aggregate(tc.role, append([]*rbacv1.ClusterRole{tc.role}, tc.others...))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if !slices.Equal(show(got), tc.want) {
				t.Fatalf("rules = %q, want %q", show(got), tc.want)
			}
		})
	}
}

// countUpdates records every update the controller sends.
type countUpdates struct {
	*cachetest.Transport
	mu      sync.Mutex
	updates []string
}

func (c *countUpdates) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, sub string) (runtime.Object, error) {
	c.mu.Lock()
	c.updates = append(c.updates, obj.GetMetadata().GetName())
	c.mu.Unlock()
	return c.Transport.Update(ctx, ref, obj, sub)
}

func (c *countUpdates) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.updates)
}

func fixture(t *testing.T, objs ...runtime.Object) (*Controller, *controllertest.Fake, *countUpdates) {
	t.Helper()
	f := controllertest.NewFake(t, objs...)
	cu := &countUpdates{Transport: f.Transport}
	f.Client = kube.New(cu)
	c, err := NewController(Config{Client: f.Client, ClusterRoles: f.Informers.ClusterRoles().Informer(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	f.Start(t, c.synced...)
	return c, f, cu
}

func stored(t *testing.T, f *controllertest.Fake, name string) *rbacv1.ClusterRole {
	t.Helper()
	for _, o := range f.Transport.Objects(roleGVK) {
		if o.GetMetadata().GetName() == name {
			return o.(*rbacv1.ClusterRole)
		}
	}
	t.Fatalf("no ClusterRole %s stored", name)
	return nil
}

// TestSyncWritesRulesOnly: sync overwrites hand-written rules of an aggregated role with the
// union and keeps the rest of the object (labels, aggregationRule); a role already holding
// the union, a role without an aggregationRule and a missing one are not written.
func TestSyncWritesRulesOnly(t *testing.T) {
	edit := aggregated("edit", []string{"keep=me"}, map[string]string{toEdit: "true"})
	edit.Rules = []*rbacv1.PolicyRule{rule("delete", "nodes")} // a hand edit
	view := aggregated("view", nil, map[string]string{"v": "true"})
	view.Rules = []*rbacv1.PolicyRule{rule("get", "pods")}
	c, f, cu := fixture(t, edit, view,
		role("pods", []string{toEdit + "=true", "v=true"}, rule("get", "pods")),
		role("plain", []string{toEdit + "=true"}, rule("list", "pods")))
	for _, name := range []string{"edit", "view", "plain", "missing"} {
		if err := c.sync(f.Ctx, name); err != nil {
			t.Fatalf("sync %s: %v", name, err)
		}
	}
	if !slices.Equal(cu.updates, []string{"edit"}) {
		t.Fatalf("updated %q, want only edit", cu.updates)
	}
	got := stored(t, f, "edit")
	if want := []string{"list pods", "get pods"}; !slices.Equal(show(got.GetRules()), want) {
		t.Errorf("edit rules = %q, want %q", show(got.GetRules()), want)
	}
	want := proto.Clone(edit).(*rbacv1.ClusterRole)
	want.Rules, got = nil, proto.Clone(got).(*rbacv1.ClusterRole)
	got.Rules, got.Metadata.ResourceVersion = nil, ""
	if !proto.Equal(got, want) {
		t.Errorf("edit beyond its rules changed:\n got %v\nwant %v", got, want)
	}
}

// TestLabelChangesAddAndRemoveRules runs the controller: labelling a role adds its rules to
// the aggregated role, a second level (view feeding edit) follows, and removing the label
// or deleting the role takes them away again. Once converged, nothing more is written.
func TestLabelChangesAddAndRemoveRules(t *testing.T) {
	c, f, cu := fixture(t,
		aggregated("edit", nil, map[string]string{toEdit: "true"}),
		aggregated("view", []string{toEdit + "=true"}, map[string]string{"view": "true"}),
		role("reader", []string{"view=true"}, rule("get", "pods")),
		role("writer", nil, rule("create", "pods")))
	ctx, cancel := context.WithCancel(f.Ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	rulesOf := func(what, name string, want ...string) {
		t.Helper()
		controllertest.Eventually(t, what, func() (bool, string) {
			got := show(stored(t, f, name).GetRules())
			return slices.Equal(got, want), fmt.Sprintf("%s rules %q, want %q", name, got, want)
		})
	}
	rulesOf("view aggregated", "view", "get pods")
	rulesOf("edit aggregated through view", "edit", "get pods")

	f.Transport.UpdateObject(role("writer", []string{toEdit + "=true"}, rule("create", "pods")))
	rulesOf("labelled writer added", "edit", "get pods", "create pods") // "view" < "writer"

	f.Transport.UpdateObject(role("writer", nil, rule("create", "pods")))
	rulesOf("unlabelled writer removed", "edit", "get pods")

	f.Transport.DeleteObject(role("reader", nil))
	rulesOf("deleted reader gone from view", "view")
	rulesOf("and so from edit", "edit")

	// Converged: a sync of every aggregated role writes nothing.
	n := cu.count()
	for _, name := range []string{"edit", "view"} {
		if err := c.sync(f.Ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if cu.count() != n {
		t.Fatalf("converged roles were written again: %q", cu.updates[n:])
	}
}

// TestEventsQueueAggregatedRoles: any ClusterRole change queues every aggregated role and
// only those; a resync of an unchanged role queues nothing.
func TestEventsQueueAggregatedRoles(t *testing.T) {
	c, f, _ := fixture(t, aggregated("edit", nil, map[string]string{toEdit: "true"}),
		aggregated("admin", nil, map[string]string{"x": "y"}), role("plain", nil))
	if got, want := controllertest.DrainQueue(c.queue), []string{"admin", "edit"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q after the initial list, want %q", got, want)
	}
	f.Transport.AddObject(role("new", nil, rule("get", "pods")))
	controllertest.Eventually(t, "keys queued", func() (bool, string) { return c.queue.Len() == 2, "" })
	if got, want := controllertest.DrainQueue(c.queue), []string{"admin", "edit"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q after a create, want %q", got, want)
	}
}
