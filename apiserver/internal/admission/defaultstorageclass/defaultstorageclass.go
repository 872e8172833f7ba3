// Package defaultstorageclass is the DefaultStorageClass admission plugin: a
// PersistentVolumeClaim created without spec.storageClassName gets the default
// StorageClass's name (the one annotated storageclass.kubernetes.io/is-default-class=true,
// the newest of several). A claim with storageClassName "" asks for no class and is left
// alone, as is every claim when no class is the default.
package defaultstorageclass

import (
	"context"
	"fmt"
	"log/slog"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "DefaultStorageClass"

// ListClasses lists every StorageClass (from the watch cache).
type ListClasses func(ctx context.Context) ([]*storagev1.StorageClass, error)

// Plugin is the DefaultStorageClass admission plugin.
type Plugin struct {
	list ListClasses
	log  *slog.Logger
}

// New returns the plugin; log may be nil.
func New(list ListClasses, log *slog.Logger) *Plugin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Plugin{list: list, log: log}
}

func (p *Plugin) Name() string { return PluginName }

// Handles: only creates, as upstream; a claim's class is immutable afterwards (but for the
// persistent volume controller's retroactive default, which is not admission's).
func (p *Plugin) Handles(op admission.Operation) bool { return op == admission.Create }

// Admit sets the default class on a new claim that names none.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Resource != "persistentvolumeclaims" || a.ResourceGroup != "" || a.Subresource != "" {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	if pvc.GetSpec().StorageClassName != nil {
		return nil
	}
	if _, ok := pvc.GetMetadata().GetAnnotations()[corev1.BetaStorageClassAnnotation]; ok {
		return nil
	}
	classes, err := p.list(ctx)
	if err != nil {
		return apierrors.NewForbidden(apierrors.GroupResource{Resource: "persistentvolumeclaims"}, a.Name, fmt.Errorf("error getting default StorageClass: %w", err))
	}
	def := storagev1.DefaultClass(classes)
	if def == nil {
		return nil
	}
	name := def.GetMetadata().GetName()
	if pvc.Spec == nil {
		pvc.Spec = &corev1.PersistentVolumeClaimSpec{}
	}
	pvc.Spec.StorageClassName = &name
	p.log.Debug("defaulting storage class for claim", "namespace", a.Namespace, "name", pvc.GetMetadata().GetName(), "storageClass", name)
	return nil
}
