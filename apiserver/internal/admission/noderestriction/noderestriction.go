// Package noderestriction is the NodeRestriction admission plugin: a kubelet
// (system:node:<name> in system:nodes) may only write its own Node object, the pods bound
// to it, and its own Lease, and may not give its Node labels outside the prefixes kubelets
// own — so a compromised node cannot attract other workloads by labelling itself, as
// Kubernetes' plugin/pkg/admission/noderestriction. A kubelet's service account tokens must
// be bound to a pod scheduled on its node, so a stolen kubelet credential cannot mint
// long-lived tokens for pods elsewhere. It complements the Node authorizer, which cannot see
// request bodies.
package noderestriction

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/authz/node"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "NodeRestriction"

type Plugin struct {
	getPod node.PodGetter
}

// New returns the plugin; getPod reads the pod a kubelet's token request is bound to (from
// the watch cache, as upstream's plugin reads its pod informer).
func New(getPod node.PodGetter) *Plugin { return &Plugin{getPod: getPod} }

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(admission.Operation) bool { return true }

func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	nodeName, ok := node.NodeName(a.User)
	if !ok {
		return nil
	}
	forbid := func(format string, args ...any) error {
		return apierrors.NewForbidden(apierrors.GroupResource{Group: a.Kind.Group, Resource: a.Resource}, a.Name, fmt.Errorf(format, args...))
	}
	switch {
	case a.Kind.Group == "" && a.Resource == "pods":
		switch a.Subresource {
		case "":
			switch a.Operation {
			case admission.Create:
				return forbid("pod does not have %q annotation, node %q can only create mirror pods", "kubernetes.io/config.mirror", nodeName)
			case admission.Delete:
				if boundTo(a.OldObject) != nodeName {
					return forbid("node %q can only delete pods with spec.nodeName set to itself", nodeName)
				}
			default:
				// The kubelet confirms a graceful deletion by deleting with grace period 0,
				// not by updating; any other pod change is the controllers'.
				return forbid("node %q can only update pod status", nodeName)
			}
		case "status":
			if boundTo(a.OldObject) != nodeName {
				return forbid("node %q can only update pod status for pods with spec.nodeName set to itself", nodeName)
			}
		case "eviction":
			// The eviction's delete of the pod comes through here as a delete, where
			// the pod must be bound to this node.
			return nil
		default:
			return forbid("unexpected subresource %q", a.Subresource)
		}
	case a.Kind.Group == "" && a.Resource == "nodes":
		if a.Name != nodeName {
			return forbid("node %q is not allowed to modify node %q", nodeName, a.Name)
		}
		n, _ := a.Object.(*corev1.Node)
		old, _ := a.OldObject.(*corev1.Node)
		switch {
		case a.Operation == admission.Create && n != nil:
			if bad := forbiddenLabels(n.GetMetadata().GetLabels(), nil); len(bad) > 0 {
				return forbid("node %q is not allowed to set the following labels: %s", nodeName, strings.Join(bad, ", "))
			}
		case a.Operation == admission.Update && n != nil && old != nil:
			if bad := forbiddenLabels(n.GetMetadata().GetLabels(), old.GetMetadata().GetLabels()); len(bad) > 0 {
				return forbid("is not allowed to modify labels: %s", strings.Join(bad, ", "))
			}
		case a.Operation == admission.Delete:
			return forbid("node %q is not allowed to delete nodes", nodeName)
		}
	case a.Resource == "serviceaccounts" && a.Subresource == "token" && a.Operation == admission.Create:
		// The body is an authentication.k8s.io TokenRequest; the resource is core's.
		return p.token(ctx, nodeName, a)
	case a.Kind.Group == "coordination.k8s.io" && a.Resource == "leases":
		if a.Namespace != node.LeaseNamespace || a.Name != nodeName {
			return forbid("can only access node lease with the same name as the requesting node")
		}
	}
	return nil
}

// token checks a kubelet's TokenRequest: it must be bound, by uid, to a pod that exists and
// is scheduled on the kubelet's node.
func (p *Plugin) token(ctx context.Context, nodeName string, a *admission.Attributes) error {
	forbid := func(format string, args ...any) error {
		return apierrors.NewForbidden(apierrors.GroupResource{Resource: a.Resource}, a.Name, fmt.Errorf(format, args...))
	}
	tr, ok := a.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return forbid("unexpected type %T", a.Object)
	}
	ref := tr.GetSpec().GetBoundObjectRef()
	if ref == nil || ref.GetApiVersion() != "v1" || ref.GetKind() != "Pod" || ref.GetName() == "" {
		return forbid("node requested token not bound to a pod")
	}
	if ref.GetUid() == "" {
		return forbid("node requested token with a pod binding without a uid")
	}
	if p.getPod == nil {
		return forbid("cannot look up pod %q", ref.GetName())
	}
	pod, err := p.getPod(ctx, a.Namespace, ref.GetName())
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return forbid("%v", err)
	}
	if pod.GetMetadata().GetUid() != ref.GetUid() {
		return forbid("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.GetUid())
	}
	if pod.GetSpec().GetNodeName() != nodeName {
		return forbid("node requested token bound to a pod scheduled on a different node")
	}
	return nil
}

func boundTo(obj any) string {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return ""
	}
	return pod.GetSpec().GetNodeName()
}

// forbiddenLabels lists the labels in the kubernetes.io and k8s.io namespaces that a
// kubelet may not set or change (old is nil on create), sorted.
func forbiddenLabels(labels, old map[string]string) []string {
	var bad []string
	check := func(k string) {
		if !slices.Contains(bad, k) && !kubeletMaySet(k) {
			bad = append(bad, k)
		}
	}
	for k, v := range labels {
		if ov, ok := old[k]; !ok || ov != v {
			check(k)
		}
	}
	for k := range old {
		if _, ok := labels[k]; !ok {
			check(k)
		}
	}
	slices.Sort(bad)
	return bad
}

var kubeletLabels = []string{
	"kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
	"beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
	"failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
	"topology.kubernetes.io/zone", "topology.kubernetes.io/region",
	"node.kubernetes.io/instance-type", "node.kubernetes.io/windows-build",
}

// kubeletMaySet is Kubernetes' rule: labels outside the kubernetes.io and k8s.io
// namespaces are free; inside them, only the well-known kubelet labels and the
// kubelet.kubernetes.io/ and node.kubernetes.io/ prefixes — never node-restriction.kubernetes.io/.
func kubeletMaySet(key string) bool {
	prefix, _, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		return true
	}
	if prefix == "node-restriction.kubernetes.io" || strings.HasSuffix(prefix, ".node-restriction.kubernetes.io") {
		return false
	}
	kube := prefix == "kubernetes.io" || strings.HasSuffix(prefix, ".kubernetes.io") || prefix == "k8s.io" || strings.HasSuffix(prefix, ".k8s.io")
	if !kube {
		return true
	}
	if slices.Contains(kubeletLabels, key) {
		return true
	}
	return prefix == "kubelet.kubernetes.io" || strings.HasSuffix(prefix, ".kubelet.kubernetes.io") ||
		prefix == "node.kubernetes.io" || strings.HasSuffix(prefix, ".node.kubernetes.io")
}
