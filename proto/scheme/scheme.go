// Package scheme registers every kind kubelab serves, so any component can turn an apiVersion
// and kind into a Go type and back.
package scheme

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
	"kubelab.io/proto/runtime"
)

// Groups and versions kubelab serves.
const (
	GroupCore                  = ""
	GroupApps                  = "apps"
	GroupCoordination          = "coordination.k8s.io"
	GroupRBAC                  = "rbac.authorization.k8s.io"
	GroupAuthentication        = "authentication.k8s.io"
	GroupAuthorization         = "authorization.k8s.io"
	GroupAdmissionRegistration = "admissionregistration.k8s.io"
	GroupPolicy                = "policy"
	GroupBatch                 = "batch"
	GroupDiscovery             = "discovery.k8s.io"
	GroupScheduling            = "scheduling.k8s.io"
	GroupStorage               = "storage.k8s.io"
)

// Scheme holds every kind; it is built at init and read-only afterwards.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	s.AddKind(core("Namespace"), &corev1.Namespace{}, &corev1.NamespaceList{})
	s.AddKind(core("Pod"), &corev1.Pod{}, &corev1.PodList{})
	s.AddKind(core("Node"), &corev1.Node{}, &corev1.NodeList{})
	s.AddKind(core("Event"), &corev1.Event{}, &corev1.EventList{})
	s.AddKind(core("LimitRange"), &corev1.LimitRange{}, &corev1.LimitRangeList{})
	s.AddKind(core("ResourceQuota"), &corev1.ResourceQuota{}, &corev1.ResourceQuotaList{})
	s.AddKind(core("ConfigMap"), &corev1.ConfigMap{}, &corev1.ConfigMapList{})
	s.AddKind(core("Secret"), &corev1.Secret{}, &corev1.SecretList{})
	s.AddKind(core("ServiceAccount"), &corev1.ServiceAccount{}, &corev1.ServiceAccountList{})
	s.AddKind(core("Service"), &corev1.Service{}, &corev1.ServiceList{})
	s.AddKind(core("Endpoints"), &corev1.Endpoints{}, &corev1.EndpointsList{})
	s.AddKind(core("PersistentVolume"), &corev1.PersistentVolume{}, &corev1.PersistentVolumeList{})
	s.AddKind(core("PersistentVolumeClaim"), &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{})
	s.AddKind(discovery("EndpointSlice"), &discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{})
	s.AddKind(apps("Deployment"), &appsv1.Deployment{}, &appsv1.DeploymentList{})
	s.AddKind(apps("ReplicaSet"), &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{})
	s.AddKind(apps("DaemonSet"), &appsv1.DaemonSet{}, &appsv1.DaemonSetList{})
	s.AddKind(apps("StatefulSet"), &appsv1.StatefulSet{}, &appsv1.StatefulSetList{})
	s.AddKind(apps("ControllerRevision"), &appsv1.ControllerRevision{}, &appsv1.ControllerRevisionList{})
	s.AddKind(batch("Job"), &batchv1.Job{}, &batchv1.JobList{})
	s.AddKind(batch("CronJob"), &batchv1.CronJob{}, &batchv1.CronJobList{})
	s.AddKind(policy("PodDisruptionBudget"), &policyv1.PodDisruptionBudget{}, &policyv1.PodDisruptionBudgetList{})
	s.AddKind(scheduling("PriorityClass"), &schedulingv1.PriorityClass{}, &schedulingv1.PriorityClassList{})
	s.AddKind(storage("StorageClass"), &storagev1.StorageClass{}, &storagev1.StorageClassList{})
	s.AddKind(coordination("Lease"), &coordinationv1.Lease{}, &coordinationv1.LeaseList{})
	s.AddKind(rbac("Role"), &rbacv1.Role{}, &rbacv1.RoleList{})
	s.AddKind(rbac("ClusterRole"), &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleList{})
	s.AddKind(rbac("RoleBinding"), &rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{})
	s.AddKind(rbac("ClusterRoleBinding"), &rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRoleBindingList{})
	s.AddKind(authentication("SelfSubjectReview"), &authenticationv1.SelfSubjectReview{}, &authenticationv1.SelfSubjectReviewList{})
	s.AddKind(authentication("TokenRequest"), &authenticationv1.TokenRequest{}, &authenticationv1.TokenRequestList{})
	s.AddKind(authorization("SelfSubjectAccessReview"), &authorizationv1.SelfSubjectAccessReview{}, &authorizationv1.SelfSubjectAccessReviewList{})
	s.AddKind(authorization("SelfSubjectRulesReview"), &authorizationv1.SelfSubjectRulesReview{}, &authorizationv1.SelfSubjectRulesReviewList{})
	s.AddKind(admissionRegistration("MutatingWebhookConfiguration"), &admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfigurationList{})
	s.AddKind(admissionRegistration("ValidatingWebhookConfiguration"), &admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfigurationList{})
	return s
}
