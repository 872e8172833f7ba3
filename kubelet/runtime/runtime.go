// Package runtime is the kubelet's seam to the container runtime: the Runtime interface
// (the subset of CRI's RuntimeService and ImageService the kubelet calls), a CRI
// implementation over a unix socket (NewRemote) and an in-memory fake (NewFake) for tests.
//
// The types are CRI's own (k8s.io/cri-api/pkg/apis/runtime/v1): the fake and the real
// runtime speak the same protocol, so what the kubelet does against one it does against
// the other.
package runtime

import (
	"context"
	"errors"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations the kubelet puts on sandboxes and containers. They are the only
// link from runtime state back to pods, so a restarted kubelet finds what it ran by them.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelManagedBy marks what this kubelet created, so that orphan cleanup never
	// touches sandboxes of another client of the same containerd.
	LabelManagedBy = "io.kubelab.managed-by"
	ManagedByValue = "kubelab-kubelet"
	// LabelNodeName names the node whose kubelet created a sandbox or container. Two
	// kubelets sharing one containerd (a test kubelet beside a local cluster's) leave
	// each other's pods alone; objects without it (older kubelets) count as this node's.
	LabelNodeName = "io.kubelab.node-name"

	AnnotationContainerHash         = "io.kubernetes.container.hash"
	AnnotationRestartCount          = "io.kubernetes.container.restartCount"
	AnnotationTerminationGrace      = "io.kubernetes.pod.terminationGracePeriod"
	AnnotationTerminationMessage    = "io.kubernetes.container.terminationMessagePath"
	AnnotationPreStopExec           = "io.kubelab.container.preStopExec"
	AnnotationContainerPortsDefined = "io.kubernetes.container.ports"
)

// ErrNotFound is returned (wrapped) for an unknown sandbox, container or image.
var ErrNotFound = errors.New("not found")

// Runtime is what the kubelet needs of a container runtime. Implementations are safe for
// concurrent use.
type Runtime interface {
	Version(ctx context.Context) (*runtimeapi.VersionResponse, error)
	Status(ctx context.Context) (*runtimeapi.RuntimeStatus, error)

	RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig) (string, error)
	StopPodSandbox(ctx context.Context, id string) error
	RemovePodSandbox(ctx context.Context, id string) error
	PodSandboxStatus(ctx context.Context, id string) (*runtimeapi.PodSandboxStatus, error)
	ListPodSandboxes(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)

	CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer stops a container, killing it after timeout.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error)
	// ExecSync runs cmd in a container and returns its output and exit code; err is only
	// set when the command could not be run at all (or timed out).
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
	// ExecURL prepares a streaming exec (CRI Exec) and returns the URL of the runtime's
	// streaming server that runs it once a client connects with SPDY or a websocket. The
	// URL is single-use and short-lived; the kubelet proxies the client's upgrade to it.
	ExecURL(ctx context.Context, req *runtimeapi.ExecRequest) (string, error)
	// AttachURL (CRI Attach) and PortForwardURL (CRI PortForward, into a sandbox's network
	// namespace) are ExecURL's siblings, with the same single-use streaming URL.
	AttachURL(ctx context.Context, req *runtimeapi.AttachRequest) (string, error)
	PortForwardURL(ctx context.Context, req *runtimeapi.PortForwardRequest) (string, error)

	// PullImage pulls an image and returns its reference (image id).
	PullImage(ctx context.Context, image string, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	// ImageStatus returns the image, or nil when it is not present.
	ImageStatus(ctx context.Context, image string) (*runtimeapi.Image, error)
}

// Condition returns the runtime condition of type t from a status (nil when absent).
func Condition(st *runtimeapi.RuntimeStatus, t string) *runtimeapi.RuntimeCondition {
	for _, c := range st.GetConditions() {
		if c.GetType() == t {
			return c
		}
	}
	return nil
}
