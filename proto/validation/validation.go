// Package validation holds the server-side validation of kubelab's kinds, with Kubernetes'
// rules, field paths and messages (pkg/apis/core/validation, pkg/apis/apps/validation,
// apimachinery's ObjectMeta validation), plus ValidateImageReference for clients.
//
// The registry validates an object's metadata with ValidateObjectMeta and its kind rules with
// Validate (create) or ValidateUpdate (update); objects are defaulted (package defaults)
// before they are validated, so a field Kubernetes defaults is reported as required when it
// is empty.
package validation

import (
	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	authorizationv1 "kubelab.io/proto/api/authorization/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// Validate checks the kind rules of obj being created (its spec and the like; metadata is
// ValidateObjectMeta's). Kinds without rules return nil.
func Validate(obj runtime.Object) apierrors.FieldErrors {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return ValidateNamespace(o)
	case *corev1.Pod:
		return ValidatePod(o)
	case *corev1.Node:
		return ValidateNode(o)
	case *corev1.Event:
		return ValidateEvent(o)
	case *corev1.LimitRange:
		return ValidateLimitRange(o)
	case *corev1.ResourceQuota:
		return ValidateResourceQuota(o)
	case *corev1.ConfigMap:
		return ValidateConfigMap(o)
	case *corev1.Secret:
		return ValidateSecret(o)
	case *corev1.Binding:
		return ValidateBinding(o)
	case *appsv1.Deployment:
		return ValidateDeployment(o)
	case *appsv1.ReplicaSet:
		return ValidateReplicaSet(o)
	case *appsv1.DaemonSet:
		return ValidateDaemonSet(o)
	case *appsv1.StatefulSet:
		return ValidateStatefulSet(o)
	case *appsv1.ControllerRevision:
		return ValidateControllerRevision(o)
	case *batchv1.Job:
		return ValidateJob(o)
	case *batchv1.CronJob:
		return ValidateCronJob(o)
	case *policyv1.PodDisruptionBudget:
		return ValidatePodDisruptionBudget(o)
	case *schedulingv1.PriorityClass:
		return ValidatePriorityClass(o)
	case *corev1.PersistentVolume:
		return ValidatePersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		return ValidatePersistentVolumeClaim(o)
	case *storagev1.StorageClass:
		return ValidateStorageClass(o)
	case *coordinationv1.Lease:
		return ValidateLease(o)
	case *rbacv1.Role:
		return ValidateRole(o)
	case *rbacv1.ClusterRole:
		return ValidateClusterRole(o)
	case *rbacv1.RoleBinding:
		return ValidateRoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		return ValidateClusterRoleBinding(o)
	case *corev1.ServiceAccount:
		return nil // metadata only, which ValidateObjectMeta checks
	case *corev1.Service:
		return ValidateService(o)
	case *corev1.Endpoints:
		return ValidateEndpoints(o)
	case *discoveryv1.EndpointSlice:
		return ValidateEndpointSlice(o)
	case *authenticationv1.TokenRequest:
		return ValidateTokenRequest(o)
	case *authorizationv1.SelfSubjectAccessReview:
		return ValidateSelfSubjectAccessReview(o)
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return ValidateMutatingWebhookConfiguration(o)
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return ValidateValidatingWebhookConfiguration(o)
	}
	return nil
}

// ValidateUpdate checks the kind rules of an update from old to obj: obj must be valid as on
// create, and the kind's immutable parts unchanged. (Immutable metadata, such as the name, is
// the registry's.) old must be of obj's type; if it is not, obj is validated as on create.
func ValidateUpdate(obj, old runtime.Object) apierrors.FieldErrors {
	switch o := obj.(type) {
	case *corev1.Pod:
		if op, ok := old.(*corev1.Pod); ok {
			return ValidatePodUpdate(o, op)
		}
	case *corev1.Node:
		if op, ok := old.(*corev1.Node); ok {
			return ValidateNodeUpdate(o, op)
		}
	case *corev1.ResourceQuota:
		if op, ok := old.(*corev1.ResourceQuota); ok {
			return ValidateResourceQuotaUpdate(o, op)
		}
	case *corev1.ConfigMap:
		if op, ok := old.(*corev1.ConfigMap); ok {
			return ValidateConfigMapUpdate(o, op)
		}
	case *corev1.Secret:
		if op, ok := old.(*corev1.Secret); ok {
			return ValidateSecretUpdate(o, op)
		}
	case *corev1.Service:
		if op, ok := old.(*corev1.Service); ok {
			return ValidateServiceUpdate(o, op)
		}
	case *discoveryv1.EndpointSlice:
		if op, ok := old.(*discoveryv1.EndpointSlice); ok {
			return ValidateEndpointSliceUpdate(o, op)
		}
	case *appsv1.Deployment:
		if op, ok := old.(*appsv1.Deployment); ok {
			return ValidateDeploymentUpdate(o, op)
		}
	case *appsv1.ReplicaSet:
		if op, ok := old.(*appsv1.ReplicaSet); ok {
			return ValidateReplicaSetUpdate(o, op)
		}
	case *appsv1.DaemonSet:
		if op, ok := old.(*appsv1.DaemonSet); ok {
			return ValidateDaemonSetUpdate(o, op)
		}
	case *appsv1.StatefulSet:
		if op, ok := old.(*appsv1.StatefulSet); ok {
			return ValidateStatefulSetUpdate(o, op)
		}
	case *appsv1.ControllerRevision:
		if op, ok := old.(*appsv1.ControllerRevision); ok {
			return ValidateControllerRevisionUpdate(o, op)
		}
	case *batchv1.Job:
		if op, ok := old.(*batchv1.Job); ok {
			return ValidateJobUpdate(o, op)
		}
	case *batchv1.CronJob:
		if op, ok := old.(*batchv1.CronJob); ok {
			return ValidateCronJobUpdate(o, op)
		}
	case *schedulingv1.PriorityClass:
		if op, ok := old.(*schedulingv1.PriorityClass); ok {
			return ValidatePriorityClassUpdate(o, op)
		}
	case *corev1.PersistentVolume:
		if op, ok := old.(*corev1.PersistentVolume); ok {
			return ValidatePersistentVolumeUpdate(o, op)
		}
	case *corev1.PersistentVolumeClaim:
		if op, ok := old.(*corev1.PersistentVolumeClaim); ok {
			return ValidatePersistentVolumeClaimUpdate(o, op)
		}
	case *storagev1.StorageClass:
		if op, ok := old.(*storagev1.StorageClass); ok {
			return ValidateStorageClassUpdate(o, op)
		}
	case *rbacv1.RoleBinding:
		if op, ok := old.(*rbacv1.RoleBinding); ok {
			return append(ValidateRoleBinding(o), validateRoleRefUpdate(o.GetRoleRef(), op.GetRoleRef())...)
		}
	case *rbacv1.ClusterRoleBinding:
		if op, ok := old.(*rbacv1.ClusterRoleBinding); ok {
			return append(ValidateClusterRoleBinding(o), validateRoleRefUpdate(o.GetRoleRef(), op.GetRoleRef())...)
		}
	}
	return Validate(obj)
}
