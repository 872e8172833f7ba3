package runtime

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Fake is an in-memory Runtime. Containers do nothing: they run from StartContainer until
// stopped, or until a test calls Exit (or ExitOnStart says they die at once). It records
// every call so tests can assert what the kubelet asked for.
type Fake struct {
	// Now is the fake's clock (time.Now when nil).
	Now func() time.Time
	// ExitOnStart, when set, decides whether a started container exits at once, and with
	// which code (a crashing container).
	ExitOnStart func(cfg *runtimeapi.ContainerConfig) (exit bool, code int32)
	// Exec answers ExecSync (exit 0 when nil).
	Exec func(containerID string, cmd []string) (stdout string, exitCode int32)
	// StreamURL is the base URL of a test's streaming server: ExecURL answers
	// StreamURL + "/exec/" + the container id, AttachURL "/attach/" + the container id,
	// PortForwardURL "/portforward/" + the sandbox id. Empty, they fail as a runtime
	// without a streaming server would.
	StreamURL string

	mu            sync.Mutex
	nextID        int
	nextIP        netip.Addr
	sandboxes     map[string]*fakeSandbox
	containers    map[string]*fakeContainer
	images        map[string]*runtimeapi.Image
	missingImages map[string]bool
	networkReady  bool
	calls         []string
}

type fakeSandbox struct {
	config    *runtimeapi.PodSandboxConfig
	state     runtimeapi.PodSandboxState
	createdAt time.Time
	ip        string
}

type fakeContainer struct {
	sandboxID  string
	config     *runtimeapi.ContainerConfig
	state      runtimeapi.ContainerState
	createdAt  time.Time
	startedAt  time.Time
	finishedAt time.Time
	exitCode   int32
	reason     string
	imageRef   string
}

var _ Runtime = (*Fake)(nil)

// NewFake returns an empty fake runtime whose network is ready and which can pull any
// image but those marked missing.
func NewFake() *Fake {
	return &Fake{
		nextIP:     netip.MustParseAddr("10.88.0.1"),
		sandboxes:  map[string]*fakeSandbox{},
		containers: map[string]*fakeContainer{},
		images:     map[string]*runtimeapi.Image{}, missingImages: map[string]bool{},
		networkReady: true,
	}
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fake) record(call string) { f.calls = append(f.calls, call) }

// Calls returns the calls made so far ("RunPodSandbox", "CreateContainer nginx", …).
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CountCalls counts the calls whose text starts with prefix.
func (f *Fake) CountCalls(prefix string) int {
	n := 0
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// SetNetworkReady sets the NetworkReady condition Status reports.
func (f *Fake) SetNetworkReady(ready bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networkReady = ready
}

// SetImageMissing makes pulls of image fail (as a registry answering "not found" would).
func (f *Fake) SetImageMissing(image string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missingImages[image] = true
}

// AddImage makes image present without a pull.
func (f *Fake) AddImage(image string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addImageLocked(image)
}

func (f *Fake) addImageLocked(image string) string {
	img := &runtimeapi.Image{Id: "sha256:" + fmt.Sprintf("%064x", len(f.images)+1), RepoTags: []string{image}, Size: 10 << 20}
	f.images[image] = img
	return img.Id
}

// Exit makes a running container exit with code, as if its process ended.
func (f *Fake) Exit(id string, code int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
		f.exitLocked(c, code)
	}
	return nil
}

func (f *Fake) exitLocked(c *fakeContainer, code int32) {
	c.state = runtimeapi.ContainerState_CONTAINER_EXITED
	c.finishedAt = f.now()
	c.exitCode = code
	c.reason = "Completed"
	if code != 0 {
		c.reason = "Error"
	}
}

// RunningContainers returns the ids of running containers named name (all when "").
func (f *Fake) RunningContainers(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING && (name == "" || c.config.GetMetadata().GetName() == name) {
			ids = append(ids, id)
		}
	}
	return ids
}

// ContainerConfig returns a copy of the configuration container id was created with, nil
// when there is no such container.
func (f *Fake) ContainerConfig(id string) *runtimeapi.ContainerConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil
	}
	return proto.Clone(c.config).(*runtimeapi.ContainerConfig)
}

// Counts returns how many sandboxes and containers exist (in any state).
func (f *Fake) Counts() (sandboxes, containers int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sandboxes), len(f.containers)
}

func (f *Fake) newID() string {
	f.nextID++
	return fmt.Sprintf("%064x", f.nextID)
}

func (f *Fake) Version(context.Context) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "fake", RuntimeVersion: "1.0.0", RuntimeApiVersion: "v1"}, nil
}

func (f *Fake) Status(context.Context) (*runtimeapi.RuntimeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	net := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: f.networkReady}
	if !f.networkReady {
		net.Reason, net.Message = "NetworkPluginNotReady", "Network plugin returns error: cni plugin not initialized"
	}
	return &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true}, net,
	}}, nil
}

func (f *Fake) RunPodSandbox(_ context.Context, config *runtimeapi.PodSandboxConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RunPodSandbox " + config.GetMetadata().GetName())
	id := f.newID()
	ip := f.nextIP.String()
	f.nextIP = f.nextIP.Next()
	f.sandboxes[id] = &fakeSandbox{config: proto.Clone(config).(*runtimeapi.PodSandboxConfig), state: runtimeapi.PodSandboxState_SANDBOX_READY, createdAt: f.now(), ip: ip}
	return id, nil
}

func (f *Fake) StopPodSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopPodSandbox")
	s, ok := f.sandboxes[id]
	if !ok {
		return fmt.Errorf("sandbox %s: %w", id, ErrNotFound)
	}
	for _, c := range f.containers {
		if c.sandboxID == id && c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			f.exitLocked(c, 137)
		}
	}
	s.state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	return nil
}

func (f *Fake) RemovePodSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemovePodSandbox")
	if _, ok := f.sandboxes[id]; !ok {
		return nil // idempotent, as containerd is
	}
	for cid, c := range f.containers {
		if c.sandboxID == id {
			delete(f.containers, cid)
		}
	}
	delete(f.sandboxes, id)
	return nil
}

func (f *Fake) PodSandboxStatus(_ context.Context, id string) (*runtimeapi.PodSandboxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %s: %w", id, ErrNotFound)
	}
	st := &runtimeapi.PodSandboxStatus{
		Id: id, Metadata: s.config.GetMetadata(), State: s.state, CreatedAt: s.createdAt.UnixNano(),
		Labels: s.config.GetLabels(), Annotations: s.config.GetAnnotations(),
	}
	if s.state == runtimeapi.PodSandboxState_SANDBOX_READY {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: s.ip}
	}
	return proto.Clone(st).(*runtimeapi.PodSandboxStatus), nil
}

func matchLabels(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *Fake) ListPodSandboxes(_ context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.PodSandbox
	for _, id := range slices.Sorted(maps.Keys(f.sandboxes)) {
		s := f.sandboxes[id]
		if filter.GetId() != "" && filter.GetId() != id {
			continue
		}
		if filter.GetState() != nil && filter.GetState().GetState() != s.state {
			continue
		}
		if !matchLabels(filter.GetLabelSelector(), s.config.GetLabels()) {
			continue
		}
		out = append(out, proto.Clone(&runtimeapi.PodSandbox{
			Id: id, Metadata: s.config.GetMetadata(), State: s.state, CreatedAt: s.createdAt.UnixNano(),
			Labels: s.config.GetLabels(), Annotations: s.config.GetAnnotations(),
		}).(*runtimeapi.PodSandbox))
	}
	return out, nil
}

func (f *Fake) CreateContainer(_ context.Context, sandboxID string, config *runtimeapi.ContainerConfig, _ *runtimeapi.PodSandboxConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateContainer " + config.GetMetadata().GetName())
	s, ok := f.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("sandbox %s: %w", sandboxID, ErrNotFound)
	}
	if s.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return "", fmt.Errorf("sandbox %s is not ready", sandboxID)
	}
	img, ok := f.images[config.GetImage().GetImage()]
	if !ok {
		// The kubelet may create by image id.
		for _, i := range f.images {
			if i.Id == config.GetImage().GetImage() {
				img, ok = i, true
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("image %q: %w", config.GetImage().GetImage(), ErrNotFound)
	}
	id := f.newID()
	f.containers[id] = &fakeContainer{sandboxID: sandboxID, config: proto.Clone(config).(*runtimeapi.ContainerConfig),
		state: runtimeapi.ContainerState_CONTAINER_CREATED, createdAt: f.now(), imageRef: img.Id}
	return id, nil
}

func (f *Fake) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	f.record("StartContainer " + c.config.GetMetadata().GetName())
	if c.state != runtimeapi.ContainerState_CONTAINER_CREATED {
		return fmt.Errorf("container %s is not in created state", id)
	}
	c.state = runtimeapi.ContainerState_CONTAINER_RUNNING
	c.startedAt = f.now()
	if f.ExitOnStart != nil {
		if exit, code := f.ExitOnStart(c.config); exit {
			f.exitLocked(c, code)
		}
	}
	return nil
}

func (f *Fake) StopContainer(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	f.record("StopContainer " + c.config.GetMetadata().GetName())
	if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
		f.exitLocked(c, 0) // SIGTERM honoured
	} else if c.state == runtimeapi.ContainerState_CONTAINER_CREATED {
		c.state = runtimeapi.ContainerState_CONTAINER_EXITED
		c.finishedAt = f.now()
	}
	return nil
}

func (f *Fake) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemoveContainer")
	delete(f.containers, id)
	return nil
}

func (f *Fake) ListContainers(_ context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.Container
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if filter.GetId() != "" && filter.GetId() != id {
			continue
		}
		if filter.GetPodSandboxId() != "" && filter.GetPodSandboxId() != c.sandboxID {
			continue
		}
		if filter.GetState() != nil && filter.GetState().GetState() != c.state {
			continue
		}
		if !matchLabels(filter.GetLabelSelector(), c.config.GetLabels()) {
			continue
		}
		out = append(out, proto.Clone(&runtimeapi.Container{
			Id: id, PodSandboxId: c.sandboxID, Metadata: c.config.GetMetadata(), Image: c.config.GetImage(),
			ImageRef: c.imageRef, State: c.state, CreatedAt: c.createdAt.UnixNano(),
			Labels: c.config.GetLabels(), Annotations: c.config.GetAnnotations(),
		}).(*runtimeapi.Container))
	}
	return out, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (f *Fake) ContainerStatus(_ context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	return proto.Clone(&runtimeapi.ContainerStatus{
		Id: id, Metadata: c.config.GetMetadata(), State: c.state,
		CreatedAt: c.createdAt.UnixNano(), StartedAt: unixNano(c.startedAt), FinishedAt: unixNano(c.finishedAt),
		ExitCode: c.exitCode, Reason: c.reason, Image: c.config.GetImage(), ImageRef: c.imageRef,
		Labels: c.config.GetLabels(), Annotations: c.config.GetAnnotations(), LogPath: c.config.GetLogPath(),
		Mounts: c.config.GetMounts(),
	}).(*runtimeapi.ContainerStatus), nil
}

func (f *Fake) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, []byte, int32, error) {
	f.mu.Lock()
	c, ok := f.containers[id]
	running := ok && c.state == runtimeapi.ContainerState_CONTAINER_RUNNING
	f.record("ExecSync " + strings.Join(cmd, " "))
	exec := f.Exec
	f.mu.Unlock()
	if !running {
		return nil, nil, -1, fmt.Errorf("container %s is not running", id)
	}
	if exec == nil {
		return nil, nil, 0, nil
	}
	out, code := exec(id, cmd)
	return []byte(out), nil, code, nil
}

func (f *Fake) ExecURL(_ context.Context, req *runtimeapi.ExecRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.GetContainerId()
	f.record(fmt.Sprintf("Exec %s tty=%v stdin=%v stdout=%v stderr=%v %s", id, req.GetTty(), req.GetStdin(), req.GetStdout(), req.GetStderr(), strings.Join(req.GetCmd(), " ")))
	return f.containerStreamLocked("exec", id)
}

func (f *Fake) AttachURL(_ context.Context, req *runtimeapi.AttachRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.GetContainerId()
	f.record(fmt.Sprintf("Attach %s tty=%v stdin=%v stdout=%v stderr=%v", id, req.GetTty(), req.GetStdin(), req.GetStdout(), req.GetStderr()))
	return f.containerStreamLocked("attach", id)
}

func (f *Fake) PortForwardURL(_ context.Context, req *runtimeapi.PortForwardRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.GetPodSandboxId()
	f.record(fmt.Sprintf("PortForward %s %v", id, req.GetPort()))
	s, ok := f.sandboxes[id]
	switch {
	case !ok:
		return "", fmt.Errorf("sandbox %s: %w", id, ErrNotFound)
	case s.state != runtimeapi.PodSandboxState_SANDBOX_READY:
		return "", fmt.Errorf("sandbox container is not running")
	}
	return f.streamLocked("portforward", id)
}

// containerStreamLocked is the streaming URL of kind for a running container, refused as
// containerd refuses a container that is not running.
func (f *Fake) containerStreamLocked(kind, id string) (string, error) {
	c, ok := f.containers[id]
	switch {
	case !ok:
		return "", fmt.Errorf("container %s: %w", id, ErrNotFound)
	case c.state != runtimeapi.ContainerState_CONTAINER_RUNNING:
		return "", fmt.Errorf("container %s is not in running state", id)
	}
	return f.streamLocked(kind, id)
}

func (f *Fake) streamLocked(kind, id string) (string, error) {
	if f.StreamURL == "" {
		return "", fmt.Errorf("the fake runtime has no streaming server (set StreamURL)")
	}
	return f.StreamURL + "/" + kind + "/" + id, nil
}

func (f *Fake) PullImage(_ context.Context, image string, _ *runtimeapi.PodSandboxConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PullImage " + image)
	if f.missingImages[image] {
		return "", fmt.Errorf("failed to pull and unpack image %q: failed to resolve reference %q: %w", image, image, ErrNotFound)
	}
	if img, ok := f.images[image]; ok {
		return img.Id, nil
	}
	return f.addImageLocked(image), nil
}

func (f *Fake) ImageStatus(_ context.Context, image string) (*runtimeapi.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[image]; ok {
		return proto.Clone(img).(*runtimeapi.Image), nil
	}
	return nil, nil
}
