// Package storageprotection is the StorageObjectInUseProtection admission plugin: every new
// PersistentVolumeClaim gets the kubernetes.io/pvc-protection finalizer and every new
// PersistentVolume kubernetes.io/pv-protection, so that neither goes while in use: the
// pvc-protection controller removes the first once no pod uses the claim, the pv-protection
// controller the second once no claim is bound to the volume.
package storageprotection

import (
	"context"
	"slices"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "StorageObjectInUseProtection"

// Plugin is the StorageObjectInUseProtection admission plugin.
type Plugin struct{}

func New() *Plugin { return &Plugin{} }

func (p *Plugin) Name() string { return PluginName }

// Handles: creates only, as upstream; a finalizer removed later stays removed.
func (p *Plugin) Handles(op admission.Operation) bool { return op == admission.Create }

// Admit adds the protection finalizer to a new claim or volume that lacks it.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.ResourceGroup != "" || a.Subresource != "" {
		return nil
	}
	var finalizer string
	switch a.Object.(type) {
	case *corev1.PersistentVolumeClaim:
		finalizer = corev1.PVCProtectionFinalizer
	case *corev1.PersistentVolume:
		finalizer = corev1.PVProtectionFinalizer
	default:
		return nil
	}
	meta := runtime.Meta(a.Object)
	if !slices.Contains(meta.Finalizers, finalizer) {
		meta.Finalizers = append(meta.Finalizers, finalizer)
	}
	return nil
}
