package registry

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	appsv1 "kubelab.io/proto/api/apps/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/resource"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/validation"
)

// Resources returns the registration of every resource kubelab serves.
func Resources() []*Resource {
	gvk := func(group, kind string) runtime.GroupVersionKind {
		return runtime.GroupVersionKind{Group: group, Version: "v1", Kind: kind}
	}
	// std fills what every registration shares: the names from the scheme's mapping table
	// (shared with clients) and the standard defaulting and validation.
	std := func(r *Resource) *Resource {
		// A kind missing from the table keeps an empty Plural, which Registry.Add refuses.
		m, _ := scheme.MappingFor(r.Kind)
		r.Plural, r.Singular, r.ShortNames, r.Categories, r.Namespaced = m.Plural, m.Singular, m.ShortNames, m.Categories, m.Namespaced
		r.Default = defaults.Default
		r.Validate = validation.Validate
		r.ValidateUpdate = validation.ValidateUpdate
		return r
	}
	return []*Resource{
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "Namespace"), StatusSubresource: true,
			PrepareForCreate: func(obj runtime.Object) {
				ns := obj.(*corev1.Namespace)
				defaults.NamespaceOnCreate(ns) // the "kubernetes" finalizer the namespace controller clears
				ns.Status = &corev1.NamespaceStatus{Phase: "Active"}
			},
			Fields: func(obj runtime.Object) map[string]string {
				return map[string]string{"status.phase": obj.(*corev1.Namespace).GetStatus().GetPhase()}
			},
			FieldLabels: []string{"status.phase"},
			DeletionBlocked: func(obj runtime.Object) bool {
				return len(obj.(*corev1.Namespace).GetSpec().GetFinalizers()) > 0
			},
			MarkDeleting: func(obj runtime.Object) {
				ns := obj.(*corev1.Namespace)
				if ns.Status == nil {
					ns.Status = &corev1.NamespaceStatus{}
				}
				ns.Status.Phase = "Terminating"
			},
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "Pod"), StatusSubresource: true,
			PrepareForCreate: func(obj runtime.Object) {
				pod := obj.(*corev1.Pod)
				pod.Status = &corev1.PodStatus{Phase: "Pending", QosClass: resource.QOSClass(pod)}
			},
			Fields:      podFields,
			FieldLabels: []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
			GracePeriod: podGracePeriod, ReturnDeletedObject: true,
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "Node"), StatusSubresource: true, KeepStatusOnCreate: true,
			Fields: func(obj runtime.Object) map[string]string {
				return map[string]string{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).GetSpec().GetUnschedulable())}
			},
			FieldLabels: []string{"spec.unschedulable"},
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "Event"), KeepStatusOnCreate: true,
			Fields:      eventFields,
			FieldLabels: []string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"},
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "LimitRange"),
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "ResourceQuota"), StatusSubresource: true,
		}),
		std(&Resource{Kind: gvk(scheme.GroupCore, "ConfigMap")}),
		// A Secret's stringData is merged into data by defaulting, on every write. Its type
		// is a field selector, as in Kubernetes (kubectl describe sa finds token secrets by it).
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "Secret"),
			Fields: func(obj runtime.Object) map[string]string {
				return map[string]string{"type": obj.(*corev1.Secret).GetType()}
			},
			FieldLabels: []string{"type"},
		}),
		std(&Resource{Kind: gvk(scheme.GroupCore, "ServiceAccount")}),
		// Services: the strategy half of Kubernetes' service registry (clusterIP and
		// clusterIPs kept in step, allocated values kept across a replace, what a type
		// change makes useless dropped). Allocation is the server's (service.go there).
		// spec.clusterIP and spec.type are field selectors, as since Kubernetes 1.31
		// (proxies skip headless services with spec.clusterIP!=None).
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "Service"), StatusSubresource: true,
			PrepareForCreate: func(obj runtime.Object) { defaults.ServiceOnCreate(obj.(*corev1.Service)) },
			PrepareForUpdate: func(obj, old runtime.Object) {
				defaults.ServiceOnUpdate(obj.(*corev1.Service), old.(*corev1.Service))
			},
			Fields: func(obj runtime.Object) map[string]string {
				spec := obj.(*corev1.Service).GetSpec()
				return map[string]string{"spec.clusterIP": spec.GetClusterIP(), "spec.type": spec.GetType()}
			},
			FieldLabels: []string{"spec.clusterIP", "spec.type"},
		}),
		std(&Resource{Kind: gvk(scheme.GroupCore, "Endpoints")}),
		// PersistentVolumes and claims as upstream's strategies: no generation, a new volume
		// starts Pending with its phase's transition time, which moves with every phase
		// change through the status subresource. status.phase is no field selector upstream
		// for either; the name is (metadata.name, as for every kind).
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "PersistentVolume"), StatusSubresource: true,
			GenerationFields: noGeneration,
			PrepareForCreate: func(obj runtime.Object) {
				pv := obj.(*corev1.PersistentVolume)
				pv.Status = &corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: pv.GetMetadata().GetCreationTimestamp()}
			},
			PrepareForStatusUpdate: func(obj, old runtime.Object, now time.Time) {
				pv, prev := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
				if pv.GetStatus().GetPhase() != prev.GetStatus().GetPhase() &&
					proto.Equal(pv.GetStatus().GetLastPhaseTransitionTime(), prev.GetStatus().GetLastPhaseTransitionTime()) {
					pv.Status.LastPhaseTransitionTime = &metav1.Time{Seconds: now.Unix()}
				}
			},
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupCore, "PersistentVolumeClaim"), StatusSubresource: true,
			GenerationFields: noGeneration,
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*corev1.PersistentVolumeClaim).Status = &corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			},
		}),
		std(&Resource{Kind: gvk(scheme.GroupDiscovery, "EndpointSlice"),
			// As upstream's strategy: what the proxy reads bumps the generation, so the
			// endpointslice controller can tell its own writes from others'.
			GenerationFields: []protoreflect.Name{"addressType", "endpoints", "ports"}}),
		std(&Resource{
			Kind: gvk(scheme.GroupApps, "Deployment"), StatusSubresource: true,
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupApps, "ReplicaSet"), StatusSubresource: true,
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupApps, "DaemonSet"), StatusSubresource: true,
			PrepareForCreate: func(obj runtime.Object) {
				defaults.DaemonSetTemplateGeneration(obj.(*appsv1.DaemonSet), nil)
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				defaults.DaemonSetTemplateGeneration(obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet))
			},
		}),
		// As upstream's strategy: rollingUpdate.maxUnavailable (alpha, gate off) is dropped
		// unless the stored object has it; scale is served as for Deployments.
		std(&Resource{
			Kind: gvk(scheme.GroupApps, "StatefulSet"), StatusSubresource: true,
			PrepareForCreate: func(obj runtime.Object) {
				defaults.StatefulSetDropDisabledFields(obj.(*appsv1.StatefulSet), nil)
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				defaults.StatefulSetDropDisabledFields(obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet))
			},
		}),
		std(&Resource{Kind: gvk(scheme.GroupApps, "ControllerRevision")}),
		std(&Resource{
			Kind: gvk(scheme.GroupBatch, "Job"), StatusSubresource: true,
			PrepareForCreate: func(obj runtime.Object) { defaults.JobOnCreate(obj.(*batchv1.Job)) },
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupBatch, "CronJob"), StatusSubresource: true,
		}),
		std(&Resource{
			Kind: gvk(scheme.GroupPolicy, "PodDisruptionBudget"), StatusSubresource: true,
		}),
		// The system classes are the apiserver's (server/priorityclasses.go creates them):
		// validation keeps their value and globalDefault, and they cannot be deleted, as in
		// Kubernetes' priorityclass storage.
		std(&Resource{
			Kind: gvk(scheme.GroupScheduling, "PriorityClass"),
			DeleteForbidden: func(name string) error {
				if schedulingv1.IsSystemPriorityClass(name) {
					return apierrors.NewForbidden(apierrors.GroupResource{Group: scheme.GroupScheduling, Resource: "priorityclasses"}, name,
						errors.New("this is a system priority class and cannot be deleted"))
				}
				return nil
			},
		}),
		std(&Resource{Kind: gvk(scheme.GroupStorage, "StorageClass")}),
		std(&Resource{
			Kind: gvk(scheme.GroupCoordination, "Lease"),
		}),
		std(&Resource{Kind: gvk(scheme.GroupRBAC, "Role")}),
		std(&Resource{Kind: gvk(scheme.GroupRBAC, "ClusterRole")}),
		std(&Resource{Kind: gvk(scheme.GroupRBAC, "RoleBinding")}),
		std(&Resource{Kind: gvk(scheme.GroupRBAC, "ClusterRoleBinding")}),
		std(&Resource{Kind: gvk(scheme.GroupAdmissionRegistration, "MutatingWebhookConfiguration")}),
		std(&Resource{Kind: gvk(scheme.GroupAdmissionRegistration, "ValidatingWebhookConfiguration")}),
		// Create-only and never stored, so not in the scheme's mapping table (which lists
		// what clients can list and watch): the pipeline answers them.
		virtual(gvk(scheme.GroupAuthentication, "SelfSubjectReview"), "selfsubjectreviews"),
		virtual(gvk(scheme.GroupAuthorization, "SelfSubjectAccessReview"), "selfsubjectaccessreviews"),
		virtual(gvk(scheme.GroupAuthorization, "SelfSubjectRulesReview"), "selfsubjectrulesreviews"),
	}
}

// noGeneration is the GenerationFields of kinds whose upstream strategy never sets
// metadata.generation (PersistentVolume, PersistentVolumeClaim).
var noGeneration = []protoreflect.Name{}

// virtual registers a review: a kind whose create the pipeline answers, validated first.
func virtual(kind runtime.GroupVersionKind, plural string) *Resource {
	return &Resource{Kind: kind, Plural: plural, Singular: strings.ToLower(kind.Kind), Virtual: true, Validate: validation.Validate}
}

func podFields(obj runtime.Object) map[string]string {
	pod := obj.(*corev1.Pod)
	return map[string]string{
		"spec.nodeName":            pod.GetSpec().GetNodeName(),
		"spec.restartPolicy":       pod.GetSpec().GetRestartPolicy(),
		"spec.schedulerName":       pod.GetSpec().GetSchedulerName(),
		"spec.serviceAccountName":  pod.GetSpec().GetServiceAccountName(),
		"spec.hostNetwork":         strconv.FormatBool(pod.GetSpec().GetHostNetwork()),
		"status.phase":             pod.GetStatus().GetPhase(),
		"status.podIP":             pod.GetStatus().GetPodIP(),
		"status.nominatedNodeName": pod.GetStatus().GetNominatedNodeName(),
	}
}

// podGracePeriod is how long a deleted pod may take to stop: the period the client asked
// for, else the pod's terminationGracePeriodSeconds. A pod no kubelet runs (unscheduled, or
// finished) is deleted at once, since nobody would confirm its termination.
func podGracePeriod(obj runtime.Object, requested *int64) int64 {
	pod := obj.(*corev1.Pod)
	if pod.GetSpec().GetNodeName() == "" {
		return 0
	}
	switch pod.GetStatus().GetPhase() {
	case "Succeeded", "Failed":
		return 0
	}
	grace := int64(30)
	if pod.GetSpec().TerminationGracePeriodSeconds != nil {
		grace = pod.GetSpec().GetTerminationGracePeriodSeconds()
	}
	if requested != nil {
		grace = *requested
	}
	if grace < 0 {
		grace = 0
	}
	return grace
}

func eventFields(obj runtime.Object) map[string]string {
	ev := obj.(*corev1.Event)
	io := ev.GetInvolvedObject()
	return map[string]string{
		"involvedObject.kind":            io.GetKind(),
		"involvedObject.namespace":       io.GetNamespace(),
		"involvedObject.name":            io.GetName(),
		"involvedObject.uid":             io.GetUid(),
		"involvedObject.apiVersion":      io.GetApiVersion(),
		"involvedObject.resourceVersion": io.GetResourceVersion(),
		"involvedObject.fieldPath":       io.GetFieldPath(),
		"reason":                         ev.GetReason(),
		"reportingComponent":             ev.GetReportingComponent(),
		"source":                         ev.GetSource().GetComponent(),
		"type":                           ev.GetType(),
	}
}
