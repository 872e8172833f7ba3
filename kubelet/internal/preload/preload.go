// Package preload imports image tarballs into containerd for air-gapped nodes
// (--preload-images): the one thing the kubelet needs that CRI has no call for.
//
// It speaks containerd's own API (the github.com/containerd/containerd client) on the
// same socket as CRI, in the k8s.io namespace, which is the one containerd's CRI plugin
// serves images from; CRI sees an imported image at once (it follows containerd's image
// events) with the same image ID as if it had been pulled. Each image is unpacked into
// the snapshotter, as `ctr -n k8s.io images import` does, so the first container does
// not pay for it.
package preload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
)

// Namespace is containerd's namespace of CRI (Kubernetes) images.
const Namespace = "k8s.io"

// Config says what to import where.
type Config struct {
	// Address is containerd's socket: a path or unix:///path.
	Address string
	// Dir holds the tarballs (*.tar, *.tar.gz): docker-archive (docker save, skopeo
	// docker-archive:) or OCI image layout archives.
	Dir string
	// Snapshotter to unpack into (default: containerd's default, overlayfs).
	Snapshotter string
	// Namespace defaults to k8s.io.
	Namespace string
	Log       *slog.Logger
}

// Image is one imported image.
type Image struct {
	Name   string
	Digest string
	File   string
}

// Files lists the tarballs of dir, sorted.
func Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && (strings.HasSuffix(n, ".tar") || strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".tgz")) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Import imports and unpacks every tarball of cfg.Dir. It is idempotent: importing an
// image that is there already changes nothing. A directory without tarballs is an error
// (a misspelled --preload-images should not go unnoticed).
func Import(ctx context.Context, cfg Config) ([]Image, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = Namespace
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = containerd.DefaultSnapshotter
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	files, err := Files(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("preload images: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("preload images: no *.tar in %s", cfg.Dir)
	}
	addr := strings.TrimPrefix(cfg.Address, "unix://")
	client, err := containerd.New(addr, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("preload images: connect to containerd at %s: %w", addr, err)
	}
	defer client.Close()
	ctx = namespaces.WithNamespace(ctx, cfg.Namespace)
	// A lease keeps the imported content from garbage collection until the images
	// referencing it exist.
	ctx, done, err := client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("preload images: lease: %w", err)
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	var out []Image
	for _, f := range files {
		start := time.Now()
		imgs, err := importFile(ctx, client, f)
		if err != nil {
			return out, fmt.Errorf("preload images: import %s: %w", f, err)
		}
		for _, img := range imgs {
			image := containerd.NewImage(client, img)
			if err := image.Unpack(ctx, cfg.Snapshotter); err != nil {
				return out, fmt.Errorf("preload images: unpack %s from %s: %w", img.Name, f, err)
			}
			out = append(out, Image{Name: img.Name, Digest: img.Target.Digest.String(), File: f})
			cfg.Log.Info("preloaded image", "image", img.Name, "digest", img.Target.Digest.String(), "file", filepath.Base(f), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return out, nil
}

func importFile(ctx context.Context, client *containerd.Client, path string) ([]images.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	imgs, err := client.Import(ctx, f, containerd.WithAllPlatforms(false))
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, errors.New("no named image in the archive")
	}
	return imgs, nil
}
