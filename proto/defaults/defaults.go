// Package defaults fills the fields kube-apiserver defaults when it decodes an object: the
// values of Kubernetes' pkg/apis/core/v1/defaults.go and pkg/apis/apps/v1/defaults.go (and
// the declarative defaults generated next to them), applied to kubelab's generated types.
//
// Every function only sets fields that are unset, so defaulting is idempotent: applying it to
// an already defaulted object changes nothing. Defaulting runs on every write (create and
// update); the one create-only default, the Namespace finalizer, is NamespaceOnCreate.
//
// Kubernetes also rounds resource quantities up to milli precision while defaulting; kubelab
// keeps quantities exactly as written.
package defaults

import (
	"google.golang.org/protobuf/proto"

	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/validation"
)

// Default values, as Kubernetes names them.
const (
	DefaultSchedulerName                 = "default-scheduler"
	DefaultTerminationGracePeriodSeconds = 30
	DefaultTerminationMessagePath        = "/dev/termination-log"
	DefaultDeploymentMaxUnavailable      = "25%"
	DefaultDeploymentMaxSurge            = "25%"
	DefaultRevisionHistoryLimit          = 10
	DefaultProgressDeadlineSeconds       = 600
	// DefaultVolumeMode is the defaultMode of secret and configMap volumes (0644).
	DefaultVolumeMode = 0o644
	// FinalizerKubernetes is the finalizer of a Namespace the namespace controller empties.
	FinalizerKubernetes = "kubernetes"
	// LabelMetadataName is the label every named Namespace carries with its own name.
	LabelMetadataName = "kubernetes.io/metadata.name"
)

// Default fills the defaults of obj in place, according to its Go type. Kinds without
// defaults (Event, Lease, ResourceQuota, Binding, …) are left alone.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		Pod(o)
	case *corev1.Namespace:
		Namespace(o)
	case *corev1.Node:
		Node(o)
	case *corev1.LimitRange:
		LimitRange(o)
	case *corev1.Secret:
		Secret(o)
	case *corev1.Service:
		Service(o)
	case *corev1.Endpoints:
		Endpoints(o)
	case *discoveryv1.EndpointSlice:
		EndpointSlice(o)
	case *authenticationv1.TokenRequest:
		TokenRequest(o)
	case *appsv1.Deployment:
		Deployment(o)
	case *appsv1.ReplicaSet:
		ReplicaSet(o)
	case *appsv1.DaemonSet:
		DaemonSet(o)
	case *appsv1.StatefulSet:
		StatefulSet(o)
	case *batchv1.Job:
		Job(o)
	case *batchv1.CronJob:
		CronJob(o)
	case *rbacv1.RoleBinding:
		RoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		ClusterRoleBinding(o)
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		MutatingWebhookConfiguration(o)
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		ValidatingWebhookConfiguration(o)
	case *schedulingv1.PriorityClass:
		PriorityClass(o)
	case *corev1.PersistentVolume:
		PersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		PersistentVolumeClaim(o)
	case *storagev1.StorageClass:
		StorageClass(o)
	}
}

// Pod defaults a Pod: its spec as PodSpec does, plus what Kubernetes defaults only on Pods and
// not on pod templates: requests default to limits for every resource that has a limit and no
// request, enableServiceLinks is true, and with hostNetwork each container port's hostPort
// defaults to its containerPort.
func Pod(pod *corev1.Pod) {
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	spec := pod.Spec
	for _, c := range spec.Containers {
		requestsFromLimits(c)
	}
	for _, c := range spec.InitContainers {
		requestsFromLimits(c)
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = proto.Bool(true)
	}
	if spec.HostNetwork {
		hostNetworkPorts(spec.Containers)
		hostNetworkPorts(spec.InitContainers)
	}
	PodSpec(spec)
}

func requestsFromLimits(c *corev1.Container) {
	if c == nil || c.Resources == nil || c.Resources.Limits == nil {
		return
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = make(map[string]*metav1.Quantity, len(c.Resources.Limits))
	}
	for name, q := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			c.Resources.Requests[name] = proto.Clone(q).(*metav1.Quantity)
		}
	}
}

func hostNetworkPorts(containers []*corev1.Container) {
	for _, c := range containers {
		for _, p := range c.GetPorts() {
			if p != nil && p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

// PodTemplateSpec defaults the spec of a pod template (as in a Deployment or ReplicaSet).
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t.Spec == nil {
		t.Spec = &corev1.PodSpec{}
	}
	PodSpec(t.Spec)
}

// PodSpec defaults a pod spec, for Pods and pod templates alike: restartPolicy Always,
// dnsPolicy ClusterFirst, an empty securityContext, terminationGracePeriodSeconds 30,
// schedulerName default-scheduler, and the defaults of its volumes and containers.
func PodSpec(spec *corev1.PodSpec) {
	if spec.DnsPolicy == "" {
		spec.DnsPolicy = "ClusterFirst"
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = "Always"
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = proto.Int64(DefaultTerminationGracePeriodSeconds)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = DefaultSchedulerName
	}
	for _, v := range spec.Volumes {
		if v != nil {
			Volume(v)
		}
	}
	for _, c := range spec.InitContainers {
		if c != nil {
			Container(c)
		}
	}
	for _, c := range spec.Containers {
		if c != nil {
			Container(c)
		}
	}
}

// Volume defaults a pod volume: no source means an emptyDir; secret, configMap, downwardAPI
// and projected volumes get defaultMode 0644, a projected token expirationSeconds 3600, a
// downward API fieldRef apiVersion v1, hostPath volumes type "", and an ephemeral volume's
// claim template volumeMode Filesystem.
func Volume(v *corev1.Volume) {
	if v.HostPath == nil && v.EmptyDir == nil && v.Secret == nil && v.ConfigMap == nil && v.DownwardAPI == nil && v.Projected == nil && v.PersistentVolumeClaim == nil && v.Ephemeral == nil {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if d := v.DownwardAPI; d != nil {
		if d.DefaultMode == nil {
			d.DefaultMode = proto.Int32(DefaultVolumeMode)
		}
		downwardAPIFiles(d.Items)
	}
	if pr := v.Projected; pr != nil {
		if pr.DefaultMode == nil {
			pr.DefaultMode = proto.Int32(DefaultVolumeMode)
		}
		for _, src := range pr.Sources {
			if t := src.GetServiceAccountToken(); t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = proto.Int64(DefaultTokenExpirationSeconds)
			}
			downwardAPIFiles(src.GetDownwardAPI().GetItems())
		}
	}
	// An ephemeral volume's claim template spec defaults as any claim's spec does.
	if t := v.GetEphemeral().GetVolumeClaimTemplate(); t != nil {
		if t.Spec == nil {
			t.Spec = &corev1.PersistentVolumeClaimSpec{}
		}
		setString(&t.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	}
	if v.HostPath != nil && v.HostPath.Type == nil {
		v.HostPath.Type = proto.String("")
	}
	if v.Secret != nil && v.Secret.DefaultMode == nil {
		v.Secret.DefaultMode = proto.Int32(DefaultVolumeMode)
	}
	if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
		v.ConfigMap.DefaultMode = proto.Int32(DefaultVolumeMode)
	}
}

// DefaultTokenExpirationSeconds is a projected service account token's lifetime when the
// pod does not say (an hour, as Kubernetes).
const DefaultTokenExpirationSeconds = 3600

// TokenRequest defaults a token's requested lifetime to an hour.
func TokenRequest(tr *authenticationv1.TokenRequest) {
	if tr.Spec == nil {
		tr.Spec = &authenticationv1.TokenRequestSpec{}
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = proto.Int64(DefaultTokenExpirationSeconds)
	}
}

// downwardAPIFiles defaults each file's fieldRef apiVersion to v1, as env vars' are.
func downwardAPIFiles(items []*corev1.DownwardAPIVolumeFile) {
	for _, f := range items {
		if ref := f.GetFieldRef(); ref != nil && ref.ApiVersion == "" {
			ref.ApiVersion = "v1"
		}
	}
}

// Container defaults a container (init containers too): imagePullPolicy (see
// ImagePullPolicy), terminationMessagePath /dev/termination-log, terminationMessagePolicy
// File, port protocol TCP, env fieldRef apiVersion v1, and its probes and lifecycle hooks.
func Container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = ImagePullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = DefaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = "File"
	}
	for _, p := range c.Ports {
		if p != nil && p.Protocol == "" {
			p.Protocol = "TCP"
		}
	}
	for _, e := range c.Env {
		if ref := e.GetValueFrom().GetFieldRef(); ref != nil && ref.ApiVersion == "" {
			ref.ApiVersion = "v1"
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			Probe(p)
		}
	}
	if lc := c.Lifecycle; lc != nil {
		for _, h := range []*corev1.LifecycleHandler{lc.PostStart, lc.PreStop} {
			if h.GetHttpGet() != nil {
				HTTPGetAction(h.HttpGet)
			}
		}
	}
}

// ImagePullPolicy is the pull policy Kubernetes defaults for image: Always when its tag is
// "latest", or when it has neither tag nor digest; IfNotPresent otherwise, including for a
// reference that does not parse (validation reports those).
func ImagePullPolicy(image string) string {
	ref, err := validation.ParseImageReference(image)
	if err == nil && (ref.Tag == "latest" || (ref.Tag == "" && ref.Digest == "")) {
		return "Always"
	}
	return "IfNotPresent"
}

// Probe defaults a probe: timeoutSeconds 1, periodSeconds 10, successThreshold 1,
// failureThreshold 3, and its httpGet or grpc handler.
func Probe(p *corev1.Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HttpGet != nil {
		HTTPGetAction(p.HttpGet)
	}
	if p.Grpc != nil && p.Grpc.Service == nil {
		p.Grpc.Service = proto.String("")
	}
}

// HTTPGetAction defaults an HTTP GET handler: path "/" and scheme HTTP.
func HTTPGetAction(a *corev1.HTTPGetAction) {
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Scheme == "" {
		a.Scheme = "HTTP"
	}
}

// Deployment defaults a Deployment: replicas 1, a RollingUpdate strategy with maxUnavailable
// and maxSurge 25%, revisionHistoryLimit 10, progressDeadlineSeconds 600, and its pod
// template.
func Deployment(d *appsv1.Deployment) {
	if d.Spec == nil {
		d.Spec = &appsv1.DeploymentSpec{}
	}
	spec := d.Spec
	if spec.Replicas == nil {
		spec.Replicas = proto.Int32(1)
	}
	if spec.Strategy == nil {
		spec.Strategy = &appsv1.DeploymentStrategy{}
	}
	st := spec.Strategy
	if st.Type == "" {
		st.Type = "RollingUpdate"
	}
	if st.Type == "RollingUpdate" {
		if st.RollingUpdate == nil {
			st.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if st.RollingUpdate.MaxUnavailable == nil {
			st.RollingUpdate.MaxUnavailable = percent(DefaultDeploymentMaxUnavailable)
		}
		if st.RollingUpdate.MaxSurge == nil {
			st.RollingUpdate.MaxSurge = percent(DefaultDeploymentMaxSurge)
		}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = proto.Int32(DefaultRevisionHistoryLimit)
	}
	if spec.ProgressDeadlineSeconds == nil {
		spec.ProgressDeadlineSeconds = proto.Int32(DefaultProgressDeadlineSeconds)
	}
	if spec.Template == nil {
		spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(spec.Template)
}

func percent(s string) *metav1.IntOrString { return &metav1.IntOrString{Type: 1, StrVal: s} }

// ReplicaSet defaults a ReplicaSet: replicas 1 and its pod template.
func ReplicaSet(rs *appsv1.ReplicaSet) {
	if rs.Spec == nil {
		rs.Spec = &appsv1.ReplicaSetSpec{}
	}
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = proto.Int32(1)
	}
	if rs.Spec.Template == nil {
		rs.Spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(rs.Spec.Template)
}

// Namespace defaults a Namespace: a named namespace carries the label
// kubernetes.io/metadata.name with its name. (status.phase is the registry's business.)
func Namespace(ns *corev1.Namespace) {
	name := ns.GetMetadata().GetName()
	if name == "" {
		return
	}
	meta := runtime.Meta(ns)
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels[LabelMetadataName] = name
}

// NamespaceOnCreate adds the "kubernetes" finalizer to spec.finalizers when it is missing, as
// Kubernetes' namespace registry does on create only: it is not a default, because the
// namespace controller removes it over the object's life and defaulting runs on every update.
// Only call it when something (the namespace controller) will remove the finalizer again,
// or namespaces can never be deleted.
func NamespaceOnCreate(ns *corev1.Namespace) {
	if ns.Spec == nil {
		ns.Spec = &corev1.NamespaceSpec{}
	}
	for _, f := range ns.Spec.Finalizers {
		if f == FinalizerKubernetes {
			return
		}
	}
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, FinalizerKubernetes)
}

// Node defaults a Node: status.allocatable defaults to a copy of status.capacity.
func Node(n *corev1.Node) {
	st := n.GetStatus()
	if st == nil || st.Allocatable != nil || st.Capacity == nil {
		return
	}
	st.Allocatable = make(map[string]*metav1.Quantity, len(st.Capacity))
	for k, q := range st.Capacity {
		st.Allocatable[k] = proto.Clone(q).(*metav1.Quantity)
	}
}

// LimitRange defaults each Container item of a LimitRange: default (limit) falls back to max,
// defaultRequest to default, then to min.
func LimitRange(lr *corev1.LimitRange) {
	for _, item := range lr.GetSpec().GetLimits() {
		if item == nil || item.Type != "Container" {
			continue
		}
		if item.Default == nil {
			item.Default = map[string]*metav1.Quantity{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = map[string]*metav1.Quantity{}
		}
		fill(item.Default, item.Max)
		fill(item.DefaultRequest, item.Default)
		fill(item.DefaultRequest, item.Min)
	}
}

// fill copies into dst each entry of src whose key dst lacks.
func fill(dst, src map[string]*metav1.Quantity) {
	for k, q := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = proto.Clone(q).(*metav1.Quantity)
		}
	}
}

// SecretTypeOpaque is the type of a Secret that does not say: arbitrary user data.
const SecretTypeOpaque = "Opaque"

// Secret defaults type to Opaque and merges stringData into data, its values winning, then
// drops stringData: Kubernetes does this when it decodes a Secret, so stringData is
// write-only — never stored, never returned — and validation sees only data.
func Secret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}
