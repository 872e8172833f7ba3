package kubelet

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

// The downward API as files: a downwardAPI volume, or a projected volume's downwardAPI
// source. A file may name only the pod's metadata (fields fixed for the pod's life, or
// labels and annotations, which the kubelet rewrites in place when they change) or a
// container's limit or request; node and IP fields are for env vars only, because a
// volume is written before the pod has a sandbox. The apiserver's validation says the
// same; the kubelet refuses the rest rather than write an empty file.

// metadataFieldValue resolves the pod metadata a fieldRef may name, for env vars and
// files alike: name, namespace, uid, and labels or annotations, whole (formatMap) or one
// key by subscript (metadata.labels['app']; a missing key is the empty string).
func metadataFieldValue(m *metav1.ObjectMeta, path string) (string, error) {
	if base, key, ok := splitSubscript(path); ok {
		switch base {
		case "metadata.labels":
			return m.GetLabels()[key], nil
		case "metadata.annotations":
			return m.GetAnnotations()[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", path)
	}
	switch path {
	case "metadata.name":
		return m.GetName(), nil
	case "metadata.namespace":
		return m.GetNamespace(), nil
	case "metadata.uid":
		return m.GetUid(), nil
	case "metadata.labels":
		return formatMap(m.GetLabels()), nil
	case "metadata.annotations":
		return formatMap(m.GetAnnotations()), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// splitSubscript splits metadata.labels['k'] into metadata.labels and k.
func splitSubscript(path string) (base, key string, ok bool) {
	base, rest, ok := strings.Cut(path, "['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", "", false
	}
	return base, strings.TrimSuffix(rest, "']"), true
}

// formatMap is labels or annotations as a downward API file holds them: one key="value"
// line per key, sorted by key, the value Go-quoted (so a newline in a value cannot forge
// another line), without a final newline, as Kubernetes writes them.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

// podContainer is the container or init container of pod named name (nil when none).
func podContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]*corev1.Container{pod.GetSpec().GetContainers(), pod.GetSpec().GetInitContainers()} {
		for _, c := range list {
			if c.GetName() == name {
				return c
			}
		}
	}
	return nil
}

// downwardAPIFiles is what the downward API items hold for pod: each at its path, with its
// mode, else defaultMode, else 0644. A resourceFieldRef names its container (a volume is
// the pod's, not one container's); a limit the container does not set is the node's
// allocatable, as for env vars. It is pure.
func downwardAPIFiles(pod *corev1.Pod, items []*corev1.DownwardAPIVolumeFile, defaultMode *int32, allocatable resource.List) (map[string]projectedFile, error) {
	def := modeOr(defaultMode, defaultProjectionMode)
	files := make(map[string]projectedFile, len(items))
	for _, it := range items {
		p, err := projectedPath(it.GetPath())
		if err != nil {
			return nil, err
		}
		var v string
		switch ref, res := it.GetFieldRef(), it.GetResourceFieldRef(); {
		case ref != nil:
			v, err = metadataFieldValue(pod.GetMetadata(), ref.GetFieldPath())
		case res != nil:
			c := podContainer(pod, res.GetContainerName())
			if c == nil {
				err = fmt.Errorf("container %s not found", res.GetContainerName())
				break
			}
			v, err = resourceFieldValue(c, res, allocatable)
		default:
			err = fmt.Errorf("neither fieldRef nor resourceFieldRef is set")
		}
		if err != nil {
			return nil, fmt.Errorf("downward API file %q: %w", it.GetPath(), err)
		}
		files[p] = projectedFile{Data: []byte(v), Mode: modeOr(it.Mode, def)}
	}
	return files, nil
}

// modeOr is the permission bits of mode, or def when mode is unset.
func modeOr(mode *int32, def fs.FileMode) fs.FileMode {
	if mode == nil {
		return def
	}
	return fs.FileMode(*mode) & fs.ModePerm
}
