package kubelet

import (
	"context"
	"fmt"
	"sort"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// objectGetter reads the ConfigMaps and Secrets a pod refers to, when a container is
// created or a volume set up or refreshed. The kubelet's is an objectcache.Manager, which
// serves them from one watch per object its registered pods reference (the Node
// authorizer lets a kubelet read only those). A missing object is an apierrors NotFound
// error.
type objectGetter interface {
	ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, ns, name string) (*corev1.Secret, error)
}

// getConfigMap gets ns/name; a missing one is the error Kubernetes' kubelet words as
// `configmap "name" not found` (still an apierrors NotFound).
func getConfigMap(ctx context.Context, g objectGetter, ns, name string) (*corev1.ConfigMap, error) {
	cm, err := g.ConfigMap(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "configmap"}, name)
	}
	return cm, err
}

// getSecret is getConfigMap for Secrets (`secret "name" not found`).
func getSecret(ctx context.Context, g objectGetter, ns, name string) (*corev1.Secret, error) {
	s, err := g.Secret(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "secret"}, name)
	}
	return s, err
}

// configMapBytes is every key of cm with its value (data and binaryData; a key is in only
// one of them).
func configMapBytes(cm *corev1.ConfigMap) map[string][]byte {
	out := make(map[string][]byte, len(cm.GetData())+len(cm.GetBinaryData()))
	for k, v := range cm.GetData() {
		out[k] = []byte(v)
	}
	for k, v := range cm.GetBinaryData() {
		out[k] = v
	}
	return out
}

// objectData gets the keys of the ConfigMap (or, when secret, the Secret) ns/name. found
// is false, with no error, when the object is missing and optional.
func objectData(ctx context.Context, g objectGetter, ns, name string, secret, optional bool) (data map[string][]byte, found bool, err error) {
	if secret {
		var s *corev1.Secret
		if s, err = getSecret(ctx, g, ns, name); err == nil {
			data = s.GetData()
		}
	} else {
		var cm *corev1.ConfigMap
		if cm, err = getConfigMap(ctx, g, ns, name); err == nil {
			data = configMapBytes(cm)
		}
	}
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil, false, nil
		}
		return nil, false, err
	}
	return data, true, nil
}

// envFromValues resolves one envFrom source: every key of the ConfigMap or Secret, with
// the prefix, sorted by name. A missing object is skipped when optional.
func envFromValues(ctx context.Context, g objectGetter, ns string, src *corev1.EnvFromSource) ([][2]string, error) {
	var (
		data map[string][]byte
		err  error
	)
	switch cm, s := src.GetConfigMapRef(), src.GetSecretRef(); {
	case cm != nil:
		data, _, err = objectData(ctx, g, ns, cm.GetName(), false, cm.GetOptional())
	case s != nil:
		data, _, err = objectData(ctx, g, ns, s.GetName(), true, s.GetOptional())
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]string{src.GetPrefix() + k, string(data[k])})
	}
	return out, nil
}

// keyRefValue resolves a configMapKeyRef or secretKeyRef. ok is false when the variable
// is to be left out (an optional reference to a missing object or key). The messages are
// Kubernetes'.
func keyRefValue(ctx context.Context, g objectGetter, ns string, src *corev1.EnvVarSource) (v string, ok bool, err error) {
	kind, name, key, optional := "ConfigMap", src.GetConfigMapKeyRef().GetName(), src.GetConfigMapKeyRef().GetKey(), src.GetConfigMapKeyRef().GetOptional()
	if ref := src.GetSecretKeyRef(); ref != nil {
		kind, name, key, optional = "Secret", ref.GetName(), ref.GetKey(), ref.GetOptional()
	}
	data, found, err := objectData(ctx, g, ns, name, kind == "Secret", optional)
	if err != nil || !found {
		return "", false, err
	}
	b, found := data[key]
	if !found {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in %s %s/%s", key, kind, ns, name)
	}
	return string(b), true, nil
}
