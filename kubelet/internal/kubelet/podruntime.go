package kubelet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	krt "kubelab.io/kubelet/runtime"
)

// sandboxInfo is what the kubelet knows of one pod sandbox from the runtime.
type sandboxInfo struct {
	ID        string
	Attempt   uint32
	Ready     bool
	CreatedAt int64
	IPs       []string
}

// containerInfo is what the kubelet knows of one container from the runtime.
type containerInfo struct {
	ID, SandboxID, Name string
	State               runtimeapi.ContainerState
	CreatedAt           time.Time
	StartedAt           time.Time
	FinishedAt          time.Time
	ExitCode            int32
	Reason, Message     string
	Image, ImageRef     string
	RestartCount        int
	Hash                string
	// GracePeriod and PreStop are what the pod said when the container was created, so a
	// container whose pod object is gone still stops as its pod asked.
	GracePeriod int64
	PreStop     []string
	LogPath     string
}

func (c *containerInfo) running() bool { return c.State == runtimeapi.ContainerState_CONTAINER_RUNNING }

// podRuntime is the actual state of one pod: its sandboxes and containers, newest first.
type podRuntime struct {
	UID, Name, Namespace string
	Sandboxes            []*sandboxInfo
	Containers           []*containerInfo
}

// latest is the newest container named name (nil when none).
func (p *podRuntime) latest(name string) *containerInfo {
	if p == nil {
		return nil
	}
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// previous is the container named name created before the newest one (nil when none).
func (p *podRuntime) previous(name string) *containerInfo {
	if p == nil {
		return nil
	}
	seen := false
	for _, c := range p.Containers {
		if c.Name == name {
			if seen {
				return c
			}
			seen = true
		}
	}
	return nil
}

// readySandbox is the newest sandbox when it is ready (nil otherwise).
func (p *podRuntime) readySandbox() *sandboxInfo {
	if p == nil || len(p.Sandboxes) == 0 || !p.Sandboxes[0].Ready {
		return nil
	}
	return p.Sandboxes[0]
}

func (p *podRuntime) empty() bool { return p == nil || len(p.Sandboxes) == 0 && len(p.Containers) == 0 }

func (p *podRuntime) runningContainers() int {
	n := 0
	if p != nil {
		for _, c := range p.Containers {
			if c.running() {
				n++
			}
		}
	}
	return n
}

func nanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func containerFromStatus(st *runtimeapi.ContainerStatus, sandboxID string) *containerInfo {
	ann := st.GetAnnotations()
	rc, _ := strconv.Atoi(ann[krt.AnnotationRestartCount])
	grace, err := strconv.ParseInt(ann[krt.AnnotationTerminationGrace], 10, 64)
	if err != nil {
		grace = 30
	}
	c := &containerInfo{
		ID: st.GetId(), SandboxID: sandboxID, Name: st.GetLabels()[krt.LabelContainerName], State: st.GetState(),
		CreatedAt: nanoTime(st.GetCreatedAt()), StartedAt: nanoTime(st.GetStartedAt()), FinishedAt: nanoTime(st.GetFinishedAt()),
		ExitCode: st.GetExitCode(), Reason: st.GetReason(), Message: st.GetMessage(),
		Image: st.GetImage().GetImage(), ImageRef: st.GetImageRef(), RestartCount: rc, Hash: ann[krt.AnnotationContainerHash],
		GracePeriod: grace, LogPath: st.GetLogPath(),
	}
	if c.Name == "" {
		c.Name = st.GetMetadata().GetName()
	}
	if p := ann[krt.AnnotationPreStopExec]; p != "" {
		c.PreStop = decodeCommand(p)
	}
	return c
}

// listPodRuntimes reads every sandbox and container the kubelet manages, grouped by pod uid.
// It costs one ContainerStatus and PodSandboxStatus call per object; the kubelet calls it
// once per relist and per pod sync (for one uid).
func listPodRuntimes(ctx context.Context, rt krt.Runtime, uid string) (map[string]*podRuntime, error) {
	sel := map[string]string{krt.LabelManagedBy: krt.ManagedByValue}
	if uid != "" {
		sel[krt.LabelPodUID] = uid
	}
	sandboxes, err := rt.ListPodSandboxes(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	containers, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	pods := map[string]*podRuntime{}
	get := func(labels map[string]string) *podRuntime {
		u := labels[krt.LabelPodUID]
		p := pods[u]
		if p == nil {
			p = &podRuntime{UID: u, Name: labels[krt.LabelPodName], Namespace: labels[krt.LabelPodNamespace]}
			pods[u] = p
		}
		return p
	}
	for _, s := range sandboxes {
		p := get(s.GetLabels())
		info := &sandboxInfo{ID: s.GetId(), Attempt: s.GetMetadata().GetAttempt(), Ready: s.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: s.GetCreatedAt()}
		if info.Ready {
			st, err := rt.PodSandboxStatus(ctx, s.GetId())
			if err != nil && !errors.Is(err, krt.ErrNotFound) {
				return nil, err
			}
			if st != nil {
				info.Ready = st.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY
				if ip := st.GetNetwork().GetIp(); ip != "" {
					info.IPs = append(info.IPs, ip)
				}
				for _, extra := range st.GetNetwork().GetAdditionalIps() {
					info.IPs = append(info.IPs, extra.GetIp())
				}
			}
		}
		p.Sandboxes = append(p.Sandboxes, info)
	}
	for _, c := range containers {
		st, err := rt.ContainerStatus(ctx, c.GetId())
		if errors.Is(err, krt.ErrNotFound) {
			continue // removed since the list
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.GetId(), err)
		}
		if st.GetLabels() == nil {
			st.Labels = c.GetLabels()
		}
		if st.GetAnnotations() == nil {
			st.Annotations = c.GetAnnotations()
		}
		p := get(c.GetLabels())
		p.Containers = append(p.Containers, containerFromStatus(st, c.GetPodSandboxId()))
	}
	for _, p := range pods {
		slices.SortStableFunc(p.Sandboxes, func(a, b *sandboxInfo) int {
			return cmp.Or(cmp.Compare(b.CreatedAt, a.CreatedAt), cmp.Compare(b.Attempt, a.Attempt))
		})
		slices.SortStableFunc(p.Containers, func(a, b *containerInfo) int {
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.RestartCount, a.RestartCount))
		})
	}
	return pods, nil
}
