package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// apiAccessVolume is the volume the ServiceAccount admission plugin adds to every pod.
func apiAccessVolume() *corev1.Volume {
	return &corev1.Volume{Name: "kube-api-access-x7k2p", Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: proto.Int32(0o644),
		Sources: []*corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: proto.Int64(3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{Name: "kube-root-ca.crt", Items: []*corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{fieldFile("namespace", "metadata.namespace")}}},
		},
	}}
}

func projectedObjects() *fakeObjects {
	objs := testObjects()
	objs.configMaps["default/kube-root-ca.crt"] = &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "default"},
		Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}
	return objs
}

func saPod(vols ...*corev1.Volume) *corev1.Pod {
	pod := volumePod(vols...)
	pod.Spec.ServiceAccountName = "default"
	pod.Metadata.Labels = map[string]string{"app": "web"}
	return pod
}

func TestProjectedFiles(t *testing.T) {
	tm, tokens, _ := newTestTokenManager(t)
	vc := volumeContext{Objects: projectedObjects(), Tokens: tm}
	ctx := context.Background()

	files, err := projectedFiles(ctx, vc, saPod(), apiAccessVolume().GetProjected())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fileList(files), "ca.crt:644=-----BEGIN CERTIFICATE-----\n namespace:644=default token:644=tok-1"; got != want {
		t.Errorf("kube-api-access:\n got %q\nwant %q", got, want)
	}
	if want := `default/default {"expirationSeconds":"3607","boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p","uid":"uid-1"}}`; tokens.requests[0] != want {
		t.Errorf("token request\n got %s\nwant %s", tokens.requests[0], want)
	}

	// Every kind of source, item modes over defaultMode, a missing optional secret.
	src := &corev1.ProjectedVolumeSource{DefaultMode: proto.Int32(0o440), Sources: []*corev1.VolumeProjection{
		{Secret: &corev1.SecretProjection{Name: "db", Items: []*corev1.KeyToPath{{Key: "password", Path: "db/pw", Mode: proto.Int32(0o400)}}}},
		{Secret: &corev1.SecretProjection{Name: "gone", Optional: proto.Bool(true)}},
		{ConfigMap: &corev1.ConfigMapProjection{Name: "web", Items: []*corev1.KeyToPath{{Key: "MODE", Path: "mode"}}}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{fieldFile("labels", "metadata.labels")}}},
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "vault/token"}},
	}}
	files, err = projectedFiles(ctx, vc, saPod(), src)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fileList(files), `db/pw:400=s3cr3t labels:440=app="web" mode:440=prod vault/token:440=tok-2`; got != want {
		t.Errorf("every source:\n got %q\nwant %q", got, want)
	}

	// Failures are tried for every source and named together.
	tokens.err = errors.New(`serviceaccounts "default" not found`)
	src = &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{
		{ConfigMap: &corev1.ConfigMapProjection{Name: "missing"}},
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: proto.Int64(7200)}},
	}}
	_, err = projectedFiles(ctx, vc, saPod(), src)
	if want := `[configmap "missing" not found, failed to fetch token: serviceaccounts "default" not found]`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestProjectedVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("projected volumes are tmpfs mounts: mounting needs root")
	}
	root := t.TempDir()
	tm, tokens, step := newTestTokenManager(t)
	vc := volumeContext{Root: root, Objects: projectedObjects(), Tokens: tm}
	ctx := context.Background()
	pod := saPod(apiAccessVolume())
	dir := filepath.Join(root, "pods", "uid-1", "volumes", "kubernetes.io~projected", "kube-api-access-x7k2p")
	t.Cleanup(func() { unmountIfMounted(dir) })

	vols, err := setUpVolumes(ctx, vc, pod)
	if err != nil {
		t.Fatal(err)
	}
	if vols["kube-api-access-x7k2p"] != (hostVolume{Path: dir, ReadOnly: true}) {
		t.Fatalf("volumes %v", vols)
	}
	if got, want := volumeFiles(t, dir), "ca.crt:644=-----BEGIN CERTIFICATE-----\n namespace:644=default token:644=tok-1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if mounted, err := isMountPoint(dir); err != nil || !mounted {
		t.Errorf("not a tmpfs mount: %v %v", mounted, err)
	}
	// What containers see are links through ..data, swapped as a whole.
	if l, err := os.Readlink(filepath.Join(dir, "token")); err != nil || l != "..data/token" {
		t.Errorf("token is %q %v, want a link to ..data/token", l, err)
	}

	// Set up again before renewal time: the same token, nothing rewritten.
	before, _ := os.Readlink(filepath.Join(dir, "..data"))
	step(40 * time.Minute)
	if _, err := setUpVolumes(ctx, vc, pod); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(dir, "..data")); after != before || tokens.calls() != 1 {
		t.Errorf("rewritten before renewal: %s -> %s, %d token requests", before, after, tokens.calls())
	}
	// Past 80% of 3607s: a new token swapped in.
	step(9 * time.Minute)
	if _, err := setUpAPIVolume(ctx, vc, pod, pod.Spec.Volumes[0]); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "token")); string(b) != "tok-2" {
		t.Errorf("after renewal the token file holds %q", b)
	}

	// A token the apiserver refuses is a mount failure (retried), and creates nothing.
	tokens.err = errors.New("forbidden")
	other := saPod(apiAccessVolume())
	other.Metadata.Uid = "uid-2"
	_, err = setUpVolumes(ctx, vc, other)
	var ce *podConfigError
	if want := `MountVolume.SetUp failed for volume "kube-api-access-x7k2p" : failed to fetch token: forbidden`; err == nil || errors.As(err, &ce) || err.Error() != want {
		t.Errorf("got %v, want the mount error %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(root, "pods", "uid-2")); !os.IsNotExist(err) {
		t.Errorf("a pod directory made for a volume that failed: %v", err)
	}

	if err := removePodDir(root, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), dir) {
		t.Fatal("still mounted after removePodDir")
	}
}
