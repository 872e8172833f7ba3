package storagetest

import (
	"fmt"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// Pod returns a Pod shaped like a real one (labels, annotations, two containers with env,
// ports, resources and probes, a status with conditions): about 1.5 KB as protobuf, the
// payload storage benchmarks use.
func Pod(namespace, name string) *corev1.Pod {
	return &corev1.Pod{
		Kind:       "Pod",
		ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{
			Name:              name,
			Namespace:         namespace,
			Uid:               fmt.Sprintf("6f1c2a44-0d5e-4c1b-9a7e-%012x", len(name)),
			CreationTimestamp: &metav1.Time{Seconds: 1767225600},
			Labels:            map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "5d8f7b9c6d"},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
				"prometheus.io/scrape":              "true",
				"prometheus.io/port":                "9090",
			},
			OwnerReferences: []*metav1.OwnerReference{{
				ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f7b9c6d",
				Uid: "0b7e0c3e-5a0f-4f1e-8f51-2f6c1d3b9a10", Controller: ptr(true), BlockOwnerDeletion: ptr(true),
			}},
		},
		Spec: &corev1.PodSpec{
			Containers: []*corev1.Container{
				container("web", "registry.example.com/team/web:1.27.3", 8080),
				container("metrics-sidecar", "registry.example.com/infra/exporter:0.9.1", 9090),
			},
			RestartPolicy:                 "Always",
			TerminationGracePeriodSeconds: ptr(int64(30)),
			DnsPolicy:                     "ClusterFirst",
			ServiceAccountName:            "web",
			NodeName:                      "node-1",
			SchedulerName:                 "default-scheduler",
			NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
		},
		Status: &corev1.PodStatus{
			Phase:  "Running",
			HostIP: "10.0.0.11",
			PodIP:  "10.244.1.23",
			Conditions: []*corev1.PodCondition{
				{Type: "Initialized", Status: "True", LastTransitionTime: &metav1.Time{Seconds: 1767225601}},
				{Type: "Ready", Status: "True", LastTransitionTime: &metav1.Time{Seconds: 1767225605}},
				{Type: "ContainersReady", Status: "True", LastTransitionTime: &metav1.Time{Seconds: 1767225605}},
				{Type: "PodScheduled", Status: "True", LastTransitionTime: &metav1.Time{Seconds: 1767225600}},
			},
			QosClass:  "Burstable",
			StartTime: &metav1.Time{Seconds: 1767225600},
		},
	}
}

func container(name, image string, port int32) *corev1.Container {
	return &corev1.Container{
		Name:  name,
		Image: image,
		Args:  []string{"--listen=:" + fmt.Sprint(port), "--log-level=info"},
		Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: "TCP"}},
		Env: []*corev1.EnvVar{
			{Name: "POD_NAME", Value: "from-downward-api"},
			{Name: "GOMAXPROCS", Value: "2"},
			{Name: "CONFIG_PATH", Value: "/etc/app/config.yaml"},
		},
		Resources: &corev1.ResourceRequirements{
			Requests: map[string]*metav1.Quantity{"cpu": {String_: "100m"}, "memory": {String_: "128Mi"}},
			Limits:   map[string]*metav1.Quantity{"memory": {String_: "256Mi"}},
		},
		VolumeMounts: []*corev1.VolumeMount{{Name: "config", MountPath: "/etc/app", ReadOnly: true}},
		ReadinessProbe: &corev1.Probe{
			HttpGet:          &corev1.HTTPGetAction{Path: "/healthz", Port: &metav1.IntOrString{IntVal: port}},
			PeriodSeconds:    10,
			FailureThreshold: 3,
		},
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: "File",
		ImagePullPolicy:          "IfNotPresent",
	}
}

func ptr[T any](v T) *T { return &v }
