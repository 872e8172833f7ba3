package rbac

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/registry"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// The bootstrap policy: kube-apiserver's plugin/pkg/auth/authorizer/rbac/bootstrappolicy,
// trimmed to what kubelab's components do. Each component identity gets what its
// controllers, scheduler or kubelet need and no more; the admin group gets cluster-admin.
// Objects are created at start-up when missing and reconciled as Kubernetes reconciles them
// (see Ensure).

const group = "rbac.authorization.k8s.io"

// Well-known component identities, as their client certificates name them.
const (
	UserKubeScheduler         = "system:kube-scheduler"
	UserKubeControllerManager = "system:kube-controller-manager"
	UserKubeProxy             = "system:kube-proxy"
)

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch", "delete"}
	eventVerbs = []string{"create", "update", "patch"}
)

func rule(verbs []string, groups []string, resources ...string) *rbacv1.PolicyRule {
	return &rbacv1.PolicyRule{Verbs: verbs, ApiGroups: groups, Resources: resources}
}

func urls(verbs []string, paths ...string) *rbacv1.PolicyRule {
	return &rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var (
	core         = []string{""}
	apps         = []string{"apps"}
	coordination = []string{"coordination.k8s.io"}
	policy       = []string{"policy"}
	batch        = []string{"batch"}
	discovery    = []string{"discovery.k8s.io"}
	storageGroup = []string{"storage.k8s.io"}
	events       = []string{"", "events.k8s.io"}
)

func bootstrapMeta(name, namespace string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{
		Name: name, Namespace: namespace,
		Labels:      map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
		Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"},
	}
}

func clusterRole(name string, rules ...*rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{Kind: "ClusterRole", ApiVersion: group + "/v1", Metadata: bootstrapMeta(name, ""), Rules: rules}
}

func clusterRoleBinding(name, role string, subjects ...*rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		Kind: "ClusterRoleBinding", ApiVersion: group + "/v1", Metadata: bootstrapMeta(name, ""),
		RoleRef: &rbacv1.RoleRef{ApiGroup: group, Kind: "ClusterRole", Name: role}, Subjects: subjects,
	}
}

func userSubject(name string) *rbacv1.Subject {
	return &rbacv1.Subject{Kind: "User", ApiGroup: group, Name: name}
}

func groupSubject(name string) *rbacv1.Subject {
	return &rbacv1.Subject{Kind: "Group", ApiGroup: group, Name: name}
}

// fullAuthority is every permission there is: cluster-admin's rules, and what a user must
// hold to write a ClusterRole with an aggregationRule (which may gather anything).
func fullAuthority() []*rbacv1.PolicyRule { return authz.AllRules() }

// ClusterRoles is the bootstrap ClusterRoles.
func ClusterRoles() []*rbacv1.ClusterRole {
	return append(systemRoles(), userFacingRoles()...)
}

// systemRoles are the bootstrap ClusterRoles of kubelab's own components and of every user.
func systemRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		clusterRole("cluster-admin", fullAuthority()...),
		// Discovery and health, for every authenticated client (kubectl needs discovery).
		clusterRole("system:discovery",
			urls([]string{"get"}, "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/", "/openapi", "/openapi/*")),
		clusterRole("system:public-info-viewer",
			urls([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/")),
		// What anyone may ask about themselves (kubectl auth can-i, kubectl auth whoami).
		clusterRole("system:basic-user",
			rule([]string{"create"}, []string{"authorization.k8s.io"}, "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, []string{"authentication.k8s.io"}, "selfsubjectreviews")),
		clusterRole("system:kube-scheduler",
			rule(eventVerbs, events, "events"),
			rule(readVerbs, core, "nodes", "namespaces"),
			// delete: preemption removes lower-priority victims, as upstream's role allows.
			rule(join(readVerbs, []string{"delete"}), core, "pods"),
			rule([]string{"create"}, core, "pods/binding", "bindings"),
			rule([]string{"update", "patch"}, core, "pods/status"),
			// PodTopologySpread's default constraints select a pod's group by the Services,
			// ReplicaSets and StatefulSets that select it, as upstream's role allows
			// (upstream also reads replicationcontrollers, a kind kubelab has not).
			rule(readVerbs, core, "services"),
			rule(readVerbs, apps, "replicasets", "statefulsets"),
			// VolumeBinding reads claims, volumes and classes, as upstream's role.
			rule(readVerbs, core, "persistentvolumeclaims", "persistentvolumes"),
			rule(readVerbs, storageGroup, "storageclasses"),
			// Preemption spares the pods PodDisruptionBudgets protect, as upstream's role allows.
			rule(readVerbs, policy, "poddisruptionbudgets"),
			// Leader election: only its own Lease (named by --leader-elect-resource-name;
			// kube-scheduler by default), as upstream's resourceNames rule does.
			rule([]string{"create"}, coordination, "leases"),
			&rbacv1.PolicyRule{Verbs: []string{"get", "update", "patch"}, ApiGroups: coordination, Resources: []string{"leases"}, ResourceNames: []string{"kube-scheduler"}}),
		clusterRole("system:kube-controller-manager",
			rule(eventVerbs, events, "events"),
			// Leader election, and the node lifecycle controller's view of node heartbeats.
			rule(join(readVerbs, []string{"create", "update", "patch"}), coordination, "leases"),
			// Deployment, ReplicaSet, DaemonSet and StatefulSet controllers (the last two
			// keep their history in ControllerRevisions).
			rule(join(readVerbs, writeVerbs), apps, "deployments", "replicasets", "daemonsets", "statefulsets", "controllerrevisions"),
			rule([]string{"update", "patch"}, apps, "deployments/status", "replicasets/status", "daemonsets/status", "statefulsets/status"),
			rule(join(readVerbs, writeVerbs), core, "pods"),
			rule([]string{"update", "patch"}, core, "pods/status"),
			// Job controller: its pods are covered above. The cronjob controller creates
			// and deletes Jobs, and keeps its CronJobs' status.
			rule(join(readVerbs, writeVerbs), batch, "jobs"),
			rule([]string{"update", "patch"}, batch, "jobs/status"),
			rule(join(readVerbs, []string{"update", "patch"}), batch, "cronjobs"),
			rule([]string{"update", "patch"}, batch, "cronjobs/status"),
			// Endpoints and EndpointSlice controllers: they read services (and, above, pods;
			// below, nodes) and write the endpoints of each, as upstream's
			// system:controller:endpoint-controller and endpointslice-controller roles.
			rule(readVerbs, core, "services"),
			rule(join(readVerbs, writeVerbs), core, "endpoints"),
			rule(join(readVerbs, writeVerbs), discovery, "endpointslices"),
			// Persistent volume binder (and provisioners), as upstream's
			// system:controller:persistent-volume-binder: it binds claims to volumes on both
			// sides, makes and deletes volumes, and reads classes. The pvc- and
			// pv-protection controllers update claims and volumes to drop their finalizers.
			rule(join(readVerbs, []string{"create", "update", "patch", "delete"}), core, "persistentvolumes"),
			rule([]string{"update", "patch"}, core, "persistentvolumes/status", "persistentvolumeclaims/status"),
			rule(join(readVerbs, []string{"update", "patch"}), core, "persistentvolumeclaims"),
			rule(readVerbs, storageGroup, "storageclasses"),
			// StatefulSet controller: it makes the claims of volumeClaimTemplates (and,
			// above, updates their owners for the retention policy), as upstream's
			// system:controller:statefulset-controller.
			rule([]string{"create"}, core, "persistentvolumeclaims"),
			// Node lifecycle and IPAM controllers.
			rule(join(readVerbs, []string{"update", "patch", "delete"}), core, "nodes"),
			rule([]string{"update", "patch"}, core, "nodes/status"),
			// Namespace controller.
			rule(join(readVerbs, []string{"update", "delete"}), core, "namespaces"),
			rule([]string{"update"}, core, "namespaces/finalize", "namespaces/status"),
			// Resource quota controller: reads quotas (and, above, lists pods) and writes
			// their usage. The catch-alls below cover these too; named here so narrowing
			// them cannot silently stop quota from coming back.
			rule(readVerbs, core, "resourcequotas"),
			rule([]string{"update"}, core, "resourcequotas/status"),
			// Service account and root CA publisher controllers: each namespace's "default"
			// ServiceAccount and kube-root-ca.crt ConfigMap (updates are covered below).
			rule([]string{"create"}, core, "serviceaccounts", "configmaps"),
			// Disruption controller: reads budgets (and, above, pods, replica sets and
			// deployments for their scale) and writes their status.
			rule(readVerbs, policy, "poddisruptionbudgets"),
			rule([]string{"update"}, policy, "poddisruptionbudgets/status"),
			// ClusterRole aggregation controller: writes the rules of aggregated roles. Those
			// may hold anything, and the escalation check refuses a role granting what its
			// writer lacks unless the writer may "escalate" roles: upstream's
			// system:controller:clusterrole-aggregation-controller holds it for that reason.
			// (Reading ClusterRoles is covered by the catch-all below.)
			rule([]string{"escalate", "update"}, rbacGroup, "clusterroles"),
			// Garbage collector and namespace cleanup: read and delete anything, and update
			// (ownerReferences, finalizers) the workload groups, not RBAC or webhooks.
			rule(join(readVerbs, []string{"delete", "deletecollection"}), []string{"*"}, "*"),
			rule([]string{"update", "patch"}, []string{"", "apps", "batch", "coordination.k8s.io", "discovery.k8s.io", "policy"}, "*")),
		// Kubelets: what every node may do; what concerns one node only (its pods, its Node,
		// its Lease, tokens for its pods' service accounts) is the Node authorizer's, which
		// looks at the object. Upstream's role also lists serviceaccounts/token, but binds the
		// role to no one; kubelab binds it to system:nodes, where that rule would let any
		// kubelet ask for any account's token.
		clusterRole("system:node",
			rule(readVerbs, core, "nodes"),
			// Services, for the environment variables of pods (upstream's serviceLister).
			rule(readVerbs, core, "services"),
			// Not the claims its pods mount or the volumes bound to them, which upstream's role
			// lists: bound to system:nodes, that rule would let any kubelet read every claim.
			// The Node authorizer allows them per pod.
			rule(eventVerbs, events, "events")),
		// A node's service proxy: what it routes (services and their endpoints) and its own
		// Node, as upstream's role. Upstream binds it to system:kube-proxy only; kubelab also
		// binds it to system:nodes, so a proxy may run with its node's credentials.
		clusterRole("system:node-proxier",
			rule([]string{"list", "watch"}, core, "endpoints", "services"),
			rule([]string{"get"}, core, "nodes"),
			rule(eventVerbs, events, "events"),
			rule([]string{"list", "watch"}, discovery, "endpointslices")),
		// The scheduler's VolumeBinding binds and provisions claims when their class waits
		// for the first consumer, as upstream's system:volume-scheduler (bound to the
		// scheduler).
		clusterRole("system:volume-scheduler",
			rule([]string{"get", "list", "patch", "update", "watch"}, core, "persistentvolumes"),
			rule(readVerbs, storageGroup, "storageclasses"),
			rule([]string{"get", "list", "patch", "update", "watch"}, core, "persistentvolumeclaims")),
		// Service account issuer discovery (the OIDC documents), for every service account.
		clusterRole("system:service-account-issuer-discovery",
			urls([]string{"get"}, "/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/")),
	}
}

// ClusterRoleBindings is the bootstrap ClusterRoleBindings.
func ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return []*rbacv1.ClusterRoleBinding{
		clusterRoleBinding("cluster-admin", "cluster-admin", groupSubject("system:masters")),
		clusterRoleBinding("system:discovery", "system:discovery", groupSubject("system:authenticated")),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer", groupSubject("system:authenticated"), groupSubject("system:unauthenticated")),
		clusterRoleBinding("system:basic-user", "system:basic-user", groupSubject("system:authenticated")),
		clusterRoleBinding("system:kube-scheduler", "system:kube-scheduler", userSubject(UserKubeScheduler)),
		clusterRoleBinding("system:volume-scheduler", "system:volume-scheduler", userSubject(UserKubeScheduler)),
		clusterRoleBinding("system:kube-controller-manager", "system:kube-controller-manager", userSubject(UserKubeControllerManager)),
		clusterRoleBinding("system:node", "system:node", groupSubject("system:nodes")),
		clusterRoleBinding("system:node-proxier", "system:node-proxier", userSubject(UserKubeProxy), groupSubject("system:nodes")),
		clusterRoleBinding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", groupSubject("system:serviceaccounts")),
	}
}

// AutoUpdateAnnotation set to "false" on a bootstrap object keeps Ensure from changing it.
const AutoUpdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"

// Ensure creates every bootstrap object that is missing and reconciles the others as
// kube-apiserver does at start-up: a ClusterRole gets the bootstrap rules it does not
// cover, a ClusterRoleBinding the subjects it lacks, and a binding whose roleRef differs
// (roleRef is immutable) is deleted and created again. Nothing is removed, so an operator's
// additions survive restarts, and an object annotated autoupdate "false" is left as it is.
// A cluster whose data predates a policy change (a new permission for every user) gets it
// on its next start. Concurrent starts are safe: a write that loses a race reads again.
func Ensure(ctx context.Context, st Stores) error {
	for _, want := range ClusterRoles() {
		if err := ensure(ctx, st.ClusterRoles, want, reconcileRole); err != nil {
			return err
		}
	}
	for _, want := range ClusterRoleBindings() {
		if err := ensure(ctx, st.ClusterRoleBindings, want, reconcileBinding); err != nil {
			return err
		}
	}
	return nil
}

// reconcileFunc returns what to write in place of cur to hold what want holds: nil when cur
// already does, or recreate when cur must be deleted and want created.
type reconcileFunc func(cur, want runtime.Object) (next runtime.Object, recreate bool)

// ensureAttempts bounds the reads and writes of one object when others write it too.
const ensureAttempts = 5

func ensure(ctx context.Context, store *registry.Store, want runtime.Object, reconcile reconcileFunc) error {
	name := want.GetMetadata().GetName()
	for range ensureAttempts {
		cur, err := store.Get(ctx, "", name)
		if apierrors.IsNotFound(err) {
			_, err = store.Create(ctx, "", want, registry.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue // created a moment ago by another apiserver: reconcile that
			}
			if err != nil {
				return fmt.Errorf("create %s %s: %w", store.Resource.Plural, name, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", store.Resource.Plural, name, err)
		}
		if cur.GetMetadata().GetAnnotations()[AutoUpdateAnnotation] == "false" {
			return nil
		}
		next, recreate := reconcile(cur, want)
		switch {
		case recreate:
			m := cur.GetMetadata()
			_, err = store.Delete(ctx, "", name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{Uid: proto.String(m.GetUid()), ResourceVersion: proto.String(m.GetResourceVersion())}})
		case next != nil:
			_, err = store.Update(ctx, "", name, next, registry.UpdateOptions{}) // at cur's resourceVersion
		default:
			return nil
		}
		switch {
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			continue // changed meanwhile: read again
		case err != nil:
			return fmt.Errorf("reconcile %s %s: %w", store.Resource.Plural, name, err)
		case !recreate:
			return nil
		}
	}
	return fmt.Errorf("reconcile %s %s: it kept changing under %d attempts", store.Resource.Plural, name, ensureAttempts)
}

// reconcileRole adds to a ClusterRole what the bootstrap one has and it lacks, as
// Kubernetes' reconciler does: labels and annotations it does not carry (its own values
// win), one rule per missing permission, and the aggregationRule selectors it lacks. A
// role that should not aggregate loses its aggregationRule: aggregation would overwrite
// the bootstrap rules. The rules of an aggregated role are the aggregation controller's and
// are left as they are.
func reconcileRole(cur, want runtime.Object) (runtime.Object, bool) {
	role, w := cur.(*rbacv1.ClusterRole), want.(*rbacv1.ClusterRole)
	changed := false
	m := runtime.Meta(role)
	m.Labels, changed = mergeMissing(m.Labels, w.GetMetadata().GetLabels(), changed)
	m.Annotations, changed = mergeMissing(m.Annotations, w.GetMetadata().GetAnnotations(), changed)
	if covered, missing := Covers(role.GetRules(), w.GetRules()); !covered {
		role.Rules = append(role.Rules, missing...)
		changed = true
	}
	switch {
	case w.GetAggregationRule() == nil && role.GetAggregationRule() != nil:
		role.AggregationRule = nil
		changed = true
	case w.GetAggregationRule() != nil:
		if role.AggregationRule == nil {
			role.AggregationRule = &rbacv1.AggregationRule{}
		}
		for _, sel := range w.GetAggregationRule().GetClusterRoleSelectors() {
			if !slices.ContainsFunc(role.AggregationRule.ClusterRoleSelectors, func(have *metav1.LabelSelector) bool { return proto.Equal(have, sel) }) {
				role.AggregationRule.ClusterRoleSelectors = append(role.AggregationRule.ClusterRoleSelectors, sel)
				changed = true
			}
		}
	}
	if !changed {
		return nil, false
	}
	return role, false
}

// mergeMissing adds to have the keys of want it lacks, and reports changed (or'ed with the
// changed passed in) if it added any.
func mergeMissing(have, want map[string]string, changed bool) (map[string]string, bool) {
	for k, v := range want {
		if _, ok := have[k]; !ok {
			if have == nil {
				have = map[string]string{}
			}
			have[k] = v
			changed = true
		}
	}
	return have, changed
}

// reconcileBinding adds to a ClusterRoleBinding the bootstrap subjects it does not name, or
// asks for it to be recreated when it binds another role.
func reconcileBinding(cur, want runtime.Object) (runtime.Object, bool) {
	b, w := cur.(*rbacv1.ClusterRoleBinding), want.(*rbacv1.ClusterRoleBinding)
	if !proto.Equal(b.GetRoleRef(), w.GetRoleRef()) {
		return nil, true
	}
	added := false
	for _, sub := range w.GetSubjects() {
		if !slices.ContainsFunc(b.GetSubjects(), func(have *rbacv1.Subject) bool { return proto.Equal(have, sub) }) {
			b.Subjects = append(b.Subjects, sub)
			added = true
		}
	}
	if !added {
		return nil, false
	}
	return b, false
}
