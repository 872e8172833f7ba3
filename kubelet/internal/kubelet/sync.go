package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/client/record"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/resource"
)

// podDesc names a pod in messages as Kubernetes does: name_namespace(uid).
func podDesc(pod *corev1.Pod) string {
	m := pod.GetMetadata()
	return fmt.Sprintf("%s_%s(%s)", m.GetName(), m.GetNamespace(), m.GetUid())
}

// podRuntimeOf reads uid's actual state and caches it for the probes.
func (k *Kubelet) podRuntimeOf(ctx context.Context, uid string) (*podRuntime, error) {
	pods, err := listPodRuntimes(ctx, k.rt, uid)
	if err != nil {
		return nil, fmt.Errorf("read runtime state of pod %s: %w", uid, err)
	}
	rt := pods[uid]
	if rt == nil {
		rt = &podRuntime{UID: uid}
	}
	k.mu.Lock()
	k.runtimeCache[uid] = rt
	k.mu.Unlock()
	return rt, nil
}

// syncPod reconciles one pod; it is the pod worker's body. See podWorkers for the
// contract of its results.
func (k *Kubelet) syncPod(ctx context.Context, uid string) (time.Duration, bool) {
	pod := k.desiredPod(uid)
	rt, err := k.podRuntimeOf(ctx, uid)
	if err != nil {
		k.log.Warn("sync pod", "uid", uid, "err", err)
		return 2 * time.Second, false
	}
	if pod == nil {
		return k.syncOrphan(ctx, uid, rt)
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		return k.syncTerminating(ctx, pod, rt)
	}
	admitted, retry := k.admit(pod, rt)
	if retry {
		return time.Second, false
	}
	if !admitted {
		return 0, true
	}
	oldStatus := k.status.get(uid)
	if oldStatus == nil {
		oldStatus = pod.GetStatus()
	}
	if isTerminalPhase(oldStatus.GetPhase()) {
		// Finished: nothing runs again; stop what is left, keep the record.
		if rt.runningContainers() > 0 || rt.readySandbox() != nil {
			if err := k.killPod(ctx, pod, rt, k.gracePeriod(pod)); err != nil {
				k.log.Warn("stop finished pod", "pod", podDesc(pod), "err", err)
				return 2 * time.Second, false
			}
		}
		k.probes.removePod(uid)
		return 0, true
	}
	k.probes.addPod(ctx, pod)
	k.status.set(pod, k.generateStatus(pod, rt))

	requeue, err := k.reconcile(ctx, pod, rt)
	if err != nil {
		k.log.Warn("sync pod", "pod", podDesc(pod), "err", err)
		requeue = min(requeue, 2*time.Second)
		if requeue <= 0 {
			requeue = 2 * time.Second
		}
	}
	if rt, err = k.podRuntimeOf(ctx, uid); err == nil {
		k.gcContainers(ctx, rt)
		st := k.generateStatus(pod, rt)
		k.status.set(pod, st)
		if isTerminalPhase(st.GetPhase()) {
			// Reconcile stopped the sandbox; the next sync sees the terminal phase.
			requeue = time.Millisecond
		}
	}
	return requeue, false
}

func (k *Kubelet) generateStatus(pod *corev1.Pod, rt *podRuntime) *corev1.PodStatus {
	old := k.status.get(pod.GetMetadata().GetUid())
	if old == nil {
		old = pod.GetStatus()
	}
	return generatePodStatus(&statusInput{
		Pod: pod, Runtime: rt, Waiting: k.waitingOf(pod.GetMetadata().GetUid()), Probes: k.results,
		HostIPs: k.hostIPs, RuntimeName: k.runtimeName, Now: k.clock.Now(), Old: old,
		Terminal: pod.GetMetadata().GetDeletionTimestamp() != nil && rt.runningContainers() == 0,
	})
}

// admit decides (once per pod) whether the pod may run here. A pod the runtime already
// runs was admitted by an earlier kubelet. retry is set while the node's allocatable is
// not known yet.
func (k *Kubelet) admit(pod *corev1.Pod, rt *podRuntime) (admitted, retry bool) {
	uid := pod.GetMetadata().GetUid()
	k.admitMu.Lock()
	defer k.admitMu.Unlock()
	k.mu.Lock()
	decided, known := k.admitted[uid]
	alloc := k.allocatable
	preloading := k.preloading
	k.mu.Unlock()
	if known {
		return decided, false
	}
	if preloading && rt.empty() {
		return false, true // its images may be among those being imported
	}
	if !rt.empty() {
		k.setAdmitted(uid, true)
		return true, false
	}
	if isTerminalPhase(pod.GetStatus().GetPhase()) {
		k.setAdmitted(uid, true) // nothing will run; the terminal path handles it
		return true, false
	}
	if alloc == nil {
		return false, true
	}
	var others []*corev1.Pod
	k.mu.Lock()
	for u, ok := range k.admitted {
		if p := k.pods[u]; ok && p != nil && u != uid && !isTerminalPhase(p.GetStatus().GetPhase()) && p.GetMetadata().GetDeletionTimestamp() == nil {
			others = append(others, p)
		}
	}
	k.mu.Unlock()
	ok, reason, message := admitPod(pod, others, alloc)
	k.setAdmitted(uid, ok)
	if !ok {
		k.log.Info("pod rejected", "pod", podDesc(pod), "reason", reason, "message", message)
		k.recorder.Eventf(pod, record.Warning, reason, "%s", strings.TrimPrefix(message, "Pod was rejected: "))
		st := &corev1.PodStatus{Phase: PodFailed, Reason: reason, Message: message, QosClass: pod.GetStatus().GetQosClass(),
			Conditions: pod.GetStatus().GetConditions()}
		if st.QosClass == "" {
			st.QosClass = resource.QOSClass(pod)
		}
		k.status.set(pod, st)
	}
	return ok, false
}

func (k *Kubelet) setAdmitted(uid string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.admitted[uid] = ok
}

// gracePeriod is how long the pod's containers get to stop.
func (k *Kubelet) gracePeriod(pod *corev1.Pod) int64 {
	if g := pod.GetMetadata().DeletionGracePeriodSeconds; g != nil {
		return *g
	}
	if g := pod.GetSpec().TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return 30
}

// reconcile carries out computeActions' decisions. It returns when to look again.
func (k *Kubelet) reconcile(ctx context.Context, pod *corev1.Pod, rt *podRuntime) (time.Duration, error) {
	actions := computeActions(pod, rt, k.results)
	uid := pod.GetMetadata().GetUid()
	if actions.KillPod {
		if rt.runningContainers() > 0 || rt.readySandbox() != nil {
			if actions.CreateSandbox && len(rt.Sandboxes) > 0 {
				k.recorder.Eventf(pod, record.Normal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
			}
			if err := k.killPod(ctx, pod, rt, k.gracePeriod(pod)); err != nil {
				return 0, err
			}
		}
		if !actions.CreateSandbox {
			return 0, nil
		}
	} else {
		var wg sync.WaitGroup
		for _, ki := range actions.ContainersToKill {
			wg.Go(func() {
				grace := k.gracePeriod(pod)
				if ki.Spec != nil && ki.Reason == "ProbeFailure" {
					if p := ki.Spec.GetLivenessProbe(); p != nil && p.TerminationGracePeriodSeconds != nil {
						grace = *p.TerminationGracePeriodSeconds
					}
				}
				if err := k.killContainer(ctx, pod, ki, grace); err != nil {
					k.log.Warn("kill container", "pod", podDesc(pod), "container", ki.Container.Name, "err", err)
				}
			})
		}
		wg.Wait()
	}

	// Volumes come before the sandbox and any container, as Kubernetes mounts them. Init
	// containers (sidecars and at most one regular one per sync) come first in
	// containersToStart.
	var volumes map[string]hostVolume
	if starting := containersToStart(pod, actions); len(starting) > 0 {
		var err error
		if volumes, err = k.prepareToStart(ctx, pod, starting); err != nil {
			return 5 * time.Second, nil // reported as waiting reasons and an event
		}
	} else {
		k.refreshVolumes(ctx, pod)
	}

	sandboxID := actions.SandboxID
	attempt := actions.Attempt
	var podIPs []string
	if sb := rt.readySandbox(); sb != nil && !actions.CreateSandbox {
		podIPs = sb.IPs
	}
	sbCfg := sandboxConfig(pod, attempt, k.sandboxOpts)
	if actions.CreateSandbox {
		if k.cfg.PodLogDir != "" {
			if err := os.MkdirAll(sbCfg.GetLogDirectory(), 0o755); err != nil {
				return 0, fmt.Errorf("create pod log directory: %w", err)
			}
		}
		id, err := k.rt.RunPodSandbox(ctx, sbCfg)
		if err != nil {
			k.recorder.Eventf(pod, record.Warning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return 5 * time.Second, fmt.Errorf("run sandbox: %w", err)
		}
		sandboxID = id
		st, err := k.rt.PodSandboxStatus(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("sandbox status: %w", err)
		}
		if ip := st.GetNetwork().GetIp(); ip != "" {
			podIPs = append(podIPs, ip)
		}
		for _, extra := range st.GetNetwork().GetAdditionalIps() {
			podIPs = append(podIPs, extra.GetIp())
		}
		// A new sandbox means new containers: start every one that is to run.
		k.mu.Lock()
		k.runtimeCache[uid] = nil
		k.mu.Unlock()
	}
	if sandboxID == "" {
		return 0, errors.New("no sandbox to start containers in")
	}
	var requeue time.Duration
	for _, c := range containersToStart(pod, actions) {
		d := k.startContainer(ctx, pod, c, rt, sandboxID, sbCfg, podIPs, volumes)
		if d <= 0 {
			if isSidecar(c) && rt.latestIn(sandboxID, c.GetName()) != nil {
				k.log.Info("sidecar restarted", "pod", podDesc(pod), "container", c.GetName())
			}
			continue
		}
		if requeue == 0 || d < requeue {
			requeue = d
		}
		if isRegularInit(pod, c) {
			// What comes after a regular init container waits for it; a sidecar that
			// could not start does not hold the others up.
			break
		}
	}
	return requeue, nil
}

// containersToStart are the specs of the containers a sync carrying out actions starts.
func containersToStart(pod *corev1.Pod, actions podActions) []*corev1.Container {
	var out []*corev1.Container
	for _, i := range actions.InitContainersToStart {
		out = append(out, pod.GetSpec().GetInitContainers()[i])
	}
	for _, i := range actions.ContainersToStart {
		out = append(out, pod.GetSpec().GetContainers()[i])
	}
	return out
}

// prepareToStart checks that the kubelet can run pod's spec and prepares its volumes
// for the containers about to start. On failure it says why through their waiting
// reasons and an event, and returns the error: what the kubelet cannot do at all is a
// CreateContainerConfigError; a failed mount (a hostPath type check, a missing ConfigMap
// or Secret, a token not issued) leaves them ContainerCreating and is retried.
func (k *Kubelet) prepareToStart(ctx context.Context, pod *corev1.Pod, starting []*corev1.Container) (map[string]hostVolume, error) {
	uid := pod.GetMetadata().GetUid()
	paths, err := setUpVolumes(ctx, k.volumeContext(), pod)
	if err == nil {
		k.mu.Lock()
		k.volumesSynced[uid] = volumesSync{at: k.clock.Now(), meta: podMetadataPrint(pod)}
		k.mu.Unlock()
		return paths, nil
	}
	var cfgErr *podConfigError
	if errors.As(err, &cfgErr) {
		for _, c := range starting {
			k.setWaiting(uid, c.GetName(), "CreateContainerConfigError", err.Error())
		}
		k.recorder.Eventf(pod, record.Warning, "Failed", "Error: %v", err)
		return nil, err
	}
	for _, c := range starting {
		k.clearWaiting(uid, c.GetName())
	}
	k.recorder.Eventf(pod, record.Warning, "FailedMount", "%v", err)
	return nil, err
}

// volumesSync is when a pod's API-data volumes were last written, and the pod's labels
// and annotations then.
type volumesSync struct {
	at   time.Time
	meta string
}

// podMetadataPrint changes when pod's labels or annotations do.
func podMetadataPrint(pod *corev1.Pod) string {
	return formatMap(pod.GetMetadata().GetLabels()) + "\x00" + formatMap(pod.GetMetadata().GetAnnotations())
}

// volumeContext is what the pods' API-data volumes are computed from now.
func (k *Kubelet) volumeContext() volumeContext {
	k.mu.Lock()
	defer k.mu.Unlock()
	return volumeContext{Root: k.cfg.RootDir, Objects: k.objects, Tokens: k.tokens, Claims: clientClaims{k.client}, Allocatable: k.allocatable}
}

// refreshVolumes brings the API-data volumes of a pod whose containers run up to date with
// their objects, renewed tokens and the pod's metadata: at most once per ResyncInterval
// (Kubernetes' kubelet remounts them on its periodic sync), and at once when the pod's
// labels or annotations changed (a pod update makes Kubernetes' kubelet remount, so
// downward API files follow). The containers see the new files at once, through the
// ..data swap. A failure keeps the files they have and is a FailedMount event.
func (k *Kubelet) refreshVolumes(ctx context.Context, pod *corev1.Pod) {
	uid := pod.GetMetadata().GetUid()
	now := k.clock.Now()
	meta := podMetadataPrint(pod)
	k.mu.Lock()
	last, ok := k.volumesSynced[uid]
	due := !ok || now.Sub(last.at) >= k.cfg.ResyncInterval || last.meta != meta
	if due {
		k.volumesSynced[uid] = volumesSync{at: now, meta: meta}
	}
	k.mu.Unlock()
	if !due {
		return
	}
	vc := k.volumeContext()
	for _, v := range pod.GetSpec().GetVolumes() {
		plugin, _, apiData := apiVolumePlugin(v)
		if !apiData {
			continue
		}
		if _, err := os.Stat(volumePath(vc.Root, uid, plugin, v.GetName())); err != nil {
			continue // never set up: the next container start does it
		}
		if _, err := setUpAPIVolume(ctx, vc, pod, v); err != nil {
			k.recorder.Eventf(pod, record.Warning, "FailedMount", "MountVolume.SetUp failed for volume %q : %v", v.GetName(), err)
		}
	}
}

func backoffKey(pod *corev1.Pod, c *corev1.Container) string {
	return podDesc(pod) + "_" + c.GetName() + "_" + containerHash(c)
}

// startContainer pulls the image, creates and starts one container and runs its
// postStart hook. It returns after how long a retry makes sense when it could not start
// it (back-off), 0 otherwise.
func (k *Kubelet) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, rt *podRuntime, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig, podIPs []string, volumes map[string]hostVolume) time.Duration {
	uid := pod.GetMetadata().GetUid()
	latest := rt.latest(c.GetName())
	if latest != nil && latest.State == runtimeapi.ContainerState_CONTAINER_EXITED {
		key := backoffKey(pod, c)
		if in, left := k.crashBackoff.InBackOffSince(key, latest.FinishedAt); in {
			msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", k.crashBackoff.Get(key), c.GetName(), podDesc(pod))
			k.setWaiting(uid, c.GetName(), "CrashLoopBackOff", msg)
			k.recorder.Eventf(pod, record.Warning, "BackOff", "Back-off restarting failed container %s in pod %s", c.GetName(), podDesc(pod))
			return left
		}
		k.crashBackoff.Next(key, latest.FinishedAt)
	}

	image, reason, msg, retry := k.ensureImage(ctx, pod, c, sbCfg)
	if reason != "" {
		k.setWaiting(uid, c.GetName(), reason, msg)
		return retry
	}
	restartCount := 0
	if latest != nil {
		restartCount = latest.RestartCount + 1
	}
	ec := envContext{PodIPs: podIPs, HostIPs: k.hostIPs, NodeName: k.cfg.NodeName, Objects: k.objects}
	k.mu.Lock()
	ec.Allocatable = k.allocatable
	k.mu.Unlock()
	var cfg *runtimeapi.ContainerConfig
	svcEnv, err := k.serviceEnvFor(pod)
	ec.Services = svcEnv
	if err == nil {
		cfg, err = containerConfig(ctx, pod, c, restartCount, image, ec)
	}
	if err == nil {
		cfg.Mounts, err = containerMounts(c, volumes)
	}
	if err == nil {
		err = k.checkRunAsNonRoot(ctx, pod, c, image)
	}
	if err != nil {
		k.log.Info("container not created: configuration error", "pod", podDesc(pod), "container", c.GetName(), "err", err)
		k.setWaiting(uid, c.GetName(), "CreateContainerConfigError", err.Error())
		k.recorder.Eventf(pod, record.Warning, "Failed", "Error: %v", err)
		return 10 * time.Second
	}
	if k.cfg.PodLogDir != "" {
		_ = os.MkdirAll(filepath.Join(sbCfg.GetLogDirectory(), c.GetName()), 0o755)
	}
	id, err := k.rt.CreateContainer(ctx, sandboxID, cfg, sbCfg)
	if err != nil {
		k.setWaiting(uid, c.GetName(), "CreateContainerError", err.Error())
		k.recorder.Eventf(pod, record.Warning, "Failed", "Error: %v", err)
		return 10 * time.Second
	}
	k.recorder.Eventf(pod, record.Normal, "Created", "Created container %s", c.GetName())
	if err := k.rt.StartContainer(ctx, id); err != nil {
		k.setWaiting(uid, c.GetName(), "RunContainerError", err.Error())
		k.recorder.Eventf(pod, record.Warning, "Failed", "Error: %v", err)
		return 10 * time.Second
	}
	k.recorder.Eventf(pod, record.Normal, "Started", "Started container %s", c.GetName())
	k.clearWaiting(uid, c.GetName())

	if h := c.GetLifecycle().GetPostStart(); h != nil {
		ip := ""
		if len(podIPs) > 0 {
			ip = podIPs[0]
		}
		if ok, msg := k.runner.run(ctx, hookHandler(h), c, id, ip, 30*time.Second); !ok {
			k.recorder.Eventf(pod, record.Warning, "FailedPostStartHook", "PostStartHook failed: %s", msg)
			info := &containerInfo{ID: id, Name: c.GetName()}
			_ = k.killContainer(ctx, pod, killInfo{Container: info, Spec: c, Reason: "FailedPostStartHook", Message: "PostStartHook failed"}, k.gracePeriod(pod))
		}
	}
	return 0
}

// pullPolicy is the container's imagePullPolicy, defaulted as the API does.
func pullPolicy(c *corev1.Container) string {
	if p := c.GetImagePullPolicy(); p != "" {
		return p
	}
	img := c.GetImage()
	if i := strings.LastIndex(img, "@"); i >= 0 {
		return "IfNotPresent"
	}
	slash := strings.LastIndex(img, "/")
	colon := strings.LastIndex(img, ":")
	if colon <= slash || strings.HasSuffix(img, ":latest") {
		return "Always"
	}
	return "IfNotPresent"
}

// ensureImage makes the container's image present as its pull policy says. On failure it
// returns the waiting reason (ErrImagePull, ImagePullBackOff, ErrImageNeverPull), its
// message, and when to retry.
func (k *Kubelet) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sbCfg *runtimeapi.PodSandboxConfig) (image, reason, msg string, retry time.Duration) {
	image = c.GetImage()
	policy := pullPolicy(c)
	present, err := k.rt.ImageStatus(ctx, image)
	if err != nil {
		return "", "ErrImageInspect", err.Error(), 5 * time.Second
	}
	switch {
	case policy == "Never" && present == nil:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", image)
		k.recorder.Eventf(pod, record.Warning, "ErrImageNeverPull", "%s", msg)
		return "", "ErrImageNeverPull", msg, 10 * time.Second
	case present != nil && policy != "Always":
		k.recorder.Eventf(pod, record.Normal, "Pulled", "Container image %q already present on machine", image)
		return image, "", "", 0
	}
	key := pod.GetMetadata().GetUid() + "_" + image
	if in, left := k.imageBackoff.InBackOffSinceUpdate(key); in {
		msg := fmt.Sprintf("Back-off pulling image %q", image)
		k.recorder.Eventf(pod, record.Normal, "BackOff", "%s", msg)
		k.recorder.Eventf(pod, record.Warning, "Failed", "Error: ImagePullBackOff")
		return "", "ImagePullBackOff", msg, left
	}
	k.recorder.Eventf(pod, record.Normal, "Pulling", "Pulling image %q", image)
	start := k.clock.Now()
	_, err = k.rt.PullImage(ctx, image, sbCfg)
	if err != nil {
		k.imageBackoff.Next(key, k.clock.Now())
		k.recorder.Eventf(pod, record.Warning, "Failed", "Failed to pull image %q: %v", image, err)
		k.recorder.Eventf(pod, record.Warning, "Failed", "Error: ErrImagePull")
		// Look again soon: that sync reports ImagePullBackOff (and pulls only once the
		// back-off has passed), as upstream's pod worker does.
		_, left := k.imageBackoff.InBackOffSinceUpdate(key)
		return "", "ErrImagePull", fmt.Sprintf("failed to pull image %q: %v", image, err), min(left, time.Second)
	}
	k.imageBackoff.Reset(key)
	d := k.clock.Since(start).Truncate(time.Millisecond)
	size := ""
	if img, err := k.rt.ImageStatus(ctx, image); err == nil && img != nil {
		size = fmt.Sprintf(" Image size: %d bytes.", img.GetSize())
	}
	k.recorder.Eventf(pod, record.Normal, "Pulled", "Successfully pulled image %q in %v (%v including waiting).%s", image, d, d, size)
	return image, "", "", 0
}

// killContainer runs the preStop hook and stops one container within grace seconds.
func (k *Kubelet) killContainer(ctx context.Context, pod *corev1.Pod, ki killInfo, grace int64) error {
	c := ki.Container
	if ki.Order != nil {
		defer ki.Order.containerStopped(c.Name)
	}
	if pod != nil {
		msg := "Stopping container " + c.Name
		if ki.Message != "" && ki.Reason == "ProbeFailure" {
			msg = ki.Message + ", will be restarted"
		}
		k.recorder.Eventf(pod, record.Normal, "Killing", "%s", msg)
	}
	start := k.clock.Now()
	budget := time.Duration(grace) * time.Second
	var pre handler
	if ki.Spec != nil && ki.Spec.GetLifecycle().GetPreStop() != nil {
		pre = hookHandler(ki.Spec.GetLifecycle().GetPreStop())
	} else if len(c.PreStop) > 0 {
		pre = handler{Exec: &corev1.ExecAction{Command: c.PreStop}}
	}
	if (pre != handler{}) && budget > 0 && (c.running() || c.State == 0 && c.ID != "") {
		ip := ""
		if rt := k.cachedRuntime(pod, c); rt != nil {
			if sb := rt.readySandbox(); sb != nil && len(sb.IPs) > 0 {
				ip = sb.IPs[0]
			}
		}
		spec := ki.Spec
		if spec == nil {
			spec = &corev1.Container{Name: c.Name}
		}
		if ok, msg := k.runner.run(ctx, pre, spec, c.ID, ip, budget); !ok && pod != nil {
			k.recorder.Eventf(pod, record.Warning, "FailedPreStopHook", "PreStopHook failed: %s", msg)
		}
	}
	if ki.Order != nil && grace > 0 {
		ki.Order.waitForTurn(k.clock, c.Name, budget-k.clock.Since(start))
	}
	// Whatever preStop and the wait for its turn used comes out of the grace period, but
	// the process always gets at least two seconds to handle SIGTERM (as Kubernetes'
	// minimumGracePeriodInSeconds).
	left := max(budget-k.clock.Since(start), 2*time.Second)
	if grace == 0 {
		left = 0
	}
	if err := k.rt.StopContainer(ctx, c.ID, left); err != nil {
		return fmt.Errorf("stop container %s: %w", c.Name, err)
	}
	return nil
}

func (k *Kubelet) cachedRuntime(pod *corev1.Pod, c *containerInfo) *podRuntime {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pod != nil {
		return k.runtimeCache[pod.GetMetadata().GetUid()]
	}
	for _, rt := range k.runtimeCache {
		if rt != nil {
			for _, x := range rt.Containers {
				if x.ID == c.ID {
					return rt
				}
			}
		}
	}
	return nil
}

// killPod stops every running container (in parallel, each with its preStop hook; the
// sidecars of a pod last, in reverse order of declaration) and then every ready sandbox
// (which tears down its network).
func (k *Kubelet) killPod(ctx context.Context, pod *corev1.Pod, rt *podRuntime, grace int64) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	var running []string
	for _, c := range rt.Containers {
		if c.running() {
			running = append(running, c.Name)
		}
	}
	var order *terminationOrder
	if pod != nil && hasSidecars(pod) {
		order = newTerminationOrder(pod, running)
		k.log.Info("stopping pod, sidecars last", "pod", podDesc(pod), "running", running, "gracePeriod", grace)
	}
	for _, c := range rt.Containers {
		if !c.running() {
			continue
		}
		var spec *corev1.Container
		for _, s := range append(slices.Clone(pod.GetSpec().GetInitContainers()), pod.GetSpec().GetContainers()...) {
			if s.GetName() == c.Name {
				spec = s
			}
		}
		g := grace
		if pod == nil {
			g = c.GracePeriod
		}
		wg.Go(func() {
			if err := k.killContainer(ctx, pod, killInfo{Container: c, Spec: spec, Order: order}, g); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, s := range rt.Sandboxes {
		if !s.Ready {
			continue
		}
		if err := k.rt.StopPodSandbox(ctx, s.ID); err != nil {
			return fmt.Errorf("stop sandbox %s: %w", s.ID, err)
		}
	}
	return nil
}

// removeAll removes every sandbox and container of rt.
func (k *Kubelet) removeAll(ctx context.Context, rt *podRuntime) error {
	for _, c := range rt.Containers {
		if err := k.rt.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("remove container %s: %w", c.ID, err)
		}
	}
	for _, s := range rt.Sandboxes {
		if err := k.rt.RemovePodSandbox(ctx, s.ID); err != nil {
			return fmt.Errorf("remove sandbox %s: %w", s.ID, err)
		}
	}
	return nil
}

// gcContainers removes dead containers beyond the newest two instances per name (the
// current one and the one lastState reports), and dead sandboxes older than the newest
// that hold no container any more.
func (k *Kubelet) gcContainers(ctx context.Context, rt *podRuntime) {
	seen := map[string]int{}
	inUse := map[string]bool{}
	for _, c := range rt.Containers {
		seen[c.Name]++
		if seen[c.Name] <= 2 || c.running() {
			inUse[c.SandboxID] = true
			continue
		}
		if err := k.rt.RemoveContainer(ctx, c.ID); err != nil {
			k.log.Warn("remove dead container", "container", c.ID, "err", err)
			inUse[c.SandboxID] = true
		}
	}
	for i, s := range rt.Sandboxes {
		if i == 0 || s.Ready || inUse[s.ID] {
			continue
		}
		if err := k.rt.RemovePodSandbox(ctx, s.ID); err != nil {
			k.log.Warn("remove dead sandbox", "sandbox", s.ID, "err", err)
		}
	}
}

// syncTerminating stops a pod being deleted, within its grace period; writes its last
// status, terminal (Failed, or Succeeded when every app container exited 0) with the
// containers' terminated states; removes its sandboxes and containers; and only then
// confirms the deletion to the apiserver (DELETE with gracePeriodSeconds 0 and a uid
// precondition, so a new pod of the same name is safe). That is upstream's order since
// 1.27: whoever watches the pod (a Job with a podFailurePolicy) sees how it ended before
// it goes.
func (k *Kubelet) syncTerminating(ctx context.Context, pod *corev1.Pod, rt *podRuntime) (time.Duration, bool) {
	uid := pod.GetMetadata().GetUid()
	k.probes.removePod(uid)
	if err := k.killPod(ctx, pod, rt, k.gracePeriod(pod)); err != nil {
		k.log.Warn("stop terminating pod", "pod", podDesc(pod), "err", err)
		return 2 * time.Second, false
	}
	rt, err := k.podRuntimeOf(ctx, uid)
	if err != nil {
		k.log.Warn("read terminating pod", "pod", podDesc(pod), "err", err)
		return 2 * time.Second, false
	}
	if rt.runningContainers() > 0 {
		return time.Second, false // the runtime does not show them stopped yet
	}
	st := k.generateStatus(pod, rt)
	k.status.set(pod, st)
	if !k.status.flush(ctx, uid) {
		k.log.Warn("write terminating pod's last status", "pod", podDesc(pod), "phase", st.GetPhase())
		return 2 * time.Second, false
	}
	if err := k.removeAll(ctx, rt); err != nil {
		k.log.Warn("remove terminating pod", "pod", podDesc(pod), "err", err)
		return 2 * time.Second, false
	}
	if err := removePodDir(k.cfg.RootDir, uid); err != nil {
		k.log.Warn("remove terminating pod's directory", "pod", podDesc(pod), "err", err)
		return 2 * time.Second, false
	}
	k.tokens.forgetPod(uid) // its containers are gone: nothing reads its tokens again
	m := pod.GetMetadata()
	_, err = k.client.Pods(m.GetNamespace()).Delete(ctx, m.GetName(), &metav1.DeleteOptions{
		GracePeriodSeconds: proto.Int64(0),
		Preconditions:      &metav1.Preconditions{Uid: proto.String(uid)},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.log.Warn("delete pod", "pod", podDesc(pod), "err", err)
		return 2 * time.Second, false
	}
	k.log.Info("pod terminated and deleted", "pod", podDesc(pod))
	k.status.forget(uid)
	// The informer's delete event removes the pod from the desired set; the worker ends
	// when the orphan sync finds nothing left.
	return 0, false
}

// syncOrphan removes what the runtime holds for a pod that is no longer desired (deleted
// while the kubelet was down, force-deleted, or bound elsewhere).
func (k *Kubelet) syncOrphan(ctx context.Context, uid string, rt *podRuntime) (time.Duration, bool) {
	k.mu.Lock()
	synced := k.podsSynced
	k.mu.Unlock()
	if !synced {
		return time.Second, false // unknown yet whether it is desired
	}
	k.probes.removePod(uid)
	if rt.empty() {
		if err := removePodDir(k.cfg.RootDir, uid); err != nil {
			k.log.Warn("remove orphaned pod directory", "uid", uid, "err", err)
			return 2 * time.Second, false
		}
		k.tokens.forgetPod(uid)
		k.status.forget(uid)
		return 0, true
	}
	k.log.Info("removing pod that is not desired", "uid", uid, "pod", rt.Namespace+"/"+rt.Name)
	if err := k.killPod(ctx, nil, rt, 0); err != nil {
		k.log.Warn("stop orphaned pod", "uid", uid, "err", err)
		return 2 * time.Second, false
	}
	if err := k.removeAll(ctx, rt); err != nil {
		k.log.Warn("remove orphaned pod", "uid", uid, "err", err)
		return 2 * time.Second, false
	}
	return time.Millisecond, false
}
