package server

import (
	"context"
	"fmt"

	"kubelab.io/apiserver/internal/registry"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/scheme"
)

// bootstrapPriorityClasses creates the system PriorityClasses (system-node-critical,
// system-cluster-critical) when missing, as kube-apiserver's post-start hook does: critical
// add-ons (cluster DNS) name them, and a pod naming a class that does not exist is refused.
// A class that exists is left as it is; validation keeps its value and the store refuses
// its deletion, so what exists is what was created.
func (s *Server) bootstrapPriorityClasses(ctx context.Context) error {
	store := s.store(scheme.GroupScheduling, "priorityclasses")
	for _, pc := range schedulingv1.SystemPriorityClasses() {
		name := pc.GetMetadata().GetName()
		if _, err := store.Get(ctx, "", name); err == nil {
			continue
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("read PriorityClass %s: %w", name, err)
		}
		if _, err := store.Create(ctx, "", pc, registry.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create PriorityClass %s: %w", name, err)
		}
		s.log.Info("created PriorityClass", "name", name, "value", pc.GetValue())
	}
	return nil
}
