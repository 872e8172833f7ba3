package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	corev1 "kubelab.io/proto/api/core/v1"
)

// fsGroup: a pod's securityContext.fsGroup is a group every container of the pod runs
// with (a supplemental group, see containerSecurity) and that owns the volumes the
// kubelet makes for it, as Kubernetes' SetVolumeOwnership does: every file and directory
// is given to the group, the group gets read (and, for writable volumes, write) access,
// and directories are setgid so what a container creates there belongs to the group too.
// hostPath volumes are the node's, never changed. Kubernetes' fsGroupChangePolicy is not
// in kubelab's API: the policy is always what upstream calls Always for volumes of API
// data (they are walked each time they are written) and, for an emptyDir, upstream's
// once-at-set-up (see setUpEmptyDir).

// Group bits SetVolumeOwnership adds: read-write for volumes containers write to,
// read-only for those the kubelet rewrites (configMap, secret, downwardAPI, projected).
const (
	groupRW   fs.FileMode = 0o660
	groupRO   fs.FileMode = 0o440
	groupExec fs.FileMode = 0o110
)

// podFSGroup is the pod's fsGroup, nil when it sets none.
func podFSGroup(pod *corev1.Pod) *int64 {
	if sc := pod.GetSpec().GetSecurityContext(); sc != nil && sc.FsGroup != nil {
		gid := *sc.FsGroup
		return &gid
	}
	return nil
}

// ownedMode is mode once its file belongs to an fsGroup: the group bits added (to the
// owner's too, as upstream's mask does), and for a directory search and setgid. It is
// pure.
func ownedMode(mode fs.FileMode, readOnly bool) fs.FileMode {
	mask := groupRW
	if readOnly {
		mask = groupRO
	}
	if mode.IsDir() {
		mask |= groupExec | fs.ModeSetgid
	}
	return mode | mask
}

// setVolumeOwnership gives dir and everything below it to group gid, with ownedMode's
// permissions. Symbolic links are given to the group themselves (lchown) and never
// chmod'ed: a chmod would follow the link and change the file the volume plugin gave its
// own mode (the atomic writer's ..data and top-level links). A file removed during the
// walk (a container deleting it) is skipped.
func setVolumeOwnership(dir string, gid int64, readOnly bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(gid)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("set volume ownership: %w", err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if want := ownedMode(info.Mode(), readOnly); want != info.Mode() {
			if err := os.Chmod(path, want); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("set volume permissions: %w", err)
			}
		}
		return nil
	})
}

// ownedBy reports whether dir already belongs to gid with ownedMode's permissions: an
// emptyDir set up by an earlier sync, or by the kubelet before it restarted (upstream
// keeps a ready marker for the same purpose).
func ownedBy(dir string, gid int64, readOnly bool) bool {
	info, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int64(st.Gid) == gid && ownedMode(info.Mode(), readOnly) == info.Mode()
}
