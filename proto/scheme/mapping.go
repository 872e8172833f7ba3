package scheme

import "kubelab.io/proto/runtime"

// Mapping names a kind's REST resource: what a client puts in the URL and what the server
// registers. Server and clients share this one table, so they cannot disagree.
type Mapping struct {
	Kind       runtime.GroupVersionKind
	Plural     string
	Singular   string
	ShortNames []string
	Categories []string
	Namespaced bool
}

// Mappings lists every stored resource, in discovery order: every one of them can be listed
// and watched (controllers walk this table). Create-only virtual resources, such as
// selfsubjectaccessreviews, are the apiserver's alone and not listed here.
var Mappings = []Mapping{
	{Kind: core("Namespace"), Plural: "namespaces", Singular: "namespace", ShortNames: []string{"ns"}},
	{Kind: core("Pod"), Plural: "pods", Singular: "pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: core("Node"), Plural: "nodes", Singular: "node", ShortNames: []string{"no"}},
	{Kind: core("Event"), Plural: "events", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true},
	{Kind: core("LimitRange"), Plural: "limitranges", Singular: "limitrange", ShortNames: []string{"limits"}, Namespaced: true},
	{Kind: core("ResourceQuota"), Plural: "resourcequotas", Singular: "resourcequota", ShortNames: []string{"quota"}, Namespaced: true},
	{Kind: core("ConfigMap"), Plural: "configmaps", Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true},
	{Kind: core("Secret"), Plural: "secrets", Singular: "secret", Namespaced: true},
	{Kind: core("ServiceAccount"), Plural: "serviceaccounts", Singular: "serviceaccount", ShortNames: []string{"sa"}, Namespaced: true},
	{Kind: core("Service"), Plural: "services", Singular: "service", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: core("Endpoints"), Plural: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true},
	{Kind: core("PersistentVolume"), Plural: "persistentvolumes", Singular: "persistentvolume", ShortNames: []string{"pv"}},
	{Kind: core("PersistentVolumeClaim"), Plural: "persistentvolumeclaims", Singular: "persistentvolumeclaim", ShortNames: []string{"pvc"}, Namespaced: true},
	{Kind: apps("Deployment"), Plural: "deployments", Singular: "deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: apps("ReplicaSet"), Plural: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: apps("DaemonSet"), Plural: "daemonsets", Singular: "daemonset", ShortNames: []string{"ds"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: apps("StatefulSet"), Plural: "statefulsets", Singular: "statefulset", ShortNames: []string{"sts"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: apps("ControllerRevision"), Plural: "controllerrevisions", Singular: "controllerrevision", Namespaced: true},
	{Kind: batch("Job"), Plural: "jobs", Singular: "job", Categories: []string{"all"}, Namespaced: true},
	{Kind: batch("CronJob"), Plural: "cronjobs", Singular: "cronjob", ShortNames: []string{"cj"}, Categories: []string{"all"}, Namespaced: true},
	{Kind: discovery("EndpointSlice"), Plural: "endpointslices", Singular: "endpointslice", Namespaced: true},
	{Kind: policy("PodDisruptionBudget"), Plural: "poddisruptionbudgets", Singular: "poddisruptionbudget", ShortNames: []string{"pdb"}, Namespaced: true},
	{Kind: scheduling("PriorityClass"), Plural: "priorityclasses", Singular: "priorityclass", ShortNames: []string{"pc"}},
	{Kind: storage("StorageClass"), Plural: "storageclasses", Singular: "storageclass", ShortNames: []string{"sc"}},
	{Kind: coordination("Lease"), Plural: "leases", Singular: "lease", Namespaced: true},
	{Kind: rbac("Role"), Plural: "roles", Singular: "role", Namespaced: true},
	{Kind: rbac("ClusterRole"), Plural: "clusterroles", Singular: "clusterrole"},
	{Kind: rbac("RoleBinding"), Plural: "rolebindings", Singular: "rolebinding", Namespaced: true},
	{Kind: rbac("ClusterRoleBinding"), Plural: "clusterrolebindings", Singular: "clusterrolebinding"},
	{Kind: admissionRegistration("MutatingWebhookConfiguration"), Plural: "mutatingwebhookconfigurations", Singular: "mutatingwebhookconfiguration"},
	{Kind: admissionRegistration("ValidatingWebhookConfiguration"), Plural: "validatingwebhookconfigurations", Singular: "validatingwebhookconfiguration"},
}

// MappingFor returns the mapping of a kind.
func MappingFor(gvk runtime.GroupVersionKind) (Mapping, bool) {
	for _, m := range Mappings {
		if m.Kind == gvk {
			return m, true
		}
	}
	return Mapping{}, false
}

func core(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupCore, Version: "v1", Kind: kind}
}

func apps(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupApps, Version: "v1", Kind: kind}
}

func coordination(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupCoordination, Version: "v1", Kind: kind}
}

func rbac(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupRBAC, Version: "v1", Kind: kind}
}

func authentication(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupAuthentication, Version: "v1", Kind: kind}
}

func authorization(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupAuthorization, Version: "v1", Kind: kind}
}

func admissionRegistration(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupAdmissionRegistration, Version: "v1", Kind: kind}
}

func policy(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupPolicy, Version: "v1", Kind: kind}
}

func batch(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupBatch, Version: "v1", Kind: kind}
}

func discovery(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupDiscovery, Version: "v1", Kind: kind}
}

func scheduling(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupScheduling, Version: "v1", Kind: kind}
}

func storage(kind string) runtime.GroupVersionKind {
	return runtime.GroupVersionKind{Group: GroupStorage, Version: "v1", Kind: kind}
}
