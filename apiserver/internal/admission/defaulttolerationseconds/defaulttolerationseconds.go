// Package defaulttolerationseconds is the DefaultTolerationSeconds admission plugin: a pod
// tolerates its node being not-ready or unreachable (the NoExecute taints the node lifecycle
// controller puts on such a node) for a while, 300 seconds unless the apiserver is told
// otherwise, unless it says itself how long it tolerates them. Its pods are then evicted that
// long after the taint, not at once.
package defaulttolerationseconds

import (
	"context"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "DefaultTolerationSeconds"

// DefaultSeconds is how long a pod tolerates each taint unless the apiserver's
// --default-not-ready-toleration-seconds or --default-unreachable-toleration-seconds say
// otherwise.
const DefaultSeconds = 300

// Plugin is the DefaultTolerationSeconds admission plugin.
type Plugin struct {
	notReadySeconds, unreachableSeconds int64
}

// New returns the plugin, adding tolerations of notReadySeconds and unreachableSeconds.
func New(notReadySeconds, unreachableSeconds int64) *Plugin {
	return &Plugin{notReadySeconds: notReadySeconds, unreachableSeconds: unreachableSeconds}
}

func (p *Plugin) Name() string { return PluginName }

// Handles creates and updates, as upstream: an update that drops the tolerations gets them
// back (validation allows adding tolerations to a pod, not removing them).
func (p *Plugin) Handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

// Admit adds, to a pod (not its subresources), a toleration of each taint it does not
// tolerate with NoExecute already: one naming the key, or with an empty key (every taint),
// with effect NoExecute or empty (every effect). Its operator and value do not matter, as
// upstream: a pod that tolerates not-ready:NoExecute only for value "x" gets no default.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Resource != "pods" || a.ResourceGroup != "" || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	for _, d := range []struct {
		key     string
		seconds int64
	}{{corev1.TaintNodeNotReady, p.notReadySeconds}, {corev1.TaintNodeUnreachable, p.unreachableSeconds}} {
		if !toleratesNoExecute(pod.Spec.Tolerations, d.key) {
			seconds := d.seconds
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, &corev1.Toleration{
				Key: d.key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds,
			})
		}
	}
	return nil
}

func toleratesNoExecute(tolerations []*corev1.Toleration, key string) bool {
	for _, t := range tolerations {
		if (t.GetKey() == key || t.GetKey() == "") && (t.GetEffect() == corev1.TaintEffectNoExecute || t.GetEffect() == "") {
			return true
		}
	}
	return false
}
