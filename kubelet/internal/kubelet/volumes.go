package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// Volumes. The kubelet mounts what lives on the node (emptyDir: a pod directory on disk,
// or a tmpfs for medium Memory; hostPath; a claim's hostPath or local PV, see claims.go)
// and writes API data as files (configMap, secret,
// downwardAPI, projected: see projected.go). Anything else is refused before any
// container starts: a container must never run without a mount its spec asks for.
//
// Layout, as Kubernetes has it:
//
//	<root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>
//	<root>/pods/<uid>/volumes/kubernetes.io~configmap/<volume>
//	<root>/pods/<uid>/volumes/kubernetes.io~secret/<volume>   (a tmpfs: secrets never touch disk)
//	<root>/pods/<uid>/volumes/kubernetes.io~downward-api/<volume>   (a tmpfs)
//	<root>/pods/<uid>/volumes/kubernetes.io~projected/<volume>      (a tmpfs: it may hold tokens)
//	<root>/pods/<uid>/volumes/kubernetes.io~pvc/<volume>            (what a claim resolved to, see claims.go)
//
// A pod's directory lives until the pod is terminated and deleted (syncTerminating) or
// found orphaned (syncOrphan, woken by housekeeping for directories of pods that are
// neither desired nor in the runtime, which covers a kubelet killed before it cleaned up).

const (
	emptyDirPlugin    = "kubernetes.io~empty-dir"
	configMapPlugin   = "kubernetes.io~configmap"
	secretPlugin      = "kubernetes.io~secret"
	downwardAPIPlugin = "kubernetes.io~downward-api"
	projectedPlugin   = "kubernetes.io~projected"
)

// tmpfsPlugins are the plugins whose volumes may be tmpfs mounts the kubelet made.
var tmpfsPlugins = []string{emptyDirPlugin, secretPlugin, downwardAPIPlugin, projectedPlugin}

// podDir is the pod's directory under the kubelet's root.
func podDir(root, uid string) string { return filepath.Join(root, "pods", uid) }

// emptyDirPath is where emptyDir volume name of pod uid lives on the node.
func emptyDirPath(root, uid, name string) string { return volumePath(root, uid, emptyDirPlugin, name) }

// volumePath is where volume name of pod uid, of plugin, lives on the node.
func volumePath(root, uid, plugin, name string) string {
	return filepath.Join(podDir(root, uid), "volumes", plugin, name)
}

// hostVolume is a volume ready on the node: its host path, and whether every mount of it
// is read-only whatever the container asks (volumes of API data, as Kubernetes mounts
// them: a container must not change what the kubelet rewrites).
type hostVolume struct {
	Path     string
	ReadOnly bool
}

// podConfigError is what the kubelet can never do for a pod's spec (a volume it cannot
// mount, a kind of container it cannot run): the containers wait with
// CreateContainerConfigError until the pod is changed or deleted.
type podConfigError struct{ msg string }

func (e *podConfigError) Error() string { return e.msg }

// volumeSourceName names the source a volume sets, for messages ("" when none is set).
func volumeSourceName(v *corev1.Volume) string {
	switch {
	case v.GetHostPath() != nil:
		return "hostPath"
	case v.GetEmptyDir() != nil:
		return "emptyDir"
	case v.GetConfigMap() != nil:
		return "configMap"
	case v.GetSecret() != nil:
		return "secret"
	case v.GetDownwardAPI() != nil:
		return "downwardAPI"
	case v.GetProjected() != nil:
		return "projected"
	case v.GetPersistentVolumeClaim() != nil:
		return "persistentVolumeClaim"
	case v.GetEphemeral() != nil:
		return "ephemeral"
	}
	return ""
}

// unsupportedVolume returns a *podConfigError for the first volume of pod this kubelet
// cannot mount, nil when it can mount them all. It is pure.
func unsupportedVolume(pod *corev1.Pod) error {
	for _, v := range pod.GetSpec().GetVolumes() {
		src := volumeSourceName(v)
		switch src {
		case "hostPath", "configMap", "secret", "downwardAPI", "projected", "persistentVolumeClaim", "ephemeral":
			continue
		case "emptyDir":
			if m := v.GetEmptyDir().GetMedium(); m != "" && m != "Memory" {
				return &podConfigError{fmt.Sprintf("volume %q: emptyDir medium %q is not supported by this kubelet", v.GetName(), m)}
			}
			continue
		case "":
			return &podConfigError{fmt.Sprintf("volume %q: no volume source this kubelet supports", v.GetName())}
		}
	}
	return nil
}

// hostPathTypes are the values of hostPath.type.
const (
	hostPathUnset             = ""
	hostPathDirectoryOrCreate = "DirectoryOrCreate"
	hostPathDirectory         = "Directory"
	hostPathFileOrCreate      = "FileOrCreate"
	hostPathFile              = "File"
	hostPathSocket            = "Socket"
	hostPathCharDevice        = "CharDevice"
	hostPathBlockDevice       = "BlockDevice"
)

// checkHostPath makes path what typ asks (creating a directory or an empty file for the
// *OrCreate types, as Kubernetes does: FileOrCreate does not create parent directories)
// and checks that it is. The messages are Kubernetes'.
func checkHostPath(path, typ string) error {
	fi, statErr := os.Stat(path)
	is := func(ok bool, what string) error {
		if statErr != nil || !ok {
			return fmt.Errorf("hostPath type check failed: %s is not %s", path, what)
		}
		return nil
	}
	switch typ {
	case hostPathUnset:
		return nil
	case hostPathDirectoryOrCreate:
		if errors.Is(statErr, os.ErrNotExist) {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("hostPath type check failed: create directory %s: %w", path, err)
			}
			return nil
		}
		return is(statErr == nil && fi.IsDir(), "a directory")
	case hostPathDirectory:
		return is(statErr == nil && fi.IsDir(), "a directory")
	case hostPathFileOrCreate:
		if errors.Is(statErr, os.ErrNotExist) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("hostPath type check failed: create file %s: %w", path, err)
			}
			if f != nil {
				f.Close()
			}
			fi, statErr = os.Stat(path)
		}
		return is(statErr == nil && fi.Mode().IsRegular(), "a file")
	case hostPathFile:
		return is(statErr == nil && fi.Mode().IsRegular(), "a file")
	case hostPathSocket:
		return is(statErr == nil && fi.Mode()&os.ModeSocket != 0, "a socket file")
	case hostPathCharDevice:
		return is(statErr == nil && fi.Mode()&os.ModeCharDevice != 0, "a character device")
	case hostPathBlockDevice:
		return is(statErr == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0, "a block device")
	}
	return fmt.Errorf("hostPath type %q is not supported", typ)
}

// setUpVolumes makes every volume of pod ready on the node and returns them by volume
// name. It is idempotent: each sync that starts containers calls it, and a volume of API
// data gets its current content. An error is a *podConfigError (never retried with
// success) or a mount failure (retried: a failed hostPath check, a missing ConfigMap or
// Secret, a token the apiserver did not issue).
func setUpVolumes(ctx context.Context, vc volumeContext, pod *corev1.Pod) (map[string]hostVolume, error) {
	if err := unsupportedVolume(pod); err != nil {
		return nil, err
	}
	uid := pod.GetMetadata().GetUid()
	vols := map[string]hostVolume{}
	for _, v := range pod.GetSpec().GetVolumes() {
		name := v.GetName()
		var hv hostVolume
		var err error
		_, _, apiData := apiVolumePlugin(v)
		switch {
		case v.GetHostPath() != nil:
			hv.Path = v.GetHostPath().GetPath()
			err = checkHostPath(hv.Path, v.GetHostPath().GetType())
		case v.GetPersistentVolumeClaim() != nil || v.GetEphemeral() != nil:
			// Its errors are worded as Kubernetes' (see claims.go), not wrapped here.
			if hv, err = claimVolume(ctx, vc.Claims, vc.Root, pod, v); err != nil {
				return nil, err
			}
		case apiData:
			hv.ReadOnly = true
			hv.Path, err = setUpAPIVolume(ctx, vc, pod, v)
		default:
			hv.Path = emptyDirPath(vc.Root, uid, name)
			err = setUpEmptyDir(hv.Path, v.GetEmptyDir(), podFSGroup(pod))
		}
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", name, err)
		}
		vols[name] = hv
	}
	return vols, nil
}

// setUpEmptyDir makes the emptyDir at dir (a tmpfs for medium Memory), 0777 as Kubernetes
// makes it: any user a container runs as may write to it. With an fsGroup the volume is
// given to the group once, when it is new (or a tmpfs lost to a reboot): later set-ups,
// at every container start, must not undo what the containers did to their files since.
func setUpEmptyDir(dir string, src *corev1.EmptyDirVolumeSource, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if src.GetMedium() == "Memory" {
		var size int64
		if q := src.GetSizeLimit(); q != nil {
			if sq, err := resource.FromProto(q); err == nil {
				size = sq.Value()
			}
		}
		if err := mountTmpfs(dir, size); err != nil {
			return err
		}
	}
	if fsGroup != nil && ownedBy(dir, *fsGroup, false) {
		return nil
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	if fsGroup != nil {
		return setVolumeOwnership(dir, *fsGroup, false)
	}
	return nil
}

// containerMounts is the CRI mounts of c, given each volume's host path. A subPath is a
// directory inside the volume, created when missing (as Kubernetes does); it must stay
// inside the volume once symlinks are resolved.
func containerMounts(c *corev1.Container, volumes map[string]hostVolume) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	for _, m := range c.GetVolumeMounts() {
		hv, ok := volumes[m.GetName()]
		host := hv.Path
		if !ok {
			return nil, &podConfigError{fmt.Sprintf("volumeMount %q of container %q: no volume of that name", m.GetName(), c.GetName())}
		}
		if sp := m.GetSubPath(); sp != "" {
			p, err := subPathOf(host, sp)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %q subPath %q: %w", m.GetName(), sp, err)
			}
			host = p
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: m.GetMountPath(), HostPath: host, Readonly: m.GetReadOnly() || hv.ReadOnly})
	}
	return out, nil
}

// subPathOf resolves sub inside the volume at base, creating it as a directory when it
// does not exist. It refuses paths that leave the volume (.., absolute, or through a
// symlink a container may have planted).
func subPathOf(base, sub string) (string, error) {
	if !filepath.IsLocal(sub) {
		return "", &podConfigError{"must be a relative path inside the volume"}
	}
	p := filepath.Join(base, sub)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(p, 0o750); err != nil {
			return "", err
		}
		// The volume's own mode, as Kubernetes: an emptyDir's 0777 lets any user write,
		// and an fsGroup's setgid keeps what is created there the group's.
		mode := fs.ModeDir | 0o777
		if fi, err := os.Stat(base); err == nil {
			mode = fi.Mode()
		}
		_ = os.Chmod(p, mode)
	}
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(realBase, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", &podConfigError{fmt.Sprintf("resolves to %s, outside the volume", real)}
	}
	return real, nil
}

// removePodDir unmounts the pod's tmpfs volumes (memory-backed emptyDirs, secrets,
// downward API and projected volumes) and removes its directory. The pod's containers
// must be gone.
func removePodDir(root, uid string) error {
	dir := podDir(root, uid)
	for _, plugin := range tmpfsPlugins {
		entries, err := os.ReadDir(filepath.Join(dir, "volumes", plugin))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			if err := unmountIfMounted(filepath.Join(dir, "volumes", plugin, e.Name())); err != nil {
				return fmt.Errorf("unmount volume %s of pod %s: %w", e.Name(), uid, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	return nil
}

// podDirs lists the uids that have a pod directory under root.
func podDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "pods"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var uids []string
	for _, e := range entries {
		if e.IsDir() {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}
