package cmd

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"kubelab.io/proto/apierrors"
)

// drainPod is a pod drain removes, as last read: its uid tells the pod from a successor of
// the same name, and its deletionTimestamp decides how a terminating namespace's refusal is
// taken.
type drainPod struct {
	ref      objectRef
	uid      string
	deleting bool
}

func drainPodOf(ref objectRef, pod Object) drainPod {
	return drainPod{ref: ref, uid: nestedString(pod, "metadata", "uid"), deleting: nested(pod, "metadata", "deletionTimestamp") != nil}
}

// podRemover removes a node's pods as kubectl drain does (k8s.io/kubectl/pkg/drain):
// evictions run concurrently, one goroutine per pod, so a pod whose disruption budget
// refuses it does not hold up the others; deletions are sent in turn and then waited for
// together. Errors are gathered and returned together once every pod is done.
type podRemover struct {
	// remove evicts or deletes one pod (with the drain's delete options); get reads one.
	remove func(ctx context.Context, p objectRef) error
	get    func(ctx context.Context, p objectRef) (Object, error)
	// out and errOut are safe for concurrent use: every line is written whole.
	out, errOut io.Writer
	// serverDryRun: the server only rehearses each removal, so nothing is waited for.
	serverDryRun bool
	// timeout is --timeout, 0 for none.
	timeout time.Duration
	// retryDelay spaces eviction retries (5s in kubectl); pollInterval spaces the reads that
	// wait for a pod to be gone (1s). after is time.After, replaced in tests.
	retryDelay, pollInterval time.Duration
	after                    func(time.Duration) <-chan time.Time
	// skipWaitForDelete is --skip-wait-for-delete-timeout: a pod terminating for longer is
	// not waited for (see deletedLongAgo). now is time.Now, replaced in tests.
	skipWaitForDelete int
	now               func() time.Time
}

// withTimeout bounds ctx by --timeout; 0 means no bound.
func (r *podRemover) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.timeout)
}

// sleep waits d, or until ctx ends.
func (r *podRemover) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-r.after(d):
	}
}

// evictAll evicts pods concurrently and waits for each to be gone. The result lists the
// failures in the order they happened.
func (r *podRemover) evictAll(ctx context.Context, pods []drainPod) error {
	tctx, cancel := r.withTimeout(ctx)
	defer cancel()
	done := make(chan error, len(pods)) // buffered: no goroutine waits on a reader
	for _, p := range pods {
		go func() { done <- r.evictOne(ctx, tctx, p) }()
	}
	var errs []error
	for range pods {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return newAggregate(errs)
}

// evictOne evicts p, retrying while a disruption budget refuses it (429) or while its
// terminating namespace refuses it and it is not yet being deleted, until tctx (the
// --timeout) ends; then it waits for p to be gone. Requests use ctx, as kubectl's do: the
// timeout is checked between attempts, never cuts one short.
func (r *podRemover) evictOne(ctx, tctx context.Context, p drainPod) error {
	ns, name := p.ref.namespace, p.ref.name
	for {
		suffix := ""
		if r.serverDryRun {
			suffix = " (server dry run)"
		}
		// Said before every attempt, as kubectl does, so a retried pod shows each one.
		fmt.Fprintf(r.out, "evicting pod %s/%s%s\n", ns, name, suffix)
		if tctx.Err() != nil {
			return fmt.Errorf("error when evicting pods/%q -n %q: global timeout reached: %v", name, ns, r.timeout)
		}
		err := r.remove(ctx, p.ref)
		terminating := apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating)
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			return nil // gone already: nothing to wait for
		case terminating && p.deleting:
			// Its namespace refuses every eviction, but the pod is already on its way
			// out: wait for it like an evicted one.
			err = nil
		case terminating:
			fmt.Fprintf(r.errOut, "error when evicting pod %q from terminating namespace %q (will retry after %v): %v\n", name, ns, r.retryDelay, err)
		case apierrors.IsTooManyRequests(err):
			fmt.Fprintf(r.errOut, "error when evicting pods/%q -n %q (will retry after %v): %v\n", name, ns, r.retryDelay, err)
		default:
			return fmt.Errorf("error when evicting pods/%q -n %q: %v", name, ns, err)
		}
		if err == nil {
			break
		}
		r.sleep(tctx, r.retryDelay)
		// Read the pod again (it may be terminating by now); on failure the next attempt
		// sorts it out with what was known.
		if obj, gerr := r.get(ctx, p.ref); gerr == nil {
			p = drainPodOf(p.ref, obj)
		}
	}
	if r.serverDryRun {
		return nil
	}
	if err := r.waitGone(tctx, []drainPod{p}, "evicted"); err != nil {
		return fmt.Errorf("error when waiting for pod %q in namespace %q to terminate: %v", name, ns, err)
	}
	return nil
}

// deleteAll deletes pods in turn, stopping at the first failure, then waits for all of
// them to be gone within --timeout, as kubectl does when it cannot or may not evict.
func (r *podRemover) deleteAll(ctx context.Context, pods []drainPod) error {
	for _, p := range pods {
		if err := r.remove(ctx, p.ref); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if r.serverDryRun {
		// The server rehearsed each deletion; there is nothing to wait for.
		for _, p := range pods {
			fmt.Fprintf(r.out, "pod/%s deleted (server dry run)\n", p.ref.name)
		}
		return nil
	}
	tctx, cancel := r.withTimeout(ctx)
	defer cancel()
	return r.waitGone(tctx, pods, "deleted")
}

// waitGone reads pods now and then every pollInterval until each is gone (not found, or
// replaced by a pod of another uid), saying "pod/NAME <verb>" as each goes, or has been
// terminating for longer than --skip-wait-for-delete-timeout. It returns the
// first failed read, or ctx's error when ctx ends first.
func (r *podRemover) waitGone(ctx context.Context, pods []drainPod, verb string) error {
	pending := pods
	for {
		var still []drainPod
		for _, p := range pending {
			obj, err := r.get(ctx, p.ref)
			switch {
			case apierrors.IsNotFound(err), err == nil && nestedString(obj, "metadata", "uid") != p.uid:
				fmt.Fprintf(r.out, "pod/%s %s\n", p.ref.name, verb)
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				return err
			case deletedLongAgo(obj, r.skipWaitForDelete, r.now()):
				fmt.Fprintf(r.out, "pod %q has DeletionTimestamp older than %v seconds, skipping\n", p.ref.name, r.skipWaitForDelete)
			default:
				still = append(still, p)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		r.sleep(ctx, r.pollInterval)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// lockedWriters returns out and errOut behind one lock, so lines written by concurrent
// goroutines never mix, even when both are the same writer.
func lockedWriters(out, errOut io.Writer) (io.Writer, io.Writer) {
	mu := &sync.Mutex{}
	return &lockedWriter{mu: mu, w: out}, &lockedWriter{mu: mu, w: errOut}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
