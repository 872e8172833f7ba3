// Package namespace is the namespace controller: when a Namespace is deleted (it has a
// deletionTimestamp and still the "kubernetes" spec finalizer the apiserver put there on
// create), it deletes every object of every namespaced kind in it, waits until none is
// left, then finalizes the Namespace (PUT namespaces/{name}/finalize without "kubernetes"),
// after which the apiserver removes it.
//
// The controller keeps no state: every sync lists the namespace's content from the API (not
// from caches, which hold only some kinds and may be stale), so a restart just carries on.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// FinalizerKubernetes is the spec finalizer this controller owns.
const FinalizerKubernetes = "kubernetes"

// maxRetryDelay caps the backoff while content is still going away (pods in their grace
// period), so a namespace is finalized soon after its last object is gone.
const maxRetryDelay = 10 * time.Second

// listPageSize pages the content lists, so a namespace with many objects is read in bites.
const listPageSize = 500

// Controller deletes the content of terminating namespaces and finalizes them.
type Controller struct {
	client     *kube.Clientset
	namespaces cache.Lister[*corev1.Namespace]
	synced     func() bool
	queue      workqueue.Interface[string]
	log        *slog.Logger
	// resources are the namespaced kinds a namespace's deletion empties.
	resources []scheme.Mapping
}

// New registers the Namespace handlers.
func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error) {
	log := cc.Log
	if log == nil {
		log = slog.Default()
	}
	nss := cc.Informers.Namespaces()
	c := &Controller{
		client:     cc.Client,
		namespaces: nss.Lister(),
		synced:     nss.Informer().HasSynced,
		queue: workqueue.New(workqueue.Config[string]{
			Name: "namespace",
			RateLimiter: workqueue.NewMaxOfRateLimiter(
				workqueue.NewItemExponentialFailureRateLimiter[string](5*time.Millisecond, maxRetryDelay),
				workqueue.NewBucketRateLimiter[string](nil, 10, 100),
			),
		}),
		log: log.With("controller", "namespace"),
	}
	for _, m := range scheme.Mappings {
		if m.Namespaced {
			c.resources = append(c.resources, m)
		}
	}
	_, err := nss.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			if oldObj.GetMetadata().GetResourceVersion() != newObj.GetMetadata().GetResourceVersion() {
				c.enqueue(newObj)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("namespace controller: %w", err)
	}
	return c, nil
}

// enqueue queues only namespaces being deleted; no other change concerns this controller.
func (c *Controller) enqueue(obj runtime.Object) {
	if obj.GetMetadata().GetDeletionTimestamp() != nil {
		c.queue.Add(obj.GetMetadata().GetName())
	}
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx, c.synced) {
		return
	}
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	var remaining *contentRemainingError
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &remaining):
		c.log.Debug("waiting for namespace content to go", "namespace", key, "remaining", remaining.count)
		c.queue.AddRateLimited(key)
	default:
		c.log.Info("sync failed; retrying", "namespace", key, "err", err)
		c.queue.AddRateLimited(key)
	}
	return true
}

// contentRemainingError says objects are still being deleted (grace periods, finalizers):
// not a failure, but the namespace must be looked at again.
type contentRemainingError struct{ count int }

func (e *contentRemainingError) Error() string {
	return fmt.Sprintf("%d objects remain in the namespace", e.count)
}

// sync empties and finalizes the namespace name if it is being deleted.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.GetMetadata().GetDeletionTimestamp() == nil || !slices.Contains(ns.GetSpec().GetFinalizers(), FinalizerKubernetes) {
		return nil
	}
	remaining, err := c.deleteContent(ctx, name)
	if err != nil {
		return err
	}
	if remaining > 0 {
		return &contentRemainingError{count: remaining}
	}
	return c.finalize(ctx, name)
}

// deleteContent deletes every object in namespace and returns how many are still there
// (their deletion pending).
func (c *Controller) deleteContent(ctx context.Context, namespace string) (remaining int, _ error) {
	var errs []error
	for _, m := range c.resources {
		n, err := c.deleteAll(ctx, m, namespace)
		remaining += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return remaining, errors.Join(errs...)
}

// deleteAll deletes the objects of one kind in namespace, each with a uid precondition so a
// same-named object created meanwhile (impossible while the namespace terminates, but
// cheap to rule out) is not removed. Deletion propagates in the background, as upstream's
// namespace deleter asks.
func (c *Controller) deleteAll(ctx context.Context, m scheme.Mapping, namespace string) (remaining int, _ error) {
	t := c.client.Transport()
	ref := transport.Ref{Mapping: m, Namespace: namespace}
	opts := transport.ListOptions{Limit: listPageSize}
	for {
		list, err := t.List(ctx, ref, opts)
		if err != nil {
			return remaining, fmt.Errorf("list %s in %s: %w", m.Plural, namespace, err)
		}
		for _, obj := range runtime.Items(list) {
			meta := obj.GetMetadata()
			if meta.GetDeletionTimestamp() != nil {
				remaining++ // already going; deleting again would change nothing
				continue
			}
			uid := meta.GetUid()
			out, err := t.Delete(ctx, transport.Ref{Mapping: m, Namespace: namespace, Name: meta.GetName()}, &metav1.DeleteOptions{
				Preconditions:     &metav1.Preconditions{Uid: &uid},
				PropagationPolicy: proto.String("Background"),
			})
			switch {
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
				// Gone already, or replaced: the next list says which.
			case err != nil:
				return remaining, fmt.Errorf("delete %s %s/%s: %w", m.Singular, namespace, meta.GetName(), err)
			case out != nil:
				remaining++
			}
		}
		cont := list.GetMetadata().GetContinue()
		if cont == "" {
			return remaining, nil
		}
		opts.Continue = cont
	}
}

// finalize removes this controller's finalizer through the finalize subresource, the only
// write that may change spec.finalizers.
func (c *Controller) finalize(ctx context.Context, name string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ns, err := c.client.Namespaces().Get(ctx, name)
		if err != nil {
			return err
		}
		if !slices.Contains(ns.GetSpec().GetFinalizers(), FinalizerKubernetes) {
			return nil
		}
		next := proto.Clone(ns).(*corev1.Namespace)
		next.Spec.Finalizers = slices.DeleteFunc(next.Spec.Finalizers, func(f string) bool { return f == FinalizerKubernetes })
		ref := transport.Ref{Mapping: c.client.Namespaces().Mapping(), Name: name}
		_, err = c.client.Transport().Update(ctx, ref, next, "finalize")
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	c.log.Info("namespace finalized", "namespace", name)
	return nil
}
