package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
)

// ConfigMap and Secret volumes: the object's keys projected as files, as Kubernetes'
// configmap and secret volume plugins do. These, downwardAPI and projected volumes (see
// downwardapi.go, projected.go) are written with Kubernetes' atomic writer layout, so a
// container never sees half an update:
//
//	<volume>/..2026_12_06_00_44_01.123456789/<path>   this version's files
//	<volume>/..data -> ..2026_12_06_00_44_01.123456789 swapped by one rename
//	<volume>/<top>  -> ..data/<top>                   one link per top-level path
//
// The volume directory itself is what containers mount (read-only), so a new version
// swapped in is what they see next; subPath mounts, resolved once, keep the old one.

// objectSource is a configMap or secret volume source.
type objectSource struct {
	Secret      bool // a Secret, else a ConfigMap
	Name        string
	Items       []*corev1.KeyToPath
	DefaultMode *int32
	Optional    bool
}

func objectSourceOf(v *corev1.Volume) objectSource {
	if s := v.GetSecret(); s != nil {
		return objectSource{Secret: true, Name: s.GetSecretName(), Items: s.GetItems(), DefaultMode: s.DefaultMode, Optional: s.GetOptional()}
	}
	cm := v.GetConfigMap()
	return objectSource{Name: cm.GetName(), Items: cm.GetItems(), DefaultMode: cm.DefaultMode, Optional: cm.GetOptional()}
}

// projectedFile is one file of a projected volume.
type projectedFile struct {
	Data []byte
	Mode fs.FileMode
}

// defaultProjectionMode is the API's default defaultMode of configMap, secret, downwardAPI
// and projected volumes.
const defaultProjectionMode = 0o644

// projectFiles is what the volume of src holds given the object's data (nil: a missing
// optional object, an empty volume): every key as a file of its name, or only the items,
// each at its path with its mode (else defaultMode). An item naming a missing key is an
// error unless the source is optional. It is pure.
func projectFiles(src objectSource, data map[string][]byte) (map[string]projectedFile, error) {
	mode := modeOr(src.DefaultMode, defaultProjectionMode)
	files := map[string]projectedFile{}
	if len(src.Items) == 0 {
		for k, v := range data {
			files[k] = projectedFile{Data: v, Mode: mode}
		}
		return files, nil
	}
	for _, it := range src.Items {
		v, ok := data[it.GetKey()]
		if !ok {
			if src.Optional {
				continue
			}
			if src.Secret {
				return nil, fmt.Errorf("references non-existent secret key: %s", it.GetKey())
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.GetKey())
		}
		p, err := projectedPath(it.GetPath())
		if err != nil {
			return nil, fmt.Errorf("item %q: %w", it.GetKey(), err)
		}
		files[p] = projectedFile{Data: v, Mode: modeOr(it.Mode, mode)}
	}
	return files, nil
}

// projectedPath is p cleaned, when it may be a file of a projected volume: inside the
// volume, and not starting with "..", which the atomic writer keeps for itself (..data).
func projectedPath(p string) (string, error) {
	if !filepath.IsLocal(p) || strings.HasPrefix(p, "..") {
		return "", fmt.Errorf("path %q must be relative and may not start with '..'", p)
	}
	return filepath.Clean(p), nil
}

// objectFiles is what the volume of src (of namespace ns) holds: the object's keys, read
// now. A missing object that is not optional is an error (retried by the caller).
func objectFiles(ctx context.Context, objs objectGetter, ns string, src objectSource) (map[string]projectedFile, error) {
	if objs == nil {
		return nil, errors.New("this kubelet reads no ConfigMaps or Secrets")
	}
	data, _, err := objectData(ctx, objs, ns, src.Name, src.Secret, src.Optional)
	if err != nil {
		return nil, err
	}
	return projectFiles(src, data)
}

// writeVolume makes dir hold files: a tmpfs first when asked (secrets and tokens never
// reach the node's disk), then the files written atomically. The caller computes files
// before, so a volume whose data cannot be read is never created half-way. With an
// fsGroup, files carry their group bits already (see setUpAPIVolume, so that an unchanged
// volume is not rewritten) and the whole volume, links and the new version included, is
// given to the group after every write, as upstream's atomic writer volumes do.
func writeVolume(dir string, tmpfs bool, files map[string]projectedFile, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if tmpfs {
		if err := mountTmpfs(dir, 0); err != nil {
			return err
		}
	}
	mode := fs.ModeDir | 0o755
	if fsGroup != nil {
		mode = ownedMode(mode, true) // keep setgid: new versions are the group's at once
	}
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	if err := writeAtomic(dir, files); err != nil {
		return err
	}
	if fsGroup != nil {
		return setVolumeOwnership(dir, *fsGroup, true)
	}
	return nil
}

const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
)

// writeAtomic makes dir hold files (Kubernetes' AtomicWriter, simplified): a new
// timestamped directory with every file, then the ..data link swapped to it by a rename,
// then the top-level links, then the old version removed. It does nothing when dir holds
// files already. Only the pod's worker writes a pod's volumes.
func writeAtomic(dir string, files map[string]projectedFile) error {
	if cur, err := os.Readlink(filepath.Join(dir, dataLink)); err == nil && holds(filepath.Join(dir, cur), files) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.Mode); err != nil { // past the umask
			return err
		}
	}
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	tops := map[string]bool{}
	for p := range files {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		tops[top] = true
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join(dataLink, top), link); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".."):
			if e.IsDir() && name != filepath.Base(ts) {
				if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
					return err
				}
			}
		case !tops[name]:
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// holds reports whether dir has exactly files, with their content and modes.
func holds(dir string, files map[string]projectedFile) bool {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		f, ok := files[rel]
		info, ierr := d.Info()
		if !ok || ierr != nil || info.Mode() != f.Mode {
			return fs.ErrNotExist
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, f.Data) {
			return fs.ErrNotExist
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}
