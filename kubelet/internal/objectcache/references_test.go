package objectcache

import (
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// references finds every ConfigMap and Secret the kubelet reads for a pod, once each, in
// the pod's namespace; imagePullSecrets, which it never reads, are left out.
func TestReferences(t *testing.T) {
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: &corev1.PodSpec{
		ImagePullSecrets: []*corev1.LocalObjectReference{{Name: "pull"}},
		Volumes: []*corev1.Volume{
			{Name: "a", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "vol"}},
			{Name: "b", Secret: &corev1.SecretVolumeSource{SecretName: "vol"}},
			{Name: "c", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{Name: "kube-root-ca.crt"}},
				{Secret: &corev1.SecretProjection{Name: "projected"}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			}}},
			{Name: "d", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		},
		InitContainers: []*corev1.Container{{Name: "i", EnvFrom: []*corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{Name: "init"}}}}},
		Containers: []*corev1.Container{{Name: "c",
			EnvFrom: []*corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "envfrom"}}},
			Env: []*corev1.EnvVar{
				{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Name: "vol", Key: "k"}}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "env", Key: "k"}}},
				{Name: "C", Value: "plain"},
			}}},
	}}
	want := []objectKey{
		{namespace: "ns", name: "vol"},
		{secret: true, namespace: "ns", name: "vol"},
		{namespace: "ns", name: "kube-root-ca.crt"},
		{secret: true, namespace: "ns", name: "projected"},
		{secret: true, namespace: "ns", name: "init"},
		{namespace: "ns", name: "envfrom"},
		{secret: true, namespace: "ns", name: "env"},
	}
	if got := references(pod); !slices.Equal(got, want) {
		t.Errorf("references =\n%v\nwant\n%v", got, want)
	}
}
