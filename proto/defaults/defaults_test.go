package defaults_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
)

func seedDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ApiVersion: "apps/v1", Kind: "Deployment",
		Metadata: &metav1.ObjectMeta{Name: "example-deployment", Namespace: "default"},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "example"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "example"}},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
					Name: "example-container", Image: "nginx:1.14.2",
					Ports: []*corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
		},
	}
}

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func TestDeployment(t *testing.T) {
	d := seedDeployment()
	defaults.Default(d)
	s := d.Spec
	if s.GetReplicas() != 3 {
		t.Errorf("replicas = %d, want the 3 given", s.GetReplicas())
	}
	if s.Strategy.GetType() != "RollingUpdate" ||
		!proto.Equal(s.Strategy.RollingUpdate.MaxUnavailable, &metav1.IntOrString{Type: 1, StrVal: "25%"}) ||
		!proto.Equal(s.Strategy.RollingUpdate.MaxSurge, &metav1.IntOrString{Type: 1, StrVal: "25%"}) {
		t.Errorf("strategy = %v", s.Strategy)
	}
	if s.GetRevisionHistoryLimit() != 10 || s.GetProgressDeadlineSeconds() != 600 {
		t.Errorf("revisionHistoryLimit %d, progressDeadlineSeconds %d", s.GetRevisionHistoryLimit(), s.GetProgressDeadlineSeconds())
	}
	ps := s.Template.Spec
	if ps.RestartPolicy != "Always" || ps.DnsPolicy != "ClusterFirst" || ps.SchedulerName != "default-scheduler" ||
		ps.GetTerminationGracePeriodSeconds() != 30 || ps.SecurityContext == nil {
		t.Errorf("pod template spec defaults: %v", ps)
	}
	if ps.EnableServiceLinks != nil {
		t.Errorf("enableServiceLinks is defaulted on Pods only, not templates")
	}
	c := ps.Containers[0]
	if c.ImagePullPolicy != "IfNotPresent" || c.TerminationMessagePath != "/dev/termination-log" ||
		c.TerminationMessagePolicy != "File" || c.Ports[0].Protocol != "TCP" {
		t.Errorf("container defaults: %v", c)
	}

	empty := &appsv1.Deployment{}
	defaults.Default(empty)
	if empty.Spec.GetReplicas() != 1 || empty.Spec.Template.GetSpec().GetRestartPolicy() != "Always" {
		t.Errorf("empty deployment: %v", empty)
	}

	recreate := &appsv1.Deployment{Spec: &appsv1.DeploymentSpec{Strategy: &appsv1.DeploymentStrategy{Type: "Recreate"}}}
	defaults.Default(recreate)
	if recreate.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got a rollingUpdate")
	}

	partial := &appsv1.Deployment{Spec: &appsv1.DeploymentSpec{Strategy: &appsv1.DeploymentStrategy{
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &metav1.IntOrString{IntVal: 0}},
	}}}
	defaults.Default(partial)
	ru := partial.Spec.Strategy.RollingUpdate
	if ru.MaxSurge.GetType() != 0 || ru.MaxSurge.GetIntVal() != 0 || ru.MaxUnavailable.GetStrVal() != "25%" {
		t.Errorf("a given maxSurge must be kept: %v", ru)
	}
}

func TestReplicaSet(t *testing.T) {
	rs := &appsv1.ReplicaSet{Spec: &appsv1.ReplicaSetSpec{}}
	defaults.Default(rs)
	if rs.Spec.GetReplicas() != 1 || rs.Spec.Template.GetSpec().GetDnsPolicy() != "ClusterFirst" {
		t.Errorf("replicaset: %v", rs)
	}
	rs = &appsv1.ReplicaSet{Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(0)}}
	defaults.Default(rs)
	if rs.Spec.GetReplicas() != 0 {
		t.Errorf("replicas 0 must stay 0")
	}
}

func TestPod(t *testing.T) {
	pod := &corev1.Pod{Spec: &corev1.PodSpec{
		HostNetwork: true,
		Volumes: []*corev1.Volume{
			{Name: "scratch"},
			{Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "c"}},
			{Name: "sec", Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
			{Name: "host", HostPath: &corev1.HostPathVolumeSource{Path: "/var"}},
		},
		InitContainers: []*corev1.Container{{Name: "init", Image: "busybox"}},
		Containers: []*corev1.Container{{
			Name: "app", Image: "registry.example.com:5000/app",
			Ports: []*corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 53, Protocol: "UDP", HostPort: 5353}},
			Env: []*corev1.EnvVar{
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			Resources: &corev1.ResourceRequirements{
				Limits:   map[string]*metav1.Quantity{"cpu": q("1"), "memory": q("128Mi")},
				Requests: map[string]*metav1.Quantity{"cpu": q("500m")},
			},
			LivenessProbe: &corev1.Probe{HttpGet: &corev1.HTTPGetAction{Port: &metav1.IntOrString{IntVal: 8080}}},
			ReadinessProbe: &corev1.Probe{
				Grpc: &corev1.GRPCAction{Port: 9000}, PeriodSeconds: 5, FailureThreshold: 7,
			},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HttpGet: &corev1.HTTPGetAction{Path: "/stop"}}},
		}},
	}}
	defaults.Default(pod)
	s := pod.Spec
	if !s.GetEnableServiceLinks() || s.EnableServiceLinks == nil {
		t.Errorf("enableServiceLinks not true")
	}
	if s.Volumes[0].EmptyDir == nil || s.Volumes[1].ConfigMap.GetDefaultMode() != 0o644 ||
		s.Volumes[2].Secret.GetDefaultMode() != 420 || s.Volumes[3].HostPath.Type == nil {
		t.Errorf("volume defaults: %v", s.Volumes)
	}
	if s.InitContainers[0].ImagePullPolicy != "Always" || s.InitContainers[0].TerminationMessagePolicy != "File" {
		t.Errorf("init container defaults: %v", s.InitContainers[0])
	}
	c := s.Containers[0]
	if c.ImagePullPolicy != "Always" {
		t.Errorf("untagged image: pull policy %q, want Always", c.ImagePullPolicy)
	}
	if c.Ports[0].Protocol != "TCP" || c.Ports[1].Protocol != "UDP" {
		t.Errorf("port protocols: %v", c.Ports)
	}
	if c.Ports[0].HostPort != 8080 || c.Ports[1].HostPort != 5353 {
		t.Errorf("hostNetwork host ports: %v", c.Ports)
	}
	if c.Env[0].ValueFrom.FieldRef.ApiVersion != "v1" {
		t.Errorf("fieldRef apiVersion: %v", c.Env[0])
	}
	if c.Resources.Requests["cpu"].GetString_() != "500m" || c.Resources.Requests["memory"].GetString_() != "128Mi" {
		t.Errorf("requests: %v", c.Resources.Requests)
	}
	lp := c.LivenessProbe
	if lp.TimeoutSeconds != 1 || lp.PeriodSeconds != 10 || lp.SuccessThreshold != 1 || lp.FailureThreshold != 3 {
		t.Errorf("probe defaults: %v", lp)
	}
	if lp.HttpGet.Path != "/" || lp.HttpGet.Scheme != "HTTP" {
		t.Errorf("httpGet defaults: %v", lp.HttpGet)
	}
	rp := c.ReadinessProbe
	if rp.PeriodSeconds != 5 || rp.FailureThreshold != 7 || rp.Grpc.Service == nil {
		t.Errorf("readiness probe: %v", rp)
	}
	if h := c.Lifecycle.PreStop.HttpGet; h.Path != "/stop" || h.Scheme != "HTTP" {
		t.Errorf("lifecycle httpGet: %v", h)
	}
}

func TestImagePullPolicy(t *testing.T) {
	for _, tc := range []struct{ image, want string }{
		{"nginx", "Always"},
		{"nginx:latest", "Always"},
		{"nginx:1.14.2", "IfNotPresent"},
		{"localhost:5000/nginx", "Always"},
		{"localhost:5000/nginx:v1", "IfNotPresent"},
		{"nginx@sha256:" + sha, "IfNotPresent"},
		{"nginx:latest@sha256:" + sha, "Always"},
		{"", "IfNotPresent"},
		{"NGINX", "IfNotPresent"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			if got := defaults.ImagePullPolicy(tc.image); got != tc.want {
				t.Errorf("ImagePullPolicy(%q) = %q, want %q", tc.image, got, tc.want)
			}
		})
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestNamespace(t *testing.T) {
	ns := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team-a"}}
	defaults.Default(ns)
	if ns.Metadata.Labels["kubernetes.io/metadata.name"] != "team-a" {
		t.Errorf("labels: %v", ns.Metadata.Labels)
	}
	if len(ns.GetSpec().GetFinalizers()) != 0 {
		t.Errorf("Default must not add finalizers (create-only): %v", ns.Spec)
	}
	defaults.NamespaceOnCreate(ns)
	defaults.NamespaceOnCreate(ns)
	if f := ns.Spec.GetFinalizers(); len(f) != 1 || f[0] != "kubernetes" {
		t.Errorf("finalizers: %v", f)
	}
	unnamed := &corev1.Namespace{}
	defaults.Default(unnamed)
	if unnamed.Metadata != nil {
		t.Errorf("an unnamed namespace gets no label")
	}
}

func TestNodeAndLimitRange(t *testing.T) {
	n := &corev1.Node{Status: &corev1.NodeStatus{Capacity: map[string]*metav1.Quantity{"cpu": q("4")}}}
	defaults.Default(n)
	if n.Status.Allocatable["cpu"].GetString_() != "4" {
		t.Errorf("allocatable: %v", n.Status.Allocatable)
	}
	lr := &corev1.LimitRange{Spec: &corev1.LimitRangeSpec{Limits: []*corev1.LimitRangeItem{
		{Type: "Container", Max: map[string]*metav1.Quantity{"cpu": q("2"), "memory": q("1Gi")},
			Min: map[string]*metav1.Quantity{"ephemeral-storage": q("1Gi")}, Default: map[string]*metav1.Quantity{"memory": q("512Mi")}},
		{Type: "Pod", Max: map[string]*metav1.Quantity{"cpu": q("4")}},
	}}}
	defaults.Default(lr)
	c := lr.Spec.Limits[0]
	if c.Default["cpu"].GetString_() != "2" || c.Default["memory"].GetString_() != "512Mi" ||
		c.DefaultRequest["cpu"].GetString_() != "2" || c.DefaultRequest["memory"].GetString_() != "512Mi" ||
		c.DefaultRequest["ephemeral-storage"].GetString_() != "1Gi" {
		t.Errorf("container limit defaults: %v", c)
	}
	if lr.Spec.Limits[1].Default != nil {
		t.Errorf("Pod items get no defaults")
	}
}

func TestIdempotent(t *testing.T) {
	objs := map[string]runtime.Object{
		"deployment":       seedDeployment(),
		"empty deployment": &appsv1.Deployment{},
		"replicaset":       &appsv1.ReplicaSet{},
		"pod": &corev1.Pod{Spec: &corev1.PodSpec{HostNetwork: true, Containers: []*corev1.Container{{
			Name: "c", Image: "nginx", Ports: []*corev1.ContainerPort{{ContainerPort: 80}},
			Resources:      &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"cpu": q("1")}},
			LivenessProbe:  &corev1.Probe{HttpGet: &corev1.HTTPGetAction{}},
			StartupProbe:   &corev1.Probe{Grpc: &corev1.GRPCAction{Port: 1}},
			ReadinessProbe: &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}},
		}}, Volumes: []*corev1.Volume{{Name: "v"}}}},
		"empty pod":  &corev1.Pod{},
		"namespace":  &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "ns"}},
		"node":       &corev1.Node{Status: &corev1.NodeStatus{Capacity: map[string]*metav1.Quantity{"pods": q("110")}}},
		"limitrange": &corev1.LimitRange{Spec: &corev1.LimitRangeSpec{Limits: []*corev1.LimitRangeItem{{Type: "Container", Max: map[string]*metav1.Quantity{"cpu": q("1")}}}}},
		"event":      &corev1.Event{},
	}
	for name, obj := range objs {
		t.Run(name, func(t *testing.T) {
			defaults.Default(obj)
			once := proto.Clone(obj)
			defaults.Default(obj)
			if !proto.Equal(once, obj) {
				t.Errorf("second Default changed the object:\nonce:  %v\ntwice: %v", once, obj)
			}
		})
	}
}

func TestProjectedAndDownwardAPIVolumes(t *testing.T) {
	proj := &corev1.Volume{Name: "p", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
	}}}
	dapi := &corev1.Volume{Name: "d", DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []*corev1.DownwardAPIVolumeFile{{Path: "n", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}
	defaults.Volume(proj)
	defaults.Volume(dapi)
	if proj.EmptyDir != nil || dapi.EmptyDir != nil {
		t.Error("a projected or downwardAPI volume was defaulted to an emptyDir")
	}
	if proj.Projected.GetDefaultMode() != 0o644 || dapi.DownwardAPI.GetDefaultMode() != 0o644 {
		t.Errorf("defaultMode = %o, %o; want 644", proj.Projected.GetDefaultMode(), dapi.DownwardAPI.GetDefaultMode())
	}
	if got := proj.Projected.Sources[0].ServiceAccountToken.GetExpirationSeconds(); got != 3600 {
		t.Errorf("token expirationSeconds = %d, want 3600", got)
	}
	if proj.Projected.Sources[1].DownwardAPI.Items[0].FieldRef.ApiVersion != "v1" || dapi.DownwardAPI.Items[0].FieldRef.ApiVersion != "v1" {
		t.Error("downward API fieldRef apiVersion not defaulted to v1")
	}
}
