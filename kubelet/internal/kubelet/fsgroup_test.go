package kubelet

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
)

const testFSGroup = 2345

func TestOwnedMode(t *testing.T) {
	for _, tc := range []struct {
		mode     fs.FileMode
		readOnly bool
		want     fs.FileMode
	}{
		{0o644, false, 0o664},
		{0o600, false, 0o660},
		{0o644, true, 0o644},
		{0o600, true, 0o640}, // a token with an fsGroup
		{0o400, true, 0o440},
		{0o000, true, 0o440},
		{fs.ModeDir | 0o777, false, fs.ModeDir | fs.ModeSetgid | 0o777},
		{fs.ModeDir | 0o700, false, fs.ModeDir | fs.ModeSetgid | 0o770},
		{fs.ModeDir | 0o755, true, fs.ModeDir | fs.ModeSetgid | 0o755},
		{fs.ModeDir | 0o700, true, fs.ModeDir | fs.ModeSetgid | 0o750},
	} {
		if got := ownedMode(tc.mode, tc.readOnly); got != tc.want {
			t.Errorf("ownedMode(%v, readOnly %v) = %v, want %v", tc.mode, tc.readOnly, got, tc.want)
		}
	}
}

// ownership lists every entry under dir (dir itself as ".") with its group and mode, not
// following links; the atomic writer's timestamped directory is shown as ..TS.
func ownership(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(rel, string(filepath.Separator))
		for i, s := range parts {
			if strings.HasPrefix(s, "..20") {
				parts[i] = "..TS"
			}
		}
		out = append(out, fmt.Sprintf("%s %d %v", strings.Join(parts, "/"), info.Sys().(*syscall.Stat_t).Gid, info.Mode()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func fsGroupPod(vols ...*corev1.Volume) *corev1.Pod {
	pod := saPod(vols...)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FsGroup: proto.Int64(testFSGroup)}
	return pod
}

func TestFSGroupEmptyDirAndHostPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another group and mounting a tmpfs need root")
	}
	root, host := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "node-file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostBefore := ownership(t, host)
	pod := fsGroupPod(
		&corev1.Volume{Name: "data", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		&corev1.Volume{Name: "host", HostPath: &corev1.HostPathVolumeSource{Path: host}},
		&corev1.Volume{Name: "mem", EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Memory"}},
	)
	ctx := context.Background()
	vols, err := setUpVolumes(ctx, volumeContext{Root: root}, pod)
	t.Cleanup(func() { _ = removePodDir(root, "uid-1") })
	if err != nil {
		t.Fatal(err)
	}
	if mounted, err := isMountPoint(vols["mem"].Path); err != nil || !mounted {
		t.Fatalf("memory emptyDir is no tmpfs: %v %v", mounted, err)
	}
	if got, want := ownership(t, vols["mem"].Path), ". 2345 dgrwxrwxrwx"; got != want {
		t.Errorf("memory emptyDir: got %s, want %s", got, want)
	}
	data := vols["data"].Path
	if got, want := ownership(t, data), ". 2345 dgrwxrwxrwx"; got != want {
		t.Errorf("emptyDir:\n got %s\nwant %s", got, want)
	}
	// What a container creates there is the group's (setgid), subPath directories too.
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &corev1.Container{Name: "c", VolumeMounts: []*corev1.VolumeMount{{Name: "data", MountPath: "/sub", SubPath: "logs"}}}
	if _, err := containerMounts(c, vols); err != nil {
		t.Fatal(err)
	}
	want := ". 2345 dgrwxrwxrwx\nf 2345 -rw-r--r--\nlogs 2345 dgrwxrwxrwx"
	if got := ownership(t, data); got != want {
		t.Errorf("emptyDir after writes:\n got %s\nwant %s", got, want)
	}
	// Set up again (the next container start): given to the group once only, so what a
	// container changed stays as it made it.
	if err := os.Chown(filepath.Join(data, "f"), -1, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := setUpVolumes(ctx, volumeContext{Root: root}, pod); err != nil {
		t.Fatal(err)
	}
	if got, want := ownership(t, data), strings.Replace(want, "f 2345", "f 99", 1); got != want {
		t.Errorf("emptyDir set up again:\n got %s\nwant %s", got, want)
	}
	// The node's files are never the pod's group.
	if got := ownership(t, host); got != hostBefore {
		t.Errorf("hostPath changed:\n got %s\nwant %s", got, hostBefore)
	}
}

// Volumes of API data are the group's, read-only for it, and stay so when rewritten. A
// token is 0640 for the group, not readable by every user of the container.
func TestFSGroupAPIVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("projected volumes are tmpfs mounts, and giving files to another group needs root")
	}
	root := t.TempDir()
	objs := projectedObjects()
	tm, _, _ := newTestTokenManager(t)
	vc := volumeContext{Root: root, Objects: objs, Tokens: tm}
	pod := fsGroupPod(
		&corev1.Volume{Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web",
			Items: []*corev1.KeyToPath{{Key: "MODE", Path: "conf/mode", Mode: proto.Int32(0o600)}, {Key: "index.html", Path: "index.html"}}}},
		apiAccessVolume(),
	)
	ctx := context.Background()
	t.Cleanup(func() { _ = removePodDir(root, "uid-1") })
	vols, err := setUpVolumes(ctx, vc, pod)
	if err != nil {
		t.Fatal(err)
	}
	cfg := vols["cfg"].Path
	want := strings.Join([]string{
		". 2345 dgrwxr-xr-x",
		"..TS 2345 dgrwxr-xr-x",
		"..TS/conf 2345 dgrwxr-xr-x",
		"..TS/conf/mode 2345 -rw-r-----",
		"..TS/index.html 2345 -rw-r--r--",
		"..data 2345 Lrwxrwxrwx",
		"conf 2345 Lrwxrwxrwx",
		"index.html 2345 Lrwxrwxrwx",
	}, "\n")
	if got := ownership(t, cfg); got != want {
		t.Errorf("configMap volume:\n got %s\nwant %s", got, want)
	}

	// Unchanged: not rewritten (the modes written are the group's already). Changed: the
	// new version is the group's too.
	before, _ := os.Readlink(filepath.Join(cfg, "..data"))
	if _, err := setUpVolumes(ctx, vc, pod); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(cfg, "..data")); after != before {
		t.Errorf("unchanged volume rewritten: %s -> %s", before, after)
	}
	objs.configMaps["default/web"] = proto.Clone(objs.configMaps["default/web"]).(*corev1.ConfigMap)
	objs.configMaps["default/web"].Data["MODE"] = "dev"
	if _, err := setUpAPIVolume(ctx, vc, pod, pod.Spec.Volumes[0]); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(cfg, "..data")); after == before {
		t.Error("changed volume not rewritten")
	}
	if got := ownership(t, cfg); got != want {
		t.Errorf("configMap volume rewritten:\n got %s\nwant %s", got, want)
	}

	access := vols["kube-api-access-x7k2p"].Path
	if got, want := volumeFiles(t, access), "ca.crt:644=-----BEGIN CERTIFICATE-----\n namespace:644=default token:640=tok-1"; got != want {
		t.Errorf("kube-api-access with an fsGroup:\n got %q\nwant %q", got, want)
	}
	if got := ownership(t, access); strings.Count(got, " 2345 ") != strings.Count(got, "\n")+1 {
		t.Errorf("kube-api-access not all the group's:\n%s", got)
	}
}

// Without an fsGroup the token keeps the volume's defaultMode; with one it is the owner's
// only until the volume is given to the group.
func TestTokenFileMode(t *testing.T) {
	tm, _, _ := newTestTokenManager(t)
	src := &corev1.ServiceAccountTokenProjection{Path: "token"}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{saPod(), "token:644=tok-1"},
		{fsGroupPod(), "token:600=tok-1"},
	} {
		files, err := tokenFiles(context.Background(), tm, tc.pod, src, proto.Int32(0o644))
		if err != nil {
			t.Fatal(err)
		}
		if got := fileList(files); got != tc.want {
			t.Errorf("fsGroup %v: %q, want %q", tc.pod.GetSpec().GetSecurityContext().FsGroup != nil, got, tc.want)
		}
	}
}
