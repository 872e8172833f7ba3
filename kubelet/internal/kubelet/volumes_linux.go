package kubelet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// isMountPoint: dir is on another device than its parent (enough for the tmpfs mounts
// the kubelet makes itself; it never bind-mounts on the host).
func isMountPoint(dir string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := syscall.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

// mountTmpfs mounts a tmpfs of size bytes (0: the kernel's default, half of RAM) on dir
// unless one is there already.
func mountTmpfs(dir string, size int64) error {
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	opts := "mode=0777"
	if size > 0 {
		opts += fmt.Sprintf(",size=%d", size)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// unmountIfMounted unmounts what the kubelet mounted on dir (lazily when busy).
func unmountIfMounted(dir string) error {
	mounted, err := isMountPoint(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && !mounted {
		return nil
	}
	if err != nil {
		return err
	}
	if err := syscall.Unmount(dir, 0); err != nil {
		if !errors.Is(err, syscall.EBUSY) {
			return err
		}
		return syscall.Unmount(dir, syscall.MNT_DETACH)
	}
	return nil
}
