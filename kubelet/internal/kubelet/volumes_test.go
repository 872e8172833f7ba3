package kubelet

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name, path, typ string
		wantErr         string // "" for success
	}{
		{"unset, missing", missing, "", ""},
		{"Directory", dir, "Directory", ""},
		{"Directory on a file", file, "Directory", file + " is not a directory"},
		{"Directory missing", missing, "Directory", missing + " is not a directory"},
		{"File", file, "File", ""},
		{"File on a directory", dir, "File", dir + " is not a file"},
		{"File missing", missing, "File", missing + " is not a file"},
		{"Socket", sock, "Socket", ""},
		{"Socket on a file", file, "Socket", file + " is not a socket file"},
		{"CharDevice", "/dev/null", "CharDevice", ""},
		{"CharDevice on a file", file, "CharDevice", file + " is not a character device"},
		{"BlockDevice on a char device", "/dev/null", "BlockDevice", "/dev/null is not a block device"},
		{"DirectoryOrCreate on a file", file, "DirectoryOrCreate", file + " is not a directory"},
		{"FileOrCreate on a directory", dir, "FileOrCreate", dir + " is not a file"},
		{"FileOrCreate without parent", filepath.Join(missing, "f"), "FileOrCreate", "no such file or directory"},
		{"unknown type", dir, "Fifo", `type "Fifo" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(tc.path, tc.typ)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("checkHostPath(%s, %q) = %v, want nil", tc.path, tc.typ, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("checkHostPath(%s, %q) = %v, want an error with %q", tc.path, tc.typ, err, tc.wantErr)
			}
		})
	}

	t.Run("DirectoryOrCreate creates", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "a", "b")
		if err := checkHostPath(p, "DirectoryOrCreate"); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			t.Fatalf("stat %s: %v", p, err)
		}
	})
	t.Run("FileOrCreate creates an empty file, keeps an existing one", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		if err := checkHostPath(p, "FileOrCreate"); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			t.Fatalf("stat %s: %v %v", p, fi, err)
		}
		if err := checkHostPath(file, "FileOrCreate"); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(file); string(b) != "x" {
			t.Fatalf("existing file changed: %q", b)
		}
	})
}

func volumePod(vols ...*corev1.Volume) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "uid-1"}, Spec: &corev1.PodSpec{Volumes: vols}}
}

func TestUnsupportedVolume(t *testing.T) {
	for _, tc := range []struct {
		name string
		vol  *corev1.Volume
		want string // "" for supported
	}{
		{"emptyDir", &corev1.Volume{Name: "a", EmptyDir: &corev1.EmptyDirVolumeSource{}}, ""},
		{"emptyDir Memory", &corev1.Volume{Name: "a", EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Memory"}}, ""},
		{"emptyDir HugePages", &corev1.Volume{Name: "a", EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "HugePages"}}, `volume "a": emptyDir medium "HugePages" is not supported`},
		{"hostPath", &corev1.Volume{Name: "a", HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}, ""},
		{"configMap", &corev1.Volume{Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "c"}}, ""},
		{"secret", &corev1.Volume{Name: "s", Secret: &corev1.SecretVolumeSource{SecretName: "c"}}, ""},
		{"downwardAPI", &corev1.Volume{Name: "d", DownwardAPI: &corev1.DownwardAPIVolumeSource{}}, ""},
		{"projected", &corev1.Volume{Name: "p", Projected: &corev1.ProjectedVolumeSource{}}, ""},
		{"ephemeral", &corev1.Volume{Name: "e", Ephemeral: &corev1.EphemeralVolumeSource{}}, ""},
		{"no source", &corev1.Volume{Name: "n"}, `volume "n": no volume source this kubelet supports`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := unsupportedVolume(volumePod(&corev1.Volume{Name: "ok", EmptyDir: &corev1.EmptyDirVolumeSource{}}, tc.vol))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var ce *podConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a podConfigError with %q", err, tc.want)
			}
		})
	}
}

func TestSetUpVolumesAndMounts(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir()
	pod := volumePod(
		&corev1.Volume{Name: "data", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		&corev1.Volume{Name: "host", HostPath: &corev1.HostPathVolumeSource{Path: host, Type: ptrTo("Directory")}},
	)
	paths, err := setUpVolumes(context.Background(), volumeContext{Root: root}, pod)
	if err != nil {
		t.Fatal(err)
	}
	wantDir := filepath.Join(root, "pods", "uid-1", "volumes", "kubernetes.io~empty-dir", "data")
	if paths["data"] != (hostVolume{Path: wantDir}) || paths["host"] != (hostVolume{Path: host}) {
		t.Fatalf("paths %v", paths)
	}
	if fi, err := os.Stat(wantDir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir %s: %v %v", wantDir, fi, err)
	}
	// Idempotent, and what is in it stays.
	if err := os.WriteFile(filepath.Join(wantDir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := setUpVolumes(context.Background(), volumeContext{Root: root}, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(wantDir, "f")); err != nil {
		t.Fatal(err)
	}

	c := &corev1.Container{Name: "c", VolumeMounts: []*corev1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "host", MountPath: "/host", ReadOnly: true},
		{Name: "data", MountPath: "/sub", SubPath: "a/b"},
	}}
	mounts, err := containerMounts(c, paths)
	if err != nil {
		t.Fatal(err)
	}
	realDir, _ := filepath.EvalSymlinks(wantDir)
	got := []string{}
	for _, m := range mounts {
		got = append(got, m.GetContainerPath()+"="+m.GetHostPath()+":"+map[bool]string{true: "ro", false: "rw"}[m.GetReadonly()])
	}
	want := []string{"/data=" + wantDir + ":rw", "/host=" + host + ":ro", "/sub=" + filepath.Join(realDir, "a/b") + ":rw"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("mounts\n got %v\nwant %v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(wantDir, "a/b")); err != nil || !fi.IsDir() {
		t.Fatalf("subPath not created: %v", err)
	}

	// A subPath through a symlink out of the volume is refused.
	if err := os.Symlink("/etc", filepath.Join(wantDir, "escape")); err != nil {
		t.Fatal(err)
	}
	c.VolumeMounts = []*corev1.VolumeMount{{Name: "data", MountPath: "/x", SubPath: "escape"}}
	if _, err := containerMounts(c, paths); err == nil || !strings.Contains(err.Error(), "outside the volume") {
		t.Fatalf("symlinked subPath: %v", err)
	}

	// A failed hostPath check is a mount error, not a config error.
	bad := volumePod(&corev1.Volume{Name: "host", HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(host, "nope"), Type: ptrTo("Directory")}})
	_, err = setUpVolumes(context.Background(), volumeContext{Root: root}, bad)
	var ce *podConfigError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "host" : hostPath type check failed:`) {
		t.Fatalf("bad hostPath: %v", err)
	}

	// A claim this kubelet cannot read is a mount error naming it (the pod waits,
	// ContainerCreating, with a FailedMount event); claims.go's tests cover the rest.
	claim := volumePod(&corev1.Volume{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "www-web-0"}})
	_, err = setUpVolumes(context.Background(), volumeContext{Root: root}, claim)
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), `failed to process volumes=[data]: error processing PVC default/www-web-0: `) {
		t.Fatalf("claim volume: %v", err)
	}

	// The pod's directory goes, and the listing of pod directories sees it go.
	if uids, err := podDirs(root); err != nil || strings.Join(uids, ",") != "uid-1" {
		t.Fatalf("podDirs: %v %v", uids, err)
	}
	if err := removePodDir(root, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if uids, err := podDirs(root); err != nil || len(uids) != 0 {
		t.Fatalf("podDirs after removal: %v %v", uids, err)
	}
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("hostPath touched: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestMemoryEmptyDirIsTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := t.TempDir()
	pod := volumePod(&corev1.Volume{Name: "mem", EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: &metav1.Quantity{String_: "1Mi"}}})
	paths, err := setUpVolumes(context.Background(), volumeContext{Root: root}, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer unmountIfMounted(paths["mem"].Path)
	if _, err := setUpVolumes(context.Background(), volumeContext{Root: root}, pod); err != nil { // mounted once only
		t.Fatal(err)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if n := strings.Count(string(mounts), " "+paths["mem"].Path+" tmpfs "); n != 1 {
		t.Fatalf("%d tmpfs mounts on %s, want 1", n, paths["mem"].Path)
	}
	if i := strings.Index(string(mounts), " "+paths["mem"].Path+" tmpfs "); !strings.Contains(strings.SplitN(string(mounts[i:]), "\n", 2)[0], "size=1024k") {
		t.Errorf("mount options: %s", mounts)
	}
	if err := removePodDir(root, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), paths["mem"].Path) {
		t.Fatalf("still mounted after removePodDir")
	}
}
