// Package binder is the persistentvolume-binder, after Kubernetes'
// pkg/controller/volume/persistentvolume (pv_controller.go), simplified where kubelab has
// no in-tree volume plugins: every provisioner is external.
//
// It runs two level-based loops over one queue. A claim's sync binds an unbound claim to
// the smallest Available volume that fits (or the volume it names, or the one pre-bound to
// it), asks the class's provisioner for a volume by annotating the claim (at once for an
// Immediate class, once the scheduler chose a node for a WaitForFirstConsumer one), and
// keeps a bound claim's status Bound or marks it Lost. A volume's sync keeps its phase
// (Available, Bound), releases it when its claim is gone and reclaims it: Retain keeps it,
// Delete leaves a volume made by an external provisioner to that provisioner and fails
// others, for which no plugin can delete.
//
// Binding writes four objects in upstream's order (volume claimRef, volume phase, claim
// volumeName and annotations, claim phase); each write is optimistic on the
// resourceVersion, so a stale cache fails a write instead of binding a volume twice, and
// a sync interrupted between writes is finished by the next from what the API holds.
package binder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// Event reasons and messages, as upstream's binder records them.
const (
	EventWaitForFirstConsumer = "WaitForFirstConsumer"
	EventExternalProvisioning = "ExternalProvisioning"
	EventProvisioningFailed   = "ProvisioningFailed"
	EventFailedBinding        = "FailedBinding"
	EventVolumeMismatch       = "VolumeMismatch"
	EventClaimLost            = "ClaimLost"
	EventClaimMisbound        = "ClaimMisbound"
	EventVolumeFailedDelete   = "VolumeFailedDelete"
	EventVolumeFailedRecycle  = "VolumeFailedRecycle"

	// Component is the source of the binder's events.
	Component = "persistentvolume-controller"
	// DefaultSyncPeriod is how often every claim and volume is synced again even if nothing
	// changed (upstream's --pvclaimbinder-sync-period).
	DefaultSyncPeriod = 15 * time.Second
)

// Config is what the binder needs; New builds it from a controllerctx.Context.
type Config struct {
	Client   *kube.Clientset
	Volumes  informers.Informer[*corev1.PersistentVolume]
	Claims   informers.Informer[*corev1.PersistentVolumeClaim]
	Classes  informers.Informer[*storagev1.StorageClass]
	Recorder controller.EventRecorder
	Log      *slog.Logger
	// SyncPeriod defaults to DefaultSyncPeriod; negative disables the periodic sync.
	SyncPeriod time.Duration
}

// Controller is the persistentvolume-binder.
type Controller struct {
	client     *kube.Clientset
	volumes    cache.Lister[*corev1.PersistentVolume]
	claims     cache.Lister[*corev1.PersistentVolumeClaim]
	classes    cache.Lister[*storagev1.StorageClass]
	recorder   controller.EventRecorder
	log        *slog.Logger
	queue      workqueue.Interface[string]
	synced     []func() bool
	syncPeriod time.Duration
}

// Queue keys are the object's key behind a prefix saying which loop syncs it.
const (
	volumePrefix = "volume/"
	claimPrefix  = "claim/"
)

// New builds the binder on the shared informers of cc.
func New(_ context.Context, cc *controllerctx.Context) (*Controller, error) {
	return NewController(Config{Client: cc.Client, Volumes: cc.Informers.PersistentVolumes(), Claims: cc.Informers.PersistentVolumeClaims(),
		Classes: cc.Informers.StorageClasses(), Recorder: cc.Recorder(Component), Log: cc.Log})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Recorder == nil {
		return nil, errors.New("persistentvolume-binder: Client and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SyncPeriod == 0 {
		cfg.SyncPeriod = DefaultSyncPeriod
	}
	c := &Controller{
		client: cfg.Client, volumes: cfg.Volumes.Lister(), claims: cfg.Claims.Lister(), classes: cfg.Classes.Lister(),
		recorder: cfg.Recorder, log: cfg.Log, queue: workqueue.NewNamed[string]("persistentvolume-binder"), syncPeriod: cfg.SyncPeriod,
	}
	volReg, err := cfg.Volumes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj runtime.Object) { c.enqueueVolume(obj) },
		UpdateFunc: func(old, obj runtime.Object) {
			c.enqueueVolume(obj)
			// Pending claims may have passed this volume over before it was Available:
			// let them look again now that the cache holds it Available, rather than at
			// the next periodic sync.
			if phase(old) != corev1.VolumeAvailable && phase(obj) == corev1.VolumeAvailable {
				c.enqueueUnboundClaims()
			}
		},
		// A volume gone leaves its claim Lost.
		DeleteFunc: func(obj any) {
			if o, ok := controller.ObjectFromTombstone(obj); ok {
				if pv, ok := o.(*corev1.PersistentVolume); ok && pv.GetSpec().GetClaimRef() != nil {
					ref := pv.GetSpec().GetClaimRef()
					c.queue.Add(claimPrefix + ref.GetNamespace() + "/" + ref.GetName())
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("persistentvolume-binder: %w", err)
	}
	claimReg, err := cfg.Claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj runtime.Object) { c.enqueueClaim(obj) },
		UpdateFunc: func(_, obj runtime.Object) { c.enqueueClaim(obj) },
		// A claim gone releases its volume.
		DeleteFunc: func(obj any) {
			if o, ok := controller.ObjectFromTombstone(obj); ok {
				if pvc, ok := o.(*corev1.PersistentVolumeClaim); ok && pvc.GetSpec().GetVolumeName() != "" {
					c.queue.Add(volumePrefix + pvc.GetSpec().GetVolumeName())
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("persistentvolume-binder: %w", err)
	}
	// A class made after its claims lets them provision: sync the unbound ones.
	classReg, err := cfg.Classes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(runtime.Object) { c.enqueueUnboundClaims() },
	})
	if err != nil {
		return nil, fmt.Errorf("persistentvolume-binder: %w", err)
	}
	c.synced = []func() bool{cfg.Volumes.Informer().HasSynced, cfg.Claims.Informer().HasSynced, cfg.Classes.Informer().HasSynced,
		volReg.HasSynced, claimReg.HasSynced, classReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends, syncing everything again
// every sync period: the binder's decisions rest on several objects, and an event missed
// for one of them must not leave a claim pending forever.
func (c *Controller) Run(ctx context.Context, workers int) {
	if c.syncPeriod > 0 {
		go func() {
			t := time.NewTicker(c.syncPeriod)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					c.enqueueAll()
				}
			}
		}()
	}
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

func (c *Controller) enqueueVolume(obj runtime.Object) {
	if pv, ok := obj.(*corev1.PersistentVolume); ok {
		c.queue.Add(volumePrefix + pv.GetMetadata().GetName())
	}
}

func phase(obj runtime.Object) string {
	pv, _ := obj.(*corev1.PersistentVolume)
	return pv.GetStatus().GetPhase()
}

func (c *Controller) enqueueClaim(obj runtime.Object) {
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		c.queue.Add(claimPrefix + pvc.GetMetadata().GetNamespace() + "/" + pvc.GetMetadata().GetName())
	}
}

func (c *Controller) enqueueUnboundClaims() {
	claims, _ := c.claims.List(labels.Everything())
	for _, pvc := range claims {
		if pvc.GetMetadata().GetAnnotations()[volumeutil.AnnBindCompleted] == "" {
			c.enqueueClaim(pvc)
		}
	}
}

func (c *Controller) enqueueAll() {
	volumes, _ := c.volumes.List(labels.Everything())
	for _, pv := range volumes {
		c.enqueueVolume(pv)
	}
	claims, _ := c.claims.List(labels.Everything())
	for _, pvc := range claims {
		c.enqueueClaim(pvc)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	switch {
	case strings.HasPrefix(key, volumePrefix):
		pv, err := c.volumes.Get(strings.TrimPrefix(key, volumePrefix))
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return c.syncVolume(ctx, pv)
	case strings.HasPrefix(key, claimPrefix):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, claimPrefix))
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
		return c.syncClaim(ctx, pvc)
	}
	return nil
}

// syncClaim: a claim is unbound until the binder marked it bind-completed.
func (c *Controller) syncClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.GetMetadata().GetAnnotations()[volumeutil.AnnBindCompleted] == "" {
		return c.syncUnboundClaim(ctx, pvc)
	}
	return c.syncBoundClaim(ctx, pvc)
}

func (c *Controller) syncUnboundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if name := pvc.GetSpec().GetVolumeName(); name != "" {
		return c.syncPreboundClaim(ctx, pvc, name)
	}
	// Retroactive default class (upstream since v1.28): a claim made while no class was
	// the default gets the one that is now.
	if pvc.GetSpec().StorageClassName == nil {
		if _, ok := pvc.GetMetadata().GetAnnotations()[corev1.BetaStorageClassAnnotation]; !ok {
			classes, err := c.classes.List(labels.Everything())
			if err != nil {
				return err
			}
			if def := storagev1.DefaultClass(classes); def != nil {
				cp := volumeutil.CloneClaim(pvc)
				cp.Spec.StorageClassName = proto.String(def.GetMetadata().GetName())
				if _, err := c.client.PersistentVolumeClaims(cp.GetMetadata().GetNamespace()).Update(ctx, cp); err != nil {
					return fmt.Errorf("assign default class to claim %s: %w", claimKey(pvc), err)
				}
				c.log.Info("assigned the default storage class to claim", "namespace", pvc.GetMetadata().GetNamespace(),
					"name", pvc.GetMetadata().GetName(), "class", def.GetMetadata().GetName())
				return nil
			}
		}
	}
	delayBinding, err := c.delayBinding(pvc)
	if err != nil {
		return err
	}
	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	if pv := FindBestMatch(pvc, volumes, delayBinding); pv != nil {
		return c.bind(ctx, pv, pvc)
	}
	_, selected := pvc.GetMetadata().GetAnnotations()[corev1.SelectedNodeAnnotation]
	switch {
	case delayBinding && !selected:
		c.recorder.Eventf(pvc, "Normal", EventWaitForFirstConsumer, "waiting for first consumer to be created before binding")
	case corev1.ClaimStorageClass(pvc) != "":
		if pvc, err = c.provisionClaim(ctx, pvc); err != nil {
			return err
		}
	default:
		c.recorder.Eventf(pvc, "Normal", EventFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	}
	return c.updateClaimPhase(ctx, pvc, corev1.ClaimPending)
}

// delayBinding: a claim of a WaitForFirstConsumer class binds only to volumes the scheduler
// chose (pre-bound to it), or is provisioned once the scheduler chose its node. A class
// that does not exist (yet) delays nothing, as upstream.
func (c *Controller) delayBinding(pvc *corev1.PersistentVolumeClaim) (bool, error) {
	name := corev1.ClaimStorageClass(pvc)
	if name == "" {
		return false, nil
	}
	class, err := c.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return class.GetVolumeBindingMode() == storagev1.VolumeBindingWaitForFirstConsumer, nil
}

// provisionClaim asks the class's provisioner for a volume: every kubelab provisioner is
// external, so this is the claim's storage-provisioner annotations and an event saying who
// is expected to act. It returns the claim as it now is.
func (c *Controller) provisionClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (*corev1.PersistentVolumeClaim, error) {
	className := corev1.ClaimStorageClass(pvc)
	class, err := c.classes.Get(className)
	if apierrors.IsNotFound(err) {
		c.recorder.Eventf(pvc, "Warning", EventProvisioningFailed, "storageclass.storage.k8s.io %q not found", className)
		return pvc, nil
	}
	if err != nil {
		return nil, err
	}
	provisioner := class.GetProvisioner()
	if strings.HasPrefix(provisioner, "kubernetes.io/") {
		// Upstream's in-tree plugins (and kubernetes.io/no-provisioner): none is built in.
		c.recorder.Eventf(pvc, "Warning", EventProvisioningFailed, "no volume plugin matched name: %s", provisioner)
		return pvc, nil
	}
	ann := pvc.GetMetadata().GetAnnotations()
	if ann[volumeutil.AnnStorageProvisioner] != provisioner || ann[volumeutil.AnnBetaStorageProvisioner] != provisioner {
		cp := volumeutil.CloneClaim(pvc)
		if cp.Metadata.Annotations == nil {
			cp.Metadata.Annotations = map[string]string{}
		}
		cp.Metadata.Annotations[volumeutil.AnnStorageProvisioner] = provisioner
		cp.Metadata.Annotations[volumeutil.AnnBetaStorageProvisioner] = provisioner
		updated, err := c.client.PersistentVolumeClaims(cp.GetMetadata().GetNamespace()).Update(ctx, cp)
		if err != nil {
			return nil, fmt.Errorf("annotate claim %s for provisioner %s: %w", claimKey(pvc), provisioner, err)
		}
		pvc = updated
		c.log.Info("claim waits for its provisioner", "namespace", pvc.GetMetadata().GetNamespace(), "name", pvc.GetMetadata().GetName(), "provisioner", provisioner)
	}
	c.recorder.Eventf(pvc, "Normal", EventExternalProvisioning,
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", provisioner)
	return pvc, nil
}
