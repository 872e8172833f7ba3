package registry

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/storage"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// Bind assigns a pod to a node (POST pods/{name}/binding): it sets spec.nodeName and the
// PodScheduled condition in one write. A pod already bound, or being deleted, is a 409.
func (s *Store) Bind(ctx context.Context, namespace, name string, b *corev1.Binding, opts CreateOptions) error {
	target := b.GetTarget()
	var errs apierrors.FieldErrors
	if target.GetName() == "" {
		errs = append(errs, apierrors.Required("target.name", ""))
	}
	if k := target.GetKind(); k != "" && k != "Node" {
		errs = append(errs, apierrors.NotSupported("target.kind", k, []string{"Node"}))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid("Binding", "", name, errs)
	}
	var pre *storage.Preconditions
	if uid := b.GetMetadata().GetUid(); uid != "" {
		pre = &storage.Preconditions{UID: uid}
	}
	now := s.now()
	_, err := s.Storage.GuaranteedUpdate(ctx, s.Resource.Key(namespace, name), pre, func(cur runtime.Object) (runtime.Object, error) {
		pod := proto.Clone(cur).(*corev1.Pod)
		if pod.GetMetadata().GetDeletionTimestamp() != nil {
			return nil, apierrors.NewConflict(s.gr(), name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", name))
		}
		if n := pod.GetSpec().GetNodeName(); n != "" {
			return nil, apierrors.NewConflict(s.gr(), name, fmt.Errorf("pod %s is already assigned to node %q", name, n))
		}
		if pod.Spec == nil {
			pod.Spec = &corev1.PodSpec{}
		}
		pod.Spec.NodeName = target.GetName()
		if pod.Status == nil {
			pod.Status = &corev1.PodStatus{}
		}
		SetPodCondition(pod.Status, &corev1.PodCondition{
			Type: "PodScheduled", Status: "True", LastTransitionTime: &metav1.Time{Seconds: now.Unix()},
		})
		attrs := s.attributes(ctx, admission.Create, "binding", pod, cur)
		attrs.DryRun = opts.DryRun
		if err := s.Admission.Admit(ctx, attrs); err != nil {
			return nil, err
		}
		if err := s.Admission.Validate(ctx, attrs); err != nil {
			return nil, err
		}
		if opts.DryRun {
			return nil, errDryRun
		}
		return pod, nil
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	if err != nil {
		return s.storageError(err, name)
	}
	return nil
}

// Evict deletes a pod the way its eviction subresource does (POST pods/{name}/eviction, what
// `kubectl drain` sends): a graceful delete with the Eviction's deleteOptions. Kubernetes
// first checks the PodDisruptionBudgets that cover the pod and answers 429 when one would be
// broken; kubelab serves no PodDisruptionBudgets, so no eviction is ever refused for one.
func (s *Store) Evict(ctx context.Context, namespace, name string, ev *policyv1.Eviction, opts CreateOptions) error {
	if n := ev.GetMetadata().GetName(); n != name {
		return apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object: %q != %q", name, n))
	}
	if ns := ev.GetMetadata().GetNamespace(); ns != "" && ns != namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("namespace in URL does not match namespace in Eviction object: %q != %q", namespace, ns))
	}
	del := proto.Clone(ev.GetDeleteOptions()).(*metav1.DeleteOptions)
	if del == nil {
		del = &metav1.DeleteOptions{}
	}
	if opts.DryRun && !dryRun(del) {
		del.DryRun = append(del.DryRun, "All")
	}
	_, err := s.Delete(ctx, namespace, name, del)
	return err
}

// SetPodCondition adds c, or replaces the condition of the same type. The transition time
// is kept when the status did not change.
func SetPodCondition(status *corev1.PodStatus, c *corev1.PodCondition) {
	for i, old := range status.Conditions {
		if old.GetType() == c.GetType() {
			if old.GetStatus() == c.GetStatus() && old.LastTransitionTime != nil {
				c.LastTransitionTime = old.LastTransitionTime
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}

func replicasAndSelector(obj runtime.Object) (spec int32, status int32, sel *metav1.LabelSelector, ok bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.GetSpec().GetReplicas(), o.GetStatus().GetReplicas(), o.GetSpec().GetSelector(), true
	case *appsv1.ReplicaSet:
		return o.GetSpec().GetReplicas(), o.GetStatus().GetReplicas(), o.GetSpec().GetSelector(), true
	}
	return 0, 0, nil, false
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = proto.Int32(n)
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = proto.Int32(n)
	}
}

// ScaleOf returns the autoscaling/v1 Scale view of a Deployment or ReplicaSet.
func ScaleOf(obj runtime.Object) (*appsv1.Scale, error) {
	spec, status, sel, ok := replicasAndSelector(obj)
	if !ok {
		return nil, apierrors.NewBadRequest("the scale subresource is not served for this kind")
	}
	selector := ""
	if s, err := labels.FromLabelSelector(sel); err == nil {
		selector = s.String()
	}
	m := obj.GetMetadata()
	return &appsv1.Scale{
		Kind: "Scale", ApiVersion: "autoscaling/v1",
		Metadata: &metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), Uid: m.GetUid(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   &appsv1.ScaleSpec{Replicas: spec},
		Status: &appsv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

// GetScale serves GET {resource}/{name}/scale.
func (s *Store) GetScale(ctx context.Context, namespace, name string) (*appsv1.Scale, error) {
	obj, err := s.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return ScaleOf(obj)
}

// UpdateScale serves PUT {resource}/{name}/scale: it changes spec.replicas only, honouring
// the Scale's resourceVersion when it carries one.
func (s *Store) UpdateScale(ctx context.Context, namespace, name string, scale *appsv1.Scale, opts UpdateOptions) (*appsv1.Scale, error) {
	if r := scale.GetSpec().GetReplicas(); r < 0 {
		return nil, apierrors.NewInvalid("Scale", "autoscaling", name, apierrors.FieldErrors{
			apierrors.Invalid("spec.replicas", r, "must be greater than or equal to 0"),
		})
	}
	var pre *storage.Preconditions
	if rv := scale.GetMetadata().GetResourceVersion(); rv != "" {
		pre = &storage.Preconditions{ResourceVersion: rv}
	}
	var dryRunResult runtime.Object
	out, err := s.Storage.GuaranteedUpdate(ctx, s.Resource.Key(namespace, name), pre, func(cur runtime.Object) (runtime.Object, error) {
		next := proto.Clone(cur).(runtime.Object)
		setReplicas(next, scale.GetSpec().GetReplicas())
		s.keepServerFields(next, cur)
		attrs := s.attributes(ctx, admission.Update, "scale", next, cur)
		attrs.DryRun = opts.DryRun
		if err := s.Admission.Admit(ctx, attrs); err != nil {
			return nil, err
		}
		if err := s.validate(next, cur); err != nil {
			return nil, err
		}
		if err := s.Admission.Validate(ctx, attrs); err != nil {
			return nil, err
		}
		if opts.DryRun {
			dryRunResult = next
			return nil, errDryRun
		}
		return next, nil
	})
	if errors.Is(err, errDryRun) {
		out, err = dryRunResult, nil
	}
	if err != nil {
		return nil, s.storageError(err, name)
	}
	return ScaleOf(out)
}
