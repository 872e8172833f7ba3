// Package localpath is kubelab's built-in dynamic provisioner, kubelab.io/local-path:
// kubelab's answer to kind's and rancher's local-path-provisioner, run as a controller in
// the controller-manager. It speaks upstream's external-provisioner protocol with the
// persistentvolume-binder:
//
//   - a claim the binder annotated with volume.kubernetes.io/storage-provisioner:
//     kubelab.io/local-path (and, for a WaitForFirstConsumer class, the scheduler with
//     volume.kubernetes.io/selected-node) gets PersistentVolume pvc-<claim uid>: a
//     hostPath directory <class parameter path>/pvc-<uid>_<namespace>_<name> on that node
//     (DirectoryOrCreate: the kubelet makes it on first mount), node affinity to the node,
//     the claim's size and access modes, the class's reclaim policy, a claimRef with the
//     claim's uid. The binder completes the binding.
//   - a Released volume of ours with reclaim policy Delete has its directory removed by a
//     helper pod on its node (named after the volume, nodeName set so no scheduler is
//     involved, tolerating every taint, running kubelab-tool rm (rm -rf) on a hostPath
//     of the volume's parent directory); once the pod Succeeded the volume's Finalizer
//     is removed and the volume deleted, and once the volume is gone, the pod. A failed
//     pod is deleted and the next made only after a backoff (DeleteRetryBase doubling up
//     to DeleteRetryMax per volume, as external-provisioner retries deletes). A Delete
//     volume carries the Finalizer from its creation, so a volume deleted directly
//     (Released, or Available) also has its directory removed before it goes.
//
// Crash-safe: every step is recomputed from the API. The volume's name is derived from the
// claim's uid, so a restart between creating it and the binding finds it instead of making
// another; the helper pod's name is derived from the volume's, and removing a directory
// twice is harmless.
package localpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/utils/clock"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/volume/volumeutil"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

const (
	// ProvisionerName is what a StorageClass names to get volumes from this provisioner.
	ProvisionerName = "kubelab.io/local-path"
	// DefaultBasePath is where volumes go when the class has no "path" parameter.
	DefaultBasePath = "/var/lib/kubelab/local-path"
	// DefaultHelperImage runs the helper pods: the one image every kubelab node has
	// offline. It has no shell or rm, but HelperCommand (hack/node/mkimage), whose "rm"
	// is rm -rf; an image given instead must have it too.
	DefaultHelperImage = "nginx:1.14.2"
	HelperCommand      = "/usr/local/bin/kubelab-tool"
	// HelperNamespace holds the helper pods.
	HelperNamespace = "kube-system"
	// HelperLabel on a helper pod names the volume it cleans.
	HelperLabel = "kubelab.io/local-path-helper"
	// Finalizer is external-provisioner's: on a volume of ours whose reclaim policy is
	// Delete, it keeps the volume object until its directory is removed, so deleting the
	// object first (kubectl delete pv) cannot leave the data behind.
	Finalizer = "external-provisioner.volume.kubernetes.io/finalizer"

	// Event reasons, as external-provisioner records them.
	EventProvisioning          = "Provisioning"
	EventProvisioningSucceeded = "ProvisioningSucceeded"
	EventProvisioningFailed    = "ProvisioningFailed"
	EventVolumeFailedDelete    = "VolumeFailedDelete"

	// DeleteRetryBase and DeleteRetryMax bound the wait before a failed helper pod is
	// tried again: doubling from the base at each failure of the volume's deletion, as
	// external-provisioner's default rate limiter (exponentialBackOffOnError).
	DeleteRetryBase = 15 * time.Second
	DeleteRetryMax  = 1000 * time.Second

	hostnameLabel = "kubernetes.io/hostname"
	helperMount   = "/data"
)

// Config is what the provisioner needs; New builds it from a controllerctx.Context.
type Config struct {
	Client   *kube.Clientset
	Claims   informers.Informer[*corev1.PersistentVolumeClaim]
	Volumes  informers.Informer[*corev1.PersistentVolume]
	Classes  informers.Informer[*storagev1.StorageClass]
	Pods     informers.Informer[*corev1.Pod]
	Nodes    informers.Informer[*corev1.Node]
	Recorder controller.EventRecorder
	Log      *slog.Logger
	// HelperImage defaults to DefaultHelperImage.
	HelperImage string
	// Clock times the retries of failed deletions; nil is the real clock.
	Clock clock.Clock
}

// Controller is the kubelab.io/local-path provisioner.
type Controller struct {
	client      *kube.Clientset
	claims      cache.Lister[*corev1.PersistentVolumeClaim]
	volumes     cache.Lister[*corev1.PersistentVolume]
	classes     cache.Lister[*storagev1.StorageClass]
	pods        cache.Lister[*corev1.Pod]
	nodes       cache.Lister[*corev1.Node]
	recorder    controller.EventRecorder
	log         *slog.Logger
	helperImage string
	queue       workqueue.Interface[string]
	synced      []func() bool

	clock clock.Clock
	// deleteBackoff counts each volume's failed helper pods; retryAt is when the next
	// may be made. Kept apart from the queue's own rate limiting, which every successful
	// sync (a helper pod's event, say) resets.
	deleteBackoff workqueue.RateLimiter[string]
	mu            sync.Mutex
	retryAt       map[string]time.Time
}

const (
	claimPrefix  = "claim/"
	volumePrefix = "volume/"
)

// New builds the provisioner on the shared informers of cc; its events come from
// kubelab.io/local-path, as external-provisioner's come from the provisioner's name.
func New(_ context.Context, cc *controllerctx.Context) (*Controller, error) {
	f := cc.Informers
	return NewController(Config{Client: cc.Client, Claims: f.PersistentVolumeClaims(), Volumes: f.PersistentVolumes(), Classes: f.StorageClasses(),
		Pods: f.Pods(), Nodes: f.Nodes(), Recorder: cc.Recorder(ProvisionerName), Log: cc.Log, HelperImage: cc.Options.LocalPathHelperImage})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Recorder == nil {
		return nil, errors.New("local-path provisioner: Client and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.HelperImage == "" {
		cfg.HelperImage = DefaultHelperImage
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	c := &Controller{client: cfg.Client, claims: cfg.Claims.Lister(), volumes: cfg.Volumes.Lister(), classes: cfg.Classes.Lister(),
		pods: cfg.Pods.Lister(), nodes: cfg.Nodes.Lister(), recorder: cfg.Recorder, log: cfg.Log, helperImage: cfg.HelperImage,
		queue: workqueue.New(workqueue.Config[string]{Name: "local-path-provisioner", Clock: cfg.Clock}), clock: cfg.Clock,
		deleteBackoff: workqueue.NewItemExponentialFailureRateLimiter[string](DeleteRetryBase, DeleteRetryMax), retryAt: map[string]time.Time{}}
	handlers := func(key func(runtime.Object) string) cache.ResourceEventHandlerFuncs {
		add := func(obj any) {
			if o, ok := controller.ObjectFromTombstone(obj); ok {
				if k := key(o); k != "" {
					c.queue.Add(k)
				}
			}
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj runtime.Object) { add(obj) },
			UpdateFunc: func(_, obj runtime.Object) { add(obj) },
			DeleteFunc: add,
		}
	}
	regs := []func() bool{cfg.Claims.Informer().HasSynced, cfg.Volumes.Informer().HasSynced, cfg.Classes.Informer().HasSynced,
		cfg.Pods.Informer().HasSynced, cfg.Nodes.Informer().HasSynced}
	for _, h := range []struct {
		inf cache.SharedIndexInformer
		key func(runtime.Object) string
	}{
		{cfg.Claims.Informer(), func(o runtime.Object) string {
			pvc, ok := o.(*corev1.PersistentVolumeClaim)
			if !ok || !annotatedForUs(pvc) {
				return ""
			}
			return claimPrefix + claimKey(pvc)
		}},
		{cfg.Volumes.Informer(), func(o runtime.Object) string {
			pv, ok := o.(*corev1.PersistentVolume)
			if !ok || pv.GetMetadata().GetAnnotations()[volumeutil.AnnDynamicallyProvisioned] != ProvisionerName {
				return ""
			}
			return volumePrefix + pv.GetMetadata().GetName()
		}},
		// A helper pod's progress wakes its volume.
		{cfg.Pods.Informer(), func(o runtime.Object) string {
			pod, ok := o.(*corev1.Pod)
			if !ok || pod.GetMetadata().GetNamespace() != HelperNamespace || pod.GetMetadata().GetLabels()[HelperLabel] == "" {
				return ""
			}
			return volumePrefix + pod.GetMetadata().GetLabels()[HelperLabel]
		}},
	} {
		reg, err := h.inf.AddEventHandler(handlers(h.key))
		if err != nil {
			return nil, fmt.Errorf("local-path provisioner: %w", err)
		}
		regs = append(regs, reg.HasSynced)
	}
	c.synced = regs
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

func annotatedForUs(pvc *corev1.PersistentVolumeClaim) bool {
	a := pvc.GetMetadata().GetAnnotations()
	return a[volumeutil.AnnStorageProvisioner] == ProvisionerName || a[volumeutil.AnnBetaStorageProvisioner] == ProvisionerName
}

func claimKey(pvc *corev1.PersistentVolumeClaim) string {
	return pvc.GetMetadata().GetNamespace() + "/" + pvc.GetMetadata().GetName()
}

// VolumeName is the name of the volume provisioned for a claim, as external-provisioner
// names it.
func VolumeName(pvc *corev1.PersistentVolumeClaim) string { return "pvc-" + pvc.GetMetadata().GetUid() }

// HelperPodName is the name of the pod that removes volume's data.
func HelperPodName(volume string) string { return "helper-pod-delete-" + volume }

func (c *Controller) sync(ctx context.Context, key string) error {
	switch {
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
	case strings.HasPrefix(key, volumePrefix):
		name := strings.TrimPrefix(key, volumePrefix)
		pv, err := c.volumes.Get(name)
		if apierrors.IsNotFound(err) {
			return c.cleanupHelper(ctx, name)
		}
		if err != nil {
			return err
		}
		return c.syncVolume(ctx, pv)
	}
	return nil
}

// syncClaim provisions a volume for a claim that asks us for one and has none yet.
func (c *Controller) syncClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.GetMetadata().GetDeletionTimestamp() != nil || pvc.GetSpec().GetVolumeName() != "" || !annotatedForUs(pvc) {
		return nil
	}
	name := VolumeName(pvc)
	if _, err := c.volumes.Get(name); err == nil {
		// Made already (perhaps before a restart); the binder completes the binding.
		return nil
	}
	class, err := c.classes.Get(corev1.ClaimStorageClass(pvc))
	if apierrors.IsNotFound(err) {
		// The binder reports a missing class; a class made later wakes it, and it us.
		return nil
	}
	if err != nil {
		return err
	}
	if class.GetProvisioner() != ProvisionerName {
		return nil
	}
	node := pvc.GetMetadata().GetAnnotations()[corev1.SelectedNodeAnnotation]
	if node == "" {
		if class.GetVolumeBindingMode() == storagev1.VolumeBindingWaitForFirstConsumer {
			// The scheduler has not chosen a node yet.
			return nil
		}
		if node, err = c.pickNode(); err != nil {
			c.recorder.Eventf(pvc, "Warning", EventProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.GetMetadata().GetName(), err)
			return err
		}
	}
	c.recorder.Eventf(pvc, "Normal", EventProvisioning, "External provisioner is provisioning volume for claim %q", claimKey(pvc))
	pv, err := newVolume(pvc, class, node)
	if err != nil {
		// A claim with no size it can parse: the apiserver's validation keeps these out;
		// retrying cannot help.
		c.recorder.Eventf(pvc, "Warning", EventProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.GetMetadata().GetName(), err)
		return nil
	}
	_, err = c.client.PersistentVolumes().Create(ctx, pv)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(pvc, "Warning", EventProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.GetMetadata().GetName(), err)
		return fmt.Errorf("create volume %s for claim %s: %w", name, claimKey(pvc), err)
	}
	c.recorder.Eventf(pvc, "Normal", EventProvisioningSucceeded, "Successfully provisioned volume %s", name)
	c.log.Info("provisioned volume", "namespace", pvc.GetMetadata().GetNamespace(), "name", pvc.GetMetadata().GetName(),
		"volume", name, "node", node, "path", pv.GetSpec().GetHostPath().GetPath())
	return nil
}

// newVolume is the volume provisioned for pvc of class on node.
func newVolume(pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node string) (*corev1.PersistentVolume, error) {
	size := pvc.GetSpec().GetResources().GetRequests()[corev1.ResourceStorage]
	if _, ok := volumeutil.RequestedStorage(pvc); !ok {
		return nil, errors.New("claim requests no storage size")
	}
	base := class.GetParameters()["path"]
	if base == "" {
		base = DefaultBasePath
	}
	m := pvc.GetMetadata()
	dir := path.Join(base, fmt.Sprintf("%s_%s_%s", VolumeName(pvc), m.GetNamespace(), m.GetName()))
	policy := class.GetReclaimPolicy()
	if policy == "" {
		policy = corev1.PersistentVolumeReclaimDelete
	}
	var finalizers []string
	if policy == corev1.PersistentVolumeReclaimDelete {
		finalizers = []string{Finalizer}
	}
	return &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: VolumeName(pvc), Annotations: map[string]string{volumeutil.AnnDynamicallyProvisioned: ProvisionerName},
			Finalizers: finalizers},
		Spec: &corev1.PersistentVolumeSpec{
			Capacity:                      map[string]*metav1.Quantity{corev1.ResourceStorage: proto.Clone(size).(*metav1.Quantity)},
			HostPath:                      &corev1.HostPathVolumeSource{Path: dir, Type: proto.String("DirectoryOrCreate")},
			AccessModes:                   slices.Clone(pvc.GetSpec().GetAccessModes()),
			ClaimRef:                      volumeutil.ClaimRef(pvc),
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.GetMetadata().GetName(),
			MountOptions:                  slices.Clone(class.GetMountOptions()),
			VolumeMode:                    pvc.GetSpec().VolumeMode,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
				MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: hostnameLabel, Operator: "In", Values: []string{node}}},
			}}}},
		},
	}, nil
}

// pickNode chooses the node of an Immediate class's volume, which no scheduler chose:
// the first Ready, schedulable node by name, so a retry picks the same one.
func (c *Controller) pickNode() (string, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return "", err
	}
	controller.SortByName(nodes)
	for _, n := range nodes {
		if n.GetSpec().GetUnschedulable() {
			continue
		}
		for _, cond := range n.GetStatus().GetConditions() {
			if cond.GetType() == "Ready" && cond.GetStatus() == controller.ConditionTrue {
				return n.GetMetadata().GetName(), nil
			}
		}
	}
	return "", errors.New("no Ready, schedulable node to put the volume on")
}
