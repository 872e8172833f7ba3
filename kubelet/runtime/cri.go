package runtime

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultEndpoint is kubelab's containerd socket (its own, never Docker's).
const DefaultEndpoint = "unix:///run/kubelab/containerd/containerd.sock"

// Remote is the CRI implementation of Runtime: RuntimeService and ImageService over one
// gRPC connection to a unix socket.
type Remote struct {
	conn    *grpc.ClientConn
	rt      runtimeapi.RuntimeServiceClient
	img     runtimeapi.ImageServiceClient
	timeout time.Duration
}

var _ Runtime = (*Remote)(nil)

// NewRemote connects (lazily) to endpoint, "unix:///path" or a bare path. timeout bounds
// every call but PullImage (0 means 2 minutes).
func NewRemote(endpoint string, timeout time.Duration) (*Remote, error) {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if strings.HasPrefix(endpoint, "/") {
		endpoint = "unix://" + endpoint
	}
	if !strings.HasPrefix(endpoint, "unix://") {
		return nil, fmt.Errorf("container runtime endpoint %q: only unix:// sockets are supported", endpoint)
	}
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("connect to container runtime %s: %w", endpoint, err)
	}
	return &Remote{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn), timeout: timeout}, nil
}

// Close closes the connection.
func (r *Remote) Close() error { return r.conn.Close() }

func (r *Remote) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// wrap turns gRPC NotFound into ErrNotFound, keeping the message.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%s: %w: %s", op, ErrNotFound, status.Convert(err).Message())
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (r *Remote) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.rt.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
	return v, wrap("Version", err)
}

func (r *Remote) Status(ctx context.Context) (*runtimeapi.RuntimeStatus, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return nil, wrap("Status", err)
	}
	return resp.GetStatus(), nil
}

func (r *Remote) RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig) (string, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: config})
	if err != nil {
		return "", wrap("RunPodSandbox", err)
	}
	return resp.GetPodSandboxId(), nil
}

func (r *Remote) StopPodSandbox(ctx context.Context, id string) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	_, err := r.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
	return wrap("StopPodSandbox", err)
}

func (r *Remote) RemovePodSandbox(ctx context.Context, id string) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	_, err := r.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	return wrap("RemovePodSandbox", err)
}

func (r *Remote) PodSandboxStatus(ctx context.Context, id string) (*runtimeapi.PodSandboxStatus, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return nil, wrap("PodSandboxStatus", err)
	}
	return resp.GetStatus(), nil
}

func (r *Remote) ListPodSandboxes(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, wrap("ListPodSandbox", err)
	}
	return resp.GetItems(), nil
}

func (r *Remote) CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: config, SandboxConfig: sandboxConfig})
	if err != nil {
		return "", wrap("CreateContainer", err)
	}
	return resp.GetContainerId(), nil
}

func (r *Remote) StartContainer(ctx context.Context, id string) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	_, err := r.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
	return wrap("StartContainer", err)
}

func (r *Remote) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	// The call lasts as long as the grace period, plus the runtime's own work.
	ctx, cancel := context.WithTimeout(ctx, r.timeout+timeout)
	defer cancel()
	_, err := r.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: int64(timeout / time.Second)})
	return wrap("StopContainer", err)
}

func (r *Remote) RemoveContainer(ctx context.Context, id string) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	_, err := r.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
	return wrap("RemoveContainer", err)
}

func (r *Remote) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter})
	if err != nil {
		return nil, wrap("ListContainers", err)
	}
	return resp.GetContainers(), nil
}

func (r *Remote) ContainerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return nil, wrap("ContainerStatus", err)
	}
	return resp.GetStatus(), nil
}

func (r *Remote) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout+timeout)
	defer cancel()
	resp, err := r.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: int64(timeout / time.Second)})
	if err != nil {
		return nil, nil, -1, wrap("ExecSync", err)
	}
	return resp.GetStdout(), resp.GetStderr(), resp.GetExitCode(), nil
}

func (r *Remote) ExecURL(ctx context.Context, req *runtimeapi.ExecRequest) (string, error) {
	return streamURL(ctx, r, "Exec", r.rt.Exec, req)
}

func (r *Remote) AttachURL(ctx context.Context, req *runtimeapi.AttachRequest) (string, error) {
	return streamURL(ctx, r, "Attach", r.rt.Attach, req)
}

func (r *Remote) PortForwardURL(ctx context.Context, req *runtimeapi.PortForwardRequest) (string, error) {
	return streamURL(ctx, r, "PortForward", r.rt.PortForward, req)
}

// streamURL makes one of CRI's three streaming calls, which differ only in their
// request, and returns the URL the runtime answers with.
func streamURL[Req any, Resp interface{ GetUrl() string }](ctx context.Context, r *Remote, op string,
	call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (string, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := call(ctx, req)
	if err != nil {
		return "", wrap(op, err)
	}
	return resp.GetUrl(), nil
}

func (r *Remote) PullImage(ctx context.Context, image string, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	// No timeout of ours: a pull takes what it takes; ctx bounds it.
	resp, err := r.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}, SandboxConfig: sandboxConfig})
	if err != nil {
		return "", wrap("PullImage", err)
	}
	return resp.GetImageRef(), nil
}

func (r *Remote) ImageStatus(ctx context.Context, image string) (*runtimeapi.Image, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	resp, err := r.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	if err != nil {
		return nil, wrap("ImageStatus", err)
	}
	return resp.GetImage(), nil
}
