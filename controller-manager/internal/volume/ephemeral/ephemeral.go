// Package ephemeral holds the ephemeral-volume controller, after Kubernetes'
// pkg/controller/volume/ephemeral: for every pod volume with an ephemeral
// volumeClaimTemplate it creates the claim <pod name>-<volume name> in the pod's namespace,
// from the template, with the pod as its controller, so the garbage collector deletes the
// claim with the pod. The scheduler and the kubelet then treat the volume as that claim,
// once they have checked the pod owns it.
package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// FailedBinding is the reason of the Warning event on a pod whose claim could not be made
// (upstream's events.FailedBinding).
const FailedBinding = "FailedBinding"

// podKind is the Pod's group/version/kind, as written in a claim's ownerReferences.
var podKind = runtime.GroupVersionKind{Version: "v1", Kind: "Pod"}

// EventRecorder is the part of record.Recorder the controller uses.
type EventRecorder = controller.EventRecorder

// Controller creates the claims of pods' ephemeral volumes.
type Controller struct {
	client   *kube.Clientset
	pods     cache.Lister[*corev1.Pod]
	claims   cache.Lister[*corev1.PersistentVolumeClaim]
	recorder EventRecorder
	synced   []func() bool
	queue    workqueue.Interface[string]
	log      *slog.Logger
}

// Config is what the controller needs.
type Config struct {
	Client   *kube.Clientset
	Pods     informers.Informer[*corev1.Pod]
	Claims   informers.Informer[*corev1.PersistentVolumeClaim]
	Recorder EventRecorder
	Log      *slog.Logger
}

// New builds the ephemeral-volume controller on the shared informers of cc.
func New(_ context.Context, cc *controllerctx.Context) (*Controller, error) {
	return NewController(Config{Client: cc.Client, Pods: cc.Informers.Pods(), Claims: cc.Informers.PersistentVolumeClaims(),
		Recorder: cc.Recorder("ephemeral_volume"), Log: cc.Log})
}

// NewController validates cfg and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Recorder == nil {
		return nil, errors.New("ephemeral-volume: Client and Recorder are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Controller{
		client:   cfg.Client,
		pods:     cfg.Pods.Lister(),
		claims:   cfg.Claims.Lister(),
		recorder: cfg.Recorder,
		queue:    workqueue.NewNamed[string]("ephemeral_volume"),
		log:      cfg.Log,
	}
	podReg, err := cfg.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePod,
		UpdateFunc: func(_, obj runtime.Object) { c.enqueuePod(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral-volume: %w", err)
	}
	// A deleted claim may be one a live pod still needs (made again), or a stranger of the
	// expected name that blocked a pod until now.
	claimReg, err := cfg.Claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if o, ok := controller.ObjectFromTombstone(obj); ok {
				c.enqueueClaimPods(o)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral-volume: %w", err)
	}
	c.synced = []func() bool{cfg.Pods.Informer().HasSynced, cfg.Claims.Informer().HasSynced, podReg.HasSynced, claimReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// enqueuePod queues a live pod with at least one ephemeral volume; a pod being deleted
// needs no new claims.
func (c *Controller) enqueuePod(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.GetMetadata().GetDeletionTimestamp() != nil || !hasEphemeral(pod) {
		return
	}
	if err := controller.Enqueue(c.queue, pod); err != nil {
		c.log.Error("enqueue", "err", err)
	}
}

// enqueueClaimPods queues the pods of the claim's namespace that expect a claim of its name.
func (c *Controller) enqueueClaimPods(obj runtime.Object) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	m := pvc.GetMetadata()
	pods, err := c.pods.Namespace(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		c.log.Error("list pods", "namespace", m.GetNamespace(), "err", err)
		return
	}
	for _, pod := range pods {
		for _, v := range pod.GetSpec().GetVolumes() {
			if v.GetEphemeral() != nil && corev1.EphemeralClaimName(pod, v) == m.GetName() {
				c.enqueuePod(pod)
			}
		}
	}
}

func hasEphemeral(pod *corev1.Pod) bool {
	for _, v := range pod.GetSpec().GetVolumes() {
		if v.GetEphemeral() != nil {
			return true
		}
	}
	return false
}

// sync makes the missing claims of the pod's ephemeral volumes. A failure (a claim of the
// name the pod does not own, a refused create) is a Warning event on the pod and an error,
// so the pod is retried with backoff, as upstream.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		return nil
	}
	for _, v := range pod.GetSpec().GetVolumes() {
		if err := c.handleVolume(ctx, pod, v); err != nil {
			c.recorder.Eventf(pod, "Warning", FailedBinding, "ephemeral volume %s: %v", v.GetName(), err)
			return fmt.Errorf("pod %s, ephemeral volume %s: %w", key, v.GetName(), err)
		}
	}
	return nil
}

// handleVolume creates the claim of one ephemeral volume unless it exists. A claim that
// exists must be the pod's; one found only by the create (AlreadyExists: the cache lags,
// or a restart raced an earlier create) is checked the same way against the live object.
func (c *Controller) handleVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) error {
	if v.GetEphemeral() == nil {
		return nil
	}
	ns, claimName := pod.GetMetadata().GetNamespace(), corev1.EphemeralClaimName(pod, v)
	existing, err := c.claims.Namespace(ns).Get(claimName)
	switch {
	case err == nil:
		return corev1.EphemeralClaimIsForPod(pod, existing)
	case !apierrors.IsNotFound(err):
		return err
	}
	_, err = c.client.PersistentVolumeClaims(ns).Create(ctx, claimFor(pod, v))
	if apierrors.IsAlreadyExists(err) {
		live, getErr := c.client.PersistentVolumeClaims(ns).Get(ctx, claimName)
		if getErr != nil {
			return fmt.Errorf("create PVC %s: %w", claimName, err)
		}
		return corev1.EphemeralClaimIsForPod(pod, live)
	}
	if err != nil {
		return fmt.Errorf("create PVC %s: %w", claimName, err)
	}
	c.log.Info("created claim for ephemeral volume", "namespace", ns, "name", claimName, "pod", pod.GetMetadata().GetName())
	return nil
}

// claimFor is the claim of pod's ephemeral volume v: the template's labels, annotations and
// spec, named and placed by the pod, which controls it (blockOwnerDeletion, so a
// foreground deletion of the pod waits for the claim).
func claimFor(pod *corev1.Pod, v *corev1.Volume) *corev1.PersistentVolumeClaim {
	t := v.GetEphemeral().GetVolumeClaimTemplate()
	spec, _ := proto.Clone(t.GetSpec()).(*corev1.PersistentVolumeClaimSpec)
	if spec == nil {
		spec = &corev1.PersistentVolumeClaimSpec{}
	}
	return &corev1.PersistentVolumeClaim{
		Kind: "PersistentVolumeClaim", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{
			Name:            corev1.EphemeralClaimName(pod, v),
			Namespace:       pod.GetMetadata().GetNamespace(),
			Labels:          maps.Clone(t.GetMetadata().GetLabels()),
			Annotations:     maps.Clone(t.GetMetadata().GetAnnotations()),
			OwnerReferences: []*metav1.OwnerReference{controller.NewControllerRef(pod, podKind)},
		},
		Spec: spec,
	}
}
