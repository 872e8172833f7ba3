package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
)

func TestProjectFiles(t *testing.T) {
	data := map[string][]byte{"a": []byte("A"), "b": []byte("B")}
	for _, tc := range []struct {
		name string
		src  objectSource
		data map[string][]byte
		want string // sorted path:mode=data, or the error
	}{
		{"every key, default mode", objectSource{}, data, "a:644=A b:644=B"},
		{"defaultMode", objectSource{DefaultMode: proto.Int32(0o400)}, data, "a:400=A b:400=B"},
		{"items with paths and modes", objectSource{DefaultMode: proto.Int32(0o440), Items: []*corev1.KeyToPath{
			{Key: "a", Path: "conf/a.txt", Mode: proto.Int32(0o600)}, {Key: "b", Path: "b.txt"}}}, data, "b.txt:440=B conf/a.txt:600=A"},
		{"missing key", objectSource{Items: []*corev1.KeyToPath{{Key: "z", Path: "z"}}}, data, "configmap references non-existent config key: z"},
		{"missing secret key", objectSource{Secret: true, Items: []*corev1.KeyToPath{{Key: "z", Path: "z"}}}, data, "references non-existent secret key: z"},
		{"missing key, optional", objectSource{Optional: true, Items: []*corev1.KeyToPath{{Key: "z", Path: "z"}, {Key: "a", Path: "a"}}}, data, "a:644=A"},
		{"missing optional object", objectSource{Optional: true}, nil, ""},
		{"path out of the volume", objectSource{Items: []*corev1.KeyToPath{{Key: "a", Path: "../a"}}}, data, `item "a": path "../a" must be relative and may not start with '..'`},
		{"path on the data link", objectSource{Items: []*corev1.KeyToPath{{Key: "a", Path: "..data"}}}, data, `item "a": path "..data" must be relative and may not start with '..'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := projectFiles(tc.src, tc.data)
			got := fmt.Sprint(err)
			if err == nil {
				got = fileList(files)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// volumeFiles lists what a container mounting dir sees: path:mode=content of every file
// reached through the volume's top-level entries.
func volumeFiles(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(p string, fi fs.FileInfo) {
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s:%o=%s", rel, fi.Mode().Perm(), b))
	}
	for _, e := range entries {
		top := filepath.Join(dir, e.Name())
		fi, err := os.Stat(top) // through the link
		switch {
		case strings.HasPrefix(e.Name(), ".."):
		case err != nil:
			t.Fatal(err)
		case !fi.IsDir():
			add(top, fi)
		default:
			err = filepath.WalkDir(top+"/", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				fi, err := d.Info()
				if err == nil {
					add(filepath.Join(top, strings.TrimPrefix(p, top+"/")), fi)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestConfigMapVolume(t *testing.T) {
	root := t.TempDir()
	objs := testObjects()
	pod := volumePod(
		&corev1.Volume{Name: "all", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web", DefaultMode: proto.Int32(0o440)}},
		&corev1.Volume{Name: "some", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web",
			Items: []*corev1.KeyToPath{{Key: "index.html", Path: "html/index.html", Mode: proto.Int32(0o600)}}}},
		&corev1.Volume{Name: "none", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "nope", Optional: proto.Bool(true)}},
	)
	ctx := context.Background()
	vols, err := setUpVolumes(ctx, volumeContext{Root: root, Objects: objs}, pod)
	if err != nil {
		t.Fatal(err)
	}
	all := filepath.Join(root, "pods", "uid-1", "volumes", "kubernetes.io~configmap", "all")
	if vols["all"] != (hostVolume{Path: all, ReadOnly: true}) {
		t.Fatalf("volumes %v", vols)
	}
	if got, want := volumeFiles(t, all), "MODE:440=prod index.html:440=<h1>hi</h1>\n logo:440=\xff\x00"; got != want {
		t.Errorf("all: %q, want %q", got, want)
	}
	if got, want := volumeFiles(t, vols["some"].Path), "html/index.html:600=<h1>hi</h1>\n"; got != want {
		t.Errorf("some: %q, want %q", got, want)
	}
	if got := volumeFiles(t, vols["none"].Path); got != "" {
		t.Errorf("optional missing: %q, want an empty volume", got)
	}

	// Unchanged: nothing is rewritten. Changed: a new version swapped in, the old gone.
	before, _ := os.Readlink(filepath.Join(all, "..data"))
	if _, err := setUpVolumes(ctx, volumeContext{Root: root, Objects: objs}, pod); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(all, "..data")); after != before {
		t.Errorf("unchanged content rewritten: %s -> %s", before, after)
	}
	objs.configMaps["default/web"] = proto.Clone(objs.configMaps["default/web"]).(*corev1.ConfigMap)
	objs.configMaps["default/web"].Data = map[string]string{"MODE": "dev", "index.html": "v2"}
	objs.configMaps["default/web"].BinaryData = nil
	if _, err := setUpVolumes(ctx, volumeContext{Root: root, Objects: objs}, pod); err != nil {
		t.Fatal(err)
	}
	if got, want := volumeFiles(t, all), "MODE:440=dev index.html:440=v2"; got != want {
		t.Errorf("after the update: %q, want %q", got, want)
	}
	if got, want := volumeFiles(t, vols["some"].Path), "html/index.html:600=v2"; got != want {
		t.Errorf("some after the update: %q, want %q", got, want)
	}
	entries, _ := os.ReadDir(all)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 || !strings.HasPrefix(names[0], "..20") || names[1] != "..data" || names[2] != "MODE" || names[3] != "index.html" {
		t.Errorf("volume directory holds %q, want one version, ..data, MODE and index.html (logo gone)", names)
	}

	// Mounts of a configMap volume are read-only whatever the container asks.
	c := &corev1.Container{Name: "c", VolumeMounts: []*corev1.VolumeMount{{Name: "all", MountPath: "/etc/cfg"}}}
	if m, err := containerMounts(c, vols); err != nil || len(m) != 1 || !m[0].GetReadonly() || m[0].GetHostPath() != all {
		t.Errorf("mounts %v %v", m, err)
	}

	// A missing object or key is a mount failure (retried), in Kubernetes' words.
	for _, tc := range []struct {
		vol  *corev1.Volume
		want string
	}{
		{&corev1.Volume{Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "nope"}}, `MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found`},
		{&corev1.Volume{Name: "sec", Secret: &corev1.SecretVolumeSource{SecretName: "nope"}}, `MountVolume.SetUp failed for volume "sec" : secret "nope" not found`},
		{&corev1.Volume{Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web", Items: []*corev1.KeyToPath{{Key: "k", Path: "k"}}}},
			`MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: k`},
	} {
		_, err := setUpVolumes(ctx, volumeContext{Root: root, Objects: objs}, volumePod(tc.vol))
		var ce *podConfigError
		if err == nil || errors.As(err, &ce) || err.Error() != tc.want {
			t.Errorf("got %v, want the mount error %q", err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "pods", "uid-1", "volumes", "kubernetes.io~configmap", "cfg")); !os.IsNotExist(err) {
		t.Errorf("a volume directory made for a missing object: %v", err)
	}
	if err := removePodDir(root, "uid-1"); err != nil {
		t.Fatal(err)
	}
}

func TestSecretVolumeIsTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := t.TempDir()
	pod := volumePod(&corev1.Volume{Name: "creds", Secret: &corev1.SecretVolumeSource{SecretName: "db",
		Items: []*corev1.KeyToPath{{Key: "password", Path: "pw"}}, DefaultMode: proto.Int32(0o400)}})
	vols, err := setUpVolumes(context.Background(), volumeContext{Root: root, Objects: testObjects()}, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := vols["creds"].Path
	defer unmountIfMounted(dir)
	if want := filepath.Join(root, "pods", "uid-1", "volumes", "kubernetes.io~secret", "creds"); dir != want {
		t.Fatalf("secret volume at %s, want %s", dir, want)
	}
	if got, want := volumeFiles(t, dir), "pw:400=s3cr3t"; got != want {
		t.Errorf("secret volume: %q, want %q", got, want)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if n := strings.Count(string(mounts), " "+dir+" tmpfs "); n != 1 {
		t.Fatalf("%d tmpfs mounts on %s, want 1", n, dir)
	}
	if err := removePodDir(root, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), dir) {
		t.Fatal("still mounted after removePodDir")
	}
}
