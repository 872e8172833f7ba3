package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/resource"
)

func downwardPod() *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "web-0", Namespace: "shop", Uid: "uid-1",
			Labels:      map[string]string{"tier": "front", "app": "web"},
			Annotations: map[string]string{"note": "line1\nline2 \"q\"", "build": "7"}},
		Spec: &corev1.PodSpec{
			NodeName: "node-1", ServiceAccountName: "shop-sa",
			Containers: []*corev1.Container{{Name: "app", Resources: &corev1.ResourceRequirements{
				Limits:   map[string]*metav1.Quantity{"cpu": {String_: "1500m"}, "memory": {String_: "128Mi"}},
				Requests: map[string]*metav1.Quantity{"cpu": {String_: "250m"}}}}},
			InitContainers: []*corev1.Container{{Name: "setup"}},
		},
	}
}

func fieldFile(path, field string) *corev1.DownwardAPIVolumeFile {
	return &corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{FieldPath: field}}
}

func resourceFile(path, container, res, divisor string) *corev1.DownwardAPIVolumeFile {
	sel := &corev1.ResourceFieldSelector{ContainerName: container, Resource: res}
	if divisor != "" {
		sel.Divisor = &metav1.Quantity{String_: divisor}
	}
	return &corev1.DownwardAPIVolumeFile{Path: path, ResourceFieldRef: sel}
}

// fileList is files as sorted path:mode=data, for comparisons.
func fileList(files map[string]projectedFile) string {
	var s []string
	for p, f := range files {
		s = append(s, fmt.Sprintf("%s:%o=%s", p, f.Mode, f.Data))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func TestDownwardAPIFiles(t *testing.T) {
	alloc := resource.List{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi")}
	for _, tc := range []struct {
		name  string
		items []*corev1.DownwardAPIVolumeFile
		mode  *int32
		want  string // fileList, or the error
	}{
		{"metadata fields", []*corev1.DownwardAPIVolumeFile{
			fieldFile("name", "metadata.name"), fieldFile("ns", "metadata.namespace"), fieldFile("uid", "metadata.uid"),
			fieldFile("app", "metadata.labels['app']"), fieldFile("build", "metadata.annotations['build']"),
			fieldFile("none", "metadata.labels['missing']")},
			nil, "app:644=web build:644=7 name:644=web-0 none:644= ns:644=shop uid:644=uid-1"},
		// Kubernetes' format: key="value" lines sorted by key, values Go-quoted, no final newline.
		{"labels and annotations whole", []*corev1.DownwardAPIVolumeFile{fieldFile("labels", "metadata.labels"), fieldFile("meta/annotations", "metadata.annotations")},
			nil, `labels:644=app="web"` + "\n" + `tier="front" meta/annotations:644=build="7"` + "\n" + `note="line1\nline2 \"q\""`},
		{"item mode, else defaultMode", []*corev1.DownwardAPIVolumeFile{
			{Path: "a", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: proto.Int32(0o600)}, fieldFile("b", "metadata.name")},
			proto.Int32(0o440), "a:600=web-0 b:440=web-0"},
		{"resources with divisors; an unset limit is the node's", []*corev1.DownwardAPIVolumeFile{
			resourceFile("cpu_limit", "app", "limits.cpu", ""), resourceFile("cpu_limit_m", "app", "limits.cpu", "1m"),
			resourceFile("cpu_request", "app", "requests.cpu", "100m"), resourceFile("mem_limit", "app", "limits.memory", "1Mi"),
			resourceFile("init_mem_limit", "setup", "limits.memory", "1Gi"), resourceFile("mem_request", "app", "requests.memory", "")},
			nil, "cpu_limit:644=2 cpu_limit_m:644=1500 cpu_request:644=3 init_mem_limit:644=8 mem_limit:644=128 mem_request:644=0"},
		{"no such container", []*corev1.DownwardAPIVolumeFile{resourceFile("x", "nope", "limits.cpu", "")},
			nil, `downward API file "x": container nope not found`},
		// Node and IP fields are for env vars only: a volume is written before the sandbox.
		{"env-only field", []*corev1.DownwardAPIVolumeFile{fieldFile("node", "spec.nodeName")},
			nil, `downward API file "node": unsupported fieldPath: spec.nodeName`},
		{"subscript of a field without keys", []*corev1.DownwardAPIVolumeFile{fieldFile("n", "metadata.name['x']")},
			nil, `downward API file "n": fieldPath "metadata.name['x']" does not support subscript`},
		{"path on the data link", []*corev1.DownwardAPIVolumeFile{fieldFile("..data", "metadata.name")},
			nil, `path "..data" must be relative and may not start with '..'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := downwardAPIFiles(downwardPod(), tc.items, tc.mode, alloc)
			got := fmt.Sprint(err)
			if err == nil {
				got = fileList(files)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Env vars resolve the metadata fields with the code downward API files use, and keep
// the fields only they may name.
func TestFieldRefValueSharesMetadata(t *testing.T) {
	pod := downwardPod()
	ec := envContext{PodIPs: []string{"10.0.0.5"}, HostIPs: []string{"192.168.1.10"}}
	for path, want := range map[string]string{
		"metadata.name": "web-0", "metadata.labels['tier']": "front", "spec.nodeName": "node-1",
		"spec.serviceAccountName": "shop-sa", "status.podIP": "10.0.0.5", "status.hostIP": "192.168.1.10",
		// How an Indexed job's JOB_COMPLETION_INDEX reads its pod's index.
		"metadata.annotations['build']": "7",
	} {
		if got, err := fieldRefValue(pod, path, ec); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", path, got, err, want)
		}
	}
	if _, err := fieldRefValue(pod, "spec.bogus", ec); err == nil || err.Error() != "unsupported fieldPath: spec.bogus" {
		t.Errorf("unknown path: %v", err)
	}
}

func TestDownwardAPIVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("downward API volumes are tmpfs mounts: mounting needs root")
	}
	root := t.TempDir()
	pod := downwardPod()
	pod.Spec.Volumes = []*corev1.Volume{{Name: "info", DownwardAPI: &corev1.DownwardAPIVolumeSource{
		DefaultMode: proto.Int32(0o444),
		Items:       []*corev1.DownwardAPIVolumeFile{fieldFile("labels", "metadata.labels"), fieldFile("name", "metadata.name")}}}}
	vc := volumeContext{Root: root}
	ctx := context.Background()
	vols, err := setUpVolumes(ctx, vc, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pods", "uid-1", "volumes", "kubernetes.io~downward-api", "info")
	if vols["info"] != (hostVolume{Path: dir, ReadOnly: true}) {
		t.Fatalf("volumes %v", vols)
	}
	t.Cleanup(func() { unmountIfMounted(dir) })
	if got, want := volumeFiles(t, dir), "labels:444=app=\"web\"\ntier=\"front\" name:444=web-0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if mounted, err := isMountPoint(dir); err != nil || !mounted {
		t.Errorf("not a tmpfs mount: %v %v", mounted, err)
	}

	// New labels: the file follows, through the ..data swap.
	pod.Metadata.Labels = map[string]string{"app": "web", "tier": "back"}
	if _, err := setUpAPIVolume(ctx, vc, pod, pod.Spec.Volumes[0]); err != nil {
		t.Fatal(err)
	}
	if got, want := volumeFiles(t, dir), "labels:444=app=\"web\"\ntier=\"back\" name:444=web-0"; got != want {
		t.Errorf("after a label change: %q, want %q", got, want)
	}
	if err := removePodDir(root, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), dir) {
		t.Fatal("still mounted after removePodDir")
	}
}
