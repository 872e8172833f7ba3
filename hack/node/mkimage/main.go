// Command mkimage turns a root filesystem directory into a single-layer container image
// in docker-archive form (manifest.json + config + layer.tar), without a Docker daemon.
// skopeo copies such an archive into a registry (docker-archive:FILE), containerd imports
// it (ctr images import, or the containerd Go client's Import), and docker load reads it.
//
// The output is reproducible: entries are sorted, owned by root, and stamped with a fixed
// time, so the same rootfs always gives the same layer and image digests.
//
//	mkimage -rootfs DIR -o out.tar -tag docker.io/library/nginx:1.14.2 \
//	        -entrypoint '["/usr/sbin/nginx","-g","daemon off;"]' -expose 80/tcp
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// epoch is the fixed timestamp of every file and of the image itself.
var epoch = time.Unix(0, 0).UTC()

func main() {
	var (
		rootfs     = flag.String("rootfs", "", "root filesystem directory (required)")
		out        = flag.String("o", "", "output docker-archive tar (required)")
		entrypoint = flag.String("entrypoint", "", `entrypoint as a JSON array, e.g. '["/pause"]'`)
		cmd        = flag.String("cmd", "", "cmd as a JSON array")
		workdir    = flag.String("workdir", "/", "working directory")
		user       = flag.String("user", "", "user to run as (default root)")
		stopSignal = flag.String("stopsignal", "", "stop signal, e.g. SIGQUIT")
		tags, envs multi
		exposes    multi
		labels     multi
	)
	flag.Var(&tags, "tag", "image reference, repeatable (e.g. docker.io/library/nginx:1.14.2)")
	flag.Var(&envs, "env", "KEY=VALUE, repeatable")
	flag.Var(&exposes, "expose", "port/proto, repeatable (e.g. 80/tcp)")
	flag.Var(&labels, "label", "KEY=VALUE, repeatable")
	flag.Parse()
	if *rootfs == "" || *out == "" || len(tags) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*rootfs, *out, tags, *entrypoint, *cmd, *workdir, *user, *stopSignal, envs, exposes, labels); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func jsonArray(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("%q is not a JSON array of strings: %w", s, err)
	}
	return v, nil
}

func run(rootfs, out string, tags []string, entrypoint, cmd, workdir, user, stopSignal string, envs, exposes, labels []string) error {
	ep, err := jsonArray(entrypoint)
	if err != nil {
		return err
	}
	cm, err := jsonArray(cmd)
	if err != nil {
		return err
	}

	// 1. The layer, written to a temp file while hashing (the diff ID).
	layerFile, err := os.CreateTemp(filepath.Dir(out), ".layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(layerFile.Name())
	defer layerFile.Close()
	h := sha256.New()
	if err := writeLayer(io.MultiWriter(layerFile, h), rootfs); err != nil {
		return err
	}
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))

	// 2. The image config (OCI image spec / Docker v1 config).
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, e := range envs {
		if strings.HasPrefix(e, "PATH=") {
			env[0] = e
		} else {
			env = append(env, e)
		}
	}
	cfg := map[string]any{
		"Env":        env,
		"WorkingDir": workdir,
	}
	if len(ep) > 0 {
		cfg["Entrypoint"] = ep
	}
	if len(cm) > 0 {
		cfg["Cmd"] = cm
	}
	if user != "" {
		cfg["User"] = user
	}
	if stopSignal != "" {
		cfg["StopSignal"] = stopSignal
	}
	if len(exposes) > 0 {
		ports := map[string]struct{}{}
		for _, p := range exposes {
			ports[p] = struct{}{}
		}
		cfg["ExposedPorts"] = ports
	}
	if len(labels) > 0 {
		l := map[string]string{}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = v
		}
		cfg["Labels"] = l
	}
	config := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "kubelab mkimage"}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return err
	}
	cs := sha256.Sum256(configJSON)
	configName := hex.EncodeToString(cs[:]) + ".json"
	layerName := strings.TrimPrefix(diffID, "sha256:") + "/layer.tar"

	manifest := []map[string]any{{
		"Config":   configName,
		"RepoTags": tags,
		"Layers":   []string{layerName},
	}}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return err
	}

	// 3. The archive.
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	if err := addBytes(tw, configName, configJSON); err != nil {
		return err
	}
	if err := tw.WriteHeader(dirHeader(strings.TrimPrefix(diffID, "sha256:") + "/")); err != nil {
		return err
	}
	st, err := layerFile.Stat()
	if err != nil {
		return err
	}
	if _, err := layerFile.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: layerName, Mode: 0o644, Size: st.Size(), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, layerFile); err != nil {
		return err
	}
	if err := addBytes(tw, "manifest.json", manifestJSON); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("%s: %s (layer %s, %d bytes)\n", out, strings.Join(tags, " "), diffID[:19], st.Size())
	return nil
}

func dirHeader(name string) *tar.Header {
	return &tar.Header{Name: name, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}
}

func addBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// writeLayer tars rootfs with sorted entries, root ownership and fixed times.
// Regular files, directories and symlinks are kept; hard links become copies.
func writeLayer(w io.Writer, rootfs string) error {
	var paths []string
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != rootfs {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		rel, err := filepath.Rel(rootfs, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()), ModTime: epoch, Format: tar.FormatPAX}
		if fi.Mode()&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		switch {
		case fi.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = target
		case fi.Mode().IsRegular():
			hdr.Typeflag = tar.TypeReg
			hdr.Size = fi.Size()
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, fi.Mode().Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
