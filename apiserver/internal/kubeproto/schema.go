package kubeproto

import "google.golang.org/protobuf/encoding/protowire"

// The Kubernetes messages kubelab reads in protobuf, by their generated.proto field numbers
// (k8s.io/api and k8s.io/apimachinery, stable across releases by protobuf's rules). They
// cover what the stock kubectl's typed commands send for the kinds kubelab serves; a field
// outside them is refused by name.

type fieldKind int

const (
	kString fieldKind = iota + 1
	kInt
	kBool
	kMessage
	kStringMap   // map<string, string>
	kBytesMap    // map<string, bytes>, values base64 in JSON
	kQuantityMap // map<string, resource.Quantity>
	kQuantity    // resource.Quantity, a string in JSON
	kIntOrString // intstr.IntOrString
	kTime        // metav1.Time, RFC 3339 in JSON
	kIgnored     // read past: status, which no write of the main resource takes from its body
)

type field struct {
	json     string
	kind     fieldKind
	bits     int // 32 for int32 (sign-extended), else 64
	repeated bool
	keepZero bool // a pointer in Kubernetes' Go type: a zero on the wire was chosen
	inline   bool // its fields belong to the parent object in JSON (Volume.volumeSource)
	msg      *message
}

type message struct {
	name   string
	fields map[protowire.Number]field
}

func str(json string) field             { return field{json: json, kind: kString} }
func strs(json string) field            { return field{json: json, kind: kString, repeated: true} }
func i32(json string) field             { return field{json: json, kind: kInt, bits: 32} }
func i64(json string) field             { return field{json: json, kind: kInt, bits: 64} }
func boolean(json string) field         { return field{json: json, kind: kBool} }
func msg(json string, m *message) field { return field{json: json, kind: kMessage, msg: m} }
func msgs(json string, m *message) field {
	return field{json: json, kind: kMessage, msg: m, repeated: true}
}
func ptr(f field) field { f.keepZero = true; return f }

var (
	timeField = field{json: "", kind: kTime}

	ownerReference = &message{name: "OwnerReference", fields: map[protowire.Number]field{
		5: str("apiVersion"), 1: str("kind"), 3: str("name"), 4: str("uid"),
		6: ptr(boolean("controller")), 7: ptr(boolean("blockOwnerDeletion")),
	}}
	objectMeta = &message{name: "ObjectMeta", fields: map[protowire.Number]field{
		1: str("name"), 2: str("generateName"), 3: str("namespace"), 4: str("selfLink"),
		5: str("uid"), 6: str("resourceVersion"), 7: i64("generation"),
		8:  named(timeField, "creationTimestamp"),
		9:  named(timeField, "deletionTimestamp"),
		10: ptr(i64("deletionGracePeriodSeconds")),
		11: {json: "labels", kind: kStringMap}, 12: {json: "annotations", kind: kStringMap},
		13: msgs("ownerReferences", ownerReference), 14: strs("finalizers"),
	}}
	labelSelectorRequirement = &message{name: "LabelSelectorRequirement", fields: map[protowire.Number]field{
		1: str("key"), 2: str("operator"), 3: strs("values"),
	}}
	labelSelector = &message{name: "LabelSelector", fields: map[protowire.Number]field{
		1: {json: "matchLabels", kind: kStringMap}, 2: msgs("matchExpressions", labelSelectorRequirement),
	}}
	preconditions = &message{name: "Preconditions", fields: map[protowire.Number]field{
		1: ptr(str("uid")), 2: ptr(str("resourceVersion")),
	}}
	deleteOptions = &message{name: "DeleteOptions", fields: map[protowire.Number]field{
		1: ptr(i64("gracePeriodSeconds")), 2: msg("preconditions", preconditions),
		3: ptr(boolean("orphanDependents")), 4: ptr(str("propagationPolicy")), 5: strs("dryRun"),
	}}
	// A status in a body is never used: creates and updates of the main resource keep the
	// server's status, and the rest front door refuses protobuf on the status subresource.
	ignoredStatus = field{json: "status", kind: kIgnored}

	// core/v1

	namespace = &message{name: "Namespace", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "NamespaceSpec", fields: map[protowire.Number]field{1: strs("finalizers")}}),
		3: ignoredStatus,
	}}
	resourceRequirements = &message{name: "ResourceRequirements", fields: map[protowire.Number]field{
		1: {json: "limits", kind: kQuantityMap}, 2: {json: "requests", kind: kQuantityMap},
	}}
	containerPort = &message{name: "ContainerPort", fields: map[protowire.Number]field{
		1: str("name"), 2: i32("hostPort"), 3: i32("containerPort"), 4: str("protocol"), 5: str("hostIP"),
	}}
	envVar      = &message{name: "EnvVar", fields: map[protowire.Number]field{1: str("name"), 2: str("value")}}
	volumeMount = &message{name: "VolumeMount", fields: map[protowire.Number]field{
		1: str("name"), 2: boolean("readOnly"), 3: str("mountPath"), 4: str("subPath"),
	}}
	container = &message{name: "Container", fields: map[protowire.Number]field{
		1: str("name"), 2: str("image"), 3: strs("command"), 4: strs("args"), 5: str("workingDir"),
		6: msgs("ports", containerPort), 7: msgs("env", envVar), 8: msg("resources", resourceRequirements),
		9: msgs("volumeMounts", volumeMount), 13: str("terminationMessagePath"),
		20: str("terminationMessagePolicy"), 14: str("imagePullPolicy"),
		16: boolean("stdin"), 17: boolean("stdinOnce"), 18: boolean("tty"),
	}}
	localObjectReference = &message{name: "LocalObjectReference", fields: map[protowire.Number]field{1: str("name")}}
	// localRef is an embedded LocalObjectReference, whose name sits in the parent in JSON.
	localRef     = field{json: "localObjectReference", kind: kMessage, msg: localObjectReference, inline: true}
	keyToPath    = &message{name: "KeyToPath", fields: map[protowire.Number]field{1: str("key"), 2: str("path"), 3: ptr(i32("mode"))}}
	downwardFile = &message{name: "DownwardAPIVolumeFile", fields: map[protowire.Number]field{
		1: str("path"),
		2: msg("fieldRef", &message{name: "ObjectFieldSelector", fields: map[protowire.Number]field{1: str("apiVersion"), 2: str("fieldPath")}}),
		3: msg("resourceFieldRef", &message{name: "ResourceFieldSelector", fields: map[protowire.Number]field{
			1: str("containerName"), 2: str("resource"), 3: {json: "divisor", kind: kQuantity},
		}}),
		4: ptr(i32("mode")),
	}}
	volumeSource = &message{name: "VolumeSource", fields: map[protowire.Number]field{
		1: msg("hostPath", &message{name: "HostPathVolumeSource", fields: map[protowire.Number]field{1: str("path"), 2: ptr(str("type"))}}),
		2: msg("emptyDir", &message{name: "EmptyDirVolumeSource", fields: map[protowire.Number]field{1: str("medium"), 2: {json: "sizeLimit", kind: kQuantity}}}),
		6: msg("secret", &message{name: "SecretVolumeSource", fields: map[protowire.Number]field{
			1: str("secretName"), 2: msgs("items", keyToPath), 3: ptr(i32("defaultMode")), 4: ptr(boolean("optional")),
		}}),
		16: msg("downwardAPI", &message{name: "DownwardAPIVolumeSource", fields: map[protowire.Number]field{
			1: msgs("items", downwardFile), 2: ptr(i32("defaultMode")),
		}}),
		19: msg("configMap", &message{name: "ConfigMapVolumeSource", fields: map[protowire.Number]field{
			1: localRef, 2: msgs("items", keyToPath), 3: ptr(i32("defaultMode")), 4: ptr(boolean("optional")),
		}}),
		// The kube-api-access-* volume every pod gets is a projected one.
		26: msg("projected", &message{name: "ProjectedVolumeSource", fields: map[protowire.Number]field{
			1: msgs("sources", &message{name: "VolumeProjection", fields: map[protowire.Number]field{
				1: msg("secret", &message{name: "SecretProjection", fields: map[protowire.Number]field{
					1: localRef, 2: msgs("items", keyToPath), 4: ptr(boolean("optional")),
				}}),
				2: msg("downwardAPI", &message{name: "DownwardAPIProjection", fields: map[protowire.Number]field{1: msgs("items", downwardFile)}}),
				3: msg("configMap", &message{name: "ConfigMapProjection", fields: map[protowire.Number]field{
					1: localRef, 2: msgs("items", keyToPath), 4: ptr(boolean("optional")),
				}}),
				4: msg("serviceAccountToken", &message{name: "ServiceAccountTokenProjection", fields: map[protowire.Number]field{
					1: str("audience"), 2: ptr(i64("expirationSeconds")), 3: str("path"),
				}}),
			}}),
			2: ptr(i32("defaultMode")),
		}}),
	}}
	volume = &message{name: "Volume", fields: map[protowire.Number]field{
		1: str("name"), 2: {json: "volumeSource", kind: kMessage, msg: volumeSource, inline: true},
	}}
	toleration = &message{name: "Toleration", fields: map[protowire.Number]field{
		1: str("key"), 2: str("operator"), 3: str("value"), 4: str("effect"), 5: ptr(i64("tolerationSeconds")),
	}}
	topologySpreadConstraint = &message{name: "TopologySpreadConstraint", fields: map[protowire.Number]field{
		1: i32("maxSkew"), 2: str("topologyKey"), 3: str("whenUnsatisfiable"), 4: msg("labelSelector", labelSelector),
		5: ptr(i32("minDomains")), 6: ptr(str("nodeAffinityPolicy")), 7: ptr(str("nodeTaintsPolicy")), 8: strs("matchLabelKeys"),
	}}
	podSpec = &message{name: "PodSpec", fields: map[protowire.Number]field{
		1: msgs("volumes", volume), 20: msgs("initContainers", container), 2: msgs("containers", container),
		3: str("restartPolicy"), 4: ptr(i64("terminationGracePeriodSeconds")), 5: ptr(i64("activeDeadlineSeconds")),
		6: str("dnsPolicy"), 7: {json: "nodeSelector", kind: kStringMap}, 8: str("serviceAccountName"),
		9: str("serviceAccount"), 10: str("nodeName"), 11: boolean("hostNetwork"), 16: str("hostname"),
		19: str("schedulerName"), 22: msgs("tolerations", toleration), 24: str("priorityClassName"),
		25: ptr(i32("priority")), 15: msgs("imagePullSecrets", localObjectReference),
		21: ptr(boolean("automountServiceAccountToken")),
		33: msgs("topologySpreadConstraints", topologySpreadConstraint),
	}}
	podTemplateSpec = &message{name: "PodTemplateSpec", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: msg("spec", podSpec),
	}}
	configMap = &message{name: "ConfigMap", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: {json: "data", kind: kStringMap},
		3: {json: "binaryData", kind: kBytesMap}, 4: ptr(boolean("immutable")),
	}}
	secret = &message{name: "Secret", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: {json: "data", kind: kBytesMap}, 3: str("type"),
		4: {json: "stringData", kind: kStringMap}, 5: ptr(boolean("immutable")),
	}}
	objectReference = &message{name: "ObjectReference", fields: map[protowire.Number]field{
		1: str("kind"), 2: str("namespace"), 3: str("name"), 4: str("uid"), 5: str("apiVersion"),
		6: str("resourceVersion"), 7: str("fieldPath"),
	}}
	// What `kubectl create serviceaccount` sends.
	serviceAccount = &message{name: "ServiceAccount", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msgs("secrets", objectReference),
		3: msgs("imagePullSecrets", localObjectReference), 4: ptr(boolean("automountServiceAccountToken")),
	}}
	// What `kubectl create service clusterip|nodeport|loadbalancer|externalname` sends; the
	// status (a load balancer's) is the controllers'.
	service = &message{name: "Service", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "ServiceSpec", fields: map[protowire.Number]field{
			1: msgs("ports", &message{name: "ServicePort", fields: map[protowire.Number]field{
				1: str("name"), 2: str("protocol"), 6: ptr(str("appProtocol")), 3: i32("port"),
				4: {json: "targetPort", kind: kIntOrString}, 5: i32("nodePort"),
			}}),
			2: {json: "selector", kind: kStringMap}, 3: str("clusterIP"), 18: strs("clusterIPs"), 4: str("type"),
			5: strs("externalIPs"), 7: str("sessionAffinity"), 8: str("loadBalancerIP"),
			9: strs("loadBalancerSourceRanges"), 10: str("externalName"), 11: str("externalTrafficPolicy"),
			12: i32("healthCheckNodePort"), 13: boolean("publishNotReadyAddresses"),
			14: msg("sessionAffinityConfig", &message{name: "SessionAffinityConfig", fields: map[protowire.Number]field{
				1: msg("clientIP", &message{name: "ClientIPConfig", fields: map[protowire.Number]field{1: ptr(i32("timeoutSeconds"))}}),
			}}),
			19: strs("ipFamilies"), 17: ptr(str("ipFamilyPolicy")), 20: ptr(boolean("allocateLoadBalancerNodePorts")),
			21: ptr(str("loadBalancerClass")), 22: ptr(str("internalTrafficPolicy")), 23: ptr(str("trafficDistribution")),
		}}),
		3: ignoredStatus,
	}}
	resourceQuota = &message{name: "ResourceQuota", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "ResourceQuotaSpec", fields: map[protowire.Number]field{
			1: {json: "hard", kind: kQuantityMap}, 2: strs("scopes"),
		}}),
		3: ignoredStatus,
	}}

	// apps/v1

	deployment = &message{name: "Deployment", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "DeploymentSpec", fields: map[protowire.Number]field{
			1: ptr(i32("replicas")), 2: msg("selector", labelSelector), 3: msg("template", podTemplateSpec),
			4: msg("strategy", &message{name: "DeploymentStrategy", fields: map[protowire.Number]field{
				1: str("type"),
				2: msg("rollingUpdate", &message{name: "RollingUpdateDeployment", fields: map[protowire.Number]field{
					1: {json: "maxUnavailable", kind: kIntOrString}, 2: {json: "maxSurge", kind: kIntOrString},
				}}),
			}}),
			5: i32("minReadySeconds"), 6: ptr(i32("revisionHistoryLimit")), 7: boolean("paused"),
			9: ptr(i32("progressDeadlineSeconds")),
		}}),
		3: ignoredStatus,
	}}

	// No stock kubectl command creates a DaemonSet, but a client-go program may post one in
	// protobuf.
	daemonSet = &message{name: "DaemonSet", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "DaemonSetSpec", fields: map[protowire.Number]field{
			1: msg("selector", labelSelector), 2: msg("template", podTemplateSpec),
			3: msg("updateStrategy", &message{name: "DaemonSetUpdateStrategy", fields: map[protowire.Number]field{
				1: str("type"),
				2: msg("rollingUpdate", &message{name: "RollingUpdateDaemonSet", fields: map[protowire.Number]field{
					1: {json: "maxUnavailable", kind: kIntOrString}, 2: {json: "maxSurge", kind: kIntOrString},
				}}),
			}}),
			4: i32("minReadySeconds"), 6: ptr(i32("revisionHistoryLimit")),
		}}),
		3: ignoredStatus,
	}}

	// Nor does any create a StatefulSet. volumeClaimTemplates (4) is left out, as no
	// command sends one: a body with claims is refused by name rather than misread.
	statefulSet = &message{name: "StatefulSet", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "StatefulSetSpec", fields: map[protowire.Number]field{
			1: ptr(i32("replicas")), 2: msg("selector", labelSelector), 3: msg("template", podTemplateSpec),
			5: str("serviceName"), 6: str("podManagementPolicy"),
			7: msg("updateStrategy", &message{name: "StatefulSetUpdateStrategy", fields: map[protowire.Number]field{
				1: str("type"),
				2: msg("rollingUpdate", &message{name: "RollingUpdateStatefulSetStrategy", fields: map[protowire.Number]field{
					1: ptr(i32("partition")), 2: {json: "maxUnavailable", kind: kIntOrString},
				}}),
			}}),
			8: ptr(i32("revisionHistoryLimit")), 9: i32("minReadySeconds"),
			10: msg("persistentVolumeClaimRetentionPolicy", &message{name: "StatefulSetPersistentVolumeClaimRetentionPolicy", fields: map[protowire.Number]field{
				1: str("whenDeleted"), 2: str("whenScaled"),
			}}),
			11: msg("ordinals", &message{name: "StatefulSetOrdinals", fields: map[protowire.Number]field{1: ptr(i32("start"))}}),
		}}),
		3: ignoredStatus,
	}}

	// scheduling.k8s.io/v1: what `kubectl create priorityclass` sends.
	priorityClass = &message{name: "PriorityClass", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: i32("value"), 3: boolean("globalDefault"),
		4: str("description"), 5: ptr(str("preemptionPolicy")),
	}}

	// rbac.authorization.k8s.io/v1

	policyRule = &message{name: "PolicyRule", fields: map[protowire.Number]field{
		1: strs("verbs"), 2: strs("apiGroups"), 3: strs("resources"), 4: strs("resourceNames"), 5: strs("nonResourceURLs"),
	}}
	subject = &message{name: "Subject", fields: map[protowire.Number]field{
		1: str("kind"), 2: str("apiGroup"), 3: str("name"), 4: str("namespace"),
	}}
	roleRef = &message{name: "RoleRef", fields: map[protowire.Number]field{
		1: str("apiGroup"), 2: str("kind"), 3: str("name"),
	}}
	role = &message{name: "Role", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: msgs("rules", policyRule),
	}}
	clusterRole = &message{name: "ClusterRole", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: msgs("rules", policyRule),
		3: msg("aggregationRule", &message{name: "AggregationRule", fields: map[protowire.Number]field{
			1: msgs("clusterRoleSelectors", labelSelector),
		}}),
	}}
	roleBinding = &message{name: "RoleBinding", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: msgs("subjects", subject), 3: msg("roleRef", roleRef),
	}}

	// authentication.k8s.io/v1, authorization.k8s.io/v1 and policy/v1

	// What `kubectl create token` sends (serviceaccounts/token); the answer is its status.
	tokenRequest = &message{name: "TokenRequest", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "TokenRequestSpec", fields: map[protowire.Number]field{
			1: strs("audiences"), 4: ptr(i64("expirationSeconds")),
			3: msg("boundObjectRef", &message{name: "BoundObjectReference", fields: map[protowire.Number]field{
				1: str("kind"), 2: str("apiVersion"), 3: str("name"), 4: str("uid"),
			}}),
		}}),
		3: ignoredStatus,
	}}
	// A SelfSubjectReview's body is its metadata: the answer is all status.
	selfSubjectReview = &message{name: "SelfSubjectReview", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: ignoredStatus,
	}}
	selfSubjectAccessReview = &message{name: "SelfSubjectAccessReview", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "SelfSubjectAccessReviewSpec", fields: map[protowire.Number]field{
			1: msg("resourceAttributes", &message{name: "ResourceAttributes", fields: map[protowire.Number]field{
				1: str("namespace"), 2: str("verb"), 3: str("group"), 4: str("version"),
				5: str("resource"), 6: str("subresource"), 7: str("name"),
			}}),
			2: msg("nonResourceAttributes", &message{name: "NonResourceAttributes", fields: map[protowire.Number]field{
				1: str("path"), 2: str("verb"),
			}}),
		}}),
		3: ignoredStatus,
	}}
	selfSubjectRulesReview = &message{name: "SelfSubjectRulesReview", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "SelfSubjectRulesReviewSpec", fields: map[protowire.Number]field{1: str("namespace")}}),
		3: ignoredStatus,
	}}
	eviction = &message{name: "Eviction", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: msg("deleteOptions", deleteOptions),
	}}
	// What `kubectl create poddisruptionbudget` sends; its status is the controller's.
	podDisruptionBudget = &message{name: "PodDisruptionBudget", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "PodDisruptionBudgetSpec", fields: map[protowire.Number]field{
			1: {json: "minAvailable", kind: kIntOrString}, 2: msg("selector", labelSelector),
			3: {json: "maxUnavailable", kind: kIntOrString}, 4: ptr(str("unhealthyPodEvictionPolicy")),
		}}),
		3: ignoredStatus,
	}}
	// What `kubectl create job` sends (a template with restartPolicy Never); the fields that
	// select features kubelab does not run (podFailurePolicy 11, backoffLimitPerIndex 12,
	// maxFailedIndexes 13, managedBy 15, successPolicy 16) are refused by number.
	jobSpec = &message{name: "JobSpec", fields: map[protowire.Number]field{
		1: ptr(i32("parallelism")), 2: ptr(i32("completions")), 3: ptr(i64("activeDeadlineSeconds")),
		4: msg("selector", labelSelector), 5: ptr(boolean("manualSelector")),
		6: msg("template", podTemplateSpec), 7: ptr(i32("backoffLimit")),
		8: ptr(i32("ttlSecondsAfterFinished")), 9: ptr(str("completionMode")), 10: ptr(boolean("suspend")),
	}}
	job = &message{name: "Job", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta), 2: msg("spec", jobSpec), 3: ignoredStatus,
	}}
	// What `kubectl create cronjob` sends: the job template carries a JobSpec as above.
	cronJob = &message{name: "CronJob", fields: map[protowire.Number]field{
		1: msg("metadata", objectMeta),
		2: msg("spec", &message{name: "CronJobSpec", fields: map[protowire.Number]field{
			1: str("schedule"), 8: ptr(str("timeZone")), 2: ptr(i64("startingDeadlineSeconds")),
			3: str("concurrencyPolicy"), 4: ptr(boolean("suspend")),
			5: msg("jobTemplate", &message{name: "JobTemplateSpec", fields: map[protowire.Number]field{
				1: msg("metadata", objectMeta), 2: msg("spec", jobSpec),
			}}),
			6: ptr(i32("successfulJobsHistoryLimit")), 7: ptr(i32("failedJobsHistoryLimit")),
		}}),
		3: ignoredStatus,
	}}
)

func named(f field, json string) field { f.json = json; return f }

// kinds maps "apiVersion kind" to the message a body of that kind holds.
var kinds = map[string]*message{
	"v1 Namespace":                                    namespace,
	"v1 ResourceQuota":                                resourceQuota,
	"v1 ConfigMap":                                    configMap,
	"v1 Secret":                                       secret,
	"v1 ServiceAccount":                               serviceAccount,
	"v1 Service":                                      service,
	"apps/v1 Deployment":                              deployment,
	"apps/v1 DaemonSet":                               daemonSet,
	"apps/v1 StatefulSet":                             statefulSet,
	"rbac.authorization.k8s.io/v1 Role":               role,
	"rbac.authorization.k8s.io/v1 ClusterRole":        clusterRole,
	"rbac.authorization.k8s.io/v1 RoleBinding":        roleBinding,
	"rbac.authorization.k8s.io/v1 ClusterRoleBinding": roleBinding,
	"authentication.k8s.io/v1 SelfSubjectReview":      selfSubjectReview,
	"authentication.k8s.io/v1 TokenRequest":           tokenRequest,
	"authorization.k8s.io/v1 SelfSubjectAccessReview": selfSubjectAccessReview,
	"authorization.k8s.io/v1 SelfSubjectRulesReview":  selfSubjectRulesReview,
	"policy/v1 Eviction":                              eviction,
	"policy/v1 PodDisruptionBudget":                   podDisruptionBudget,
	"batch/v1 Job":                                    job,
	"batch/v1 CronJob":                                cronJob,
	"scheduling.k8s.io/v1 PriorityClass":              priorityClass,
	// The body of a DELETE (kubectl drain --disable-eviction sends one).
	"v1 DeleteOptions":             deleteOptions,
	"meta.k8s.io/v1 DeleteOptions": deleteOptions,
}
