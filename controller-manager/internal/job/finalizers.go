package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"kubelab.io/client/cache"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
)

// hasTrackingFinalizer reports whether pod still waits to be counted by its job.
func hasTrackingFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.GetMetadata().GetFinalizers(), batchv1.JobTrackingFinalizer)
}

// finalizerExpectations are, per job key, the uids of the pods whose tracking finalizer the
// controller removed and the pod informer has not yet shown without it (upstream's
// uidTrackingExpectations). A sync treats those pods as already counted: their cached copy
// still has the finalizer, but counting them again would count them twice.
type finalizerExpectations struct {
	mu   sync.Mutex
	uids map[string]map[string]bool
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{uids: map[string]map[string]bool{}}
}

func (e *finalizerExpectations) expect(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.uids[key]
	if s == nil {
		s = map[string]bool{}
		e.uids[key] = s
	}
	for _, u := range uids {
		s[u] = true
	}
}

func (e *finalizerExpectations) observed(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.uids[key]; s != nil {
		delete(s, uid)
		if len(s) == 0 {
			delete(e.uids, key)
		}
	}
}

// get returns a copy of key's expected uids.
func (e *finalizerExpectations) get(key string) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]bool, len(e.uids[key]))
	for u := range e.uids[key] {
		out[u] = true
	}
	return out
}

func (e *finalizerExpectations) delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.uids, key)
}

// removeTrackingFinalizer patches the finalizer away from pod, if it has it. The patch
// names the pod's uid, so a namesake created since is left alone. A pod already gone (or
// replaced) counts as done: nothing of it is left to hold.
func (c *Controller) removeTrackingFinalizer(ctx context.Context, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	m := pod.GetMetadata()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		"uid":                                 m.GetUid(),
	}})
	_, err := c.client.Pods(m.GetNamespace()).Patch(ctx, m.GetName(), transport.StrategicMerge, patch)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("remove tracking finalizer from pod %s/%s: %w", m.GetNamespace(), m.GetName(), err)
	}
	return nil
}

// removeTrackingFinalizers removes the finalizer of pods in parallel, expecting the
// removals first, and reports which succeeded.
func (c *Controller) removeTrackingFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = p.GetMetadata().GetUid()
	}
	c.finalizers.expect(key, uids)
	done := make([]bool, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			if err := c.removeTrackingFinalizer(ctx, p); err != nil {
				c.finalizers.observed(key, uids[i]) // no update of it is coming
				errs[i] = err
				return
			}
			done[i] = true
		})
	}
	wg.Wait()
	return done, errors.Join(errs...)
}

// enqueueOrphan queues a pod that still has the tracking finalizer but whose job will not
// remove it: the job is gone, finished, or no longer controls the pod.
func (c *Controller) enqueueOrphan(pod *corev1.Pod) {
	if !hasTrackingFinalizer(pod) {
		return
	}
	if key, err := controller.KeyFunc(pod); err == nil {
		c.orphans.Add(key)
	}
}

// syncOrphan removes the tracking finalizer of the pod key if it is still an orphan, as
// upstream's syncOrphanPod: a pod controlled by a job that is still running was adopted (or
// the job came back) and keeps it; a pod controlled by something other than a Job was never
// ours to clean.
func (c *Controller) syncOrphan(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := controller.GetControllerOf(pod); ref != nil {
		if ref.GetKind() != Kind.Kind || ref.GetApiVersion() != Kind.APIVersion() {
			return nil
		}
		job := controller.ResolveControllerRef(c.jobLister, Kind, ns, ref)
		if job != nil && FinishedCondition(job.GetStatus()) == nil {
			return nil
		}
	}
	c.log.Info("removing tracking finalizer from orphan pod", "namespace", ns, "name", name)
	return c.removeTrackingFinalizer(ctx, pod)
}

// cleanupFinalizers queues the pods of a deleted or finished job that still have the
// finalizer (upstream's cleanupPodFinalizers): no sync of the job will remove it.
func (c *Controller) cleanupFinalizers(job *batchv1.Job) {
	pods, err := c.podLister.Namespace(job.GetMetadata().GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if controller.IsControlledBy(p, job) {
			c.enqueueOrphan(p)
		}
	}
}
