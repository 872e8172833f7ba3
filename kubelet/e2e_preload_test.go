package kubelet_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/kubelet/internal/preload"
)

// retag copies a docker-archive tarball with its image renamed to ref, and returns the
// image's config digest (its image ID).
func retag(t *testing.T, src, dst, ref string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	var id string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "manifest.json":
			var m []map[string]any
			if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
				t.Fatalf("manifest.json: %v", err)
			}
			m[0]["RepoTags"] = []string{ref}
			id = "sha256:" + strings.TrimSuffix(fmt.Sprint(m[0]["Config"]), ".json")
			body, _ = json.Marshal(m)
		case "repositories":
			continue
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestE2EPreloadImages imports an image under a name no registry has into containerd's
// k8s.io namespace (what --preload-images does) and finds it through CRI with the ID
// a pull gives.
func TestE2EPreloadImages(t *testing.T) {
	pc := privateContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	tag := fmt.Sprintf("t%d", time.Now().UnixNano())
	ref := "docker.io/kubelab/preload-e2e:" + tag
	wantID := retag(t, filepath.Join(pc.ImagesDir, "nginx-1.14.2.tar"), filepath.Join(dir, "preload-e2e.tar"), ref)

	conn, err := grpc.NewClient("unix://"+pc.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	images := runtimeapi.NewImageServiceClient(conn)
	st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil || st.GetImage() != nil {
		t.Fatalf("before import: %v %v", st.GetImage(), err)
	}

	imported, err := preload.Import(ctx, preload.Config{Address: "unix://" + pc.Socket, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = images.RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	}()
	if len(imported) != 1 || imported[0].Name != ref {
		t.Fatalf("imported %v, want %s", imported, ref)
	}
	var img *runtimeapi.Image
	wait(t, 10*time.Second, "CRI sees the imported image", func() (bool, string) {
		st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "kubelab/preload-e2e:" + tag}}) // as a pod names it
		img = st.GetImage()
		return err == nil && img != nil, fmt.Sprint(err)
	})
	if img.GetId() != wantID {
		t.Errorf("image id %s, want %s (the config digest, as a pull gives)", img.GetId(), wantID)
	}
	// A second import changes nothing.
	if _, err := preload.Import(ctx, preload.Config{Address: pc.Socket, Dir: dir}); err != nil {
		t.Errorf("second import: %v", err)
	}
}
