// Command crismoke drives containerd's CRI plugin the way the kubelet does, end to end:
// Version, Status, PullImage, RunPodSandbox (CNI network), CreateContainer, StartContainer,
// ContainerStatus, ExecSync, an HTTP GET of the pod IP, the container's CRI log, then
// StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox. Every call is timed.
//
//	crismoke -endpoint unix:///run/kubelab/containerd/containerd.sock -image nginx:1.14.2
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var (
	endpoint     = flag.String("endpoint", "unix:///run/kubelab/containerd/containerd.sock", "CRI endpoint")
	image        = flag.String("image", "nginx:1.14.2", "image to pull and run")
	expect       = flag.String("expect", "kubelab", "text the HTTP answer must contain")
	cgroupParent = flag.String("cgroup-parent", "/kubelab/pod%s", "sandbox cgroup parent (cgroupfs driver); %s is the pod uid; empty for containerd's default")
	logRoot      = flag.String("log-root", "/var/log/pods", "root of the pods' log directories")
	keep         = flag.Bool("keep", false, "leave the pod running")
	peer         = flag.Bool("peer", true, "also check pod-to-pod HTTP from a second sandbox (needs nsenter and curl)")
	cleanup      = flag.Bool("cleanup", false, "only remove every sandbox crismoke left (-keep), with its containers")
	timeout      = flag.Duration("timeout", 2*time.Minute, "overall timeout")
)

func step(name string, start time.Time, detail string) {
	fmt.Printf("%-16s %6.0fms  %s\n", name, float64(time.Since(start).Microseconds())/1000, detail)
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crismoke: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("crismoke: PASS")
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := cri.NewRuntimeServiceClient(conn)
	im := cri.NewImageServiceClient(conn)
	if *cleanup {
		return removeAll(ctx, rt)
	}

	t := time.Now()
	v, err := rt.Version(ctx, &cri.VersionRequest{})
	if err != nil {
		return fmt.Errorf("Version: %w", err)
	}
	step("Version", t, fmt.Sprintf("%s %s (CRI %s)", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion))

	// Status: wait until RuntimeReady and NetworkReady (containerd reloads the CNI
	// conf_dir when a conflist appears, so NetworkReady turns true by itself).
	t = time.Now()
	for {
		st, err := rt.Status(ctx, &cri.StatusRequest{})
		if err != nil {
			return fmt.Errorf("Status: %w", err)
		}
		var conds []string
		ready := true
		for _, c := range st.Status.Conditions {
			s := fmt.Sprintf("%s=%v", c.Type, c.Status)
			if c.Reason != "" {
				s += " (" + c.Reason + ": " + c.Message + ")"
			}
			conds = append(conds, s)
			ready = ready && c.Status
		}
		if ready || time.Since(t) > 15*time.Second {
			step("Status", t, strings.Join(conds, " "))
			if !ready {
				return fmt.Errorf("runtime not ready")
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	t = time.Now()
	pr, err := im.PullImage(ctx, &cri.PullImageRequest{Image: &cri.ImageSpec{Image: *image}})
	if err != nil {
		return fmt.Errorf("PullImage %s: %w", *image, err)
	}
	step("PullImage", t, *image+" -> "+pr.ImageRef)

	t = time.Now()
	is, err := im.ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: *image}})
	if err != nil || is.Image == nil {
		return fmt.Errorf("ImageStatus: %v (image %v)", err, is.GetImage())
	}
	step("ImageStatus", t, fmt.Sprintf("tags=%v digests=%v size=%d", is.Image.RepoTags, is.Image.RepoDigests, is.Image.Size))

	sbCfg, err := sandboxConfig("crismoke")
	if err != nil {
		return err
	}
	uid, logDir := sbCfg.Metadata.Uid, sbCfg.LogDirectory

	t = time.Now()
	sb, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	sbID := sb.PodSandboxId
	step("RunPodSandbox", t, sbID[:13]+" cgroupParent="+sbCfg.Linux.CgroupParent)
	cleanups := []func(){}
	defer func() {
		if *keep {
			fmt.Println("crismoke: -keep: leaving sandbox", sbID)
			return
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	cleanups = append(cleanups, func() {
		c := context.Background()
		t := time.Now()
		if _, err := rt.StopPodSandbox(c, &cri.StopPodSandboxRequest{PodSandboxId: sbID}); err != nil {
			fmt.Println("StopPodSandbox:", err)
		}
		step("StopPodSandbox", t, "")
		t = time.Now()
		if _, err := rt.RemovePodSandbox(c, &cri.RemovePodSandboxRequest{PodSandboxId: sbID}); err != nil {
			fmt.Println("RemovePodSandbox:", err)
		}
		step("RemovePodSandbox", t, "")
		os.RemoveAll(logDir)
		removeCgroup(sbCfg.Linux.CgroupParent)
	})

	t = time.Now()
	ss, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: sbID})
	if err != nil {
		return fmt.Errorf("PodSandboxStatus: %w", err)
	}
	podIP := ss.Status.GetNetwork().GetIp()
	step("PodSandboxStatus", t, fmt.Sprintf("state=%s ip=%s", ss.Status.State, podIP))
	if podIP == "" {
		return fmt.Errorf("sandbox has no IP (is a CNI conflist in the CRI conf_dir?)")
	}

	ctrCfg := &cri.ContainerConfig{
		Metadata: &cri.ContainerMetadata{Name: "nginx", Attempt: 0},
		Image:    &cri.ImageSpec{Image: pr.ImageRef},
		LogPath:  "nginx/0.log",
		Labels:   map[string]string{"io.kubernetes.pod.uid": uid, "io.kubernetes.container.name": "nginx"},
		Envs:     []*cri.KeyValue{{Key: "KUBELAB_SMOKE", Value: "1"}},
		Linux: &cri.LinuxContainerConfig{
			Resources: &cri.LinuxContainerResources{CpuShares: 102, CpuPeriod: 100000, CpuQuota: 50000, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 1000},
		},
	}
	t = time.Now()
	cc, err := rt.CreateContainer(ctx, &cri.CreateContainerRequest{PodSandboxId: sbID, Config: ctrCfg, SandboxConfig: sbCfg})
	if err != nil {
		return fmt.Errorf("CreateContainer: %w", err)
	}
	ctrID := cc.ContainerId
	step("CreateContainer", t, ctrID[:13])
	cleanups = append(cleanups, func() {
		c := context.Background()
		t := time.Now()
		if _, err := rt.StopContainer(c, &cri.StopContainerRequest{ContainerId: ctrID, Timeout: 10}); err != nil {
			fmt.Println("StopContainer:", err)
		}
		step("StopContainer", t, "")
		if s, err := rt.ContainerStatus(c, &cri.ContainerStatusRequest{ContainerId: ctrID}); err == nil {
			fmt.Printf("%-16s %8s  state=%s exitCode=%d reason=%s\n", "  (after stop)", "", s.Status.State, s.Status.ExitCode, s.Status.Reason)
		}
		t = time.Now()
		if _, err := rt.RemoveContainer(c, &cri.RemoveContainerRequest{ContainerId: ctrID}); err != nil {
			fmt.Println("RemoveContainer:", err)
		}
		step("RemoveContainer", t, "")
	})

	t = time.Now()
	if _, err := rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: ctrID}); err != nil {
		return fmt.Errorf("StartContainer: %w", err)
	}
	step("StartContainer", t, "")

	t = time.Now()
	cs, err := rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: ctrID})
	if err != nil {
		return fmt.Errorf("ContainerStatus: %w", err)
	}
	step("ContainerStatus", t, fmt.Sprintf("state=%s image=%s imageRef=%s log=%s", cs.Status.State, cs.Status.Image.GetImage(), cs.Status.ImageRef, cs.Status.LogPath))

	t = time.Now()
	ex, err := rt.ExecSync(ctx, &cri.ExecSyncRequest{ContainerId: ctrID, Cmd: []string{"/usr/sbin/nginx", "-v"}, Timeout: 10})
	if err != nil {
		return fmt.Errorf("ExecSync: %w", err)
	}
	step("ExecSync", t, fmt.Sprintf("nginx -v: exit=%d %s", ex.ExitCode, strings.TrimSpace(string(ex.Stdout)+string(ex.Stderr))))

	// HTTP: the pod IP answers from the node (retry while nginx starts).
	t = time.Now()
	url := "http://" + podIP + "/"
	var body []byte
	var code int
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	step("HTTP GET", t, fmt.Sprintf("%s -> %d, %d bytes", url, code, len(body)))
	if code != 200 || !strings.Contains(string(body), *expect) {
		return fmt.Errorf("GET %s: status %d, body %q does not contain %q", url, code, body, *expect)
	}

	// The container's stdout/stderr in CRI log format (what `kubectl logs` serves).
	logFile := filepath.Join(logDir, ctrCfg.LogPath)
	var logText string
	for i := 0; i < 20; i++ {
		b, _ := os.ReadFile(logFile)
		logText = string(b)
		if strings.Contains(logText, "GET / ") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("container log %s:\n", logFile)
	for _, l := range strings.Split(strings.TrimSpace(logText), "\n") {
		fmt.Println("    " + l)
	}
	if !strings.Contains(logText, "GET / ") {
		return fmt.Errorf("access-log line not in %s", logFile)
	}

	t = time.Now()
	lc, err := rt.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid}}})
	if err != nil {
		return fmt.Errorf("ListContainers: %w", err)
	}
	step("ListContainers", t, fmt.Sprintf("%d container(s) with io.kubernetes.pod.uid=%s", len(lc.Containers), uid))

	if *peer {
		return peerCheck(ctx, rt, podIP, &cleanups)
	}
	return nil
}

// sandboxConfig is a PodSandboxConfig like the kubelet's for pod default/NAME.
func sandboxConfig(name string) (*cri.PodSandboxConfig, error) {
	uidb := make([]byte, 8)
	rand.Read(uidb)
	uid := "crismoke-" + hex.EncodeToString(uidb)
	ns := "default"
	logDir := filepath.Join(*logRoot, fmt.Sprintf("%s_%s_%s", ns, name, uid))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	cfg := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid, Attempt: 0},
		Hostname:     name,
		LogDirectory: logDir,
		DnsConfig:    &cri.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Options: []string{"ndots:5"}},
		Labels:       map[string]string{"io.kubernetes.pod.uid": uid, "io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns, "kubelab.io/crismoke": "true"},
		Linux: &cri.LinuxPodSandboxConfig{
			SecurityContext: &cri.LinuxSandboxSecurityContext{
				NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_POD, Pid: cri.NamespaceMode_CONTAINER, Ipc: cri.NamespaceMode_POD},
			},
		},
	}
	if cp := *cgroupParent; cp != "" {
		if strings.Contains(cp, "%s") {
			cp = fmt.Sprintf(cp, uid)
		}
		cfg.Linux.CgroupParent = cp
	}
	return cfg, nil
}

// peerCheck runs a second sandbox (pause only) and GETs http://podIP/ from inside its
// network namespace: pod-to-pod traffic across the bridge, which br_netfilter sends
// through the host's FORWARD chain (Docker sets its policy to DROP).
func peerCheck(ctx context.Context, rt cri.RuntimeServiceClient, podIP string, cleanups *[]func()) error {
	cfg, err := sandboxConfig("crismoke-peer")
	if err != nil {
		return err
	}
	t := time.Now()
	sb, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return fmt.Errorf("RunPodSandbox (peer): %w", err)
	}
	id := sb.PodSandboxId
	step("RunPodSandbox", t, id[:13]+" (peer)")
	*cleanups = append(*cleanups, func() {
		c := context.Background()
		rt.StopPodSandbox(c, &cri.StopPodSandboxRequest{PodSandboxId: id})
		rt.RemovePodSandbox(c, &cri.RemovePodSandboxRequest{PodSandboxId: id})
		os.RemoveAll(cfg.LogDirectory)
		removeCgroup(cfg.Linux.CgroupParent)
		fmt.Println("removed peer sandbox", id[:13])
	})
	// The verbose status carries containerd's runtime spec, with the netns path.
	st, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		return fmt.Errorf("PodSandboxStatus (peer): %w", err)
	}
	var info struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string } `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
		return fmt.Errorf("peer sandbox verbose info: %w", err)
	}
	netns := ""
	for _, n := range info.RuntimeSpec.Linux.Namespaces {
		if n.Type == "network" {
			netns = n.Path
		}
	}
	t = time.Now()
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+netns, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "http://"+podIP+"/").CombinedOutput()
	step("pod-to-pod GET", t, fmt.Sprintf("from %s (ip %s) to http://%s/ -> %s", netns, st.Status.GetNetwork().GetIp(), podIP, out))
	if err != nil || string(out) != "200" {
		return fmt.Errorf("pod-to-pod GET failed (%v): is the CNI firewall plugin in the chain? (FORWARD policy DROP)", err)
	}
	return nil
}

// removeAll stops and removes every sandbox labelled as crismoke's (containers go with it).
func removeAll(ctx context.Context, rt cri.RuntimeServiceClient) error {
	l, err := rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{Filter: &cri.PodSandboxFilter{LabelSelector: map[string]string{"kubelab.io/crismoke": "true"}}})
	if err != nil {
		return fmt.Errorf("ListPodSandbox: %w", err)
	}
	for _, sb := range l.Items {
		if _, err := rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return fmt.Errorf("StopPodSandbox: %w", err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return fmt.Errorf("RemovePodSandbox: %w", err)
		}
		os.RemoveAll(filepath.Join(*logRoot, fmt.Sprintf("%s_%s_%s", sb.Metadata.Namespace, sb.Metadata.Name, sb.Metadata.Uid)))
		if *cgroupParent != "" && strings.Contains(*cgroupParent, "%s") {
			removeCgroup(fmt.Sprintf(*cgroupParent, sb.Metadata.Uid))
		}
		fmt.Println("removed sandbox", sb.Id[:13], sb.Metadata.Uid)
	}
	return nil
}

// removeCgroup removes a pod's cgroup parent from every hierarchy (cgroup v1 controllers
// or the v2 unified tree). runc creates the whole parent path but removes only the
// container's own leaf, so whoever picks cgroup parents (the kubelet) must remove them.
func removeCgroup(parent string) {
	if parent == "" {
		return
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		os.Remove(filepath.Join(r, parent)) // rmdir; fails harmlessly where absent or busy
	}
}
