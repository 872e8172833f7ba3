// Package scheme registers every kind kubelab serves, so any component can turn an apiVersion
// and kind into a Go type and back.
package scheme

import (
	appsv1 "kubelab.io/proto/api/apps/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
)

// Groups and versions kubelab serves.
const (
	GroupCore         = ""
	GroupApps         = "apps"
	GroupCoordination = "coordination.k8s.io"
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
	s.AddKind(apps("Deployment"), &appsv1.Deployment{}, &appsv1.DeploymentList{})
	s.AddKind(apps("ReplicaSet"), &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{})
	s.AddKind(coordination("Lease"), &coordinationv1.Lease{}, &coordinationv1.LeaseList{})
	return s
}
