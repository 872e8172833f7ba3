package objectcache

import (
	"slices"

	corev1 "kubelab.io/proto/api/core/v1"
)

// references lists, without repeats, the ConfigMaps and Secrets the kubelet reads for
// pod: configMap and secret volumes, projected volumes' configMap and secret sources, and
// the env valueFrom and envFrom of every container (init containers included). They live
// in the pod's namespace. imagePullSecrets are left out: this kubelet pulls through CRI
// without registry credentials, so it never reads them, and a watch nobody reads only
// costs the apiserver.
func references(pod *corev1.Pod) []objectKey {
	ns := pod.GetMetadata().GetNamespace()
	var out []objectKey
	add := func(secret bool, name string) {
		k := objectKey{secret: secret, namespace: ns, name: name}
		if name != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, v := range pod.GetSpec().GetVolumes() {
		if cm := v.GetConfigMap(); cm != nil {
			add(false, cm.GetName())
		}
		if s := v.GetSecret(); s != nil {
			add(true, s.GetSecretName())
		}
		for _, src := range v.GetProjected().GetSources() {
			if cm := src.GetConfigMap(); cm != nil {
				add(false, cm.GetName())
			}
			if s := src.GetSecret(); s != nil {
				add(true, s.GetName())
			}
		}
	}
	containers := append(append([]*corev1.Container(nil), pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...)
	for _, c := range containers {
		for _, e := range c.GetEnvFrom() {
			if r := e.GetConfigMapRef(); r != nil {
				add(false, r.GetName())
			}
			if r := e.GetSecretRef(); r != nil {
				add(true, r.GetName())
			}
		}
		for _, e := range c.GetEnv() {
			if r := e.GetValueFrom().GetConfigMapKeyRef(); r != nil {
				add(false, r.GetName())
			}
			if r := e.GetValueFrom().GetSecretKeyRef(); r != nil {
				add(true, r.GetName())
			}
		}
	}
	return out
}
