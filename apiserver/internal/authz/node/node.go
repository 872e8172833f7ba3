// Package node is the Node authorizer (--authorization-mode=Node): it lets a kubelet,
// authenticated as system:node:<name> in group system:nodes, touch what belongs to its own
// node and nothing else — the pods bound to it (read them, write their status, confirm
// their deletion), the ConfigMaps and Secrets those pods reference (get them, or list and
// watch one of them alone with a metadata.name field selector), the PersistentVolumeClaims
// they mount (get them, and their status) and the PersistentVolumes bound to those claims
// (get them), tokens for
// the service accounts those pods run as (serviceaccounts/token), its own Node object and its
// status, its own Lease in kube-node-lease, and events. For anything else it
// has no opinion (RBAC may still allow it); for requests from other users it has no opinion
// at all.
//
// Kubernetes' Node authorizer keeps a graph of pods, nodes and what they reference, updated
// by informers. kubelab instead answers each question from the watch cache: the one pod a
// request names, or, for a ConfigMap or Secret, the node's pods in its namespace and their
// references (volumes, env valueFrom, envFrom, and imagePullSecrets for secrets). That costs
// a walk over the node's pods in one namespace per request, which is cheap at lab scale.
package node

import (
	"context"
	"errors"
	"slices"
	"strings"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/request"
	corev1 "kubelab.io/proto/api/core/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

const (
	// UserPrefix starts every kubelet's user name.
	UserPrefix = "system:node:"
	// LeaseNamespace holds the node heartbeat Leases.
	LeaseNamespace = "kube-node-lease"
)

// PodGetter reads a pod (from the watch cache where possible).
type PodGetter func(ctx context.Context, namespace, name string) (*corev1.Pod, error)

// NodePodLister lists the pods of a namespace bound to a node, or of every namespace for
// namespace "" (from the watch cache).
type NodePodLister func(ctx context.Context, namespace, node string) ([]*corev1.Pod, error)

// ClaimGetter reads a PersistentVolumeClaim (from the watch cache).
type ClaimGetter func(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)

// Authorizer is the Node authorizer.
type Authorizer struct {
	GetPod PodGetter
	// ListNodePods finds the pods that may reference a ConfigMap, Secret or claim; without
	// it a kubelet may read none.
	ListNodePods NodePodLister
	// GetClaim finds the volume a claim of the node's pods is bound to; without it a kubelet
	// may read no PersistentVolume.
	GetClaim ClaimGetter
}

// NodeName returns the node a user is the kubelet of, if any.
func NodeName(u *request.User) (string, bool) {
	if u == nil || !u.InGroup(request.GroupNodes) || !strings.HasPrefix(u.Name, UserPrefix) {
		return "", false
	}
	name := strings.TrimPrefix(u.Name, UserPrefix)
	return name, name != ""
}

// RulesFor cannot list a kubelet's rights: they depend on which pods are bound to its node,
// not on rules. So a kubelet's list is incomplete, as Kubernetes' Node authorizer says.
func (a *Authorizer) RulesFor(_ context.Context, u *request.User, _ string) ([]*rbacv1.PolicyRule, bool, error) {
	if _, ok := NodeName(u); ok {
		return nil, true, errors.New("node authorizer does not support user rule resolution")
	}
	return nil, false, nil
}

func (a *Authorizer) Authorize(ctx context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	node, ok := NodeName(attrs.User)
	info := attrs.Info
	if !ok || info == nil || !info.IsResourceRequest {
		return authz.NoOpinion, "", nil
	}
	switch info.APIGroup {
	case "":
		switch info.Resource {
		case "pods":
			return a.pods(ctx, node, info)
		case "nodes":
			return nodes(node, info)
		case "configmaps", "secrets":
			return a.referenced(ctx, node, info)
		case "persistentvolumeclaims":
			return a.claim(ctx, node, info)
		case "persistentvolumes":
			return a.volume(ctx, node, info)
		case "serviceaccounts":
			return a.createToken(ctx, node, info)
		case "events":
			if is(info.Verb, "create", "update", "patch") {
				return authz.Allow, "", nil
			}
		}
	case "events.k8s.io":
		if info.Resource == "events" && is(info.Verb, "create", "update", "patch") {
			return authz.Allow, "", nil
		}
	case "coordination.k8s.io":
		if info.Resource == "leases" && info.Namespace == LeaseNamespace && info.Subresource == "" {
			// A create names no object on the URL; NodeRestriction checks the body's name.
			if (info.Verb == "create" && info.Name == "") || (info.Name == node && is(info.Verb, "get", "update", "patch", "delete")) {
				return authz.Allow, "", nil
			}
		}
	}
	return authz.NoOpinion, "", nil
}

func (a *Authorizer) pods(ctx context.Context, node string, info *request.Info) (authz.Decision, string, error) {
	switch {
	case info.Subresource == "" && is(info.Verb, "list", "watch"):
		if selectsNode(info.FieldSelector, node) {
			return authz.Allow, "", nil
		}
		return authz.NoOpinion, "can only list/watch pods with spec.nodeName field selector", nil
	case info.Subresource == "" && is(info.Verb, "get", "delete"),
		info.Subresource == "status" && is(info.Verb, "get", "update", "patch"):
		if info.Name == "" {
			return authz.NoOpinion, "", nil
		}
		pod, err := a.GetPod(ctx, info.Namespace, info.Name)
		if err != nil {
			// Not found (or unreadable): no relationship to this node. A kubelet asking
			// about a pod that is gone gets 403 rather than 404, as in Kubernetes.
			return authz.NoOpinion, "no relationship found between node '" + node + "' and this object", nil
		}
		if pod.GetSpec().GetNodeName() == node {
			return authz.Allow, "", nil
		}
		return authz.NoOpinion, "no relationship found between node '" + node + "' and this object", nil
	}
	return authz.NoOpinion, "", nil
}

// referenced allows a kubelet to read a ConfigMap or Secret that a pod bound to its node
// references: get it, or list or watch it alone, with a field selector that pins
// metadata.name to it in its namespace — the kubelet keeps one such watch per referenced
// object instead of getting it on every pod sync, as Kubernetes' kubelet does. Kubernetes
// takes the name of such a list or watch from its field selector too. Nothing else: no
// list or watch of a namespace or of every namespace, no writes.
func (a *Authorizer) referenced(ctx context.Context, node string, info *request.Info) (authz.Decision, string, error) {
	noRelation := "no relationship found between node '" + node + "' and this object"
	if info.Subresource != "" || info.Namespace == "" || a.ListNodePods == nil {
		return authz.NoOpinion, noRelation, nil
	}
	var names []string
	switch {
	case info.Verb == "get" && info.Name != "":
		names = []string{info.Name}
	case is(info.Verb, "list", "watch") && info.Name == "":
		// Every object such a list returns has each pinned name, so one referenced name
		// is enough to bound it to that object.
		if names = pinned(info.FieldSelector, "metadata.name"); len(names) == 0 {
			return authz.NoOpinion, "can only list/watch individual " + info.Resource + " with a metadata.name field selector", nil
		}
	default:
		return authz.NoOpinion, noRelation, nil
	}
	pods, err := a.ListNodePods(ctx, info.Namespace, node)
	if err != nil {
		return authz.NoOpinion, noRelation, nil
	}
	for _, pod := range pods {
		if pod.GetSpec().GetNodeName() != node {
			continue
		}
		refs, secrets := PodReferences(pod)
		if info.Resource == "secrets" {
			refs = secrets
		}
		for _, ref := range refs {
			if slices.Contains(names, ref) {
				return authz.Allow, "", nil
			}
		}
	}
	return authz.NoOpinion, noRelation, nil
}

// claim allows a kubelet to get a PersistentVolumeClaim a pod bound to its node mounts, and
// to read and write its status (upstream's node rules: for volume expansion), nothing else.
func (a *Authorizer) claim(ctx context.Context, node string, info *request.Info) (authz.Decision, string, error) {
	noRelation := "no relationship found between node '" + node + "' and this object"
	if !(info.Subresource == "" && info.Verb == "get") && !(info.Subresource == "status" && is(info.Verb, "get", "update", "patch")) {
		return authz.NoOpinion, "can only get individual persistentvolumeclaims, or update their status", nil
	}
	if info.Name == "" || info.Namespace == "" || a.ListNodePods == nil {
		return authz.NoOpinion, noRelation, nil
	}
	pods, err := a.ListNodePods(ctx, info.Namespace, node)
	if err != nil {
		return authz.NoOpinion, noRelation, nil
	}
	for _, pod := range pods {
		if pod.GetSpec().GetNodeName() == node && slices.Contains(podClaims(pod), info.Name) {
			return authz.Allow, "", nil
		}
	}
	return authz.NoOpinion, noRelation, nil
}

// volume allows a kubelet to get a PersistentVolume bound to a claim that a pod bound to its
// node mounts.
func (a *Authorizer) volume(ctx context.Context, node string, info *request.Info) (authz.Decision, string, error) {
	noRelation := "no relationship found between node '" + node + "' and this object"
	if info.Subresource != "" || info.Verb != "get" {
		return authz.NoOpinion, "can only get individual persistentvolumes", nil
	}
	if info.Name == "" || a.ListNodePods == nil || a.GetClaim == nil {
		return authz.NoOpinion, noRelation, nil
	}
	pods, err := a.ListNodePods(ctx, "", node)
	if err != nil {
		return authz.NoOpinion, noRelation, nil
	}
	for _, pod := range pods {
		if pod.GetSpec().GetNodeName() != node {
			continue
		}
		for _, name := range podClaims(pod) {
			pvc, err := a.GetClaim(ctx, pod.GetMetadata().GetNamespace(), name)
			if err == nil && pvc.GetSpec().GetVolumeName() == info.Name {
				return authz.Allow, "", nil
			}
		}
	}
	return authz.NoOpinion, noRelation, nil
}

// podClaims returns the names of the PersistentVolumeClaims a pod's volumes mount: those
// of persistentVolumeClaim volumes and, as upstream's graph, <pod>-<volume> of ephemeral
// ones (the kubelet itself checks the pod owns such a claim).
func podClaims(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.GetSpec().GetVolumes() {
		if c := v.GetPersistentVolumeClaim(); c != nil {
			names = append(names, c.GetClaimName())
		} else if v.GetEphemeral() != nil {
			names = append(names, corev1.EphemeralClaimName(pod, v))
		}
	}
	return names
}

// createToken allows a kubelet to request a token (serviceaccounts/token) for a service
// account that a pod bound to its node runs as, and nothing else on service accounts. That
// the token is bound to such a pod, which the authorizer cannot see, is NodeRestriction's
// check.
func (a *Authorizer) createToken(ctx context.Context, node string, info *request.Info) (authz.Decision, string, error) {
	if info.Verb != "create" || info.Name == "" {
		return authz.NoOpinion, "can only create tokens for individual service accounts", nil
	}
	if info.Subresource != "token" {
		return authz.NoOpinion, "can only create token subresource of serviceaccount", nil
	}
	noRelation := "no relationship found between node '" + node + "' and this object"
	if a.ListNodePods == nil {
		return authz.NoOpinion, noRelation, nil
	}
	pods, err := a.ListNodePods(ctx, info.Namespace, node)
	if err != nil {
		return authz.NoOpinion, noRelation, nil
	}
	for _, pod := range pods {
		if pod.GetSpec().GetNodeName() == node && pod.GetSpec().GetServiceAccountName() == info.Name {
			return authz.Allow, "", nil
		}
	}
	return authz.NoOpinion, noRelation, nil
}

// PodReferences returns the names of the ConfigMaps and Secrets a pod references:
// configMap and secret volumes, imagePullSecrets, and its containers' env valueFrom and
// envFrom (init containers included).
func PodReferences(pod *corev1.Pod) (configMaps, secrets []string) {
	for _, v := range pod.GetSpec().GetVolumes() {
		if cm := v.GetConfigMap(); cm != nil {
			configMaps = append(configMaps, cm.GetName())
		}
		if s := v.GetSecret(); s != nil {
			secrets = append(secrets, s.GetSecretName())
		}
		// A projected volume's sources too: every pod's kube-api-access volume reads the
		// kube-root-ca.crt ConfigMap.
		for _, src := range v.GetProjected().GetSources() {
			if cm := src.GetConfigMap(); cm != nil {
				configMaps = append(configMaps, cm.GetName())
			}
			if s := src.GetSecret(); s != nil {
				secrets = append(secrets, s.GetName())
			}
		}
	}
	for _, r := range pod.GetSpec().GetImagePullSecrets() {
		secrets = append(secrets, r.GetName())
	}
	for _, c := range podContainers(pod) {
		for _, e := range c.GetEnvFrom() {
			if r := e.GetConfigMapRef(); r != nil {
				configMaps = append(configMaps, r.GetName())
			}
			if r := e.GetSecretRef(); r != nil {
				secrets = append(secrets, r.GetName())
			}
		}
		for _, e := range c.GetEnv() {
			if r := e.GetValueFrom().GetConfigMapKeyRef(); r != nil {
				configMaps = append(configMaps, r.GetName())
			}
			if r := e.GetValueFrom().GetSecretKeyRef(); r != nil {
				secrets = append(secrets, r.GetName())
			}
		}
	}
	return configMaps, secrets
}

func podContainers(pod *corev1.Pod) []*corev1.Container {
	return append(append([]*corev1.Container(nil), pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...)
}

func nodes(node string, info *request.Info) (authz.Decision, string, error) {
	switch info.Subresource {
	case "":
		// Create names no object on the URL; NodeRestriction checks the body's name.
		if info.Verb == "create" && info.Name == "" {
			return authz.Allow, "", nil
		}
		if info.Name == node && is(info.Verb, "get", "update", "patch") {
			return authz.Allow, "", nil
		}
	case "status":
		if info.Name == node && is(info.Verb, "get", "update", "patch") {
			return authz.Allow, "", nil
		}
	}
	return authz.NoOpinion, "", nil
}

// selectsNode reports whether a field selector pins spec.nodeName to node.
func selectsNode(selector, node string) bool {
	return slices.Contains(pinned(selector, "spec.nodeName"), node)
}

// pinned returns the values a field selector requires field to equal (its "field=v" and
// "field==v" terms; "!=" terms pin nothing).
func pinned(selector, field string) []string {
	var out []string
	for _, term := range strings.Split(selector, ",") {
		term = strings.TrimSpace(term)
		for _, op := range []string{"==", "="} {
			if k, v, ok := strings.Cut(term, op); ok && !strings.HasSuffix(k, "!") {
				if strings.TrimSpace(k) == field {
					out = append(out, strings.TrimSpace(v))
				}
				break
			}
		}
	}
	return out
}

func is(verb string, verbs ...string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}
