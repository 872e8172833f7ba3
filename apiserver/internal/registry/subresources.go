package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/storage"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/disruption"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
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

// EvictionKind is the body of a pods/eviction create.
var EvictionKind = runtime.GroupVersionKind{Group: scheme.GroupPolicy, Version: "v1", Kind: "Eviction"}

// Evict deletes a pod the way its eviction subresource does (POST pods/{name}/eviction, what
// `kubectl drain` sends), as upstream's EvictionREST: a pod that is not running (pending,
// finished, or already being deleted) has no budget to protect and is deleted at once.
// Otherwise the PodDisruptionBudget covering it (pdbs is their store) must allow one more
// disruption: status.disruptionsAllowed is decremented and the pod noted in
// status.disruptedPods, by a compare-and-swap on the budget's status, before the pod is
// deleted gracefully with the Eviction's deleteOptions. A budget that allows none is a 429
// the client retries. Upstream also sets a DisruptionTarget condition on the pod first;
// kubelab does not.
func (s *Store) Evict(ctx context.Context, namespace, name string, ev *policyv1.Eviction, opts CreateOptions, pdbs *Store) error {
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
	// An eviction is a create of its own, admitted before the pod is even read, as in
	// Kubernetes: NamespaceLifecycle refuses it in a terminating namespace. The delete it
	// leads to is admitted again, as a delete.
	attrs := &admission.Attributes{
		Operation: admission.Create, Kind: EvictionKind, Resource: s.Resource.Plural, ResourceGroup: s.Resource.Kind.Group,
		Subresource: "eviction", Namespace: namespace, Name: name, Object: ev, User: request.UserFrom(ctx), DryRun: dryRun(del),
	}
	if err := s.Admission.Admit(ctx, attrs); err != nil {
		return err
	}
	if err := s.Admission.Validate(ctx, attrs); err != nil {
		return err
	}
	obj, err := s.Get(ctx, namespace, name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	// pinned is the delete that holds only if the pod has not changed since it was judged
	// (say, became Ready), unless the client pinned a version of its own.
	clientPinned := del.GetPreconditions() != nil && del.Preconditions.ResourceVersion != nil
	pinned := func() *metav1.DeleteOptions {
		if clientPinned {
			return del
		}
		d := proto.Clone(del).(*metav1.DeleteOptions)
		if d.Preconditions == nil {
			d.Preconditions = &metav1.Preconditions{}
		}
		d.Preconditions.ResourceVersion = proto.String(pod.GetMetadata().GetResourceVersion())
		return d
	}
	switch phase := pod.GetStatus().GetPhase(); {
	case phase == "Succeeded" || phase == "Failed" || pod.GetMetadata().GetDeletionTimestamp() != nil:
		err := s.deleteEvicted(ctx, namespace, name, del)
		return err
	case phase == "Pending":
		err := s.deleteEvicted(ctx, namespace, name, pinned())
		return err
	}
	if pdbs == nil {
		err := s.deleteEvicted(ctx, namespace, name, del)
		return err
	}
	pdb, err := coveringBudget(ctx, pdbs, pod)
	if err != nil || pdb == nil {
		if err == nil {
			err = s.deleteEvicted(ctx, namespace, name, del)
		}
		return err
	}
	if !disruption.IsPodReady(pod) {
		// An unready pod adds nothing to currentHealthy, so deleting it spends no budget,
		// when the policy says always, or (IfHealthyBudget) when the budget is met anyway.
		st := pdb.GetStatus()
		if pdb.GetSpec().GetUnhealthyPodEvictionPolicy() == disruption.UnhealthyPodEvictionAlwaysAllow ||
			(st.GetCurrentHealthy() >= st.GetDesiredHealthy() && st.GetDesiredHealthy() > 0) {
			err := s.deleteEvicted(ctx, namespace, name, pinned())
			if apierrors.IsConflict(err) && !clientPinned {
				return tooManyRequests(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.GetMetadata().GetName()))
			}
			return err
		}
		// Otherwise it spends the budget like a healthy one.
	}
	if err := s.spendBudget(ctx, pdbs, pdb, name, dryRun(del)); err != nil {
		return err
	}
	err = s.deleteEvicted(ctx, namespace, name, del)
	return err
}

// deleteEvicted deletes an evicted pod as upstream's addConditionAndDeletePod does: first
// the DisruptionTarget condition (reason EvictionByEvictionAPI) goes into its status, so its
// controllers can tell an eviction from other deletions, then the delete, pinned to the
// version the condition wrote when del was pinned at all. A dry run writes no condition.
func (s *Store) deleteEvicted(ctx context.Context, namespace, name string, del *metav1.DeleteOptions) error {
	if !dryRun(del) {
		rv, err := s.markDisruptionTarget(ctx, namespace, name, del.GetPreconditions())
		if err != nil {
			return err
		}
		if del.GetPreconditions().GetResourceVersion() != "" {
			del = proto.Clone(del).(*metav1.DeleteOptions)
			del.Preconditions.ResourceVersion = proto.String(rv)
		}
	}
	_, err := s.Delete(ctx, namespace, name, del)
	return err
}

// markDisruptionTarget writes the DisruptionTarget condition into the pod's status, on the
// latest pod (read again when another writer got there first, unless pre pins a version),
// and returns the resourceVersion it wrote.
func (s *Store) markDisruptionTarget(ctx context.Context, namespace, name string, pre *metav1.Preconditions) (string, error) {
	for attempt := 0; ; attempt++ {
		obj, err := s.Get(ctx, namespace, name)
		if err != nil {
			return "", err
		}
		pod := obj.(*corev1.Pod)
		m := pod.GetMetadata()
		if uid := pre.GetUid(); uid != "" && uid != m.GetUid() {
			return "", apierrors.NewConflict(s.gr(), name, fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", uid, m.GetUid()))
		}
		if rv := pre.GetResourceVersion(); rv != "" && rv != m.GetResourceVersion() {
			return "", apierrors.NewConflict(s.gr(), name, fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", rv, m.GetResourceVersion()))
		}
		if pod.Status == nil {
			pod.Status = &corev1.PodStatus{}
		}
		SetPodCondition(pod.Status, &corev1.PodCondition{Type: disruption.PodConditionDisruptionTarget, Status: "True",
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", LastTransitionTime: &metav1.Time{Seconds: s.now().Unix()}})
		out, err := s.Update(ctx, namespace, name, pod, UpdateOptions{Subresource: "status"}) // at the version read
		if apierrors.IsConflict(err) && pre.GetResourceVersion() == "" && attempt < evictionConflictRetries {
			continue
		}
		if err != nil {
			return "", err
		}
		return out.GetMetadata().GetResourceVersion(), nil
	}
}

// evictionConflictRetries is how often an eviction rereads a budget another writer changed
// under it (another eviction, the disruption controller) before it gives up.
const evictionConflictRetries = 5

// spendBudget takes one disruption from pdb for pod podName, as upstream's checkAndDecrement:
// the status must be current for the spec, and allow a disruption; the write is a
// compare-and-swap on the budget, retried on conflict with the budget read again. A dry run
// checks and writes nothing.
func (s *Store) spendBudget(ctx context.Context, pdbs *Store, pdb *policyv1.PodDisruptionBudget, podName string, dry bool) error {
	name := pdb.GetMetadata().GetName()
	for attempt := 0; ; attempt++ {
		st := pdb.GetStatus()
		switch {
		case st.GetObservedGeneration() < pdb.GetMetadata().GetGeneration():
			return tooManyRequests(fmt.Sprintf("The disruption budget %s is still being processed by the server.", name))
		case st.GetDisruptionsAllowed() < 0:
			return apierrors.NewForbidden(pdbs.gr(), name, errors.New("pdb disruptions allowed is negative"))
		case len(st.GetDisruptedPods()) > disruption.MaxDisruptedPods:
			return apierrors.NewForbidden(pdbs.gr(), name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
		case st.GetDisruptionsAllowed() == 0:
			return tooManyRequests(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", name, st.GetDesiredHealthy(), st.GetCurrentHealthy()))
		}
		if dry {
			return nil
		}
		next := proto.Clone(pdb).(*policyv1.PodDisruptionBudget)
		next.Status.DisruptionsAllowed--
		now := s.now()
		if next.Status.DisruptionsAllowed == 0 {
			disruption.UpdateDisruptionAllowedCondition(next, now)
		}
		if next.Status.DisruptedPods == nil {
			next.Status.DisruptedPods = map[string]*metav1.Time{}
		}
		next.Status.DisruptedPods[podName] = &metav1.Time{Seconds: now.Unix()}
		// next carries pdb's resourceVersion, so a concurrent write makes this a 409.
		_, err := pdbs.Update(ctx, pdb.GetMetadata().GetNamespace(), name, next, UpdateOptions{Subresource: "status"})
		if !apierrors.IsConflict(err) || attempt == evictionConflictRetries {
			if apierrors.IsConflict(err) {
				return apierrors.NewTimeout(fmt.Sprintf("couldn't update PodDisruptionBudget %q due to conflicts", name))
			}
			return err
		}
		obj, err := pdbs.Get(ctx, pdb.GetMetadata().GetNamespace(), name)
		if err != nil {
			return err
		}
		pdb = obj.(*policyv1.PodDisruptionBudget)
	}
}

// coveringBudget returns the one budget covering pod, nil when none does, and upstream's 500
// when more than one does: it cannot tell which one to spend.
func coveringBudget(ctx context.Context, pdbs *Store, pod *corev1.Pod) (*policyv1.PodDisruptionBudget, error) {
	list, err := pdbs.ListItems(ctx, pod.GetMetadata().GetNamespace(), ListOptions{})
	if err != nil {
		return nil, err
	}
	var found *policyv1.PodDisruptionBudget
	for _, it := range list.Items {
		pdb := it.(*policyv1.PodDisruptionBudget)
		if !disruption.Covers(pdb, pod) {
			continue
		}
		if found != nil {
			return nil, apierrors.FromStatus(&metav1.Status{Status: "Failure", Code: http.StatusInternalServerError,
				Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."})
		}
		found = pdb
	}
	return found, nil
}

// tooManyRequests is the 429 a budget's refusal is: kubectl drain retries on it.
func tooManyRequests(cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, &metav1.StatusCause{Reason: disruption.CauseDisruptionBudget, Message: cause})
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
	case *appsv1.StatefulSet:
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
	case *appsv1.StatefulSet:
		o.Spec.Replicas = proto.Int32(n)
	}
}

// ScaleOf returns the autoscaling/v1 Scale view of a Deployment, ReplicaSet or StatefulSet.
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
