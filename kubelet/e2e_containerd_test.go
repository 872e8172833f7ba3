package kubelet_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/kubelet/internal/preload"
	krt "kubelab.io/kubelet/runtime"
)

// e2eContainerd is a containerd the e2e tests start for themselves.
type e2eContainerd struct {
	Socket     string
	CNIConfDir string
	// ImagesDir holds the offline images (hack/node/build-images.sh).
	ImagesDir string
}

// Preload imports the offline images, as --preload-images does.
func (c *e2eContainerd) Preload(ctx context.Context) error {
	_, err := preload.Import(ctx, preload.Config{Address: c.Socket, Dir: c.ImagesDir})
	return err
}

// privateContainerd starts a containerd of the e2e tests' own: hack/node's config
// (deploy/node/containerd-config.toml) with its own root, state, socket and CNI
// configuration directory. Other suites on this machine start and stop the node's shared
// containerd (hack/node/containerd.sh) and rewrite /etc/cni/net.d as they go; these
// tests neither disturb them nor are disturbed. Images come from .local/images through
// the kubelet's --preload-images path, so no registry is needed. It skips, saying why,
// where that is not possible (not root, no containerd binary, no images).
func privateContainerd(t *testing.T) *e2eContainerd {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("e2e: needs root to run containerd pods")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("e2e: no containerd binary (hack/node/install.sh installs it)")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	c := &e2eContainerd{ImagesDir: filepath.Join(repo, ".local/images")}
	if files, _ := preload.Files(c.ImagesDir); len(files) == 0 {
		t.Skipf("e2e: no image tarballs in %s (make images)", c.ImagesDir)
	}
	tmpl, err := os.ReadFile(filepath.Join(repo, "deploy/node/containerd-config.toml"))
	if err != nil {
		t.Skipf("e2e: %v", err)
	}
	const (
		root  = "/var/lib/kubelab/kubelet-e2e/containerd"
		state = "/run/kubelab/kubelet-e2e/containerd"
		etc   = "/run/kubelab/kubelet-e2e/etc"
	)
	c.Socket = state + "/containerd.sock"
	c.CNIConfDir = "/run/kubelab/kubelet-e2e/net.d"
	cfg := strings.NewReplacer(
		`"/var/lib/kubelab/containerd/opt"`, `"`+root+`/opt"`,
		`"/var/lib/kubelab/containerd"`, `"`+root+`"`,
		`"/run/kubelab/containerd/containerd.sock"`, `"`+c.Socket+`"`,
		`"/run/kubelab/containerd"`, `"`+state+`"`,
		`"/etc/cni/net.d"`, `"`+c.CNIConfDir+`"`,
		`"/etc/kubelab/containerd/certs.d"`, `"`+etc+`/certs.d"`,
	).Replace(string(tmpl))
	for _, d := range []string{root, state, c.CNIConfDir, etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"docker.io", "registry.k8s.io"} {
		b, err := os.ReadFile(filepath.Join(repo, "deploy/node/certs.d", h, "hosts.toml"))
		if err != nil {
			t.Fatal(err)
		}
		_ = os.MkdirAll(filepath.Join(etc, "certs.d", h), 0o755)
		if err := os.WriteFile(filepath.Join(etc, "certs.d", h, "hosts.toml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A containerd a crashed earlier run left behind is stopped first (its pid file).
	pidFile := filepath.Join(state, "..", "containerd.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
			if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
				if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), etc) {
					_ = p.Signal(syscall.SIGTERM)
					time.Sleep(time.Second)
				}
			}
		}
	}
	_ = os.Remove(c.Socket)
	logf, err := os.OpenFile(filepath.Join(state, "..", "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", filepath.Join(etc, "config.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Skipf("e2e: containerd does not start: %v", err)
	}
	_ = os.WriteFile(pidFile, []byte(fmt.Sprint(cmd.Process.Pid)), 0o644)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	rt, err := krt.NewRemote("unix://"+c.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Pods first (stopping containerd leaves their shims running), then containerd.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		ctrs, _ := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{})
		for _, ct := range ctrs {
			_ = rt.StopContainer(ctx, ct.GetId(), 0)
			_ = rt.RemoveContainer(ctx, ct.GetId())
		}
		sbs, _ := rt.ListPodSandboxes(ctx, &runtimeapi.PodSandboxFilter{})
		for _, s := range sbs {
			_ = rt.StopPodSandbox(ctx, s.GetId())
			_ = rt.RemovePodSandbox(ctx, s.GetId())
		}
		rt.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		_ = os.Remove(pidFile)
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := rt.Version(context.Background())
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Skipf("e2e: containerd exited at start; see %s", filepath.Join(state, "..", "containerd.log"))
		default:
		}
		if time.Now().After(deadline) {
			t.Skipf("e2e: containerd does not answer on %s: %v", c.Socket, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}
