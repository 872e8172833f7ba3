// Package protection holds the pvc-protection and pv-protection controllers, after
// Kubernetes' pkg/controller/volume/pvcprotection and pvprotection. The
// StorageObjectInUseProtection admission plugin puts kubernetes.io/pvc-protection on every
// new claim and kubernetes.io/pv-protection on every new volume; these controllers add the
// finalizer to objects that lack it and remove it from deleted ones once nothing uses them
// any more: a claim no longer used by a scheduled, not shut-down pod, a volume no longer
// Bound. Until then the deleted object waits, Terminating, so its data is never pulled from
// under a running pod.
package protection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// PVCController removes kubernetes.io/pvc-protection from deleted claims no pod uses.
type PVCController struct {
	client *kube.Clientset
	claims cache.Lister[*corev1.PersistentVolumeClaim]
	pods   cache.Lister[*corev1.Pod]
	synced []func() bool
	queue  workqueue.Interface[string]
	log    *slog.Logger
}

// PVCConfig is what the pvc-protection controller needs.
type PVCConfig struct {
	Client *kube.Clientset
	Claims informers.Informer[*corev1.PersistentVolumeClaim]
	Pods   informers.Informer[*corev1.Pod]
	Log    *slog.Logger
}

// NewPVC builds the pvc-protection controller on the shared informers of cc.
func NewPVC(_ context.Context, cc *controllerctx.Context) (*PVCController, error) {
	return NewPVCController(PVCConfig{Client: cc.Client, Claims: cc.Informers.PersistentVolumeClaims(), Pods: cc.Informers.Pods(), Log: cc.Log})
}

// NewPVCController validates cfg and registers the event handlers.
func NewPVCController(cfg PVCConfig) (*PVCController, error) {
	if cfg.Client == nil {
		return nil, errors.New("pvc-protection: Client is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &PVCController{
		client: cfg.Client,
		claims: cfg.Claims.Lister(),
		pods:   cfg.Pods.Lister(),
		queue:  workqueue.NewNamed[string]("pvcprotection"),
		log:    cfg.Log,
	}
	claimReg, err := cfg.Claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj runtime.Object) { c.enqueueClaim(obj) },
		UpdateFunc: func(_, obj runtime.Object) { c.enqueueClaim(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("pvc-protection: %w", err)
	}
	// A pod going away or shutting down may free the claims it names.
	podReg, err := cfg.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj runtime.Object) { c.enqueuePodClaims(obj) },
		UpdateFunc: func(_, obj runtime.Object) { c.enqueuePodClaims(obj) },
		DeleteFunc: func(obj any) {
			if o, ok := controller.ObjectFromTombstone(obj); ok {
				c.enqueuePodClaims(o)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pvc-protection: %w", err)
	}
	c.synced = []func() bool{cfg.Claims.Informer().HasSynced, cfg.Pods.Informer().HasSynced, claimReg.HasSynced, podReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *PVCController) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// enqueueClaim queues the claims there is something to do for: a finalizer to add or to
// (perhaps) remove.
func (c *PVCController) enqueueClaim(obj runtime.Object) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || !(needToAdd(pvc.GetMetadata(), corev1.PVCProtectionFinalizer) || needToRemove(pvc.GetMetadata(), corev1.PVCProtectionFinalizer)) {
		return
	}
	if err := controller.Enqueue(c.queue, pvc); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

func (c *PVCController) enqueuePodClaims(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	for _, name := range claimNames(pod) {
		c.queue.Add(pod.GetMetadata().GetNamespace() + "/" + name)
	}
}

// sync adds the finalizer to a live claim that lacks it, and removes it from a deleted one
// no pod uses. The cache decides first; a claim the cache finds unused is checked again
// against a live list of its namespace's pods, as upstream, since a pod created a moment
// ago may not have reached the cache and the removal cannot be undone.
func (c *PVCController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pvc, err := c.claims.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	m := pvc.GetMetadata()
	switch {
	case needToAdd(m, corev1.PVCProtectionFinalizer):
		cp := volumeutil.CloneClaim(pvc)
		cp.Metadata.Finalizers = append(cp.Metadata.Finalizers, corev1.PVCProtectionFinalizer)
		if _, err := c.client.PersistentVolumeClaims(ns).Update(ctx, cp); err != nil {
			return fmt.Errorf("add finalizer to claim %s: %w", key, ignoreNotFound(err))
		}
		c.log.Info("added protection finalizer", "namespace", ns, "name", name)
	case needToRemove(m, corev1.PVCProtectionFinalizer):
		cached, err := c.pods.Namespace(ns).List(labels.Everything())
		if err != nil {
			return err
		}
		if user := podUsing(cached, pvc); user != "" {
			c.log.Debug("claim still in use; keeping its finalizer", "namespace", ns, "name", name, "pod", user)
			return nil
		}
		live, err := c.client.Pods(ns).List(ctx, transport.ListOptions{})
		if err != nil {
			return err
		}
		if user := podUsing(live.GetItems(), pvc); user != "" {
			c.log.Debug("claim still in use; keeping its finalizer", "namespace", ns, "name", name, "pod", user)
			return nil
		}
		cp := volumeutil.CloneClaim(pvc)
		cp.Metadata.Finalizers = without(cp.Metadata.Finalizers, corev1.PVCProtectionFinalizer)
		if _, err := c.client.PersistentVolumeClaims(ns).Update(ctx, cp); err != nil {
			return ignoreNotFound(err)
		}
		c.log.Info("removed protection finalizer from unused claim", "namespace", ns, "name", name)
	}
	return nil
}

// podUsing names a pod of pods that uses pvc, or "". Only scheduled pods count, as
// upstream: the kubelet sees a pod only once it is scheduled, and refuses to start one
// whose claim is being deleted. A shut-down pod (terminal, or deleted with grace period 0)
// uses nothing any more.
func podUsing(pods []*corev1.Pod, pvc *corev1.PersistentVolumeClaim) string {
	for _, pod := range pods {
		if pod.GetSpec().GetNodeName() == "" || podIsShutDown(pod) {
			continue
		}
		if usesClaim(pod, pvc) {
			return pod.GetMetadata().GetName()
		}
	}
	return ""
}

// usesClaim reports whether one of pod's volumes is pvc: a persistentVolumeClaim volume
// naming it, or an ephemeral volume whose claim it is, made for this pod (upstream's
// podUsesPVC: a namesake the pod does not own is not the pod's volume).
func usesClaim(pod *corev1.Pod, pvc *corev1.PersistentVolumeClaim) bool {
	name := pvc.GetMetadata().GetName()
	for _, v := range pod.GetSpec().GetVolumes() {
		if c := v.GetPersistentVolumeClaim(); c != nil && c.GetClaimName() == name {
			return true
		}
		if v.GetEphemeral() != nil && corev1.EphemeralClaimName(pod, v) == name && corev1.EphemeralClaimIsForPod(pod, pvc) == nil {
			return true
		}
	}
	return false
}

func podIsShutDown(pod *corev1.Pod) bool {
	m := pod.GetMetadata()
	if m.GetDeletionTimestamp() != nil && m.DeletionGracePeriodSeconds != nil && m.GetDeletionGracePeriodSeconds() == 0 {
		return true
	}
	phase := pod.GetStatus().GetPhase()
	return phase == controller.PodSucceeded || phase == controller.PodFailed
}

// claimNames are the claims pod's volumes name, its ephemeral volumes' included.
func claimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.GetSpec().GetVolumes() {
		if src := v.GetPersistentVolumeClaim(); src != nil {
			out = append(out, src.GetClaimName())
		}
		if v.GetEphemeral() != nil {
			out = append(out, corev1.EphemeralClaimName(pod, v))
		}
	}
	return out
}

// PVController removes kubernetes.io/pv-protection from deleted volumes no claim is bound
// to.
type PVController struct {
	client  *kube.Clientset
	volumes cache.Lister[*corev1.PersistentVolume]
	synced  []func() bool
	queue   workqueue.Interface[string]
	log     *slog.Logger
}

// PVConfig is what the pv-protection controller needs.
type PVConfig struct {
	Client  *kube.Clientset
	Volumes informers.Informer[*corev1.PersistentVolume]
	Log     *slog.Logger
}

// NewPV builds the pv-protection controller on the shared informers of cc.
func NewPV(_ context.Context, cc *controllerctx.Context) (*PVController, error) {
	return NewPVController(PVConfig{Client: cc.Client, Volumes: cc.Informers.PersistentVolumes(), Log: cc.Log})
}

// NewPVController validates cfg and registers the event handlers.
func NewPVController(cfg PVConfig) (*PVController, error) {
	if cfg.Client == nil {
		return nil, errors.New("pv-protection: Client is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &PVController{client: cfg.Client, volumes: cfg.Volumes.Lister(), queue: workqueue.NewNamed[string]("pvprotection"), log: cfg.Log}
	enqueue := func(obj runtime.Object) {
		pv, ok := obj.(*corev1.PersistentVolume)
		if !ok || !(needToAdd(pv.GetMetadata(), corev1.PVProtectionFinalizer) || needToRemove(pv.GetMetadata(), corev1.PVProtectionFinalizer)) {
			return
		}
		if err := controller.Enqueue(c.queue, pv); err != nil {
			c.log.Error("enqueue", "err", err)
		}
	}
	reg, err := cfg.Volumes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj runtime.Object) { enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("pv-protection: %w", err)
	}
	c.synced = []func() bool{cfg.Volumes.Informer().HasSynced, reg.HasSynced}
	return c, nil
}

// Run waits for the cache, then runs workers until ctx ends.
func (c *PVController) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// sync adds the finalizer to a live volume that lacks it and removes it from a deleted one
// that is not Bound. The phase is the binder's word: a volume whose claim went away turns
// Released first, so a Bound volume keeps its finalizer until the binder has seen that.
func (c *PVController) sync(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	m := pv.GetMetadata()
	switch {
	case needToAdd(m, corev1.PVProtectionFinalizer):
		cp := volumeutil.CloneVolume(pv)
		cp.Metadata.Finalizers = append(cp.Metadata.Finalizers, corev1.PVProtectionFinalizer)
		if _, err := c.client.PersistentVolumes().Update(ctx, cp); err != nil {
			return fmt.Errorf("add finalizer to volume %s: %w", name, ignoreNotFound(err))
		}
		c.log.Info("added protection finalizer", "name", name)
	case needToRemove(m, corev1.PVProtectionFinalizer):
		if pv.GetStatus().GetPhase() == corev1.VolumeBound {
			c.log.Debug("volume still bound; keeping its finalizer", "name", name)
			return nil
		}
		cp := volumeutil.CloneVolume(pv)
		cp.Metadata.Finalizers = without(cp.Metadata.Finalizers, corev1.PVProtectionFinalizer)
		if _, err := c.client.PersistentVolumes().Update(ctx, cp); err != nil {
			return ignoreNotFound(err)
		}
		c.log.Info("removed protection finalizer from unbound volume", "name", name)
	}
	return nil
}
